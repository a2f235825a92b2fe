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

    public struct RopeScaling: Codable, Equatable, Sendable {
        public var ropeType: String
        public var factor: Double
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var originalMaxPositionEmbeddings: Int?

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type", type, factor
            case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        }

        public init(ropeType: String, factor: Double, lowFreqFactor: Double? = nil,
                    highFreqFactor: Double? = nil, originalMaxPositionEmbeddings: Int? = nil) {
            self.ropeType = ropeType
            self.factor = factor
            self.lowFreqFactor = lowFreqFactor
            self.highFreqFactor = highFreqFactor
            self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType)
                ?? c.decodeIfPresent(String.self, forKey: .type) ?? "default"
            factor = try c.decodeIfPresent(Double.self, forKey: .factor) ?? 1
            lowFreqFactor = try c.decodeIfPresent(Double.self, forKey: .lowFreqFactor)
            highFreqFactor = try c.decodeIfPresent(Double.self, forKey: .highFreqFactor)
            originalMaxPositionEmbeddings = try c.decodeIfPresent(
                Int.self, forKey: .originalMaxPositionEmbeddings)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ropeType, forKey: .ropeType)
            try c.encode(factor, forKey: .factor)
            try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
            try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
            try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
        }
    }

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
    }

    /// Model types whose decoder this engine runs (or plans for).
    public static let supportedModelTypes: Set<String> = ["llama", "mistral", "qwen2", "phi3", "mixtral"]

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
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llama"
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
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10000
        ropeScaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        let bias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        attentionBias = bias || modelType == "qwen2"
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
        } catch {
            throw QLoRAError.format(path, "not valid JSON")
        }
        do { try config.validate() } catch let e as QLoRAError {
            throw QLoRAError.format(path, e.message)
        }
        return config
    }

    // MARK: Derived sizes

    /// q_proj output features.
    public var qDim: Int { numAttentionHeads * headDim }
    /// k_proj / v_proj output features.
    public var kvDim: Int { numKeyValueHeads * headDim }

    /// The seven linears of one decoder layer as (name, out, in), in HF order.
    public var layerLinears: [(name: String, out: Int, in: Int)] {
        [("q_proj", qDim, hiddenSize), ("k_proj", kvDim, hiddenSize), ("v_proj", kvDim, hiddenSize),
         ("o_proj", hiddenSize, qDim), ("gate_proj", intermediateSize, hiddenSize),
         ("up_proj", intermediateSize, hiddenSize), ("down_proj", hiddenSize, intermediateSize)]
    }

    /// Parameters in all transformer-block linears (what QLoRA quantizes), experts included.
    public var linearParameters: Int {
        let attn = layerLinears[0..<4].reduce(0) { $0 + $1.out * $1.in }
        let mlp = layerLinears[4..<7].reduce(0) { $0 + $1.out * $1.in } * numLocalExperts
        let router = numLocalExperts > 1 ? numLocalExperts * hiddenSize : 0
        return numHiddenLayers * (attn + mlp + router)
    }

    /// Every parameter: linears, embeddings, lm_head (unless tied), norms and biases.
    public var totalParameters: Int {
        let embed = vocabSize * hiddenSize
        let head = tieWordEmbeddings ? 0 : embed
        let norms = (2 * numHiddenLayers + 1) * hiddenSize
        let bias = attentionBias ? numHiddenLayers * (qDim + 2 * kvDim) : 0
        return linearParameters + embed + head + norms + bias
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
