import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The inference model's hook points against the training model: a prompt or prefix adapter saved
/// in PEFT's format and attached to `LlamaModel` gives the training model's loss, and incremental
/// decoding through the KV cache (prefix prefilled, positions offset by N) gives the full forward's logits.
@Suite(.serialized) struct PromptLearningInferenceTests {
    static let methods: [PromptLearningGradientTests.Method] = [.prompt, .prefixTable, .prefixProjection]

    static func windows() -> [[Int]] {
        var rng = SeededRNG(seed: 8)
        return (0..<3).map { _ in (0..<7).map { _ in Int(rng.next() % 40) } }
    }

    /// The training model for `method` and an inference model with its saved adapter attached.
    static func models(_ index: Int, _ dir: TempDir) throws -> (LoRALlama, LlamaModel, LlamaWeights) {
        let weights = try GradientCheckTests.tinyWeights(nf4: true)
        let train = try PromptLearningGradientTests.model(methods[index], checkpointing: false, weights: weights)
        try train.adapter.save(to: dir.path)
        let infer = try LlamaModel(weights: weights, threads: 2)
        try AdapterRegistry.attach(dir.path, to: infer)
        #expect(infer.virtualTokens == 3)
        return (train, infer, weights)
    }

    @Test(arguments: 0..<3)
    func inferenceLossEqualsTheTrainersLoss(_ index: Int) throws {
        let dir = TempDir()
        let (train, infer, weights) = try Self.models(index, dir)
        let windows = Self.windows()
        let T = 6
        var ids: [Int32] = [], targets: [Int32] = []
        for w in windows {
            ids += w.prefix(T).map(Int32.init)
            targets += w.dropFirst().map(Int32.init)
        }
        let (sum, count) = train.loss(TrainingBatch(B: windows.count, T: T, ids: ids, targets: targets))
        let r = WindowEvaluator.evaluate(model: infer, windows: windows, batch: 2)
        #expect(r.predictions == count)
        #expect(abs(r.meanLoss - sum / Double(count)) < 1e-5, "inference \(r.meanLoss) training \(sum / Double(count))")
        // The adapter matters: without it the loss is another number.
        let base = WindowEvaluator.evaluate(model: try LlamaModel(weights: weights, threads: 2), windows: windows, batch: 2)
        #expect(abs(base.meanLoss - r.meanLoss) > 1e-4)
    }

    @Test(arguments: 0..<3)
    func cachedDecodingMatchesTheFullForward(_ index: Int) throws {
        let dir = TempDir()
        let (_, infer, _) = try Self.models(index, dir)
        let tokens = Self.windows()[0] + [5]
        let V = infer.config.vocabSize
        let full = infer.logits(tokens: tokens.map(Int32.init), B: 1, T: tokens.count)
        let generator = TokenGenerator(model: infer, capacity: tokens.count)
        generator.prefill(Array(tokens.prefix(5)))
        for t in tokens.dropFirst(5) { generator.append(t) }
        #expect(generator.length == tokens.count + 3, "the cache holds the 3 virtual positions first")
        let last = Array(full[((tokens.count - 1) * V)..<(tokens.count * V)])
        let worst = zip(last, generator.logits).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4, "cached vs full logits differ by \(worst)")
    }

    @Test func registryRefusesAnUnknownPeftType() throws {
        let dir = TempDir()
        try #"{"peft_type": "P_TUNING", "num_virtual_tokens": 3}"#.write(toFile: dir.path + "/adapter_config.json",
                                                                          atomically: true, encoding: .utf8)
        try Data().write(to: URL(fileURLWithPath: dir.path + "/adapter_model.safetensors"))
        let model = try LlamaModel(weights: try GradientCheckTests.tinyWeights(nf4: true), threads: 1)
        do { try AdapterRegistry.attach(dir.path, to: model); Issue.record("accepted") } catch {
            #expect("\(error)".contains("peft_type 'P_TUNING' is not supported (LORA, PROMPT_TUNING, PREFIX_TUNING)"), "\(error)")
        }
    }
}
