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
    public var threads: Int
    public let rope: RoPE
    let workspace = KernelWorkspace()
    let blas: BLAS

    /// Inference activations for up to `capacity` rows, reused across calls.
    final class Buffers {
        let capacity: Int
        let x, xn, q, k, v, att, tmp, gate, up: UnsafeMutablePointer<Float>

        init(capacity M: Int, _ c: LlamaConfig) {
            capacity = M
            func alloc(_ n: Int) -> UnsafeMutablePointer<Float> { .allocate(capacity: max(1, n)) }
            x = alloc(M * c.hiddenSize); xn = alloc(M * c.hiddenSize); tmp = alloc(M * c.hiddenSize)
            q = alloc(M * c.qDim); att = alloc(M * c.qDim)
            k = alloc(M * c.kvDim); v = alloc(M * c.kvDim)
            gate = alloc(M * c.intermediateSize); up = alloc(M * c.intermediateSize)
        }

        deinit { for p in [x, xn, q, k, v, att, tmp, gate, up] { p.deallocate() } }
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
        self.threads = threads
        self.blas = blas

        rope = RoPE(config: weights.config)
    }

    func buffers(for M: Int) -> Buffers {
        if let b = buffers, b.capacity >= M { return b }
        let b = Buffers(capacity: M, config)
        buffers = b
        return b
    }

    /// Runs B sequences of T tokens through every layer and the final norm; returns the normalized
    /// hidden states (M, C), valid until the next call. With a cache (B = 1), the tokens continue the
    /// cached sequence: their keys and values are appended and they attend to everything before them.
    public func hidden(_ ids: UnsafePointer<Int32>, B: Int, T: Int, cache: KVCache? = nil) -> UnsafePointer<Float> {
        let c = config, M = B * T, C = c.hiddenSize, F = c.intermediateSize
        let eps = Float(c.rmsNormEps)
        let start = cache?.length ?? 0
        precondition(cache == nil || B == 1, "a KV cache holds one sequence")
        if let cache { precondition(start + T <= cache.capacity, "KV cache full") }
        let buf = buffers(for: M)
        Embedding.forward(buf.x, ids, M, weights.embed.ref)
        for (l, layer) in weights.layers.enumerated() {
            // Attention block
            RMSNorm.forward(buf.xn, nil, buf.x, layer.attnNorm, M, C, eps: eps)
            linear(l, "q_proj", layer.q, buf.xn, buf.q, M)
            linear(l, "k_proj", layer.k, buf.xn, buf.k, M)
            linear(l, "v_proj", layer.v, buf.xn, buf.v, M)
            rope.forward(buf.q, rows: M, heads: c.numAttentionHeads, stride: c.qDim, start: start, period: T)
            rope.forward(buf.k, rows: M, heads: c.numKeyValueHeads, stride: c.kvDim, start: start, period: T)
            var keys: UnsafePointer<Float> = UnsafePointer(buf.k), values: UnsafePointer<Float> = UnsafePointer(buf.v)
            var L = T, seqStride = T * c.kvDim
            if let cache {
                let kc = cache.keys(layer: l), vc = cache.values(layer: l)
                (kc + start * c.kvDim).update(from: buf.k, count: T * c.kvDim)
                (vc + start * c.kvDim).update(from: buf.v, count: T * c.kvDim)
                keys = UnsafePointer(kc)
                values = UnsafePointer(vc)
                L = start + T
                seqStride = cache.capacity * c.kvDim
            }
            let shape = Attention.Shape(B: B, T: T, L: L, start: start, NH: c.numAttentionHeads,
                                        NKV: c.numKeyValueHeads, HS: c.headDim, kvSequenceStride: seqStride)
            Attention.forward(buf.att, nil, buf.q, keys, values, shape, threads: threads, blas: blas)
            linear(l, "o_proj", layer.o, buf.att, buf.tmp, M)
            for i in 0..<(M * C) { buf.x[i] += buf.tmp[i] }
            // MLP block
            RMSNorm.forward(buf.xn, nil, buf.x, layer.mlpNorm, M, C, eps: eps)
            linear(l, "gate_proj", layer.gate, buf.xn, buf.gate, M)
            linear(l, "up_proj", layer.up, buf.xn, buf.up, M)
            SwiGLU.forward(buf.gate, buf.gate, buf.up, M * F)
            linear(l, "down_proj", layer.down, buf.gate, buf.tmp, M)
            for i in 0..<(M * C) { buf.x[i] += buf.tmp[i] }
        }
        cache?.advance(by: T)
        RMSNorm.forward(buf.xn, nil, buf.x, weights.finalNorm, M, C, eps: eps)
        return UnsafePointer(buf.xn)
    }

    /// logits (rows, V) = hidden (rows, C) · Eᵀ.
    public func logits(_ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        let head = weights.outputMatrix.ref
        if rows == 1 {
            DenseKernels.gemv(head, x: hidden, y: out, threads: threads)
        } else {
            DenseKernels.gemm(head, X: hidden, ldx: config.hiddenSize, M: rows, Y: out, ldy: config.vocabSize,
                              threads: threads, workspace: workspace)
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
