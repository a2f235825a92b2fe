import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Prompt tuning's and prefix tuning's gradients against central finite differences of the
/// Double-precision reference forward (ReferenceLlama), on the tiny GQA model (4 heads, 2 KV heads):
/// the virtual embeddings through the whole frozen NF4 model to its input; the prefix keys and values
/// through attention's backward, as a table and through the projection MLP; with and without
/// gradient checkpointing.
@Suite(.serialized) struct PromptLearningGradientTests {
    static let relativeTolerance = 2e-3
    static let absoluteFloor = 1e-5
    static let h = 1e-5

    enum Method: CustomStringConvertible {
        case prompt, prefixTable, prefixProjection
        var description: String { "\(self == .prompt ? "prompt" : self == .prefixTable ? "prefix" : "prefix+projection")" }
    }

    static let cases: [(Method, checkpointing: Bool)] = [
        (.prompt, false), (.prompt, true), (.prefixTable, false), (.prefixTable, true),
        (.prefixProjection, false), (.prefixProjection, true),
    ]

    static func model(_ method: Method, checkpointing: Bool, weights: LlamaWeights) throws -> LoRALlama {
        var rng = SeededRNG(seed: 21)
        let adapter: any TrainableAdapter
        switch method {
        case .prompt:
            let config = PromptLearningConfig.promptTuning(model: weights.config, virtualTokens: 3)
            adapter = PromptEmbedding(config: config, values: (0..<(3 * weights.config.hiddenSize)).map { _ in rng.nextNormal() * 0.5 })
        case .prefixTable:
            let config = PromptLearningConfig.prefixTuning(model: weights.config, virtualTokens: 3)
            let e = try PrefixEncoder.random(config: config, rng: &rng)
            for i in 0..<e.embedding.count { e.embedding.value[i] *= 0.5 }
            adapter = e
        case .prefixProjection:
            let config = PromptLearningConfig.prefixTuning(model: weights.config, virtualTokens: 3, projection: true,
                                                           encoderHiddenSize: 12)
            adapter = try PrefixEncoder.random(config: config, rng: &rng)
        }
        return try LoRALlama(weights: weights, adapter: adapter, threads: 2, gradientCheckpointing: checkpointing)
    }

    @Test(arguments: 0..<6)
    func gradientsMatchFiniteDifferences(_ index: Int) throws {
        let (method, checkpointing) = Self.cases[index]
        let weights = try GradientCheckTests.tinyWeights(nf4: true)
        let model = try Self.model(method, checkpointing: checkpointing, weights: weights)
        let batch = GradientCheckTests.batch()
        model.zeroGrad()
        let (sum, count) = model.forwardBackward(batch, lossScale: 1 / Float(batch.predictionCount))
        #expect(count == batch.predictionCount, "virtual positions must take no loss")
        var ref = ReferenceLlama(weights: weights, model: model)
        #expect(abs(sum / Double(count) - ref.loss(batch)) < 1e-5, "engine and reference losses differ")
        var worst = 0.0, largest = 0.0, checked = 0
        for p in model.adapter.parameters {
            let key: String
            switch p.name {
            case "prompt_encoder.embedding.weight": key = method == .prompt ? "prompt" : "embedding"
            case "prompt_encoder.transform.0.weight": key = "w1"
            case "prompt_encoder.transform.0.bias": key = "b1"
            case "prompt_encoder.transform.2.weight": key = "w2"
            default: key = "b2"
            }
            for i in stride(from: p.count % 7, to: p.count, by: max(1, p.count / 40)) {
                func lossWith(_ delta: Double) -> Double {
                    if key == "prompt" { ref.prompt[i] += delta } else { ref.prefix[key]![i] += delta }
                    defer { if key == "prompt" { ref.prompt[i] -= delta } else { ref.prefix[key]![i] -= delta } }
                    return ref.loss(batch)
                }
                let fd = (lossWith(Self.h) - lossWith(-Self.h)) / (2 * Self.h)
                let ours = Double(p.grad[i])
                worst = max(worst, abs(ours - fd) / max(abs(fd), Self.absoluteFloor))
                largest = max(largest, abs(fd))
                checked += 1
                #expect(abs(ours - fd) <= Self.relativeTolerance * max(abs(fd), Self.absoluteFloor),
                        "\(method) \(p.name)[\(i)]: ours \(ours) fd \(fd)")
            }
        }
        #expect(largest > 1e-3, "largest finite-difference gradient \(largest)")
        #expect(checked >= 40)
        print("gradient check \(method) checkpointing=\(checkpointing): \(checked) entries, largest |g| \(largest), worst relative error \(worst)")
    }
}
