import QLoRACore

extension LlamaConfig {
    /// GGUF architectures whose tensors `GGUFCheckpoint` maps to Hugging Face names.
    public static let supportedGGUFArchitectures: Set<String> = ["llama", "qwen2"]

    /// The Hugging Face config of the model a GGUF file holds, from its `<arch>.*` metadata.
    ///
    /// | GGUF key (`<arch>.` prefix) | config field |
    /// | --- | --- |
    /// | `context_length` | max_position_embeddings |
    /// | `embedding_length` | hidden_size |
    /// | `feed_forward_length` | intermediate_size |
    /// | `block_count` | num_hidden_layers |
    /// | `attention.head_count`, `attention.head_count_kv` | num_attention_heads, num_key_value_heads |
    /// | `attention.key_length` | head_dim (else hidden / heads) |
    /// | `rope.freq_base` | rope_theta (default 10000) |
    /// | `attention.layer_norm_rms_epsilon` | rms_norm_eps (the float32 value, widened) |
    /// | `rope.scaling.type`, `.factor`, `.original_context_length` | rope_scaling (absent or "none": no scaling) |
    /// | `expert_count`, `expert_used_count` | num_local_experts, num_experts_per_tok ("mixtral" when > 1) |
    /// | `vocab_size`, else the tokenizer's token count, else `token_embd` rows | vocab_size |
    /// | tensor `rope_freqs.weight` (llama) | per-frequency RoPE divisors (Llama 3 scaling), kept as `RopeScaling.frequencyFactors` |
    ///
    /// Embeddings are tied when the file has no `output.weight`; q/k/v carry a bias when
    /// `blk.0.attn_q.bias` exists (always for qwen2); bos/eos come from `tokenizer.ggml.*_token_id`.
    /// Throws one-line errors naming the file for a missing or mistyped key or an invalid size.
    public init(gguf: GGUFFile) throws {
        let path = gguf.path
        guard let arch = gguf.architecture else {
            throw QLoRAError.format(path, "metadata key 'general.architecture' is missing")
        }
        guard Self.supportedGGUFArchitectures.contains(arch) else {
            throw QLoRAError.unsupported(path, "GGUF architecture '\(arch)' is not supported (supported: \(Self.supportedGGUFArchitectures.sorted().joined(separator: ", ")))")
        }
        func key(_ k: String) -> String { "\(arch).\(k)" }

        let hidden = try gguf.requiredInt(key("embedding_length"))
        let heads = try gguf.requiredInt(key("attention.head_count"))
        let experts = try gguf.int(key("expert_count")) ?? 1
        let vocab = try gguf.int(key("vocab_size"))
            ?? gguf.strings("tokenizer.ggml.tokens")?.count
            ?? (try? gguf.tensor("token_embd.weight"))?.dims.last
        guard let vocab else {
            throw QLoRAError.format(path, "cannot tell the vocabulary size: no '\(key("vocab_size"))', no tokenizer tokens, no token_embd.weight")
        }
        var modelType = arch
        if arch == "llama" && experts > 1 { modelType = "mixtral" }
        let eos = try gguf.int("tokenizer.ggml.eos_token_id")
        do {
            try self.init(
                modelType: modelType,
                vocabSize: vocab,
                hiddenSize: hidden,
                intermediateSize: try gguf.requiredInt(key("feed_forward_length")),
                numHiddenLayers: try gguf.requiredInt(key("block_count")),
                numAttentionHeads: heads,
                numKeyValueHeads: try gguf.int(key("attention.head_count_kv")) ?? heads,
                headDim: try gguf.int(key("attention.key_length")),
                maxPositionEmbeddings: try gguf.requiredInt(key("context_length")),
                rmsNormEps: try gguf.double(key("attention.layer_norm_rms_epsilon")) ?? 1e-5,
                ropeTheta: try gguf.double(key("rope.freq_base")) ?? 10000,
                ropeScaling: try Self.ggufRopeScaling(gguf, arch: arch),
                tieWordEmbeddings: !gguf.hasTensor("output.weight"),
                attentionBias: arch == "qwen2" || gguf.hasTensor("blk.0.attn_q.bias"),
                numLocalExperts: experts,
                numExpertsPerToken: try gguf.int(key("expert_used_count")) ?? 1,
                bosTokenId: try gguf.int("tokenizer.ggml.bos_token_id"),
                eosTokenIds: eos.map { [$0] } ?? []
            )
        } catch let e as QLoRAError where e.kind == .format && e.message.hasPrefix("config: ") {
            throw QLoRAError.format(path, "GGUF metadata gives an invalid " + e.message)
        }
        try applyRopeFrequencyFactors(gguf, arch: arch)
        architectures = [["llama": "LlamaForCausalLM", "mixtral": "MixtralForCausalLM", "qwen2": "Qwen2ForCausalLM"][modelType]!]
        if let embedding = try? gguf.tensor("token_embd.weight"), embedding.dims != [hidden, vocab] {
            throw QLoRAError.format(path, "token_embd.weight has dims \(embedding.dims), expected [\(hidden), \(vocab)] from the metadata")
        }
    }

    /// llama.cpp's `rope_freqs.weight`: θ^(−2i/d) ÷ factor[i] at every position (how its converter
    /// stores Llama 3.1's scaling). Read into the config, so the model rotates as llama.cpp does
    /// (with linear scaling metadata too, llama.cpp applies both: the factors take it in).
    mutating func applyRopeFrequencyFactors(_ gguf: GGUFFile, arch: String) throws {
        let name = "rope_freqs.weight"
        guard gguf.hasTensor(name) else { return }
        let path = gguf.path
        guard arch == "llama" else {
            throw QLoRAError.unsupported(path, "tensor '\(name)' is not implemented for the \(arch) architecture")
        }
        // llama.cpp multiplies the frequencies by 1/linear factor as well (`freq_scale`).
        var linear: Float = 1
        if let s = ropeScaling {
            guard s.ropeType == "linear" else {
                throw QLoRAError.unsupported(path, "tensor '\(name)' together with rope scaling '\(s.ropeType)' is not implemented")
            }
            linear = Float(s.factor)
        }
        let factors = try gguf.floats(name)
        guard factors.count == rotaryDim / 2, factors.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw QLoRAError.format(path, "tensor '\(name)' must hold \(rotaryDim / 2) positive factors (one per rotary frequency), it holds \(factors.count)")
        }
        ropeScaling = .frequencyFactors(factors.map { $0 * linear }, context: maxPositionEmbeddings)
        do { try validate() } catch let e as QLoRAError {
            throw QLoRAError.format(path, "GGUF metadata gives an invalid " + e.message)
        }
    }

    /// `rope_scaling` from `<arch>.rope.scaling.*` (or the older `<arch>.rope.scale_linear`).
    static func ggufRopeScaling(_ gguf: GGUFFile, arch: String) throws -> RopeScaling? {
        if let type = try gguf.string("\(arch).rope.scaling.type"), type != "none" {
            return RopeScaling(
                ropeType: type,
                factor: try gguf.double("\(arch).rope.scaling.factor") ?? 1,
                originalMaxPositionEmbeddings: try gguf.int("\(arch).rope.scaling.original_context_length"))
        }
        if let linear = try gguf.double("\(arch).rope.scale_linear"), linear != 1 {
            return RopeScaling(ropeType: "linear", factor: linear)
        }
        return nil
    }
}
