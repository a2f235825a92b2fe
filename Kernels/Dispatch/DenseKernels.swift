import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// Products with dense Float32 / bfloat16 weights (embeddings used as lm_head): the same panel
/// drivers as the NF4 kernels, with bf16 widened to Float32 per panel (never the whole matrix).
/// Shapes with cols % 32 ≠ 0 run the reference loops.
public enum DenseKernels {
    struct ISARows {
        let gemvRows: (DenseMatrixRef, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void
        let rowSegment: (DenseMatrixRef, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
    }

    static func rows(_ isa: KernelISA, _ w: DenseMatrixRef) -> (ISARows, TileKernels)? {
        guard w.cols % 32 == 0, let tiles = TileKernels.forISA(isa) else { return nil }
        switch isa {
        case .avx512: return (ISARows(gemvRows: DenseAVX512.gemvRows, rowSegment: DenseAVX512.rowSegment), tiles)
        case .avx2: return (ISARows(gemvRows: DenseAVX2.gemvRows, rowSegment: DenseAVX2.rowSegment), tiles)
        case .reference: return nil
        }
    }

    /// y[N] = W · x.
    public static func gemv(_ w: DenseMatrixRef, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                            threads: Int = 1, isa: KernelISA = .best) {
        let k = rows(isa, w)?.0
        Parallel.forChunks(w.rows, threads: threads, granule: 16) { _, lo, hi in
            if let k { k.gemvRows(w, x, y, lo, hi); return }
            for r in lo..<hi {
                var s: Float = 0
                for c in 0..<w.cols { s += w.element(r, c) * x[c] }
                y[r] = s
            }
        }
    }

    /// Y[M, N] = X[M, K] · Wᵀ (overwrites Y).
    public static func gemm(_ w: DenseMatrixRef, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = 1, isa: KernelISA = .best,
                            workspace: KernelWorkspace? = nil) {
        guard M > 0, w.rows > 0 else { return }
        guard let (k, tiles) = rows(isa, w), M > 4 else {
            for m in 0..<M { gemv(w, x: X + m * ldx, y: Y + m * ldy, threads: threads, isa: isa) }
            return
        }
        let src = PanelSource(rows: w.rows, cols: w.cols) { r, c0, n, dst in k.rowSegment(w, r, c0, n, dst) }
        PanelGEMM.forward(src, tiles, X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads,
                          workspace: workspace ?? KernelWorkspace())
    }

    /// dX[M, K] += dY[M, N] · W.
    public static func gemmT(_ w: DenseMatrixRef, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                             dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int = 1, isa: KernelISA = .best,
                             workspace: KernelWorkspace? = nil) {
        guard M > 0, w.rows > 0 else { return }
        guard let (k, tiles) = rows(isa, w), w.cols % tiles.tNR == 0 else {
            Parallel.forChunks(w.cols, threads: threads) { _, lo, hi in
                for r in 0..<w.rows {
                    for m in 0..<M {
                        let g = dY[m * lddy + r]
                        for c in lo..<hi { dX[m * lddx + c] += g * w.element(r, c) }
                    }
                }
            }
            return
        }
        let src = PanelSource(rows: w.rows, cols: w.cols) { r, c0, n, dst in k.rowSegment(w, r, c0, n, dst) }
        PanelGEMM.transposed(src, tiles, dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads,
                             workspace: workspace ?? KernelWorkspace())
    }
}
