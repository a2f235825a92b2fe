import Foundation
import QLoRACore
import QLoRAKernels

/// The LoRA update of one frozen linear (Hu et al. 2021, arXiv 2106.09685):
/// y += s · B (A · drop(x)), A (r, in), B (out, r), s = alpha / r (alpha / √r with rsLoRA).
/// Only A and B train. Dropout on the adapter's input (inverted: kept values scaled by 1/(1−p)) uses
/// a mask regenerated from (seed, step) in backward, so nothing of size (M, in) is stored for it.
/// Legend: M = tokens, I = in features, O = out features, r = rank.
public final class LoRALinear: @unchecked Sendable {
    public let name: String
    public let inFeatures: Int, outFeatures: Int, rank: Int
    public let scale: Float
    public let dropout: Float
    /// The trained matrices (owned by the adapter's `Parameter`s): A (r, I), B (O, r), with their gradients.
    public let aParameter: Parameter, bParameter: Parameter
    public var a: UnsafeMutablePointer<Float> { aParameter.value }
    public var b: UnsafeMutablePointer<Float> { bParameter.value }
    public var dA: UnsafeMutablePointer<Float> { aParameter.grad }
    public var dB: UnsafeMutablePointer<Float> { bParameter.grad }
    /// Saved by forward: u = drop(x) · Aᵀ  (M, r).
    private var u: UnsafeMutablePointer<Float>?
    private var capacity = 0
    /// The dropout mask's seed for the current step.
    var maskSeed: UInt64 = 0
    /// Dropout applies only while training; evaluation runs the adapter as inference does.
    var training = true

    public init(name: String, a: Parameter, b: Parameter, scale: Float, dropout: Float) {
        precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[0] == b.shape[1], "LoRA A (r, in) and B (out, r)")
        self.name = name
        rank = a.shape[0]
        inFeatures = a.shape[1]
        outFeatures = b.shape[0]
        self.scale = scale
        self.dropout = dropout
        aParameter = a
        bParameter = b
    }

    deinit { u?.deallocate() }

    public var parameterCount: Int { rank * (inFeatures + outFeatures) }

    public func zeroGrad() {
        aParameter.zeroGrad()
        bParameter.zeroGrad()
    }

    func ensure(_ M: Int) {
        guard M > capacity else { return }
        u?.deallocate()
        u = .allocate(capacity: M * rank)
        capacity = M
    }

    /// x with dropout applied (a new buffer), or nil when there is no dropout.
    func dropped(_ x: UnsafePointer<Float>, _ M: Int) -> UnsafeMutablePointer<Float>? {
        guard dropout > 0 && training else { return nil }
        let n = M * inFeatures
        let out = UnsafeMutablePointer<Float>.allocate(capacity: n)
        DropoutMask.apply(x, out, count: n, seed: maskSeed, keep: 1 - dropout)
        return out
    }

    /// y (M, O) += s · (drop(x) · Aᵀ) · Bᵀ; saves u.
    public func forward(_ x: UnsafePointer<Float>, M: Int, _ y: UnsafeMutablePointer<Float>, blas: BLAS, threads: Int) {
        ensure(M)
        let xd = dropped(x, M)
        defer { xd?.deallocate() }
        let input = xd.map { UnsafePointer($0) } ?? x
        SplitBLAS.rows(blas, transB: true, M: M, N: rank, K: inFeatures, A: input, lda: inFeatures, B: a, ldb: inFeatures,
                       beta: 0, C: u!, ldc: rank, threads: threads)
        SplitBLAS.rows(blas, transB: true, M: M, N: outFeatures, K: rank, alpha: scale, A: u!, lda: rank, B: b, ldb: rank,
                       beta: 1, C: y, ldc: outFeatures, threads: threads)
    }

    /// Accumulates dB += s · dyᵀ u, dA += (s · dy B)ᵀ drop(x), and dx += drop'((s · dy B) · A).
    /// - dy: (M, O); x: the same input forward saw (M, I); dx: (M, I), accumulated.
    public func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, M: Int, _ dx: UnsafeMutablePointer<Float>,
                         blas: BLAS, threads: Int) {
        let xd = dropped(x, M)
        defer { xd?.deallocate() }
        let input = xd.map { UnsafePointer($0) } ?? x
        // dB (O, r) += s · dyᵀ (O, M) · u (M, r)
        SplitBLAS.transposedRows(blas, M: outFeatures, N: rank, K: M, alpha: scale, A: dy, lda: outFeatures, B: u!,
                                 ldb: rank, C: dB, ldc: rank, threads: threads)
        // du (M, r) = s · dy (M, O) · B (O, r)
        let du = UnsafeMutablePointer<Float>.allocate(capacity: M * rank)
        defer { du.deallocate() }
        SplitBLAS.rows(blas, transB: false, M: M, N: rank, K: outFeatures, alpha: scale, A: dy, lda: outFeatures, B: b,
                       ldb: rank, beta: 0, C: du, ldc: rank, threads: threads)
        // dA (r, I) += duᵀ (r, M) · drop(x) (M, I)
        SplitBLAS.transposedColumns(blas, M: rank, N: inFeatures, K: M, A: du, lda: rank, B: input, ldb: inFeatures,
                                    C: dA, ldc: inFeatures, threads: threads)
        // dx (M, I) += du (M, r) · A (r, I), through the dropout mask.
        if dropout > 0 {
            let g = UnsafeMutablePointer<Float>.allocate(capacity: M * inFeatures)
            defer { g.deallocate() }
            SplitBLAS.rows(blas, transB: false, M: M, N: inFeatures, K: rank, A: du, lda: rank, B: a, ldb: inFeatures,
                           beta: 0, C: g, ldc: inFeatures, threads: threads)
            DropoutMask.accumulate(g, into: dx, count: M * inFeatures, seed: maskSeed, keep: 1 - dropout)
        } else {
            SplitBLAS.rows(blas, transB: false, M: M, N: inFeatures, K: rank, A: du, lda: rank, B: a, ldb: inFeatures,
                           beta: 1, C: dx, ldc: inFeatures, threads: threads)
        }
    }
}
