import QLoRACore

/// The linear layers of a LLaMA-family decoder layer that LoRA can adapt, in Hugging Face order,
/// with their Hugging Face module paths and shapes: the seven separate ones, or Phi-3's fused layout
/// (`qkv_proj` = q, k, v rows stacked; `gate_up_proj` = gate rows then up rows), which PEFT adapts
/// as single modules. `modules(of:)` says which a model has.
///
/// (QLoRAPlan's `Projection` names the same seven for memory planning; it could move onto this.)
public enum LlamaLinear: String, CaseIterable, Sendable, Codable, Comparable {
    case q, k, v, qkv, o, gate, up, gateUp = "gate_up", down

    /// The seven separate projections (Llama, Mistral, Qwen).
    public static let separate: [LlamaLinear] = [.q, .k, .v, .o, .gate, .up, .down]
    /// Phi-3's four: fused q/k/v and gate/up.
    public static let fused: [LlamaLinear] = [.qkv, .o, .gateUp, .down]

    /// The linears a layer of `config` has, in Hugging Face order.
    public static func modules(of config: LlamaConfig) -> [LlamaLinear] {
        config.fusedProjections ? fused : separate
    }

    /// The module's own name, as `target_modules` lists it: `q_proj`, …, `down_proj`.
    public var moduleName: String { rawValue + "_proj" }

    /// The submodule that holds it: `self_attn` or `mlp`.
    public var parentName: String {
        switch self {
        case .q, .k, .v, .qkv, .o: return "self_attn"
        case .gate, .up, .gateUp, .down: return "mlp"
        }
    }

    /// (in, out) features for `config`: the weight is (out, in), LoRA A is (r, in), B is (out, r).
    public func features(_ config: LlamaConfig) -> (inFeatures: Int, outFeatures: Int) {
        let qDim = config.numAttentionHeads * config.headDim
        let kvDim = config.numKeyValueHeads * config.headDim
        switch self {
        case .q: return (config.hiddenSize, qDim)
        case .k, .v: return (config.hiddenSize, kvDim)
        case .qkv: return (config.hiddenSize, qDim + 2 * kvDim)
        case .gateUp: return (config.hiddenSize, 2 * config.intermediateSize)
        case .o: return (qDim, config.hiddenSize)
        case .gate, .up: return (config.hiddenSize, config.intermediateSize)
        case .down: return (config.intermediateSize, config.hiddenSize)
        }
    }

    /// The module path in a transformers `LlamaForCausalLM`: `model.layers.3.mlp.up_proj`; `prefix`
    /// is the text model's path (`LlamaConfig.modulePrefix`: `model.language_model.` in Gemma 3's wrapper).
    public func modulePath(layer: Int, prefix: String = "model.") -> String {
        "\(prefix)layers.\(layer).\(parentName).\(moduleName)"
    }

    /// The text model's module paths this engine reads: a causal LM's, and the Gemma 3 wrapper's as
    /// transformers 5 names its modules (and as transformers 4 did).
    public static let modulePrefixes = ["model.", "model.language_model.", "language_model.model."]

    /// Parses a module path back into (layer, linear); nil for anything else (including
    /// non-canonical layer numbers such as `01` or `+1`).
    public static func parse(modulePath full: String) -> (layer: Int, linear: LlamaLinear)? {
        guard let prefix = modulePrefixes.last(where: { full.hasPrefix($0 + "layers.") }) else { return nil }
        let parts: [Substring] = ["model"] + full.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "model", parts[1] == "layers",
              let layer = Int(parts[2]), layer >= 0, String(layer) == parts[2],
              let linear = allCases.first(where: { $0.parentName == parts[3] && $0.moduleName == parts[4] })
        else { return nil }
        return (layer, linear)
    }

    public static func < (a: LlamaLinear, b: LlamaLinear) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// PEFT's tensor keys for a LoRA module (`get_peft_model_state_dict` drops the adapter name).
public enum PEFTKeys {
    /// `PeftModelForCausalLM` wraps the transformers model twice: `base_model.model.` + path.
    public static let prefix = "base_model.model."

    /// `base_model.model.<path>.lora_A.weight`: (r, in).
    public static func loraA(_ modulePath: String) -> String { prefix + modulePath + ".lora_A.weight" }

    /// `base_model.model.<path>.lora_B.weight`: (out, r).
    public static func loraB(_ modulePath: String) -> String { prefix + modulePath + ".lora_B.weight" }

    /// `base_model.model.<path>.lora_magnitude_vector`: DoRA's magnitude, (out). PEFT saves it
    /// without `.weight` (`utils/save_and_load.py` strips it from `lora_magnitude_vector.default.weight`).
    public static func magnitude(_ modulePath: String) -> String { prefix + modulePath + ".lora_magnitude_vector" }

    /// Splits a key into its module path and "A", "B" or "m" (DoRA's magnitude); nil for any other key.
    public static func parse(_ key: String) -> (modulePath: String, matrix: String)? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        for (suffix, matrix) in [(".lora_A.weight", "A"), (".lora_B.weight", "B"), (".lora_magnitude_vector", "m")]
        where rest.hasSuffix(suffix) {
            return (String(rest.dropLast(suffix.count)), matrix)
        }
        return nil
    }
}
