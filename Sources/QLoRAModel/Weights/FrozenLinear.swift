import QLoRACore
import QLoRAKernels
import QLoRAQuant

/// A frozen base linear layer y = x · Wᵀ (+ b), W [out, in] held as NF4 blocks (QLoRA) or as a dense
/// Float32 matrix (the unquantized reference). It has no weight gradient: backward produces only the
/// input gradient, through the transposed dequantize-on-the-fly product.
public final class FrozenLinear: @unchecked Sendable {
    public enum Storage {
        case nf4(NF4Matrix)
        case dense(DenseMatrix)
    }

    public let storage: Storage
    /// Bias [out] (Qwen2's q/k/v), or nil.
    public let bias: [Float]?
    public let outFeatures: Int
    public let inFeatures: Int
    /// The arithmetic of this layer's products (`--compute-dtype`; set for all layers through
    /// `LlamaWeights.computeDType`). `.f32` is the reference path.
    public var computeDType: ComputeDType = .f32

    public init(_ storage: Storage, bias: [Float]? = nil) {
        self.storage = storage
        self.bias = bias
        switch storage {
        case .nf4(let m): outFeatures = m.rows; inFeatures = m.cols
        case .dense(let m): outFeatures = m.rows; inFeatures = m.cols
        }
    }

    /// The int8 inference form of the NF4 weight (`--compute-dtype int8`), once `enableInt8` made it:
    /// forward then runs the int8 products. Training never enables it (backward keeps the NF4 kernels).
    public private(set) var int8: Int8NF4Matrix?

    /// Repacks the NF4 weight for the int8 products; false (and nothing changes) for dense weights or
    /// NF4 shapes the int8 kernels do not take (see `Int8NF4Matrix.init`).
    @discardableResult
    public func enableInt8(_ variant: Int8Variant) -> Bool {
        guard case .nf4(let m) = storage, let q = Int8NF4Matrix(m.ref, variant: variant) else { return false }
        int8 = q
        return true
    }

    /// Back to the Float32 products.
    public func disableInt8() { int8 = nil }

    /// Y[M, out] = X[M, in] · Wᵀ + b.
    public func forward(_ X: UnsafePointer<Float>, M: Int, _ Y: UnsafeMutablePointer<Float>, threads: Int,
                        workspace: KernelWorkspace) {
        switch storage {
        case .nf4 where int8 != nil:
            Int8Kernels.gemm(int8!, X: X, ldx: inFeatures, M: M, Y: Y, ldy: outFeatures, threads: threads,
                             workspace: workspace)
        case .nf4(let m):
            NF4Kernels.gemm(m.ref, X: X, ldx: inFeatures, M: M, Y: Y, ldy: outFeatures, threads: threads,
                            dtype: computeDType, workspace: workspace)
        case .dense(let m):
            DenseKernels.gemm(m.ref, X: X, ldx: inFeatures, M: M, Y: Y, ldy: outFeatures, threads: threads,
                              dtype: computeDType, workspace: workspace)
        }
        if let bias {
            for i in 0..<M {
                let y = Y + i * outFeatures
                for o in 0..<outFeatures { y[o] += bias[o] }
            }
        }
    }

    /// dX[M, in] += dY[M, out] · W.
    public func backwardInput(_ dY: UnsafePointer<Float>, M: Int, _ dX: UnsafeMutablePointer<Float>, threads: Int,
                              workspace: KernelWorkspace) {
        switch storage {
        case .nf4(let m):
            NF4Kernels.gemmT(m.ref, dY: dY, lddy: outFeatures, M: M, dX: dX, lddx: inFeatures, threads: threads,
                             dtype: computeDType, workspace: workspace)
        case .dense(let m):
            DenseKernels.gemmT(m.ref, dY: dY, lddy: outFeatures, M: M, dX: dX, lddx: inFeatures, threads: threads,
                               dtype: computeDType, workspace: workspace)
        }
    }

    /// Bytes this layer holds (nibbles + constants, or the dense matrix).
    public var storedBytes: Int {
        switch storage {
        case .nf4(let m): return m.storedBytes + 4 * (bias?.count ?? 0)
        case .dense(let m): return m.storedBytes + 4 * (bias?.count ?? 0)
        }
    }
}
