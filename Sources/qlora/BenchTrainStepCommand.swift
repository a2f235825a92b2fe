import ArgumentParser
import Foundation
import QLoRA

struct BenchTrainStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "Time a QLoRA training step (forward + backward of LoRA on the frozen base) and its peak RSS.",
        discussion: "Random token batches; the optimizer update is not included (it is O(trainable parameters))."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "LoRA rank.") var rank: Int = 16
    @Option(help: "LoRA alpha.") var alpha: Float = 32
    @Option(help: "Sequence length.") var seq: Int = 256
    @Option(help: "Rows per batch.") var batch: Int = 4
    @Option(help: "Timed steps (after one warm-up).") var steps: Int = 5
    @Flag(help: "Recompute each layer's forward during backward.") var gradCheckpointing = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try modelOptions.refuseInt8()
        // Measured before the model loads (the bandwidth probe's buffer stays out of the peak RSS). bf16 products
        // on vdpbf16ps are measured against that instruction's peak, not the Float32 FMA's.
        let dtype = modelOptions.resolvedComputeDType
        let peaks = PathPeaks.measure(threads: modelOptions.threads, computeDType: dtype)
        let loaded = try LoadedModel.load(modelOptions)
        let model = try LoRALlama(weights: loaded.model.weights, lora: LoRAConfig(r: rank, loraAlpha: Double(alpha)),
                                  threads: modelOptions.threads, gradientCheckpointing: gradCheckpointing, seed: 1)
        var rng = SeededRNG(seed: 2)
        let V = loaded.model.config.vocabSize
        func randomBatch() -> TrainingBatch {
            let ids = (0..<(batch * seq)).map { _ in Int32(Int(rng.next() % UInt64(V))) }
            var targets = [Int32](repeating: -1, count: batch * seq)
            for b in 0..<batch { for t in 0..<(seq - 1) { targets[b * seq + t] = ids[b * seq + t + 1] } }
            return TrainingBatch(B: batch, T: seq, ids: ids, targets: targets)
        }
        var times: [Double] = []
        for s in 0...steps {
            let b = randomBatch()
            model.zeroGrad()
            let t0 = Date()
            model.forwardBackward(b, lossScale: 1 / Float(b.predictionCount))
            if s > 0 { times.append(Date().timeIntervalSince(t0)) }
        }
        let median = times.sorted()[times.count / 2]
        let tokensPerSecond = Double(batch * seq) / median
        let c = loaded.model.config
        // Model FLOPs of a step: forward 2·N·tokens over the frozen linears and lm_head, backward's input
        // gradient the same again, LoRA and attention on top (counted: attention 2 × 2·B·NH·T²·HS fwd, ×2 bwd).
        let tokens = Double(batch * seq)
        let linear = Double(c.linearParameters), head = Double(c.vocabSize * c.hiddenSize)
        let attention = 4 * Double(batch * c.numAttentionHeads * seq * seq * c.headDim) * Double(c.numHiddenLayers)
        let lora = 6 * Double(model.trainableParameterCount) * tokens
        let flops = 2 * (2 * (linear + head) * tokens) + 3 * attention + lora
        let achieved = flops / median / 1e9
        var result: [String: Any] = [
            "seconds_per_step": median, "tokens_per_second": tokensPerSecond,
            "peak_rss_bytes": ProcessMemory.peakResidentBytes, "trainable_parameters": model.trainableParameterCount,
            "gflops_per_step": flops / 1e9, "achieved_gflops": flops / median / 1e9,
            "threads": modelOptions.threads, "grad_checkpointing": gradCheckpointing, "seq": seq, "batch": batch, "rank": rank,
            "peak_fraction": peaks.productPeakGFLOPS > 0 ? achieved / peaks.productPeakGFLOPS : 0,
            "compute_dtype": dtype.rawValue,
        ]
        result.merge(peaks.jsonFields) { a, _ in a }
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(peaks.summary)
            print(String(format: "step %.3f s, %.1f tokens/s, %.1f GFLOP/s = %.0f%% of the path's peak (%.0f GFLOP/step), peak RSS %.0f MiB, %ld trainable",
                         median, tokensPerSecond, achieved, peaks.productPeakGFLOPS > 0 ? 100 * achieved / peaks.productPeakGFLOPS : 0, flops / 1e9,
                         Double(ProcessMemory.peakResidentBytes) / 1_048_576, model.trainableParameterCount))
        }
    }
}
