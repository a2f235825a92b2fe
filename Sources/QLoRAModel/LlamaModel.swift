import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels

/// The LLaMA-family decoder forward pass on frozen weights: a flat list of op calls per layer
/// (llm.c style). Activations are Float32; block linears run through the NF4 (or dense) kernels.
/// Legend: B = sequences, T = positions, M = B·T, C = hidden, NH/NKV = heads, HS = head size,
/// F = intermediate, V = vocab.
public final class LlamaModel: @unchecked Sendable {
    public let weights: LlamaWeights
    public let config: LlamaConfig
    /// What sets this family's decoder apart (norm offset, activation, scales, caps): read, never branched on by model type.
    public let family: DecoderFamily
    public var threads: Int
    /// One RoPE per layer (shared between layers with the same θ and scaling).
    public let ropes: [RoPE]
    public var rope: RoPE { ropes[0] }
    let workspace = KernelWorkspace()
    let blas: BLAS

    /// Inference activations for up to `capacity` rows, reused across calls.
    final class Buffers {
        let capacity: Int
        let x, xn, q, k, v, att, tmp, gate, up: UnsafeMutablePointer<Float>
        /// A fused projection's output before `FusedProjection.split` (Phi-3 only; 1 float otherwise).
        let fused: UnsafeMutablePointer<Float>

        init(capacity M: Int, _ c: LlamaConfig) {
            capacity = M
            func alloc(_ n: Int) -> UnsafeMutablePointer<Float> { .allocate(capacity: max(1, n)) }
            x = alloc(M * c.hiddenSize); xn = alloc(M * c.hiddenSize); tmp = alloc(M * c.hiddenSize)
            q = alloc(M * c.qDim); att = alloc(M * c.qDim)
            k = alloc(M * c.kvDim); v = alloc(M * c.kvDim)
            gate = alloc(M * c.intermediateSize); up = alloc(M * c.intermediateSize)
            fused = alloc(c.fusedProjections ? M * max(c.qDim + 2 * c.kvDim, 2 * c.intermediateSize) : 0)
        }

        deinit { for p in [x, xn, q, k, v, att, tmp, gate, up, fused] { p.deallocate() } }
    }
    var buffers: Buffers?

    /// The adapter hook point: called after every block linear's base product with (layer, HF module
    /// name, input (M, in), M, output (M, out)) so an adapter can add its update (LoRA at inference).
    public var linearDelta: ((Int, String, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void)?

    func linear(_ l: Int, _ name: String, _ base: FrozenLinear, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                _ M: Int) {
        base.forward(x, M: M, y, threads: threads, workspace: workspace)
        linearDelta?(l, name, x, M, y)
    }

    public init(weights: LlamaWeights, threads: Int = 1) throws {
        guard let blas = BLAS.shared else { throw QLoRAError(.notFound, "OpenBLAS not found (install libopenblas-dev)") }
        self.weights = weights
        config = weights.config
        family = weights.config.family
        self.threads = threads
        self.blas = blas

        ropes = RoPE.perLayer(weights.config)
    }

    func buffers(for M: Int) -> Buffers {
        if let b = buffers, b.capacity >= M { return b }
        let b = Buffers(capacity: M, config)
        buffers = b
        return b
    }

    /// The prompt-learning hook points (see Hooks/AdapterHooks.swift); nil when no such adapter is on.
    public var inputPrefix: InputEmbeddingPrefix?
    public var kvPrefix: AttentionKVPrefix?

    /// Positions the hooks put before every sequence (virtual tokens); they count against the context.
    public var virtualTokens: Int { (inputPrefix?.virtualTokens ?? 0) + (kvPrefix?.virtualTokens ?? 0) }

    /// Runs B sequences of T tokens through every layer and the final norm; returns the normalized
    /// hidden states (M, C), valid until the next call. With a cache (B = 1), the tokens continue the
    /// cached sequence: their keys and values are appended and they attend to everything before them.
    ///
    /// A sequence starts (no cache, or an empty one) with the hooks' virtual tokens: the key/value
    /// prefix's N positions first (put straight into the cache, or before each sequence's keys), then
    /// the input-embedding prefix's rows; the returned rows are the T real tokens' only.
    ///
    /// `positions` (B·T, no cache) packs several examples in a row: each token's position in its own
    /// example, restarting at 0; the examples do not see each other (see `PackedSegments`).
    public func hidden(_ ids: UnsafePointer<Int32>, B: Int, T: Int, cache: KVCache? = nil,
                       positions: UnsafePointer<Int32>? = nil) -> UnsafePointer<Float> {
        let c = config, C = c.hiddenSize, F = c.intermediateSize, KVD = c.kvDim
        let eps = Float(c.rmsNormEps), f = family, off = family.normOffset
        precondition(cache == nil || B == 1, "a KV cache holds one sequence")
        precondition(cache == nil || positions == nil, "packed rows run without a cache")
        let startsSequence = (cache?.length ?? 0) == 0
        if let cache, startsSequence, let kv = kvPrefix {
            precondition(kv.virtualTokens <= cache.capacity, "KV cache full")
            for l in 0..<c.numHiddenLayers {
                kv.writeKeysValues(layer: l, keys: cache.keys(layer: l), values: cache.values(layer: l), rowStride: KVD)
            }
            cache.advance(by: kv.virtualTokens)
        }
        // P embedding rows go before each sequence's tokens; without a cache, NKVP prefix key/value rows
        // go before each sequence's keys and values.
        let P = startsSequence ? (inputPrefix?.virtualTokens ?? 0) : 0
        let NKVP = cache == nil ? (kvPrefix?.virtualTokens ?? 0) : 0
        let TT = P + T, M = B * TT
        let start = cache?.length ?? NKVP
        if let cache { precondition(start + TT <= cache.capacity, "KV cache full") }
        let buf = buffers(for: M)
        let segments = positions.map {
            PackedSegments(positions: UnsafeBufferPointer(start: $0, count: B * T), B: B, T: T, virtualRows: P, prefixKeys: NKVP)
        }
        for b in 0..<B {
            if P > 0 { inputPrefix!.writeEmbeddings(into: buf.x + b * TT * C) }
            Embedding.forward(buf.x + (b * TT + P) * C, ids + b * T, T, weights.embed.ref)
            if let s = f.embeddingScale { Embedding.scale(buf.x + (b * TT + P) * C, T * C, by: s) }
        }
        // (B, NKVP + TT, KVD) each: the prefix rows, then the sequence's own keys/values.
        let kvScratch = NKVP > 0 ? UnsafeMutablePointer<Float>.allocate(capacity: 2 * B * (NKVP + TT) * KVD) : nil
        defer { kvScratch?.deallocate() }
        for (l, layer) in weights.layers.enumerated() {
            // Attention block
            RMSNorm.forward(buf.xn, nil, buf.x, layer.attnNorm, M, C, eps: eps, offset: off)
            if let qkv = layer.qkv {
                linear(l, "qkv_proj", qkv, buf.xn, buf.fused, M)
                FusedProjection.split(buf.fused, M: M, into: [(buf.q, c.qDim), (buf.k, KVD), (buf.v, KVD)])
            } else {
                linear(l, "q_proj", layer.q, buf.xn, buf.q, M)
                linear(l, "k_proj", layer.k, buf.xn, buf.k, M)
                linear(l, "v_proj", layer.v, buf.xn, buf.v, M)
            }
            if let qn = layer.qNorm, let kn = layer.kNorm {  // per-head RMSNorm (Qwen3, Gemma 3), before RoPE
                RMSNorm.forward(buf.q, nil, buf.q, qn, M * c.numAttentionHeads, c.headDim, eps: eps, offset: off)
                RMSNorm.forward(buf.k, nil, buf.k, kn, M * c.numKeyValueHeads, c.headDim, eps: eps, offset: off)
            }
            if let segments {
                segments.ropePositions.withUnsafeBufferPointer { p in
                    ropes[l].forward(buf.q, rows: M, heads: c.numAttentionHeads, stride: c.qDim, positions: p.baseAddress!)
                    ropes[l].forward(buf.k, rows: M, heads: c.numKeyValueHeads, stride: KVD, positions: p.baseAddress!)
                }
            } else {
                ropes[l].forward(buf.q, rows: M, heads: c.numAttentionHeads, stride: c.qDim, start: start, period: TT)
                ropes[l].forward(buf.k, rows: M, heads: c.numKeyValueHeads, stride: KVD, start: start, period: TT)
            }
            var keys: UnsafePointer<Float> = UnsafePointer(buf.k), values: UnsafePointer<Float> = UnsafePointer(buf.v)
            var L = TT, seqStride = TT * KVD
            if let cache {
                let kc = cache.keys(layer: l), vc = cache.values(layer: l)
                (kc + start * KVD).update(from: buf.k, count: TT * KVD)
                (vc + start * KVD).update(from: buf.v, count: TT * KVD)
                keys = UnsafePointer(kc)
                values = UnsafePointer(vc)
                L = start + TT
                seqStride = cache.capacity * KVD
            } else if let kv = kvScratch {
                L = NKVP + TT
                seqStride = L * KVD
                let vs = kv + B * L * KVD
                for b in 0..<B {
                    kvPrefix!.writeKeysValues(layer: l, keys: kv + b * seqStride, values: vs + b * seqStride, rowStride: KVD)
                    (kv + b * seqStride + NKVP * KVD).update(from: buf.k + b * TT * KVD, count: TT * KVD)
                    (vs + b * seqStride + NKVP * KVD).update(from: buf.v + b * TT * KVD, count: TT * KVD)
                }
                keys = UnsafePointer(kv)
                values = UnsafePointer(vs)
            }
            var shape = Attention.Shape(B: B, T: TT, L: L, start: start, NH: c.numAttentionHeads,
                                        NKV: c.numKeyValueHeads, HS: c.headDim, kvSequenceStride: seqStride,
                                        window: c.attentionWindow(layer: l), scale: f.attentionScale,
                                        softcap: f.attentionSoftcap)
            if let segments {
                shape.pinned = segments.pinned
                segments.keyStarts.withUnsafeBufferPointer { starts in
                    shape.segmentStarts = starts.baseAddress
                    Attention.forward(buf.att, nil, buf.q, keys, values, shape, threads: threads, blas: blas)
                }
            } else {
                Attention.forward(buf.att, nil, buf.q, keys, values, shape, threads: threads, blas: blas)
            }
            linear(l, "o_proj", layer.o, buf.att, buf.tmp, M)
            if let pn = layer.postAttnNorm { RMSNorm.forward(buf.tmp, nil, buf.tmp, pn, M, C, eps: eps, offset: off) }
            for i in 0..<(M * C) { buf.x[i] += buf.tmp[i] }
            // MLP block
            RMSNorm.forward(buf.xn, nil, buf.x, layer.mlpNorm, M, C, eps: eps, offset: off)
            if let gateUp = layer.gateUp {
                linear(l, "gate_up_proj", gateUp, buf.xn, buf.fused, M)
                FusedProjection.split(buf.fused, M: M, into: [(buf.gate, F), (buf.up, F)])
            } else {
                linear(l, "gate_proj", layer.gate, buf.xn, buf.gate, M)
                linear(l, "up_proj", layer.up, buf.xn, buf.up, M)
            }
            // Elementwise, so split across the threads for a prompt (same results as one call).
            Parallel.forChunks(M * F, threads: M >= 16 ? threads : 1, granule: 4096) { _, lo, hi in
                GatedUnit.forward(f.activation, buf.gate + lo, buf.gate + lo, buf.up + lo, hi - lo)
            }
            linear(l, "down_proj", layer.down, buf.gate, buf.tmp, M)
            if let pn = layer.postMlpNorm { RMSNorm.forward(buf.tmp, nil, buf.tmp, pn, M, C, eps: eps, offset: off) }
            for i in 0..<(M * C) { buf.x[i] += buf.tmp[i] }
        }
        cache?.advance(by: TT)
        RMSNorm.forward(buf.xn, nil, buf.x, weights.finalNorm, M, C, eps: eps, offset: off)
        if P > 0 {  // keep the real tokens' rows, packed: (B, T, C)
            for b in 0..<B { memmove(buf.xn + b * T * C, buf.xn + (b * TT + P) * C, T * C * 4) }
        }
        return UnsafePointer(buf.xn)
    }

    /// The output layer quantized to int8 per row and 64-block (`--compute-dtype int8`); logits use it when set.
    public var outputInt8: Int8RowMatrix?

    /// logits (rows, V) = hidden (rows, C) · Eᵀ, soft-capped when the family caps them (Gemma 2).
    public func logits(_ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        projectLogits(hidden, rows: rows, into: out)
        if let cap = family.finalSoftcap { SoftCap.forward(out, rows * config.vocabSize, cap: cap) }
    }

    func projectLogits(_ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        if let outputInt8 {
            Int8Kernels.gemm(outputInt8, X: hidden, ldx: config.hiddenSize, M: rows, Y: out, ldy: config.vocabSize,
                             threads: threads, workspace: workspace)
            return
        }
        let head = weights.outputMatrix.ref
        if rows == 1 {
            DenseKernels.gemv(head, x: hidden, y: out, threads: threads)
        } else {
            DenseKernels.gemm(head, X: hidden, ldx: config.hiddenSize, M: rows, Y: out, ldy: config.vocabSize,
                              threads: threads, dtype: weights.computeDType, workspace: workspace)
        }
    }

    /// Logits for every position of B sequences of T tokens: (B·T, V).
    public func logits(tokens: [Int32], B: Int, T: Int) -> [Float] {
        precondition(tokens.count == B * T)
        var out = [Float](repeating: 0, count: B * T * config.vocabSize)
        tokens.withUnsafeBufferPointer { ids in
            let h = hidden(ids.baseAddress!, B: B, T: T)
            out.withUnsafeMutableBufferPointer { logits(h, rows: B * T, into: $0.baseAddress!) }
        }
        return out
    }
}
