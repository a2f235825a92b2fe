import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The forward pass on the real SmolLM2 against transformers' Float32 logits (../shared/golden/smollm2):
/// Float32 base weights against `forward_ref`, and the NF4 base (blocksize 64, with and without double
/// quantization, Float32 compute) against the bitsandbytes-quantized reference.
@Suite(.serialized) struct SmolLM2ParityTests {
    /// Max |Δ| of the logits after subtracting each row's mean (softmax is shift-invariant).
    static let logitTolerance: Float = 1e-3
    /// Mean cross-entropy over the 255 predictions.
    static let lossTolerance = 1e-4

    static var haveModel: Bool { FileManager.default.fileExists(atPath: TestPaths.smolLM2GGUF) }

    static func reference() throws -> SafetensorsFile {
        try SafetensorsFile(path: TestPaths.golden + "/smollm2/forward_ref.safetensors")
    }

    static func maxCenteredDiff(_ ours: ArraySlice<Float>, _ ref: ArraySlice<Float>) -> Float {
        let a = Array(ours), b = Array(ref)
        let ma = a.reduce(0, +) / Float(a.count), mb = b.reduce(0, +) / Float(b.count)
        return zip(a, b).map { abs(($0 - ma) - ($1 - mb)) }.max()!
    }

    /// Runs the 256 reference tokens; returns (logits of positions 0..<16, mean loss of 255 predictions).
    static func run(_ linears: LlamaWeights.LinearStorage, roundTrip: Bool = false) throws -> ([Float], Double) {
        let gguf = try GGUFCheckpoint(path: TestPaths.smolLM2GGUF)
        let source: CheckpointSource = roundTrip ? QuantRoundTripSource(gguf) : gguf
        let weights = try LlamaWeights.load(from: source, linears: linears, embeddings: .f32, threads: 2)
        let model = try LlamaModel(weights: weights, threads: 2)
        let ids = try reference().ints("input_ids").map(Int32.init)
        #expect(ids.count == 256)
        let V = weights.config.vocabSize
        let logits = model.logits(tokens: ids, B: 1, T: ids.count)
        var losses = [Float](repeating: 0, count: 255)
        let targets = Array(ids[1...])
        logits.withUnsafeBufferPointer { l in
            targets.withUnsafeBufferPointer { t in
                losses.withUnsafeMutableBufferPointer { CrossEntropy.forward($0.baseAddress!, l.baseAddress!, t.baseAddress!, 255, V) }
            }
        }
        let loss = losses.reduce(0.0) { $0 + Double($1) } / 255
        return (Array(logits[0..<(16 * V)]), loss)
    }

    static func check(_ ours: [Float], _ loss: Double, refLogits: [Float], refLoss: Double, V: Int) {
        var worst: Float = 0
        for p in 0..<16 {
            worst = max(worst, maxCenteredDiff(ours[(p * V)..<((p + 1) * V)], refLogits[(p * V)..<((p + 1) * V)]))
        }
        #expect(worst <= logitTolerance, "max centered logit difference \(worst)")
        #expect(abs(loss - refLoss) <= lossTolerance, "loss \(loss) vs \(refLoss)")
    }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func float32LogitsMatchTransformers() throws {
        let ref = try Self.reference()
        let (logits, loss) = try Self.run(.float32)
        Self.check(logits, loss, refLogits: try ref.floats("logits_first16"), refLoss: Double(try ref.floats("loss")[0]), V: 49152)
    }

    /// The NF4 kernels compute the same function as a dense Float32 forward on the dequantized weights.
    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func nf4KernelsMatchFloat32OnDequantizedWeights() throws {
        let (nf4, nf4Loss) = try Self.run(.qlora)
        let (dense, denseLoss) = try Self.run(.float32, roundTrip: true)
        Self.check(nf4, nf4Loss, refLogits: dense, refLoss: denseLoss, V: 49152)
    }

    /// bitsandbytes' Float32 NF4 forward (dequantize + F.linear), made by tools/nf4_reference
    /// (Tests/Fixtures/nf4_f32path.json: per row, the full-vocabulary mean and a subset of logits).
    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"), arguments: [true, false])
    func nf4LogitsMatchBitsandbytesFloat32Path(_ doubleQuant: Bool) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.repoRoot + "/Tests/Fixtures/nf4_f32path.json"))
        let fixture = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let ref = try #require(fixture[doubleQuant ? "dq" : "plain"] as? [String: Any])
        let rows = try #require(ref["rows"] as? [[String: Any]])
        let (logits, loss) = try Self.run(.quantized(type: .nf4, blockSize: 64, doubleQuant: doubleQuant))
        let V = 49152
        var worst = 0.0
        for (p, row) in rows.enumerated() {
            let ours = logits[(p * V)..<((p + 1) * V)]
            let ourMean = ours.reduce(0.0) { $0 + Double($1) } / Double(V)
            let refMean = try #require(row["mean"] as? Double)
            let ids = try #require(row["ids"] as? [Int]), values = try #require(row["logits"] as? [Double])
            for (id, v) in zip(ids, values) {
                worst = max(worst, abs((Double(ours[p * V + id]) - ourMean) - (v - refMean)))
            }
        }
        #expect(worst <= Double(Self.logitTolerance), "max centered logit difference \(worst)")
        let refLoss = try #require(ref["loss"] as? Double)
        #expect(abs(loss - refLoss) <= Self.lossTolerance, "loss \(loss) vs \(refLoss)")
    }

    /// The golden NF4 file was made in eval + no_grad mode, where bitsandbytes on an AVX512-BF16 CPU
    /// runs its fused bf16 kernel (bf16 inputs, code table, absmax and outputs), not Float32 compute
    /// (tools/nf4_reference/COMMANDS.md reproduces it bit for bit). A Float32 engine differs from it by
    /// that kernel's rounding: this records the size of the gap rather than claiming parity.
    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"), arguments: [true, false])
    func goldenNF4ReferenceDiffersOnlyByTheBF16Kernel(_ doubleQuant: Bool) throws {
        let ref = try SafetensorsFile(path: TestPaths.golden + "/smollm2/nf4_forward_ref.safetensors")
        let key = doubleQuant ? "nf4_dq" : "nf4_plain"
        let (_, loss) = try Self.run(.quantized(type: .nf4, blockSize: 64, doubleQuant: doubleQuant))
        let refLoss = Double(try ref.floats("\(key).loss")[0])
        #expect(abs(loss - refLoss) < 5e-3, "loss \(loss) vs \(refLoss)")
    }
}
