import Foundation
import QLoRACore

/// The architecture of a LLaMA-family decoder, as Hugging Face's `config.json` describes it.
///
/// Covers Llama 1/2/3 (with Llama-3 rope scaling), Mistral, Qwen2 (q/k/v bias), SmolLM2, Phi-3 and
/// Mixtral (for planning). Decoding validates every size; the Swift names map explicitly to the
/// snake_case keys transformers writes.
public struct LlamaConfig: Codable, Equatable, Sendable {
    public var modelType: String
    public var architectures: [String]?
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    /// Per-head dimension; HF derives hidden / heads when absent.
    public var headDim: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var tieWordEmbeddings: Bool
    /// Bias on q/k/v projections (Qwen2 always; Llama when `attention_bias` is true).
    public var attentionBias: Bool
    public var mlpBias: Bool
    /// Mixture-of-experts: experts per MLP (1 = dense).
    public var numLocalExperts: Int
    public var numExpertsPerToken: Int
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var torchDtype: String?
    /// Keys a query of a sliding-attention layer sees: itself and the `slidingWindow − 1` before it.
    public var slidingWindow: Int?
    /// Per layer, `full_attention` or `sliding_attention` (nil: every layer full).
    public var layerTypes: [String]?
    /// RoPE of the sliding-attention layers when it differs from the global one (transformers 5's
    /// per-layer-type `rope_parameters`).
    public var slidingRope: LayerRope?
    /// The fraction of each head that RoPE rotates (Phi-3/4: `partial_rotary_factor`).
    public var partialRotaryFactor: Double = 1
    /// Phi-3's top-level pretraining context, which longrope and yarn use over their own field.
    public var originalMaxPositionEmbeddings: Int?
    /// The MLP's gate activation: `silu` (SwiGLU) or `gelu_pytorch_tanh` (Gemma's GeGLU).
    public var hiddenActivation: String = "silu"
    /// Gemma: attention scores are scaled by 1/√query_pre_attn_scalar instead of 1/√head_dim.
    public var queryPreAttnScalar: Double?
    /// Gemma 2: scores become cap · tanh(score / cap) before the mask and softmax.
    public var attnLogitSoftcapping: Double?
    /// Gemma 2 (and Gemma 3 text when set): logits become cap · tanh(logit / cap).
    public var finalLogitSoftcapping: Double?
    /// The wrapper the text model sits in (`gemma3`: config under `text_config`, weights under
    /// `model.language_model.` or `language_model.model.`), or nil.
    public var wrapper: String?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", architectures
        case vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case tieWordEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias"
        case mlpBias = "mlp_bias", numLocalExperts = "num_local_experts"
        case numExpertsPerToken = "num_experts_per_tok", bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id", torchDtype = "torch_dtype", dtype
        case slidingWindow = "sliding_window", layerTypes = "layer_types", ropeParameters = "rope_parameters"
        case partialRotaryFactor = "partial_rotary_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        case useSlidingWindow = "use_sliding_window", maxWindowLayers = "max_window_layers"
        case hiddenActivation = "hidden_activation", queryPreAttnScalar = "query_pre_attn_scalar"
        case attnLogitSoftcapping = "attn_logit_softcapping", finalLogitSoftcapping = "final_logit_softcapping"
        case ropeLocalBaseFreq = "rope_local_base_freq", slidingWindowPattern = "sliding_window_pattern"
        case textConfig = "text_config"
    }

    /// Model types whose decoder this engine runs (or plans for).
    public static let supportedModelTypes: Set<String> = ["llama", "mistral", "qwen2", "qwen3", "phi3", "mixtral",
                                                          "gemma2", "gemma3_text"]

    /// Model types the planner sizes but the decoder does not run (their math is not implemented:
    /// mixture-of-experts routing).
    public static let planOnlyModelTypes: Set<String> = ["mixtral"]

    /// Gemma 2 and Gemma 3 text (the `gemma3` wrapper's text model is `gemma3_text`).
    public static let gemmaModelTypes: Set<String> = ["gemma2", "gemma3_text"]
    public var isGemma: Bool { Self.gemmaModelTypes.contains(modelType) }

    /// Throws, naming the model type, when the decoder cannot run this config.
    public func checkRunnable(_ path: String) throws {
        if Self.planOnlyModelTypes.contains(modelType) {
            throw QLoRAError.unsupported(path, "model_type '\(modelType)' can be planned (memplan) but not run: its decoder is not implemented")
        }
    }

    public init(
        modelType: String = "llama", vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
        numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int? = nil,
        headDim: Int? = nil, maxPositionEmbeddings: Int = 4096, rmsNormEps: Double = 1e-5,
        ropeTheta: Double = 10000, ropeScaling: RopeScaling? = nil, tieWordEmbeddings: Bool = false,
        attentionBias: Bool = false, mlpBias: Bool = false, numLocalExperts: Int = 1,
        numExpertsPerToken: Int = 1, bosTokenId: Int? = nil, eosTokenIds: [Int] = [],
        torchDtype: String? = nil
    ) throws {
        self.modelType = modelType
        self.architectures = nil
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        self.numLocalExperts = numLocalExperts
        self.numExpertsPerToken = numExpertsPerToken
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.torchDtype = torchDtype
        try validate()
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if try c.decodeIfPresent(String.self, forKey: .modelType) == "gemma3" {
            // The multimodal wrapper: the text model's config is nested; only the text model runs.
            guard c.contains(.textConfig) else { throw QLoRAError(.format, "config: model_type 'gemma3' without text_config") }
            self = try LlamaConfig(decoder: c.superDecoder(forKey: .textConfig), defaultModelType: "gemma3_text")
            guard modelType == "gemma3_text" else {
                throw QLoRAError(.format, "config: gemma3 text_config has model_type '\(modelType)' (expected gemma3_text)")
            }
            wrapper = "gemma3"
            if let top = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) { tieWordEmbeddings = top }
            if finalLogitSoftcapping != nil {  // Gemma3ForConditionalGeneration does not apply it
                throw QLoRAError(.format, "config: key 'final_logit_softcapping' in a gemma3 wrapper is not applied by transformers' Gemma3ForConditionalGeneration; refused")
            }
            return
        }
        self = try LlamaConfig(decoder: decoder, defaultModelType: "llama")
    }

    init(decoder: Decoder, defaultModelType: String) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? defaultModelType
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        let hd = try c.decodeIfPresent(Int.self, forKey: .headDim)
        headDim = hd ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        let topTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        ropeTheta = topTheta ?? 10000
        ropeScaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)
        partialRotaryFactor = try c.decodeIfPresent(Double.self, forKey: .partialRotaryFactor) ?? 1
        originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
        slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow)
        layerTypes = try c.decodeIfPresent([String].self, forKey: .layerTypes)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        let bias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        // Phi-3's fused qkv_proj never has a bias (transformers' Phi3Attention ignores the key).
        attentionBias = (bias || modelType == "qwen2") && modelType != "phi3"
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        numLocalExperts = try c.decodeIfPresent(Int.self, forKey: .numLocalExperts) ?? 1
        numExpertsPerToken = try c.decodeIfPresent(Int.self, forKey: .numExpertsPerToken) ?? 1
        bosTokenId = try? c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId) {
            eosTokenIds = [one]
        } else {
            eosTokenIds = (try? c.decodeIfPresent([Int].self, forKey: .eosTokenId)) ?? []
        }
        torchDtype = try c.decodeIfPresent(String.self, forKey: .torchDtype)
            ?? c.decodeIfPresent(String.self, forKey: .dtype)
        let ropeParameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        if isGemma {
            try decodeGemma(c, topTheta: topTheta, headDimGiven: hd != nil, ropeParameters: ropeParameters)
        } else if let rp = ropeParameters {
            try applyRopeParameters(rp, topLevelTheta: topTheta)
        }
        if modelType == "phi3", let t = ropeScaling?.ropeType, t == "su" || t == "yarn" {
            ropeScaling!.ropeType = "longrope"   // Phi3Config renames both ("su" is longrope's old name)
        }
        if modelType == "qwen2" || modelType == "qwen3" {
            // Qwen keeps `sliding_window` in every config but uses it only with `use_sliding_window`,
            // on the layers from `max_window_layers` on.
            let use = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
            if !use && !(layerTypes?.contains("sliding_attention") ?? false) { slidingWindow = nil }
            if use, layerTypes == nil, slidingWindow != nil {
                let from = try c.decodeIfPresent(Int.self, forKey: .maxWindowLayers) ?? numHiddenLayers
                layerTypes = (0..<numHiddenLayers).map { $0 >= from ? "sliding_attention" : "full_attention" }
            }
        }
        try Self.refuseUnimplementedKeys(decoder, modelType: modelType)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encodeIfPresent(architectures, forKey: .architectures)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode(mlpBias, forKey: .mlpBias)
        if numLocalExperts > 1 {
            try c.encode(numLocalExperts, forKey: .numLocalExperts)
            try c.encode(numExpertsPerToken, forKey: .numExpertsPerToken)
        }
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        if eosTokenIds.count == 1 {
            try c.encode(eosTokenIds[0], forKey: .eosTokenId)
        } else if !eosTokenIds.isEmpty {
            try c.encode(eosTokenIds, forKey: .eosTokenId)
        }
        try c.encodeIfPresent(torchDtype, forKey: .torchDtype)
        try c.encodeIfPresent(slidingWindow, forKey: .slidingWindow)
        try c.encodeIfPresent(layerTypes, forKey: .layerTypes)
        if partialRotaryFactor != 1 { try c.encode(partialRotaryFactor, forKey: .partialRotaryFactor) }
        try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
        if isGemma {  // every Gemma key written, so a default never stands in for a missing one
            try c.encode(hiddenActivation, forKey: .hiddenActivation)
            try c.encodeIfPresent(queryPreAttnScalar, forKey: .queryPreAttnScalar)
            if let v = attnLogitSoftcapping { try c.encode(v, forKey: .attnLogitSoftcapping) } else { try c.encodeNil(forKey: .attnLogitSoftcapping) }
            if let v = finalLogitSoftcapping { try c.encode(v, forKey: .finalLogitSoftcapping) } else { try c.encodeNil(forKey: .finalLogitSoftcapping) }
            if slidingWindow == nil { try c.encodeNil(forKey: .slidingWindow) }
        }
        // Only the per-layer-type form can say it (Gemma 3: always, so its local layers' default θ never stands in).
        if let slidingRope = slidingRope ?? (modelType == "gemma3_text" ? LayerRope(theta: ropeTheta, scaling: ropeScaling) : nil) {
            var all: [String: RopeParameters.Single] = [:]
            all["full_attention"] = .init(theta: ropeTheta, scaling: ropeScaling)
            all["sliding_attention"] = .init(theta: slidingRope.theta, scaling: slidingRope.scaling)
            try c.encode(all, forKey: .ropeParameters)
        }
    }

    /// Checks every size; throws a one-line reason.
    public func validate() throws {
        func need(_ ok: Bool, _ why: String) throws {
            if !ok { throw QLoRAError(.format, "config: \(why)") }
        }
        try need(Self.supportedModelTypes.contains(modelType),
                 "unsupported model_type '\(modelType)' (supported: \(Self.supportedModelTypes.sorted().joined(separator: ", ")))")
        let limit = 1 << 24
        try need((1...(1 << 22)).contains(vocabSize), "vocab_size \(vocabSize) out of range")
        try need((1...limit).contains(hiddenSize), "hidden_size \(hiddenSize) out of range")
        try need((1...limit).contains(intermediateSize), "intermediate_size \(intermediateSize) out of range")
        try need((1...4096).contains(numHiddenLayers), "num_hidden_layers \(numHiddenLayers) out of range")
        try need((1...4096).contains(numAttentionHeads), "num_attention_heads \(numAttentionHeads) out of range")
        try need((1...numAttentionHeads).contains(numKeyValueHeads),
                 "num_key_value_heads \(numKeyValueHeads) must be in 1...\(numAttentionHeads)")
        try need(numAttentionHeads % numKeyValueHeads == 0,
                 "num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        try need((1...limit).contains(headDim) && headDim % 2 == 0, "head_dim \(headDim) must be even and positive")
        try need((1...(1 << 24)).contains(maxPositionEmbeddings), "max_position_embeddings out of range")
        try need(rmsNormEps > 0 && rmsNormEps < 1, "rms_norm_eps \(rmsNormEps) out of range")
        try need(ropeTheta > 0 && ropeTheta.isFinite, "rope_theta \(ropeTheta) out of range")
        try need(partialRotaryFactor > 0 && partialRotaryFactor <= 1, "partial_rotary_factor \(partialRotaryFactor) out of range")
        try need(rotaryDim >= 2 && rotaryDim % 2 == 0, "rotary dimension \(rotaryDim) (head_dim × partial_rotary_factor) must be even")
        try ropeScaling?.validate("rope scaling", rotaryDim: rotaryDim)
        if let slidingRope {
            try need(slidingRope.theta > 0 && slidingRope.theta.isFinite, "sliding_attention rope_theta out of range")
            try slidingRope.scaling?.validate("sliding_attention rope", rotaryDim: rotaryDim)
        }
        if let slidingWindow { try need(slidingWindow >= 1, "sliding_window \(slidingWindow) out of range") }
        if let q = queryPreAttnScalar { try need(q > 0 && q.isFinite, "query_pre_attn_scalar \(q) out of range") }
        for (key, cap) in [("attn_logit_softcapping", attnLogitSoftcapping), ("final_logit_softcapping", finalLogitSoftcapping)] {
            if let cap { try need(cap > 0 && cap.isFinite, "\(key) \(cap) out of range") }
        }
        if let layerTypes {
            try need(layerTypes.count == numHiddenLayers,
                     "layer_types has \(layerTypes.count) entries for \(numHiddenLayers) layers")
            for t in Set(layerTypes) where !["full_attention", "sliding_attention"].contains(t) {
                throw QLoRAError(.format, "config: layer type '\(t)' is not implemented")
            }
            try need(!layerTypes.contains("sliding_attention") || slidingWindow != nil,
                     "layer_types has sliding_attention layers but sliding_window is not set")
        }
        try need((1...1024).contains(numLocalExperts), "num_local_experts out of range")
        // Each size is bounded, but their products (parameter and byte counts) would overflow Int
        // for a hostile combination: bound the total, computed in Double (exact enough to compare).
        let (h, q, kv, ffn) = (Double(hiddenSize), Double(numAttentionHeads * headDim),
                               Double(numKeyValueHeads * headDim), Double(intermediateSize))
        let perLayer = h * (2 * q + 2 * kv) + 3 * h * ffn * Double(numLocalExperts) + Double(numLocalExperts) * h
        let total = Double(numHiddenLayers) * perLayer + 2 * Double(vocabSize) * h
        try need(total <= Self.maxParameters, "the sizes give \(total) parameters (more than \(Int(Self.maxParameters)))")
    }

    /// The most parameters a config may describe (10^15: far above any model, far below Int.max).
    public static let maxParameters: Double = 1e15

    /// Reads and validates a `config.json`.
    public static func load(path: String) throws -> LlamaConfig {
        guard let data = try MetadataFile.read(path, limit: MetadataFile.configLimit) else {
            throw QLoRAError.io(path, "cannot read (missing config.json?)")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String = "config.json") throws -> LlamaConfig {
        let config: LlamaConfig
        do {
            config = try JSONDecoder().decode(LlamaConfig.self, from: data)
        } catch let e as DecodingError {
            throw QLoRAError.format(path, JSONErrors.describe(e))
        } catch let e as QLoRAError {
            throw QLoRAError.format(path, e.message)
        } catch {
            throw QLoRAError.format(path, "not valid JSON")
        }
        do { try config.validate() } catch let e as QLoRAError {
            throw QLoRAError.format(path, e.message)
        }
        return config
    }

    // MARK: Derived sizes

    /// Dimensions of each head that RoPE rotates (the first ones).
    public var rotaryDim: Int { Int(Double(headDim) * partialRotaryFactor) }

    /// transformers' class for this model type (what `architectures` names in a written config.json).
    public var causalLMArchitecture: String {
        ["llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
         "qwen3": "Qwen3ForCausalLM", "phi3": "Phi3ForCausalLM", "mixtral": "MixtralForCausalLM",
         "gemma2": "Gemma2ForCausalLM", "gemma3_text": "Gemma3ForCausalLM"][modelType]
            ?? "LlamaForCausalLM"
    }

    /// The pretraining context that llama3, yarn and longrope scale from: Phi-3's top-level key
    /// first (transformers gives it priority), then the scaling's own, then `max_position_embeddings`.
    public func originalContext(_ s: RopeScaling) -> Int {
        originalMaxPositionEmbeddings ?? s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings
    }

    /// Phi-3's layout: one `qkv_proj` (q, k, v rows stacked) and one `gate_up_proj` (gate rows, then
    /// up rows) per layer, kept fused as the checkpoint and PEFT have them.
    public var fusedProjections: Bool { modelType == "phi3" }

    /// RMSNorm over each head of q and k after projection, before RoPE (Qwen3's `q_norm`, `k_norm`).
    /// (Gemma 3's scale by (1 + w), like its other norms.)
    public var hasQKNorm: Bool { modelType == "qwen3" || modelType == "gemma3_text" }

    /// Whether layer `l` attends through a sliding window (`layer_types`, or every layer when the
    /// config sets `sliding_window` without layer types).
    public func isSlidingLayer(_ l: Int) -> Bool {
        guard slidingWindow != nil else { return false }
        guard let layerTypes else { return true }
        return layerTypes[l] == "sliding_attention"
    }

    /// The window of layer `l` (nil: full causal attention).
    public func attentionWindow(layer l: Int) -> Int? { isSlidingLayer(l) ? slidingWindow : nil }

    /// The RoPE of layer `l`: the sliding one on sliding layers when the config gives one.
    public func rope(layer l: Int) -> LayerRope {
        if isSlidingLayer(l), let slidingRope { return slidingRope }
        return LayerRope(theta: ropeTheta, scaling: ropeScaling)
    }

    /// q_proj output features.
    public var qDim: Int { numAttentionHeads * headDim }
    /// k_proj / v_proj output features.
    public var kvDim: Int { numKeyValueHeads * headDim }

    /// The linears of one decoder layer as (name, out, in), in HF order: the seven separate ones, or
    /// Phi-3's four (`qkv_proj`, `o_proj`, `gate_up_proj`, `down_proj`).
    public var layerLinears: [(name: String, out: Int, in: Int)] {
        if fusedProjections {
            return [("qkv_proj", qDim + 2 * kvDim, hiddenSize), ("o_proj", hiddenSize, qDim),
                    ("gate_up_proj", 2 * intermediateSize, hiddenSize), ("down_proj", hiddenSize, intermediateSize)]
        }
        return [("q_proj", qDim, hiddenSize), ("k_proj", kvDim, hiddenSize), ("v_proj", kvDim, hiddenSize),
                ("o_proj", hiddenSize, qDim), ("gate_proj", intermediateSize, hiddenSize),
                ("up_proj", intermediateSize, hiddenSize), ("down_proj", hiddenSize, intermediateSize)]
    }

    /// Parameters in all transformer-block linears (what QLoRA quantizes), experts included.
    public var linearParameters: Int {
        let h = hiddenSize
        let attn = h * (qDim + 2 * kvDim) + qDim * h
        let mlp = 3 * h * intermediateSize * numLocalExperts
        let router = numLocalExperts > 1 ? numLocalExperts * hiddenSize : 0
        return numHiddenLayers * (attn + mlp + router)
    }

    /// Every parameter: linears, embeddings, lm_head (unless tied), norms and biases.
    public var totalParameters: Int {
        let embed = vocabSize * hiddenSize
        let head = tieWordEmbeddings ? 0 : embed
        let norms = ((isGemma ? 4 : 2) * numHiddenLayers + 1) * hiddenSize
        let bias = attentionBias ? numHiddenLayers * (qDim + 2 * kvDim) : 0
        let qkNorms = hasQKNorm ? numHiddenLayers * 2 * headDim : 0
        return linearParameters + embed + head + norms + bias + qkNorms
    }
}

/// One-line descriptions of Foundation's JSON decoding errors.
public enum JSONErrors {
    public static func describe(_ error: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            ctx.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case .typeMismatch(_, let ctx): return "wrong type at '\(path(ctx))'"
        case .valueNotFound(_, let ctx): return "null value at '\(path(ctx))'"
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "invalid value at '\(path(ctx))'"
        @unknown default: return "invalid JSON"
        }
    }
}
