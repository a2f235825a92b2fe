import QLoRACore

/// Where a decoder's tensors are in a checkpoint: `model.layers.N.…`, `model.embed_tokens.weight`,
/// `model.norm.weight`, `lm_head.weight` for a causal LM; under the Gemma 3 wrapper
/// (Gemma3ForConditionalGeneration) the text model's are `model.language_model.…` (as transformers 5
/// saves it) or `language_model.model.…` with `language_model.lm_head.weight` (transformers 4's
/// layout, most of the Hub). The MLP's input norm is `post_attention_layernorm` in LLaMA and
/// `pre_feedforward_layernorm` in Gemma (whose `post_attention_layernorm` normalizes the attention output).
public struct TensorNaming: Sendable, Equatable {
    /// Prefix of the text model's tensors (`model.`, `model.language_model.`, `language_model.model.`).
    public var model: String
    public var lmHead: String
    public var mlpNorm: String

    public init(config: LlamaConfig, names: Set<String>, path: String) throws {
        mlpNorm = config.family.sandwichNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"
        guard config.wrapper != nil else {
            model = "model."
            lmHead = "lm_head.weight"
            return
        }
        if names.contains("model.language_model.embed_tokens.weight") {
            model = "model.language_model."
            lmHead = "lm_head.weight"
        } else if names.contains("language_model.model.embed_tokens.weight") {
            model = "language_model.model."
            lmHead = "language_model.lm_head.weight"
        } else {
            throw QLoRAError.format(path, "a \(config.wrapper!) checkpoint without model.language_model.embed_tokens.weight or language_model.model.embed_tokens.weight")
        }
    }

    public func layer(_ l: Int) -> String { model + "layers.\(l)." }
    public var embed: String { model + "embed_tokens.weight" }
    public var finalNorm: String { model + "norm.weight" }
}

extension LlamaConfig {
    /// The text model's module path in the live transformers model, which PEFT's adapter keys name:
    /// `model.` for a causal LM, `model.language_model.` in Gemma 3's wrapper (transformers 5's
    /// Gemma3ForConditionalGeneration: model → language_model).
    public var modulePrefix: String { wrapper == "gemma3" ? "model.language_model." : "model." }
}
