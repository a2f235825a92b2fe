import Foundation
import QLoRACore

/// The `adapter_config.json` of PEFT's two prompt-learning methods, prompt tuning
/// (`peft/tuners/prompt_tuning/config.py`) and prefix tuning (`peft/tuners/prefix_tuning/config.py`),
/// both on `PromptLearningConfig` (`peft/config.py`).
///
/// The model-derived fields are filled the way `_prepare_prompt_learning_config` fills them:
/// token_dim = hidden size, num_attention_heads = heads, num_layers = layers; for prefix tuning on
/// a grouped-query model, token_dim = head_dim × kv_heads and num_attention_heads = kv_heads (PEFT
/// issue #1901), and encoder_hidden_size defaults to token_dim. Written with PEFT's keys, sorted and
/// indented as PEFT's `json.dumps(indent=2, sort_keys=True)`; read from any PEFT version, unknown
/// keys ignored, settings this engine cannot honour refused with a one-line error.
public struct PromptLearningConfig: Equatable, Sendable {
    public enum Method: String, Sendable, CaseIterable {
        case promptTuning = "PROMPT_TUNING"
        case prefixTuning = "PREFIX_TUNING"
    }

    /// `prompt_tuning_init`.
    public enum PromptTuningInit: String, Sendable, CaseIterable {
        case random = "RANDOM", text = "TEXT", sampleVocab = "SAMPLE_VOCAB"
    }

    public var method: Method
    public var numVirtualTokens: Int
    public var tokenDim: Int
    /// 1 for a causal LM (2 only for encoder-decoder models, which this engine does not run).
    public var numTransformerSubmodules = 1
    public var numAttentionHeads: Int
    public var numLayers: Int
    public var taskType = "CAUSAL_LM"
    public var baseModelNameOrPath: String?
    // Prompt tuning.
    public var promptTuningInit: PromptTuningInit = .random
    public var promptTuningInitText: String?
    public var tokenizerNameOrPath: String?
    // Prefix tuning.
    public var encoderHiddenSize: Int
    public var prefixProjection = false

    /// A prompt-tuning config for `model`.
    public static func promptTuning(model: LlamaConfig, virtualTokens: Int, initialization: PromptTuningInit = .random,
                                    initText: String? = nil, tokenizer: String? = nil,
                                    baseModelNameOrPath: String? = nil) -> PromptLearningConfig {
        var c = PromptLearningConfig(method: .promptTuning, numVirtualTokens: virtualTokens, tokenDim: model.hiddenSize,
                                     numAttentionHeads: model.numAttentionHeads, numLayers: model.numHiddenLayers,
                                     baseModelNameOrPath: baseModelNameOrPath, encoderHiddenSize: model.hiddenSize)
        c.promptTuningInit = initialization
        c.promptTuningInitText = initText
        c.tokenizerNameOrPath = tokenizer
        return c
    }

    /// A prefix-tuning config for `model`, sized to its key/value heads.
    public static func prefixTuning(model: LlamaConfig, virtualTokens: Int, projection: Bool = false,
                                    encoderHiddenSize: Int? = nil, baseModelNameOrPath: String? = nil) -> PromptLearningConfig {
        var c = PromptLearningConfig(method: .prefixTuning, numVirtualTokens: virtualTokens, tokenDim: model.kvDim,
                                     numAttentionHeads: model.numKeyValueHeads, numLayers: model.numHiddenLayers,
                                     baseModelNameOrPath: baseModelNameOrPath,
                                     encoderHiddenSize: encoderHiddenSize ?? model.kvDim)
        c.prefixProjection = projection
        return c
    }

    /// The shape of the saved `prompt_embeddings` tensor: (N·submodules, token_dim) for prompt
    /// tuning; the encoder output (N, layers·2·token_dim) for prefix tuning.
    public var savedShape: [Int] {
        switch method {
        case .promptTuning: return [numVirtualTokens * numTransformerSubmodules, tokenDim]
        case .prefixTuning: return [numVirtualTokens, numLayers * 2 * tokenDim]
        }
    }

    /// Refuses a config made for another base model (or another method's dimensions).
    public func check(against model: LlamaConfig, path: String) throws {
        let (dim, heads, what) = method == .promptTuning
            ? (model.hiddenSize, model.numAttentionHeads, "hidden size")
            : (model.kvDim, model.numKeyValueHeads, "key/value width (head_dim × kv heads)")
        guard tokenDim == dim else {
            throw QLoRAError.format(path, "token_dim \(tokenDim) does not match the model's \(what) \(dim): the adapter was made for another base model")
        }
        guard numLayers == model.numHiddenLayers else {
            throw QLoRAError.format(path, "num_layers \(numLayers) does not match the model's \(model.numHiddenLayers) layers: the adapter was made for another base model")
        }
        guard numAttentionHeads == heads else {
            throw QLoRAError.format(path, "num_attention_heads \(numAttentionHeads) does not match the model's \(heads)\(method == .prefixTuning ? " key/value heads" : " heads"): the adapter was made for another base model")
        }
    }

    func validate(path: String) throws {
        for (v, key) in [(numVirtualTokens, "num_virtual_tokens"), (tokenDim, "token_dim"),
                         (numAttentionHeads, "num_attention_heads"), (numLayers, "num_layers"),
                         (encoderHiddenSize, "encoder_hidden_size")] where v < 1 {
            throw QLoRAError.format(path, "\(key) must be a positive integer, got \(v)")
        }
        guard taskType == "CAUSAL_LM" else {
            throw QLoRAError.unsupported(path, "task_type '\(taskType)' is not supported (only CAUSAL_LM)")
        }
        guard numTransformerSubmodules == 1 else {
            throw QLoRAError.unsupported(path, "num_transformer_submodules \(numTransformerSubmodules) is not supported (1 for a causal LM)")
        }
        if method == .prefixTuning, tokenDim % numAttentionHeads != 0 {
            throw QLoRAError.format(path, "token_dim \(tokenDim) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
    }

    // MARK: adapter_config.json

    /// The file's text, as PEFT writes it (sorted keys).
    public func json() -> String {
        var members: [(String, JSONValue)] = [
            ("auto_mapping", .null), ("base_model_name_or_path", .optional(baseModelNameOrPath)),
            ("inference_mode", .bool(true)), ("num_attention_heads", .int(numAttentionHeads)),
            ("num_layers", .int(numLayers)), ("num_transformer_submodules", .int(numTransformerSubmodules)),
            ("num_virtual_tokens", .int(numVirtualTokens)), ("peft_type", .string(method.rawValue)),
            ("revision", .null), ("task_type", .string(taskType)), ("token_dim", .int(tokenDim)),
        ]
        switch method {
        case .promptTuning:
            members += [("prompt_tuning_init", .string(promptTuningInit.rawValue)),
                        ("prompt_tuning_init_text", .optional(promptTuningInitText)), ("tokenizer_kwargs", .null),
                        ("tokenizer_name_or_path", .optional(tokenizerNameOrPath))]
        case .prefixTuning:
            members += [("encoder_hidden_size", .int(encoderHiddenSize)), ("prefix_projection", .bool(prefixProjection))]
        }
        return JSONValue.object(members).serialized(JSONStyle(indent: 2, sortKeys: true))
    }

    /// Parses `adapter_config.json` text of either method; `path` names the file in errors.
    public static func parse(_ data: Data, path: String) throws -> PromptLearningConfig {
        let o = try PEFTFiles.configObject(data, path: path)
        func string(_ key: String) throws -> String? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let s = v.string else { throw QLoRAError.format(path, "\(key) must be a string") }
            return s
        }
        func int(_ key: String) throws -> Int? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let i = PEFTFiles.integer(v) else {
                throw QLoRAError.format(path, "\(key) must be an integer")
            }
            return i
        }
        func required(_ key: String) throws -> Int {
            guard let v = try int(key) else { throw QLoRAError.format(path, "no \(key)") }
            return v
        }
        guard let type = try string("peft_type") else { throw QLoRAError.format(path, "no peft_type") }
        guard let method = Method(rawValue: type) else {
            throw QLoRAError.unsupported(path, "peft_type '\(type)' is not a prompt-learning method (PROMPT_TUNING, PREFIX_TUNING)")
        }
        let tokenDim = try required("token_dim")
        var c = PromptLearningConfig(method: method, numVirtualTokens: try required("num_virtual_tokens"),
                                     tokenDim: tokenDim, numAttentionHeads: try required("num_attention_heads"),
                                     numLayers: try required("num_layers"),
                                     baseModelNameOrPath: try string("base_model_name_or_path"),
                                     encoderHiddenSize: try int("encoder_hidden_size") ?? tokenDim)
        c.numTransformerSubmodules = try int("num_transformer_submodules") ?? 1
        c.taskType = try string("task_type") ?? "CAUSAL_LM"
        if method == .promptTuning {
            let initName = try string("prompt_tuning_init") ?? "RANDOM"
            guard let i = PromptTuningInit(rawValue: initName) else {
                throw QLoRAError.format(path, "prompt_tuning_init '\(initName)' is not RANDOM, TEXT or SAMPLE_VOCAB")
            }
            c.promptTuningInit = i
            c.promptTuningInitText = try string("prompt_tuning_init_text")
            c.tokenizerNameOrPath = try string("tokenizer_name_or_path")
        } else if let v = o["prefix_projection"], !v.isNull {
            guard let b = v.bool else { throw QLoRAError.format(path, "prefix_projection must be true or false") }
            c.prefixProjection = b
        }
        try c.validate(path: path)
        return c
    }
}
