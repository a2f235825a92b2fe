import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// Products with dense Float32 / bfloat16 weights (embeddings used as lm_head): the same panel
/// drivers as the NF4 kernels, with bf16 widened to Float32 per panel (never the whole matrix).
/// Shapes with cols % 32 ≠ 0, and the scalar path, run `ScalarKernels` (bit-identical to `DenseReference`).
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
        guard let k = rows(isa, w)?.0 else {
            ScalarKernels.gemm(ScalarKernels.rows(w), X: x, ldx: w.cols, M: 1, Y: y, ldy: w.rows, threads: threads,
                               workspace: nil)
            return
        }
        Parallel.forChunks(w.rows, threads: threads, granule: 16) { _, lo, hi in k.gemvRows(w, x, y, lo, hi) }
    }

    /// Y[M, N] = X[M, K] · Wᵀ (overwrites Y).
    public static func gemm(_ w: DenseMatrixRef, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = 1, isa: KernelISA = .best,
                            workspace: KernelWorkspace? = nil) {
        guard M > 0, w.rows > 0 else { return }
        guard let (k, tiles) = rows(isa, w) else {
            ScalarKernels.gemm(ScalarKernels.rows(w), X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads,
                               workspace: workspace)
            return
        }
        guard M > 4 else {
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
            ScalarKernels.gemmT(ScalarKernels.rows(w), dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads,
                                workspace: workspace)
            return
        }
        let src = PanelSource(rows: w.rows, cols: w.cols) { r, c0, n, dst in k.rowSegment(w, r, c0, n, dst) }
        PanelGEMM.transposed(src, tiles, dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads,
                             workspace: workspace ?? KernelWorkspace())
    }
}
