import Foundation
import QLoRACore
import QLoRAKernels
import QLoRAModel

/// The LoRA update of one frozen linear (Hu et al. 2021, arXiv 2106.09685):
/// y += s · B (A · drop(x)), A (r, in), B (out, r), s = alpha / r (alpha / √r with rsLoRA).
/// Only A and B train. Dropout on the adapter's input (inverted: kept values scaled by 1/(1−p)) uses
/// a mask regenerated from (seed, step) in backward, so nothing of size (M, in) is stored for it.
/// With a magnitude vector this is DoRA instead (`LoRALinear+DoRA.swift`); the model calls the
/// `base:` entry points, which dispatch.
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
    /// DoRA's magnitude m (O) and its gradient; nil for plain LoRA.
    public let magnitudeParameter: Parameter?
    public var isDoRA: Bool { magnitudeParameter != nil }
    /// DoRA's saved z = W·drop(x) + s·B·A·drop(x), (M, O); shared between layers under gradient
    /// checkpointing (only the layer being back-propagated needs it).
    let doraSaved: ActivationSlot
    /// DoRA: ‖W_j‖² of the frozen base rows, (O), computed once; and the detached norm
    /// ‖W_j + s·(B·A)_j‖ of the last forward, (O).
    var baseRowNormSquared: [Double]?
    var weightNorm: [Float] = []
    /// DoRA: keep `weightNorm` once computed (inference, where A and B never change).
    public var freezesWeightNorm = false
    /// Saved by forward: u = drop(x) · Aᵀ  (M, r).
    private var u: UnsafeMutablePointer<Float>?
    private var capacity = 0
    /// The dropout mask's seed for the current step.
    public var maskSeed: UInt64 = 0
    /// Dropout applies only while training; evaluation runs the adapter as inference does.
    var training = true
    /// Whether this forward/backward drops inputs (dropout on and training).
    var dropsInput: Bool { dropout > 0 && training }

    public init(name: String, a: Parameter, b: Parameter, magnitude: Parameter? = nil, scale: Float, dropout: Float,
                doraSaved: ActivationSlot = ActivationSlot()) {
        precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[0] == b.shape[1], "LoRA A (r, in) and B (out, r)")
        precondition(magnitude == nil || magnitude!.shape == [b.shape[0]], "DoRA magnitude (out)")
        self.name = name
        rank = a.shape[0]
        inFeatures = a.shape[1]
        outFeatures = b.shape[0]
        self.scale = scale
        self.dropout = dropout
        aParameter = a
        bParameter = b
        magnitudeParameter = magnitude
        self.doraSaved = doraSaved
    }

    deinit { u?.deallocate() }

    public var parameterCount: Int { rank * (inFeatures + outFeatures) + (isDoRA ? outFeatures : 0) }

    public func zeroGrad() {
        aParameter.zeroGrad()
        bParameter.zeroGrad()
        magnitudeParameter?.zeroGrad()
    }

    // MARK: The adapted linear (what the model calls)

    /// The adapted linear's output: `y` (M, O) holds base(x) (bias included) on entry and
    /// base(x) + the adapter's update on return (LoRA), or DoRA's output.
    public func forward(_ x: UnsafePointer<Float>, M: Int, _ y: UnsafeMutablePointer<Float>, base: FrozenLinear,
                        blas: BLAS, threads: Int, workspace: KernelWorkspace) {
        if isDoRA {
            doraForward(x, M: M, y, base: base, blas: blas, threads: threads, workspace: workspace)
        } else {
            forward(x, M: M, y, blas: blas, threads: threads)
        }
    }

    /// The adapted linear's backward: accumulates the adapter's gradients and dx (M, I) += the input
    /// gradient of base + adapter (the frozen base's part included).
    public func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, M: Int, _ dx: UnsafeMutablePointer<Float>,
                         base: FrozenLinear, blas: BLAS, threads: Int, workspace: KernelWorkspace) {
        if isDoRA {
            doraBackward(dy, x, M: M, dx, base: base, blas: blas, threads: threads, workspace: workspace)
        } else {
            base.backwardInput(dy, M: M, dx, threads: threads, workspace: workspace)
            backward(dy, x, M: M, dx, blas: blas, threads: threads)
        }
    }

    // MARK: The LoRA update

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
