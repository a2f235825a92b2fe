import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel

/// A frozen LLaMA-family base with a trainable adapter, and its hand-written backward pass (llm.c style):
/// the forward is a flat list of op calls per layer that saves what backward needs; backward walks
/// the same list in reverse, accumulating into named gradient buffers. Only the adapter gets
/// gradients (for LoRA its A and B, and DoRA's magnitudes); frozen NF4 linears produce only input
/// gradients. With gradient checkpointing only each
/// layer's input is kept and the layer's forward is recomputed right before its backward.
///
/// The adapter is LoRA (A and B on the targeted linears), prompt tuning (NP virtual embedding rows
/// before every row of the batch: rows are NP + the batch's T long, the virtual positions take no
/// loss, their layer-0 input gradient is the table's) or prefix tuning (NKVP key/value positions
/// before every row's keys in every layer, used as given; real positions start at NKVP; attention's
/// dK/dV of those positions is the prefix's gradient).
/// Legend: B = rows, T = positions (virtual embedding rows included), M = B·T, C = hidden,
/// QD = NH·HS, KVD = NKV·HS, F = intermediate, V = vocab, L = layers, LK = NKVP + T key positions.
public final class LoRALlama: @unchecked Sendable {
    public let weights: LlamaWeights
    public let config: LlamaConfig
    /// The family's differences from LLaMA (norm offset, gate activation, sandwich norms, scales, caps).
    public let family: DecoderFamily
    /// The adapter being trained (its Parameters hold the values and their gradients).
    public let adapter: any TrainableAdapter
    /// LoRA's config, when the adapter is LoRA.
    public var lora: LoRAConfig? { (adapter as? LoRAAdapterWeights)?.config }
    /// The prompt-tuning table or the prefix encoder, when the adapter is one.
    public let prompt: PromptEmbedding?
    public let prefix: PrefixEncoder?
    /// NP: virtual embedding rows put before each row; NKVP: prefix key/value positions in each layer.
    var NP: Int { prompt?.virtualTokens ?? 0 }
    var NKVP: Int { prefix?.virtualTokens ?? 0 }
    public var threads: Int
    public let gradientCheckpointing: Bool
    /// adapters[l][module name], for the targeted modules.
    public let adapters: [[String: LoRALinear]]
    /// One RoPE per layer (layers of one type share it).
    let ropes: [RoPE]
    let blas: BLAS
    let workspace = KernelWorkspace()
    /// Rows of logits materialized at a time in the loss (chunk × V floats).
    /// (256 measured 2% faster than 128 on SmolLM2 at M = 1024 for 50 MiB more; 512 gains 1% more.)
    public var logitsChunk = 256

    // Buffers for the current (B, T).
    private(set) var B = 0, T = 0
    private var layerInputs: [UnsafeMutablePointer<Float>] = []   // L + 1 of (M, C)
    private var acts: [LayerActivations] = []                      // L, or 1 with checkpointing
    private var scratch: [UnsafeMutablePointer<Float>] = []
    private var finalNormed: UnsafeMutablePointer<Float>?, finalInv: UnsafeMutablePointer<Float>?
    private var dx, dxn, tmp, dq, datt, dk, dv, dgate, dup, dh, h, logits: UnsafeMutablePointer<Float>?
    private var dkAll, dvAll: UnsafeMutablePointer<Float>?   // (B, LK, KVD) with a prefix
    /// The current batch's packed rows (examples that do not see each other), or nil: one sequence per row.
    private var segments: PackedSegments?
    private var dqPre, dkPre: UnsafeMutablePointer<Float>?   // (M, QD), (M, KVD) with q/k norms
    private var dpost: UnsafeMutablePointer<Float>?          // (M, C): the gradient before a sandwich norm
    private var cappedLogits: UnsafeMutablePointer<Float>?   // (chunk, V): soft-capped logits, for their backward
    /// A fused projection's output before its split, and its gradient before backward (Phi-3):
    /// (M, max(QD + 2·KVD, 2F)).
    private var fused: UnsafeMutablePointer<Float>?

    public init(weights: LlamaWeights, adapter: any TrainableAdapter, threads: Int, gradientCheckpointing: Bool) throws {
        guard let blas = BLAS.shared else { throw QLoRAError(.notFound, "OpenBLAS not found (install libopenblas-dev)") }
        self.weights = weights
        config = weights.config
        family = weights.config.family
        self.adapter = adapter
        self.threads = threads
        self.gradientCheckpointing = gradientCheckpointing
        self.blas = blas
        ropes = RoPE.perLayer(weights.config)
        prompt = adapter as? PromptEmbedding
        prefix = adapter as? PrefixEncoder
        for c in [prompt?.config, prefix?.config].compactMap({ $0 }) {
            try c.check(against: weights.config, path: "the \(c.method.rawValue) adapter")
        }
        var all = [[String: LoRALinear]](repeating: [:], count: weights.config.numHiddenLayers)
        let loraAdapter = adapter as? LoRAAdapterWeights
        // DoRA's saved (M, O) output: one per module, or one per module name under checkpointing.
        var sharedSlots: [String: ActivationSlot] = [:]
        for m in loraAdapter?.orderedModules ?? [] {
            guard m.layer < all.count else { throw QLoRAError.invalid("adapter module \(m.path) is past the model's layers") }
            let lora = loraAdapter!.config
            let name = m.linear.moduleName
            let slot = gradientCheckpointing ? sharedSlots[name, default: ActivationSlot()] : ActivationSlot()
            sharedSlots[name] = slot
            all[m.layer][name] = LoRALinear(name: m.path, a: m.a, b: m.b, magnitude: m.magnitude, scale: Float(lora.scaling),
                                            dropout: Float(lora.loraDropout), doraSaved: slot)
        }
        adapters = all
    }

    /// A new PEFT-initialized adapter (A uniform ±1/√in, B = 0) on `weights`, then the model.
    public convenience init(weights: LlamaWeights, lora: LoRAConfig, threads: Int, gradientCheckpointing: Bool,
                            seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let adapter = try LoRAAdapterWeights(config: lora, model: weights.config, rng: &rng)
        try self.init(weights: weights, adapter: adapter, threads: threads, gradientCheckpointing: gradientCheckpointing)
        for (l, layer) in adapters.enumerated() {
            for (name, ad) in layer where ad.isDoRA {
                ad.initializeMagnitude(base: weights.layers[l].linear(named: name), threads: threads, workspace: workspace)
            }
        }
    }

    deinit { release() }

    /// Every adapter in a stable order (layer, then q, k, v, o, gate, up, down; Phi-3: qkv, o, gate_up, down).
    public var allAdapters: [LoRALinear] {
        adapters.flatMap { layer in LlamaLinear.allCases.compactMap { layer[$0.moduleName] } }
    }

    public var trainableParameterCount: Int { adapter.parameterCount }

    public func zeroGrad() {
        for a in allAdapters { a.zeroGrad() }
        for p in (prompt?.parameters ?? []) + (prefix?.parameters ?? []) { p.zeroGrad() }
    }

    /// Sets the dropout masks for this step (deterministic in the seed and step).
    public func setStepSeed(_ seed: UInt64) {
        for (i, a) in allAdapters.enumerated() { a.maskSeed = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) }
    }

    private func release() {
        for p in layerInputs + scratch { p.deallocate() }
        layerInputs = []
        scratch = []
        acts = []
        recomputeOut = nil
    }

    private func prepare(B: Int, T: Int) {
        guard B != self.B || T != self.T else { return }
        release()
        self.B = B
        self.T = T
        let c = config, M = B * T
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            scratch.append(p)
            return p
        }
        for _ in 0...c.numHiddenLayers {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: M * c.hiddenSize)
            p.initialize(repeating: 0, count: M * c.hiddenSize)
            layerInputs.append(p)
        }
        let n = gradientCheckpointing ? 1 : c.numHiddenLayers
        acts = (0..<n).map { _ in
            LayerActivations(M: M, B: B, T: T, C: c.hiddenSize, QD: c.qDim, KVD: c.kvDim, F: c.intermediateSize,
                             NH: c.numAttentionHeads, prefix: NKVP,
                             qkNorm: c.hasQKNorm ? (c.numAttentionHeads, c.numKeyValueHeads) : nil,
                             sandwichNorms: family.sandwichNorms)
        }
        if c.hasQKNorm { dqPre = alloc(M * c.qDim); dkPre = alloc(M * c.kvDim) }
        if family.sandwichNorms { dpost = alloc(M * c.hiddenSize) }
        if family.finalSoftcap != nil { cappedLogits = alloc(min(logitsChunk, M) * c.vocabSize) }
        fused = c.fusedProjections ? alloc(M * max(c.qDim + 2 * c.kvDim, 2 * c.intermediateSize)) : nil
        finalNormed = alloc(M * c.hiddenSize); finalInv = alloc(M)
        dx = alloc(M * c.hiddenSize); dxn = alloc(M * c.hiddenSize); tmp = alloc(M * c.hiddenSize)
        dq = alloc(M * c.qDim); datt = alloc(M * c.qDim); dk = alloc(M * c.kvDim); dv = alloc(M * c.kvDim)
        dgate = alloc(M * c.intermediateSize); dup = alloc(M * c.intermediateSize); dh = alloc(M * c.intermediateSize)
        h = alloc(M * c.intermediateSize)
        logits = alloc(min(logitsChunk, M) * c.vocabSize)
        if NKVP > 0 { dkAll = alloc(B * (NKVP + T) * c.kvDim); dvAll = alloc(B * (NKVP + T) * c.kvDim) }
    }

    // MARK: Linear with its adapter

    private func linear(_ l: Int, _ name: String, _ base: FrozenLinear, _ x: UnsafePointer<Float>,
                        _ y: UnsafeMutablePointer<Float>, _ M: Int) {
        base.forward(x, M: M, y, threads: threads, workspace: workspace)
        adapters[l][name]?.forward(x, M: M, y, base: base, blas: blas, threads: threads, workspace: workspace)
    }

    private func linearBackward(_ l: Int, _ name: String, _ base: FrozenLinear, _ dy: UnsafePointer<Float>,
                                _ x: UnsafePointer<Float>, _ dxOut: UnsafeMutablePointer<Float>, _ M: Int) {
        if let adapter = adapters[l][name] {   // the adapter owns the base's input gradient (DoRA scales it)
            adapter.backward(dy, x, M: M, dxOut, base: base, blas: blas, threads: threads, workspace: workspace)
        } else {
            base.backwardInput(dy, M: M, dxOut, threads: threads, workspace: workspace)
        }
    }

    /// The attention shape of layer l for the current batch (its sliding window); `body` also gets the
    /// packed rows' segments when the batch has them.
    private func withAttentionShape(_ l: Int, _ body: (Attention.Shape) -> Void) {
        var shape = Attention.Shape(B: B, T: T, L: NKVP + T, start: NKVP, NH: config.numAttentionHeads,
                                    NKV: config.numKeyValueHeads, HS: config.headDim, kvSequenceStride: (NKVP + T) * config.kvDim,
                                    window: config.attentionWindow(layer: l), scale: family.attentionScale,
                                    softcap: family.attentionSoftcap)
        guard let segments else { return body(shape) }
        segments.keyStarts.withUnsafeBufferPointer { starts in
            shape.segmentStarts = starts.baseAddress
            shape.pinned = segments.pinned
            body(shape)
        }
    }

    /// Layer l's RoPE on (M, heads·HS) rows at the batch's positions; `backward` applies its gradient.
    private func rotate(_ l: Int, _ x: UnsafeMutablePointer<Float>, heads: Int, stride: Int, backward: Bool = false) {
        let M = B * T
        let rope = ropes[l]
        guard let segments else {
            if backward { rope.backward(x, rows: M, heads: heads, stride: stride, start: NKVP, period: T) }
            else { rope.forward(x, rows: M, heads: heads, stride: stride, start: NKVP, period: T) }
            return
        }
        segments.ropePositions.withUnsafeBufferPointer { p in
            if backward { rope.backward(x, rows: M, heads: heads, stride: stride, positions: p.baseAddress!) }
            else { rope.forward(x, rows: M, heads: heads, stride: stride, positions: p.baseAddress!) }
        }
    }

    // MARK: Forward

    private func layerForward(_ l: Int, _ a: LayerActivations, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let c = config, M = B * T, C = c.hiddenSize, eps = Float(c.rmsNormEps), off = family.normOffset
        let w = weights.layers[l]
        RMSNorm.forward(a.xn1, a.inv1, x, w.attnNorm, M, C, eps: eps, offset: off)
        if let qkv = w.qkv, let fused {  // Phi-3: one product, split into q, k, v
            linear(l, "qkv_proj", qkv, a.xn1, fused, M)
            FusedProjection.split(fused, M: M, into: [(a.q, c.qDim), (a.k, c.kvDim), (a.v, c.kvDim)])
        } else if let qn = w.qNorm, let kn = w.kNorm, let qPre = a.qPre, let kPre = a.kPre {  // per-head RMSNorm (Qwen3, Gemma 3)
            linear(l, "q_proj", w.q, a.xn1, qPre, M)
            linear(l, "k_proj", w.k, a.xn1, kPre, M)
            RMSNorm.forward(a.q, a.qInv, qPre, qn, M * c.numAttentionHeads, c.headDim, eps: eps, offset: off)
            RMSNorm.forward(a.k, a.kInv, kPre, kn, M * c.numKeyValueHeads, c.headDim, eps: eps, offset: off)
        } else {
            linear(l, "q_proj", w.q, a.xn1, a.q, M)
            linear(l, "k_proj", w.k, a.xn1, a.k, M)
        }
        if w.qkv == nil { linear(l, "v_proj", w.v, a.xn1, a.v, M) }
        rotate(l, a.q, heads: c.numAttentionHeads, stride: c.qDim)
        rotate(l, a.k, heads: c.numKeyValueHeads, stride: c.kvDim)
        if let prefix, let kAll = a.kAll, let vAll = a.vAll {  // (B, LK, KVD): the prefix rows, then the row's own
            let KVD = c.kvDim, stride = (NKVP + T) * KVD
            for b in 0..<B {
                prefix.writeKeysValues(layer: l, keys: kAll + b * stride, values: vAll + b * stride, rowStride: KVD)
                (kAll + b * stride + NKVP * KVD).update(from: a.k + b * T * KVD, count: T * KVD)
                (vAll + b * stride + NKVP * KVD).update(from: a.v + b * T * KVD, count: T * KVD)
            }
        }
        withAttentionShape(l) { Attention.forward(a.att, a.probs, a.q, a.kAll ?? a.k, a.vAll ?? a.v, $0, threads: threads, blas: blas, dtype: weights.computeDType) }
        if let pn = w.postAttnNorm, let attnOut = a.attnOut {  // Gemma: norm the attention output
            linear(l, "o_proj", w.o, a.att, attnOut, M)
            RMSNorm.forward(tmp!, a.invPostAttn, attnOut, pn, M, C, eps: eps, offset: off)
        } else {
            linear(l, "o_proj", w.o, a.att, tmp!, M)
        }
        for i in 0..<(M * C) { a.xmid[i] = x[i] + tmp![i] }
        RMSNorm.forward(a.xn2, a.inv2, a.xmid, w.mlpNorm, M, C, eps: eps, offset: off)
        if let gateUp = w.gateUp, let fused {
            linear(l, "gate_up_proj", gateUp, a.xn2, fused, M)
            FusedProjection.split(fused, M: M, into: [(a.gate, c.intermediateSize), (a.up, c.intermediateSize)])
        } else {
            linear(l, "gate_proj", w.gate, a.xn2, a.gate, M)
            linear(l, "up_proj", w.up, a.xn2, a.up, M)
        }
        GatedUnit.forward(family.activation, h!, a.gate, a.up, M * c.intermediateSize)
        if let pn = w.postMlpNorm, let mlpOut = a.mlpOut {      // Gemma: norm the MLP output
            linear(l, "down_proj", w.down, h!, mlpOut, M)
            RMSNorm.forward(tmp!, a.invPostMlp, mlpOut, pn, M, C, eps: eps, offset: off)
        } else {
            linear(l, "down_proj", w.down, h!, tmp!, M)
        }
        for i in 0..<(M * C) { out[i] = a.xmid[i] + tmp![i] }
    }

    /// Runs the layers on `batch`; returns the batch the model sees (with prompt tuning, NP virtual
    /// positions before each row, which take no loss).
    private func forwardLayers(_ batch: TrainingBatch) -> TrainingBatch {
        segments = batch.positions.map { positions in
            positions.withUnsafeBufferPointer { PackedSegments(positions: $0, B: batch.B, T: batch.T, virtualRows: NP, prefixKeys: NKVP) }
        }
        let batch = withVirtualPositions(batch)
        prepare(B: batch.B, T: batch.T)
        let c = config, M = B * T
        batch.ids.withUnsafeBufferPointer { Embedding.forward(layerInputs[0], $0.baseAddress!, M, weights.embed.ref) }
        if let s = family.embeddingScale { Embedding.scale(layerInputs[0], M * c.hiddenSize, by: s) }
        if let prompt { for b in 0..<B { prompt.writeEmbeddings(into: layerInputs[0] + b * T * c.hiddenSize) } }
        prefix?.forward()
        for l in 0..<c.numHiddenLayers {
            layerForward(l, acts[gradientCheckpointing ? 0 : l], layerInputs[l], layerInputs[l + 1])
        }
        RMSNorm.forward(finalNormed!, finalInv, layerInputs[c.numHiddenLayers], weights.finalNorm, M, c.hiddenSize,
                        eps: Float(c.rmsNormEps), offset: family.normOffset)
        return batch
    }

    /// `batch` with NP positions before each row (ids 0, no targets), or `batch` itself (its
    /// positions are in `segments`).
    private func withVirtualPositions(_ batch: TrainingBatch) -> TrainingBatch {
        guard NP > 0 else { return batch }
        let T = NP + batch.T
        var ids = [Int32](repeating: 0, count: batch.B * T), targets = [Int32](repeating: -1, count: batch.B * T)
        for b in 0..<batch.B {
            for t in 0..<batch.T {
                ids[b * T + NP + t] = batch.ids[b * batch.T + t]
                targets[b * T + NP + t] = batch.targets[b * batch.T + t]
            }
        }
        return TrainingBatch(B: batch.B, T: T, ids: ids, targets: targets)
    }

    /// Σ loss and number of predictions of a batch, forward only (evaluation; no gradients).
    public func loss(_ batch: TrainingBatch) -> (sum: Double, count: Int) {
        let adapters = allAdapters
        for a in adapters { a.training = false }
        defer { for a in adapters { a.training = true } }
        let seen = forwardLayers(batch)
        return lossAndLogitGradient(seen, scale: 0, backward: false)
    }

    /// Chunked logits → cross-entropy; with `backward`, accumulates the final hidden gradient into dxn.
    private func lossAndLogitGradient(_ batch: TrainingBatch, scale: Float, backward: Bool) -> (sum: Double, count: Int) {
        let c = config, M = B * T, C = c.hiddenSize, V = c.vocabSize
        let head = weights.outputMatrix.ref
        if backward { dxn!.initialize(repeating: 0, count: M * C) }
        var total = 0.0
        var r0 = 0
        batch.targets.withUnsafeBufferPointer { tgt in
            while r0 < M {
                let n = min(logitsChunk, M - r0)
                DenseKernels.gemm(head, X: finalNormed! + r0 * C, ldx: C, M: n, Y: logits!, ldy: V, threads: threads,
                                  dtype: weights.computeDType, workspace: workspace)
                if let cap = family.finalSoftcap, let capped = cappedLogits {
                    SoftCap.forward(logits!, n * V, cap: cap)
                    if backward { capped.update(from: logits!, count: n * V) }
                }
                total += CrossEntropy.forwardBackward(logits!, tgt.baseAddress! + r0, n, V, scale: scale)
                if backward, let cap = family.finalSoftcap, let capped = cappedLogits {
                    SoftCap.backward(logits!, capped, n * V, cap: cap)
                }
                if backward {
                    DenseKernels.gemmT(head, dY: logits!, lddy: V, M: n, dX: dxn! + r0 * C, lddx: C, threads: threads,
                                       dtype: weights.computeDType, workspace: workspace)
                }
                r0 += n
            }
        }
        return (total, batch.predictionCount)
    }

    // MARK: Backward

    private func layerBackward(_ l: Int, _ a: LayerActivations, _ x: UnsafePointer<Float>) {
        let c = config, M = B * T, C = c.hiddenSize, F = c.intermediateSize, off = family.normOffset
        let w = weights.layers[l]
        // MLP: out = xmid + postNorm(down(act(gate(xn2)) ⊙ up(xn2)))  (postNorm: Gemma's, else identity)
        GatedUnit.forward(family.activation, h!, a.gate, a.up, M * F)  // h is not stored: recomputed (cheap) for down's LoRA input
        var dDown = UnsafePointer(dx!)
        if let pn = w.postMlpNorm, let mlpOut = a.mlpOut, let dpost {
            dpost.initialize(repeating: 0, count: M * C)
            RMSNorm.backward(dpost, dx!, mlpOut, pn, a.invPostMlp!, M, C, offset: off)
            dDown = UnsafePointer(dpost)
        }
        dh!.initialize(repeating: 0, count: M * F)
        linearBackward(l, "down_proj", w.down, dDown, h!, dh!, M)
        dgate!.initialize(repeating: 0, count: M * F)
        dup!.initialize(repeating: 0, count: M * F)
        GatedUnit.backward(family.activation, dgate!, dup!, dh!, a.gate, a.up, M * F)
        dxn!.initialize(repeating: 0, count: M * C)
        if let gateUp = w.gateUp, let fused {
            FusedProjection.join([(UnsafePointer(dgate!), F), (UnsafePointer(dup!), F)], M: M, into: fused)
            linearBackward(l, "gate_up_proj", gateUp, fused, a.xn2, dxn!, M)
        } else {
            linearBackward(l, "gate_proj", w.gate, dgate!, a.xn2, dxn!, M)
            linearBackward(l, "up_proj", w.up, dup!, a.xn2, dxn!, M)
        }
        RMSNorm.backward(dx!, dxn!, a.xmid, w.mlpNorm, a.inv2, M, C, offset: off)  // dx = d xmid
        // Attention: xmid = x + postNorm(o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1))))
        var dO = UnsafePointer(dx!)
        if let pn = w.postAttnNorm, let attnOut = a.attnOut, let dpost {
            dpost.initialize(repeating: 0, count: M * C)
            RMSNorm.backward(dpost, dx!, attnOut, pn, a.invPostAttn!, M, C, offset: off)
            dO = UnsafePointer(dpost)
        }
        datt!.initialize(repeating: 0, count: M * c.qDim)
        linearBackward(l, "o_proj", w.o, dO, a.att, datt!, M)
        dq!.initialize(repeating: 0, count: M * c.qDim)
        dk!.initialize(repeating: 0, count: M * c.kvDim)
        dv!.initialize(repeating: 0, count: M * c.kvDim)
        if let prefix, let kAll = a.kAll, let vAll = a.vAll, let dkAll, let dvAll {
            // dK/dV over all LK key positions; the prefix rows go to the prefix, the rest to k and v.
            let KVD = c.kvDim, stride = (NKVP + T) * KVD
            dkAll.initialize(repeating: 0, count: B * stride)
            dvAll.initialize(repeating: 0, count: B * stride)
            withAttentionShape(l) { Attention.backward(dq!, dkAll, dvAll, datt!, a.probs, a.q, kAll, vAll, $0, threads: threads, blas: blas, dtype: weights.computeDType) }
            prefix.accumulateGradient(layer: l, dKeys: dkAll, dValues: dvAll, B: B, rowStride: KVD, sequenceStride: stride)
            for b in 0..<B {
                (dk! + b * T * KVD).update(from: dkAll + b * stride + NKVP * KVD, count: T * KVD)
                (dv! + b * T * KVD).update(from: dvAll + b * stride + NKVP * KVD, count: T * KVD)
            }
        } else {
            withAttentionShape(l) { Attention.backward(dq!, dk!, dv!, datt!, a.probs, a.q, a.k, a.v, $0, threads: threads, blas: blas, dtype: weights.computeDType) }
        }
        rotate(l, dq!, heads: c.numAttentionHeads, stride: c.qDim, backward: true)
        rotate(l, dk!, heads: c.numKeyValueHeads, stride: c.kvDim, backward: true)
        var dqIn = dq!, dkIn = dk!
        if let qn = w.qNorm, let kn = w.kNorm, let qPre = a.qPre, let kPre = a.kPre, let dqPre, let dkPre {
            dqPre.initialize(repeating: 0, count: M * c.qDim)
            dkPre.initialize(repeating: 0, count: M * c.kvDim)
            RMSNorm.backward(dqPre, dq!, qPre, qn, a.qInv!, M * c.numAttentionHeads, c.headDim, offset: off)
            RMSNorm.backward(dkPre, dk!, kPre, kn, a.kInv!, M * c.numKeyValueHeads, c.headDim, offset: off)
            (dqIn, dkIn) = (dqPre, dkPre)
        }
        dxn!.initialize(repeating: 0, count: M * C)
        if let qkv = w.qkv, let fused {
            FusedProjection.join([(UnsafePointer(dqIn), c.qDim), (UnsafePointer(dkIn), c.kvDim), (UnsafePointer(dv!), c.kvDim)], M: M, into: fused)
            linearBackward(l, "qkv_proj", qkv, fused, a.xn1, dxn!, M)
        } else {
            linearBackward(l, "q_proj", w.q, dqIn, a.xn1, dxn!, M)
            linearBackward(l, "k_proj", w.k, dkIn, a.xn1, dxn!, M)
            linearBackward(l, "v_proj", w.v, dv!, a.xn1, dxn!, M)
        }
        RMSNorm.backward(dx!, dxn!, x, w.attnNorm, a.inv1, M, C, offset: off)  // dx = d x
    }

    /// One forward and backward pass: accumulates adapter gradients of Σ loss × `lossScale`
    /// (pass 1 / predictions of the whole optimizer batch); returns Σ loss and predictions.
    @discardableResult
    public func forwardBackward(_ batch: TrainingBatch, lossScale: Float) -> (sum: Double, count: Int) {
        let batch = forwardLayers(batch)
        let result = lossAndLogitGradient(batch, scale: lossScale, backward: true)
        let c = config, M = B * T, C = c.hiddenSize
        dx!.initialize(repeating: 0, count: M * C)
        RMSNorm.backward(dx!, dxn!, layerInputs[c.numHiddenLayers], weights.finalNorm, finalInv!, M, C,
                         offset: family.normOffset)
        for l in stride(from: c.numHiddenLayers - 1, through: 0, by: -1) {
            let a = acts[gradientCheckpointing ? 0 : l]
            if gradientCheckpointing { layerForward(l, a, layerInputs[l], tmp2()) }
            layerBackward(l, a, layerInputs[l])
        }
        prompt?.accumulateGradient(dx!, B: B, rowsPerSequence: T)  // dx = d layerInputs[0]
        prefix?.backward()
        return result
    }

    /// A scratch (M, C) buffer for recomputed layer outputs that nothing reads.
    private var recomputeOut: UnsafeMutablePointer<Float>?
    private func tmp2() -> UnsafeMutablePointer<Float> {
        if let r = recomputeOut { return r }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: B * T * config.hiddenSize)
        scratch.append(p)
        recomputeOut = p
        return p
    }
}
