import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// The NF4 products of a frozen 4-bit linear layer, dequantizing on the fly (never a whole Float32
/// copy of W: at most a panel per thread, see `PanelGEMM`):
///
/// - `gemv`:  y[N] = W[N, K] · x[K] (one token),
/// - `gemm`:  Y[M, N] = X[M, K] · Wᵀ (forward),
/// - `gemmT`: dX[M, K] += dY[M, N] · W (input gradient in backward).
///
/// The ISA variant comes from `KernelISA.best` unless given; the scalar path, and shapes whose rows
/// are not whole groups of 32 (cols % 32 ≠ 0), run `ScalarKernels` (bit-identical to `NF4Reference`).
public enum NF4Kernels {
    struct ISADecode {
        let gemvRows: (NF4MatrixRef, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void
        let rowSegment: (NF4MatrixRef, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
        /// Whole panels (rows r0 ..< r0 + rows, row stride ld) in one call, where the ISA has it.
        var panel: ((NF4MatrixRef, Int, Int, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void)? = nil
    }

    static func decode(_ isa: KernelISA, _ w: NF4MatrixRef) -> (ISADecode, TileKernels)? {
        guard w.rowsAreGroupAligned, let tiles = TileKernels.forISA(isa) else { return nil }
        switch isa {
        case .avx512: return (ISADecode(gemvRows: NF4AVX512.gemvRows, rowSegment: NF4AVX512.dequantizeRowSegment), tiles)
        case .avx2:
            return (ISADecode(gemvRows: NF4AVX2.gemvRows, rowSegment: NF4AVX2.dequantizeRowSegment,
                              panel: NF4AVX2.dequantizePanel), tiles)
        case .reference: return nil
        }
    }

    static func panels(_ w: NF4MatrixRef, _ d: ISADecode) -> PanelSource {
        var src = PanelSource(rows: w.rows, cols: w.cols) { r, c0, n, dst in d.rowSegment(w, r, c0, n, dst) }
        if let panel = d.panel { src.panel = { r0, rows, c0, n, dst, ld in panel(w, r0, rows, c0, n, dst, ld) } }
        return src
    }

    /// y[N] = W · x.
    public static func gemv(_ w: NF4MatrixRef, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                            threads: Int = 1, isa: KernelISA = .best) {
        guard let d = decode(isa, w)?.0 else {
            ScalarKernels.gemm(ScalarKernels.rows(w), X: x, ldx: w.cols, M: 1, Y: y, ldy: w.rows, threads: threads,
                               workspace: nil)
            return
        }
        Parallel.forChunks(w.rows, threads: threads, granule: 16) { _, lo, hi in d.gemvRows(w, x, y, lo, hi) }
    }

    /// Y[M, N] = X[M, K] · Wᵀ (overwrites Y). X rows have stride `ldx`, Y rows `ldy`.
    public static func gemm(_ w: NF4MatrixRef, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = 1, isa: KernelISA = .best,
                            workspace: KernelWorkspace? = nil) {
        guard M > 0, w.rows > 0 else { return }
        guard let (d, tiles) = decode(isa, w) else {
            ScalarKernels.gemm(ScalarKernels.rows(w), X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads,
                               workspace: workspace)
            return
        }
        if M <= 4 {
            // A handful of tokens: one GEMV per row reads W once per row at full decode speed.
            for m in 0..<M {
                Parallel.forChunks(w.rows, threads: threads, granule: 16) { _, lo, hi in
                    d.gemvRows(w, X + m * ldx, Y + m * ldy, lo, hi)
                }
            }
            return
        }
        PanelGEMM.forward(panels(w, d), tiles, X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads,
                          workspace: workspace ?? KernelWorkspace())
    }

    /// dX[M, K] += dY[M, N] · W. dY rows have stride `lddy`, dX rows `lddx`.
    public static func gemmT(_ w: NF4MatrixRef, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                             dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int = 1, isa: KernelISA = .best,
                             workspace: KernelWorkspace? = nil) {
        guard M > 0, w.rows > 0 else { return }
        let K = w.cols
        guard let (d, tiles) = decode(isa, w), K % tiles.tNR == 0 else {
            ScalarKernels.gemmT(ScalarKernels.rows(w), dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads,
                                workspace: workspace)
            return
        }
        if M <= 4 && (isa == .avx512 || isa == .avx2) && w.blockSize == 64 && K % 64 == 0 {
            // A few tokens: stream W once per token with the column accumulators in registers.
            if isa == .avx2 && (K / 64) % 2 == 1 && w.rows >= 256 {
                for m in 0..<M { gemvTRowSlabsAVX2(w, dy: dY + m * lddy, dx: dX + m * lddx, threads: threads) }
                return
            }
            let columns = isa == .avx512 ? NF4AVX512.gemvTColumns64 : NF4AVX2.gemvTColumns64
            for m in 0..<M {
                Parallel.forChunks(K, threads: threads, granule: isa == .avx512 ? 256 : 128) { _, lo, hi in
                    columns(w, dY + m * lddy, dX + m * lddx, lo, hi)
                }
            }
            return
        }
        PanelGEMM.transposed(panels(w, d), tiles, dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads,
                             workspace: workspace ?? KernelWorkspace())
    }

    /// The AVX2 transposed GEMV over two slabs of rows instead of 64-column strips, for an odd number
    /// of strips (SmolLM2's 576 columns are 9 strips: 4 and 5 on 2 threads, so one thread did 11% more
    /// than half). The slabs depend on the shape only, never on the thread count: slab 0 adds into dx,
    /// slab 1 into a zeroed copy added after both, so 1, 2 or more threads give the same bits (threads
    /// beyond two wait; this path serves M ≤ 4 only).
    static func gemvTRowSlabsAVX2(_ w: NF4MatrixRef, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                  threads: Int) {
        let K = w.cols
        let half = min(max((w.rows / 2 + 64) / 128 * 128, 128), w.rows - 128)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: K) { buffer in
            let copy = buffer.baseAddress!
            copy.initialize(repeating: 0, count: K)
            Parallel.forChunks(2, threads: min(threads, 2), granule: 1) { _, lo, hi in
                for slab in lo..<hi {
                    if slab == 0 { NF4AVX2.gemvTRows64(w, dy, dx, 0, half) } else { NF4AVX2.gemvTRows64(w, dy, copy, half, w.rows) }
                }
            }
            for c in 0..<K { dx[c] += copy[c] }
        }
    }

    /// Dequantizes the whole matrix into `dst` (rows × cols Float32), e.g. for merging or as a
    /// benchmark baseline. The products above never call this.
    public static func dequantize(_ w: NF4MatrixRef, into dst: UnsafeMutablePointer<Float>, threads: Int = 1,
                                  isa: KernelISA = .best) {
        let d = decode(isa, w)?.0
        Parallel.forChunks(w.rows, threads: threads) { _, lo, hi in
            if let panel = d?.panel {
                panel(w, lo, hi - lo, 0, w.cols, dst + lo * w.cols, w.cols)
                return
            }
            for r in lo..<hi {
                if let d { d.rowSegment(w, r, 0, w.cols, dst + r * w.cols) } else {
                    NF4Reference.dequantizeRow(w, r, dst + r * w.cols)
                }
            }
        }
    }
}
