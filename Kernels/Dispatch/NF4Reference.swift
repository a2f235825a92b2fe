import QLoRACore

/// The specification of the NF4 products: plain scalar loops over `NF4MatrixRef.element`, for any
/// shape (rows need not be group-aligned). The SIMD kernels are tested against these, and so is the
/// scalar path (`ScalarKernels`: the same sums, bit for bit, organised for speed), which the
/// dispatcher runs for `QLORA_ISA=scalar` and for shapes that do not meet the SIMD preconditions.
public enum NF4Reference {
    /// Dequantizes row r into `dst` (cols floats).
    public static func dequantizeRow(_ w: NF4MatrixRef, _ r: Int, _ dst: UnsafeMutablePointer<Float>) {
        let base = r * w.cols
        for c in 0..<w.cols { dst[c] = w.element(base + c) }
    }

    /// y[r] = Σ_c W[r, c] · x[c] for r in [r0, r1).
    public static func gemvRows(_ w: NF4MatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ r0: Int, _ r1: Int) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { row.deallocate() }
        for r in r0..<r1 {
            dequantizeRow(w, r, row)
            var s: Float = 0
            for c in 0..<w.cols { s += row[c] * x[c] }
            y[r] = s
        }
    }

    /// Y[m, r] = Σ_c X[m, c] · W[r, c] for output columns r in [r0, r1); X rows stride `ldx`, Y rows `ldy`.
    public static func gemmColumns(_ w: NF4MatrixRef, _ X: UnsafePointer<Float>, _ ldx: Int, _ M: Int,
                                   _ Y: UnsafeMutablePointer<Float>, _ ldy: Int, _ r0: Int, _ r1: Int) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { row.deallocate() }
        for r in r0..<r1 {
            dequantizeRow(w, r, row)
            for m in 0..<M {
                var s: Float = 0
                let x = X + m * ldx
                for c in 0..<w.cols { s += row[c] * x[c] }
                Y[m * ldy + r] = s
            }
        }
    }

    /// dX[m, c] += Σ_r dY[m, r] · W[r, c] for columns c in [c0, c1).
    public static func gemmTColumns(_ w: NF4MatrixRef, _ dY: UnsafePointer<Float>, _ lddy: Int, _ M: Int,
                                    _ dX: UnsafeMutablePointer<Float>, _ lddx: Int, _ c0: Int, _ c1: Int) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { row.deallocate() }
        for r in 0..<w.rows {
            dequantizeRow(w, r, row)
            for m in 0..<M {
                let g = dY[m * lddy + r]
                let d = dX + m * lddx
                for c in c0..<c1 { d[c] += g * row[c] }
            }
        }
    }
}
