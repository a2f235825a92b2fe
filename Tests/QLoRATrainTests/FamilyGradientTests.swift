import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The whole tiny model of each family through the hand-written backward, against central finite
/// differences of the Double reference (ReferenceLlama, which follows the same config): Qwen3 (per-head
/// q/k norms, head_dim ≠ hidden / heads, yarn RoPE with its attention factor), Mistral (a sliding
/// window shorter than the rows), partial RoPE with longrope (Phi-3/4's rotary settings on an
/// unfused decoder), Phi-3 itself (fused qkv_proj and gate_up_proj with LoRA and DoRA on the fused
/// modules, partial RoPE, longrope past its original context, a sliding window), Gemma 2 ((1 + w) norms,
/// four per layer, √C embeddings, GeGLU, score scale from query_pre_attn_scalar, score and logit
/// soft-capping, alternating sliding layers) and Gemma 3 (as Gemma 2 without the caps, plus (1 + w) q/k
/// norms and a local RoPE beside a scaled global one). NF4 linears, with and without gradient checkpointing.
@Suite(.serialized) struct FamilyGradientTests {
    static func config(_ family: String) throws -> LlamaConfig {
        var c = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2, vocab: 40)
        switch family {
        case "qwen3":
            c.modelType = "qwen3"
            c.headDim = 24
            c.ropeTheta = 1_000_000
            c.ropeScaling = .init(ropeType: "yarn", factor: 4, originalMaxPositionEmbeddings: 4)
        case "mistral":
            c.modelType = "mistral"
            c.slidingWindow = 3
        case "partial-longrope":
            c.modelType = "mistral"
            c.partialRotaryFactor = 0.5
            c.originalMaxPositionEmbeddings = 4
            c.ropeScaling = .init(ropeType: "longrope", factor: 1, shortFactor: [1, 1.5, 2, 3], longFactor: [2, 3, 4, 6])
            c.ropeScaling?.factorGiven = false
        case "phi3":
            c.modelType = "phi3"
            c.partialRotaryFactor = 0.75
            c.originalMaxPositionEmbeddings = 4
            c.slidingWindow = 3
            c.ropeScaling = .init(ropeType: "longrope", factor: 1, shortFactor: [1, 1.5, 2, 3, 1.2, 1.1],
                                  longFactor: [2, 3, 4, 6, 1.5, 1.3])
            c.ropeScaling?.factorGiven = false
        case "gemma2":
            c.modelType = "gemma2"
            c.hiddenActivation = "gelu_pytorch_tanh"
            c.queryPreAttnScalar = 24
            c.attnLogitSoftcapping = 0.1   // small enough to bite on these weights
            c.finalLogitSoftcapping = 0.5
            c.slidingWindow = 3
            c.layerTypes = ["sliding_attention", "full_attention"]
        case "gemma3":
            c.modelType = "gemma3_text"
            c.hiddenActivation = "gelu_pytorch_tanh"
            c.queryPreAttnScalar = 12
            c.slidingWindow = 3
            c.layerTypes = ["sliding_attention", "full_attention"]
            c.ropeTheta = 1_000_000
            c.ropeScaling = .init(ropeType: "linear", factor: 8)
            c.slidingRope = .init(theta: 10000, scaling: nil)
        default: Issue.record("no family \(family)")
        }
        try c.validate()
        return c
    }

    static let cases: [(String, Bool)] = [("qwen3", false), ("qwen3", true), ("mistral", false), ("mistral", true),
                                          ("partial-longrope", false), ("phi3", false), ("phi3", true), ("phi3-dora", false),
                                          ("gemma2", false), ("gemma2", true), ("gemma3", false), ("gemma3", true)]

    @Test(arguments: 0..<12)
    func wholeModelGradientsMatchFiniteDifferences(_ index: Int) throws {
        var (family, checkpointing) = Self.cases[index]
        let dora = family.hasSuffix("-dora")
        if dora { family = String(family.dropLast("-dora".count)) }
        let dir = TempDir()
        try TinyCheckpoint.write(to: dir.path, config: try Self.config(family), seed: 11)
        let weights = try LlamaWeights.load(from: try HFCheckpoint(directory: dir.path), linears: .qlora, embeddings: .f32)
        let model = try LoRALlama(weights: weights, lora: LoRAConfig(r: 4, loraAlpha: 8, loraDropout: 0,
                                                                     targets: LlamaLinear.modules(of: weights.config), useDoRA: dora),
                                  threads: 2, gradientCheckpointing: checkpointing, seed: 3)
        var rng = SeededRNG(seed: 9)
        for ad in model.allAdapters { for i in 0..<(ad.outFeatures * ad.rank) { ad.b[i] = rng.nextNormal() * 0.05 } }
        let batch = GradientCheckTests.batch()
        model.zeroGrad()
        model.forwardBackward(batch, lossScale: 1 / Float(batch.predictionCount))
        var ref = ReferenceLlama(weights: weights, model: model)
        let (sum, count) = model.loss(batch)
        #expect(abs(sum / Double(count) - ref.loss(batch)) < 1e-5, "\(family): engine \(sum / Double(count)) reference \(ref.loss(batch))")
        let h = 1e-5
        var largest = 0.0, checked = 0
        for (l, layer) in model.adapters.enumerated() {
            for (name, ad) in layer {
                let key = "\(l).\(name)"
                for (which, n, grad) in [("A", ad.rank * ad.inFeatures, ad.dA), ("B", ad.outFeatures * ad.rank, ad.dB)] {
                    for i in stride(from: (l * 7 + name.count) % 5, to: n, by: max(1, n / 4)) {
                        func lossWith(_ d: Double) -> Double {
                            if which == "A" { ref.a[key]![i] += d } else { ref.b[key]![i] += d }
                            defer { if which == "A" { ref.a[key]![i] -= d } else { ref.b[key]![i] -= d } }
                            return ref.loss(batch)
                        }
                        let fd = (lossWith(h) - lossWith(-h)) / (2 * h), ours = Double(grad[i])
                        largest = max(largest, abs(fd))
                        checked += 1
                        #expect(abs(ours - fd) <= GradientCheckTests.relativeTolerance * max(abs(fd), GradientCheckTests.absoluteFloor),
                                "\(family) \(key).\(which)[\(i)]: ours \(ours) fd \(fd)")
                    }
                }
            }
        }
        #expect(largest > 1e-3, "largest finite-difference gradient \(largest)")
        #expect(checked >= 8 * model.allAdapters.count)
    }
}
