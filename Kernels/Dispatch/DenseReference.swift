import QLoRACore

/// The specification of the dense (Float32 / bfloat16) weight products: plain loops over
/// `DenseMatrixRef.element`, for any shape. The SIMD kernels and the scalar path
/// (`ScalarKernels`) are tested against these.
public enum DenseReference {
    /// y[r] = Σ_c W[r, c] · x[c] for r in [r0, r1).
    public static func gemvRows(_ w: DenseMatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ r0: Int, _ r1: Int) {
        for r in r0..<r1 {
            var s: Float = 0
            for c in 0..<w.cols { s += w.element(r, c) * x[c] }
            y[r] = s
        }
    }

    /// dX[m, c] += Σ_r dY[m, r] · W[r, c] for columns c in [c0, c1).
    public static func gemmTColumns(_ w: DenseMatrixRef, _ dY: UnsafePointer<Float>, _ lddy: Int, _ M: Int,
                                    _ dX: UnsafeMutablePointer<Float>, _ lddx: Int, _ c0: Int, _ c1: Int) {
        for r in 0..<w.rows {
            for m in 0..<M {
                let g = dY[m * lddy + r]
                for c in c0..<c1 { dX[m * lddx + c] += g * w.element(r, c) }
            }
        }
    }
}
