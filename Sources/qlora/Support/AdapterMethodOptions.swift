import ArgumentParser
import QLoRA

/// `qlora train --method`: the adapter methods training can make.
enum TrainMethod: String, ExpressibleByArgument, CaseIterable {
    case lora
    case promptTuning = "prompt-tuning"
    case prefixTuning = "prefix-tuning"
}

/// The method choice and the prompt-learning options of `qlora train` (LoRA's own stay on the command).
struct AdapterMethodOptions: ParsableArguments {
    @Option(help: "Adapter method: lora, prompt-tuning or prefix-tuning.") var method: TrainMethod = .lora
    @Option(help: "Prompt/prefix tuning: virtual tokens N (default 20).") var virtualTokens: Int?
    @Option(help: ArgumentHelp("Prompt/prefix tuning: random, vocab (prompt tuning) or text:\"…\".", valueName: "init"))
    var `init`: String?
    @Flag(help: "Prefix tuning: produce the prefix with an MLP (Embedding → Linear → tanh → Linear).")
    var prefixProjection = false
    @Option(help: "Prefix tuning with --prefix-projection: the MLP's hidden size (default: token_dim).")
    var encoderHidden: Int?

    static let defaultVirtualTokens = 20

    var isPromptLearning: Bool { method != .lora }
    var tokens: Int { virtualTokens ?? Self.defaultVirtualTokens }

    func validate() throws {
        guard isPromptLearning else {
            for (given, flag) in [(virtualTokens != nil, "--virtual-tokens"), (self.`init` != nil, "--init"),
                                  (prefixProjection, "--prefix-projection"), (encoderHidden != nil, "--encoder-hidden")] where given {
                throw QLoRAError.invalid("\(flag) is for --method prompt-tuning or prefix-tuning")
            }
            return
        }
        guard tokens >= 1 else { throw QLoRAError.invalid("--virtual-tokens must be ≥ 1") }
        let initialization = try PromptInit(parsing: self.`init` ?? "random")
        if method == .promptTuning {
            if prefixProjection || encoderHidden != nil {
                throw QLoRAError.invalid("--prefix-projection and --encoder-hidden are for --method prefix-tuning")
            }
        } else {
            if initialization == .vocab { throw QLoRAError.invalid("--init vocab is for prompt tuning (prefix tuning: random or text:\"…\")") }
            if encoderHidden != nil && !prefixProjection { throw QLoRAError.invalid("--encoder-hidden needs --prefix-projection") }
            if let h = encoderHidden, h < 1 { throw QLoRAError.invalid("--encoder-hidden must be ≥ 1") }
            if case .text = initialization, prefixProjection {
                throw QLoRAError.invalid("--init text: sets the prefix itself, so it needs prefix tuning without --prefix-projection")
            }
        }
    }

    /// The prompt-learning adapter for `weights`, initialized (`seed` draws random values).
    func makeAdapter(weights: LlamaWeights, tokenizer: Tokenizer, modelPath: String, seed: UInt64,
                     threads: Int) throws -> any TrainableAdapter {
        let initialization = try PromptInit(parsing: self.`init` ?? "random")
        var rng = SeededRNG(seed: seed)
        let model = weights.config
        switch method {
        case .lora:
            preconditionFailure("LoRA adapters are made by the LoRA options")
        case .promptTuning:
            var text: String?
            let kind: PromptLearningConfig.PromptTuningInit
            switch initialization {
            case .random: kind = .random
            case .vocab: kind = .sampleVocab
            case .text(let t): kind = .text; text = t
            }
            let config = PromptLearningConfig.promptTuning(model: model, virtualTokens: tokens, initialization: kind,
                                                           initText: text, tokenizer: text == nil ? nil : modelPath,
                                                           baseModelNameOrPath: modelPath)
            return try PromptEmbedding.initialized(config: config, weights: weights, initialization: initialization,
                                                   tokenizer: tokenizer, rng: &rng)
        case .prefixTuning:
            let config = PromptLearningConfig.prefixTuning(model: model, virtualTokens: tokens, projection: prefixProjection,
                                                           encoderHiddenSize: encoderHidden, baseModelNameOrPath: modelPath)
            if case .text(let t) = initialization {
                return try PrefixEncoder.fromText(t, config: config, weights: weights, tokenizer: tokenizer, threads: threads)
            }
            return try PrefixEncoder.random(config: config, rng: &rng)
        }
    }
}
