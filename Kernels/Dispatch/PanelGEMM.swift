import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// The blocked Float32 drivers behind every weight product: a weight of any storage (NF4, bf16,
/// f32) is turned into small Float32 panels by its `PanelSource`, and register-blocked micro-kernels
/// multiply the panels. Only a panel of W exists in Float32 at any time (per thread: 96 × 1024
/// floats forward, 2048 × 32 transposed).
struct PanelSource {
    let rows: Int
    let cols: Int
    /// Writes W[r, c0 ..< c0 + count] as Float32 into dst (c0 and count multiples of 32).
    let rowSegment: (_ r: Int, _ c0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>) -> Void
    /// Optional whole-panel writer: dst[i·ld ..< i·ld + count] = W[r0 + i, c0 ..< c0 + count] for
    /// i < rows, the same values as `rowSegment` row by row, with the per-call setup (tables, scales'
    /// addresses) paid once per panel. The transposed product's panel rows are 32 weights each, so
    /// a call per row cost as much as the decode itself (forced AVX2, gemm_t at M = 16).
    var panel: ((_ r0: Int, _ rows: Int, _ c0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>, _ ld: Int) -> Void)? = nil

    /// Writes rows r0 ..< r0 + rows of the panel (by `panel` if there is one, else row by row).
    @inline(__always)
    func fill(_ r0: Int, _ rows: Int, _ c0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>, _ ld: Int) {
        if let panel {
            panel(r0, rows, c0, count, dst, ld)
        } else {
            for r in 0..<rows { rowSegment(r0 + r, c0, count, dst + r * ld) }
        }
    }
}

/// One ISA's micro-kernels and their tile shapes.
struct TileKernels {
    /// Forward tile: `fMR` rows of X (vectorized) × `fNR` rows of W.
    let forwardTile: (UnsafePointer<Float>, UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, Int, Bool) -> Void
    let fMR: Int, fNR: Int
    /// Transposed tile: `tMR` rows of dY × `tNR` columns of W (vectorized), plus a one-row tail.
    let transposedTile: (UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void
    let transposedRow: (UnsafePointer<Float>, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void
    let tMR: Int, tNR: Int
    /// Floats added to the forward panel's row stride so the tile's rows (KC·4 bytes apart, a
    /// multiple of 4 KiB) do not all fall in one L1 set. AVX2 only: side by side against no padding
    /// on the SmolLM2 shapes the difference was inside this shared machine's noise; the AVX-512
    /// path keeps its measured layout.
    var forwardPad = 0
    /// Transposed tiles for the rows left after the `tMR`-row tiles, widest first (each reads the panel
    /// once for its rows; the one-row kernel, once per row). On `bench kernels` gemm_t 4096², M = 16
    /// (forced AVX2, Zen 4, 2 threads) the 4 tail rows on the one-row kernel took 21% of the product's
    /// time against 39% for the 12 rows on the 6-row tile.
    var transposedTails: [(rows: Int, tile: (UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void)] = []

    static let avx512 = TileKernels(
        forwardTile: MicroKernelAVX512.forward32x12, fMR: 32, fNR: 12,
        transposedTile: MicroKernelAVX512.transposed12x32, transposedRow: MicroKernelAVX512.transposedRowx32,
        tMR: 12, tNR: 32,
        transposedTails: [(8, MicroKernelAVX512.transposed8x32), (4, MicroKernelAVX512.transposed4x32),
                          (2, MicroKernelAVX512.transposed2x32)])

    // Transposed 6×32 (two 6×16 halves): twice the rows of dY per panel load of the old 3×32, which
    // measured 1.3–2× slower on the SmolLM2 shapes at M = 1024 (forced AVX2, Zen 4).
    static let avx2 = TileKernels(
        forwardTile: MicroKernelAVX2.forward16x6, fMR: 16, fNR: 6,
        transposedTile: MicroKernelAVX2.transposed6x32, transposedRow: MicroKernelAVX2.transposedRowx32,
        tMR: 6, tNR: 32, forwardPad: 16,
        transposedTails: [(4, MicroKernelAVX2.transposed4x32), (2, MicroKernelAVX2.transposed2x32)])

    static func forISA(_ isa: KernelISA) -> TileKernels? {
        switch isa {
        case .avx512: return isa.isSupported ? avx512 : nil
        case .avx2: return isa.isSupported ? avx2 : nil
        case .reference: return nil
        }
    }
}

enum PanelGEMM {
    // Blocking from this core's L2 (`CacheSizes`): a deep KC keeps the passes over the Yᵀ accumulator
    // (which outgrows L3 for the 70B shapes) few, while the forward panel (NCB × KC floats) takes at
    // most half of L2 and the transposed panel (NB × 32) a quarter. With a 1 MiB L2 this gives the
    // values measured best on 1536x576 … 28672x8192 at M = 512 (docs/benchmarks.md): KC 1024, NB 2048;
    // a 512 KiB L2 (Zen 1–3) gets KC 512, NB 1024.
    /// Reduction depth of one forward pass over the packed panels (floats of K per panel row).
    static let forwardKC = min(1024, max(256, CacheSizes.floorPow2(CacheSizes.current.l2 / 2 / (forwardNCB * 4))))
    /// Rows of W dequantized per forward panel (a multiple of every ISA's tile width).
    static let forwardNCB = 96
    /// Rows of W (the reduction dimension) per transposed-product panel.
    static let transposedNB = min(2048, max(256, CacheSizes.floorPow2(CacheSizes.current.l2 / 4 / (32 * 4))))

    /// Y[M, N] = X[M, K] · Wᵀ (overwrites Y), vectorized along M: Xᵀ is packed into slivers, Yᵀ
    /// accumulates in the workspace and is transposed into Y at the end. Requires K % 32 == 0.
    static func forward(_ w: PanelSource, _ tiles: TileKernels, X: UnsafePointer<Float>, ldx: Int, M: Int,
                        Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int, workspace: KernelWorkspace) {
        // A few rows (M ≤ 16) would fill only half of the AVX-512 tile's 32 rows: the AVX2 16-row tile
        // (which every AVX-512 CPU runs) does the same useful work per cycle where 512-bit FMAs issue at
        // twice the 256-bit rate, and twice it where they do not (Zen 4: bench kernels 1536×576, M = 16,
        // 2 threads, 0.306 ms on the padded 32×12 tile, 0.175 ms on 16×6).
        let k = M <= TileKernels.avx2.fMR && tiles.fMR > TileKernels.avx2.fMR && KernelISA.avx2.isSupported
            ? TileKernels.avx2 : tiles
        let N = w.rows, K = w.cols, MR = k.fMR, NR = k.fNR
        let mTiles = (M + MR - 1) / MR, Mpad = mTiles * MR
        let nTiles = (N + NR - 1) / NR, Npad = nTiles * NR
        let KC = forwardKC, NCB = forwardNCB
        let nThreads = max(1, min(ThreadCost.threads(flops: 2.0 * Double(M * N * K), requested: threads, k), nTiles))
        let LDW = KC + k.forwardPad
        let xtCount = Mpad * K, ytCount = Npad * Mpad, panelCount = NCB * LDW
        let base = workspace.floats(xtCount + ytCount + nThreads * panelCount)
        let XT = base, YT = base + xtCount, panels = YT + ytCount
        // Xᵀ slivers: XT[(mt·K + k)·MR + i] = X[mt·MR + i, k], zero past M.
        // In chunks of 64 columns, so the MR rows' strided stores land in the same 64·MR floats of L1.
        Parallel.forChunks(mTiles, threads: nThreads) { _, lo, hi in
            for mt in lo..<hi {
                let sliver = XT + mt * K * MR
                let rows = min(MR, M - mt * MR)
                var c0 = 0
                while c0 < K {
                    let c1 = min(c0 + 64, K)
                    for i in 0..<rows {
                        let x = X + (mt * MR + i) * ldx
                        for c in c0..<c1 { sliver[c * MR + i] = x[c] }
                    }
                    for i in rows..<MR {
                        for c in c0..<c1 { sliver[c * MR + i] = 0 }
                    }
                    c0 = c1
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
                    let valid = max(0, min(ncb, N - nb))
                    w.fill(nb, valid, kb, kc, panel, LDW)
                    for r in valid..<ncb { (panel + r * LDW).initialize(repeating: 0, count: kc) }
                    for mt in 0..<mTiles {
                        let xt = XT + (mt * K + kb) * MR
                        var nt = 0
                        while nt < ncb {
                            k.forwardTile(xt, panel + nt * LDW, LDW, kc, YT + (nb + nt) * Mpad + mt * MR, Mpad, kb > 0)
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

    /// dX[M, K] += dY[M, N] · W, vectorized along K in tiles of `tNR` columns. Requires K % tNR == 0.
    static func transposed(_ w: PanelSource, _ k: TileKernels, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                           dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int, workspace: KernelWorkspace) {
        let N = w.rows, K = w.cols
        let NR = k.tNR, MR = k.tMR, NB = transposedNB
        let cTiles = K / NR
        let nThreads = max(1, min(ThreadCost.threads(flops: 2.0 * Double(M * N * K), requested: threads, k), cTiles))
        let panels = workspace.floats(nThreads * NB * NR)
        Parallel.forChunks(cTiles, threads: nThreads) { t, lo, hi in
            let panel = panels + t * NB * NR
            var nb = 0
            while nb < N {
                let nbn = min(NB, N - nb)
                for ct in lo..<hi {
                    let c0 = ct * NR
                    // Decoded once per panel, then read by every row tile of dY.
                    w.fill(nb, nbn, c0, NR, panel, NR)
                    var m = 0
                    while m + MR <= M {
                        k.transposedTile(dY + m * lddy + nb, lddy, panel, nbn, dX + m * lddx + c0, lddx)
                        m += MR
                    }
                    for (rows, tile) in k.transposedTails where m + rows <= M {
                        tile(dY + m * lddy + nb, lddy, panel, nbn, dX + m * lddx + c0, lddx)
                        m += rows
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
