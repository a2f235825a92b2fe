import QLoRAFormats

/// The extents buffer shapes are written in (llm.c's legend), from a config and a request.
///
/// L layers · B batch · T tokens per sequence the model sees (prompt tuning adds P) · C hidden ·
/// NH query heads · NKV key/value heads · HS head dim · QD = NH·HS · KVD = NKV·HS · FF intermediate ·
/// V vocab · E experts per MLP · K experts per token · r LoRA rank · P virtual tokens · N shards.
struct ModelDims: Sendable {
    let L, B, T, C, NH, NKV, HS, QD, KVD, FF, V, E, K, r, P: Int

    init(_ request: PlanRequest) {
        let c = request.model.config
        L = c.numHiddenLayers
        B = request.batchSize
        P = request.method.usesVirtualTokens ? request.virtualTokens : 0
        T = request.sequenceLength + (request.method == .promptTuning ? P : 0)
        C = c.hiddenSize
        NH = c.numAttentionHeads
        NKV = c.numKeyValueHeads
        HS = c.headDim
        QD = c.qDim
        KVD = c.kvDim
        FF = c.intermediateSize
        V = c.vocabSize
        E = max(1, c.numLocalExperts)
        K = E > 1 ? max(1, c.numExpertsPerToken) : 1
        r = request.rank
    }

    /// (out features, in features) of one projection.
    static func projectionShape(_ p: Projection, _ c: LlamaConfig) -> (out: Int, in: Int) {
        switch p {
        case .q: (c.qDim, c.hiddenSize)
        case .k, .v: (c.kvDim, c.hiddenSize)
        case .o: (c.hiddenSize, c.qDim)
        case .gate, .up: (c.intermediateSize, c.hiddenSize)
        case .down: (c.hiddenSize, c.intermediateSize)
        }
    }

    func shape(_ p: Projection) -> (out: Int, in: Int) {
        switch p {
        case .q: (QD, C)
        case .k, .v: (KVD, C)
        case .o: (C, QD)
        case .gate, .up: (FF, C)
        case .down: (C, FF)
        }
    }

    /// Axis names of (out, in) for shape legends.
    func axes(_ p: Projection) -> (out: String, in: String) {
        switch p {
        case .q: ("QD", "C")
        case .k, .v: ("KVD", "C")
        case .o: ("C", "QD")
        case .gate, .up: ("FF", "C")
        case .down: ("C", "FF")
        }
    }

    /// Instances of a projection per layer: E for MLP linears of a mixture of experts, else 1.
    func copies(_ p: Projection) -> Int { p.isMLP ? E : 1 }

    /// Leading extents for per-layer tensors of a projection: `[L]` or `[L, E]`.
    func layerPrefix(_ p: Projection) -> (shape: [Int], axes: [String]) {
        copies(p) > 1 ? ([L, E], ["L", "E"]) : ([L], ["L"])
    }

    /// (out, in) of the projection with the most weights (the largest dequantized scratch).
    var largestLinear: (out: Int, in: Int) {
        Projection.allCases.map(shape).max { $0.out * $0.in < $1.out * $1.in }!
    }
}
