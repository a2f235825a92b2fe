import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// The NF4 products of a frozen 4-bit linear layer, dequantizing on the fly (never a whole Float32
/// copy of W: at most a panel of KC columns × a few dozen rows per thread):
///
/// - `gemv`:  y[N] = W[N, K] · x[K] (one token),
/// - `gemm`:  Y[M, N] = X[M, K] · Wᵀ (forward),
/// - `gemmT`: dX[M, K] += dY[M, N] · W (input gradient in backward).
///
/// The ISA variant comes from `KernelISA.best` unless given; shapes whose rows are not whole groups
/// of 32 (cols % 32 ≠ 0) run the reference kernels.
public enum NF4Kernels {
    // Blocking, measured on 1536x576 … 28672x8192 at M = 512 (docs/benchmarks.md): a deep KC keeps
    // the passes over the Yᵀ accumulator (which outgrows L3 for the 70B shapes) few; the panels
    // (96 × 1024 and 2048 × 32 floats) stay within a 1 MiB L2.
    /// Reduction depth of one forward pass over the packed panels (floats of K per panel row).
    static let forwardKC = 1024
    /// Rows of W dequantized per forward panel (a multiple of every ISA's tile width).
    static let forwardNCB = 96
    /// Rows of W (the reduction dimension) per transposed-product panel.
    static let transposedNB = 2048

    struct ISAKernels {
        let gemvRows: (NF4MatrixRef, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void
        let dequantizeRowSegment: (NF4MatrixRef, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
        /// Forward tile: m-width `fMR`, n-width `fNR`.
        let forwardTile: (UnsafePointer<Float>, UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, Int, Bool) -> Void
        let fMR: Int, fNR: Int
        /// Transposed tile: `tMR` rows × `tNR` columns, plus a one-row tail.
        let transposedTile: (UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void
        let transposedRow: (UnsafePointer<Float>, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void
        let tMR: Int, tNR: Int
    }

    static let avx512 = ISAKernels(
        gemvRows: NF4AVX512.gemvRows, dequantizeRowSegment: NF4AVX512.dequantizeRowSegment,
        forwardTile: MicroKernelAVX512.forward32x12, fMR: 32, fNR: 12,
        transposedTile: MicroKernelAVX512.transposed12x32, transposedRow: MicroKernelAVX512.transposedRowx32,
        tMR: 12, tNR: 32)

    static let avx2 = ISAKernels(
        gemvRows: NF4AVX2.gemvRows, dequantizeRowSegment: NF4AVX2.dequantizeRowSegment,
        forwardTile: MicroKernelAVX2.forward16x6, fMR: 16, fNR: 6,
        transposedTile: MicroKernelAVX2.transposed3x32, transposedRow: MicroKernelAVX2.transposedRowx32,
        tMR: 3, tNR: 32)

    static func kernels(_ isa: KernelISA, _ w: NF4MatrixRef) -> ISAKernels? {
        guard w.rowsAreGroupAligned, isa.isSupported else { return nil }
        switch isa {
        case .avx512: return avx512
        case .avx2: return avx2
        case .reference: return nil
        }
    }

    // MARK: GEMV

    /// y[N] = W · x.
    public static func gemv(_ w: NF4MatrixRef, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                            threads: Int = 1, isa: KernelISA = .best) {
        let k = kernels(isa, w)
        Parallel.forChunks(w.rows, threads: threads, granule: 16) { _, lo, hi in
            if let k { k.gemvRows(w, x, y, lo, hi) } else { NF4Reference.gemvRows(w, x, y, lo, hi) }
        }
    }

    // MARK: GEMM (forward)

    /// Y[M, N] = X[M, K] · Wᵀ (overwrites Y). X rows have stride `ldx`, Y rows `ldy`.
    public static func gemm(_ w: NF4MatrixRef, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = 1, isa: KernelISA = .best,
                            workspace: KernelWorkspace? = nil) {
        guard M > 0, w.rows > 0 else { return }
        guard let k = kernels(isa, w) else {
            Parallel.forChunks(w.rows, threads: threads) { _, lo, hi in
                NF4Reference.gemmColumns(w, X, ldx, M, Y, ldy, lo, hi)
            }
            return
        }
        if M <= 4 {
            // A handful of tokens: one GEMV per row reads W once per row at full decode speed.
            for m in 0..<M {
                Parallel.forChunks(w.rows, threads: threads, granule: 16) { _, lo, hi in
                    k.gemvRows(w, X + m * ldx, Y + m * ldy, lo, hi)
                }
            }
            return
        }
        let N = w.rows, K = w.cols, MR = k.fMR, NR = k.fNR
        let mTiles = (M + MR - 1) / MR, Mpad = mTiles * MR
        let nTiles = (N + NR - 1) / NR, Npad = nTiles * NR
        let KC = forwardKC, NCB = forwardNCB
        let ws = workspace ?? KernelWorkspace()
        let nThreads = max(1, min(threads, nTiles))
        let xtCount = Mpad * K, ytCount = Npad * Mpad, panelCount = NCB * KC
        let base = ws.floats(xtCount + ytCount + nThreads * panelCount)
        let XT = base, YT = base + xtCount, panels = YT + ytCount
        // Xᵀ slivers: XT[(mt·K + k)·MR + i] = X[mt·MR + i, k], zero past M.
        Parallel.forChunks(mTiles, threads: threads) { _, lo, hi in
            for mt in lo..<hi {
                let sliver = XT + mt * K * MR
                for i in 0..<MR {
                    let m = mt * MR + i
                    if m < M {
                        let x = X + m * ldx
                        for c in 0..<K { sliver[c * MR + i] = x[c] }
                    } else {
                        for c in 0..<K { sliver[c * MR + i] = 0 }
                    }
                }
            }
        }
        Parallel.forChunks(nTiles, threads: nThreads) { t, lo, hi in
            let panel = panels + t * panelCount
            let n0 = lo * NR, n1 = hi * NR
            var kb = 0
            while kb < K {
                let kc = min(KC, K - kb)
                var nb = n0
                while nb < n1 {
                    let ncb = min(NCB, n1 - nb)
                    for r in 0..<ncb {
                        let dst = panel + r * KC
                        if nb + r < N {
                            k.dequantizeRowSegment(w, nb + r, kb, kc, dst)
                        } else {
                            dst.initialize(repeating: 0, count: kc)
                        }
                    }
                    for mt in 0..<mTiles {
                        let xt = XT + (mt * K + kb) * MR
                        var nt = 0
                        while nt < ncb {
                            k.forwardTile(xt, panel + nt * KC, KC, kc, YT + (nb + nt) * Mpad + mt * MR, Mpad, kb > 0)
                            nt += NR
                        }
                    }
                    nb += ncb
                }
                kb += kc
            }
            // Yᵀ → Y for this thread's columns, in 16×16 blocks.
            let nEnd = min(n1, N)
            var nB = n0
            while nB < nEnd {
                let nE = min(nB + 16, nEnd)
                var mB = 0
                while mB < M {
                    let mE = min(mB + 16, M)
                    for m in mB..<mE {
                        for n in nB..<nE { Y[m * ldy + n] = YT[n * Mpad + m] }
                    }
                    mB = mE
                }
                nB = nE
            }
        }
    }

    // MARK: Transposed GEMM (input gradient)

    /// dX[M, K] += dY[M, N] · W. dY rows have stride `lddy`, dX rows `lddx`.
    public static func gemmT(_ w: NF4MatrixRef, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                             dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int = 1, isa: KernelISA = .best,
                             workspace: KernelWorkspace? = nil) {
        guard M > 0, w.rows > 0 else { return }
        let N = w.rows, K = w.cols
        guard let k = kernels(isa, w), K % k.tNR == 0 else {
            Parallel.forChunks(K, threads: threads) { _, lo, hi in
                NF4Reference.gemmTColumns(w, dY, lddy, M, dX, lddx, lo, hi)
            }
            return
        }
        if M <= 4 && isa == .avx512 && w.blockSize == 64 && K % 64 == 0 {
            // A few tokens: stream W once per token with the column accumulators in registers.
            for m in 0..<M {
                Parallel.forChunks(K, threads: threads, granule: 256) { _, lo, hi in
                    NF4AVX512.gemvTColumns64(w, dY + m * lddy, dX + m * lddx, lo, hi)
                }
            }
            return
        }
        let NR = k.tNR, MR = k.tMR, NB = transposedNB
        let cTiles = K / NR
        let nThreads = max(1, min(threads, cTiles))
        let ws = workspace ?? KernelWorkspace()
        let panels = ws.floats(nThreads * NB * NR)
        Parallel.forChunks(cTiles, threads: nThreads) { t, lo, hi in
            let panel = panels + t * NB * NR
            var nb = 0
            while nb < N {
                let nbn = min(NB, N - nb)
                for ct in lo..<hi {
                    let c0 = ct * NR
                    for r in 0..<nbn { k.dequantizeRowSegment(w, nb + r, c0, NR, panel + r * NR) }
                    var m = 0
                    while m + MR <= M {
                        k.transposedTile(dY + m * lddy + nb, lddy, panel, nbn, dX + m * lddx + c0, lddx)
                        m += MR
                    }
                    while m < M {
                        k.transposedRow(dY + m * lddy + nb, panel, nbn, dX + m * lddx + c0)
                        m += 1
                    }
                }
                nb += nbn
            }
        }
    }
}

extension NF4Kernels {
    /// Dequantizes the whole matrix into `dst` (rows × cols Float32), e.g. for merging or as a
    /// benchmark baseline. The products above never call this.
    public static func dequantize(_ w: NF4MatrixRef, into dst: UnsafeMutablePointer<Float>, threads: Int = 1,
                                  isa: KernelISA = .best) {
        let k = kernels(isa, w)
        Parallel.forChunks(w.rows, threads: threads) { _, lo, hi in
            for r in lo..<hi {
                if let k { k.dequantizeRowSegment(w, r, 0, w.cols, dst + r * w.cols) } else {
                    NF4Reference.dequantizeRow(w, r, dst + r * w.cols)
                }
            }
        }
    }
}
