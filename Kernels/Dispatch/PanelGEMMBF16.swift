import QLoRACore
import QLoRAKernelsAVX512BF16

/// The bf16 counterparts of `PanelGEMM.forward` / `.transposed` on AVX512-BF16: the same blocking,
/// with the panels and the packed activation held as bf16 pairs and `MicroKernelBF16` tiles
/// (`vdpbf16ps`, Float32 accumulation). W still arrives as Float32 row segments from its
/// `PanelSource` (NF4 dequantization or dense rows) and is rounded to bf16 as its panel is filled,
/// so a bf16 copy of W never exists either. Call only when `CPUFeatures.current.hasAVX512BF16`.
enum PanelGEMMBF16 {
    static let MR = 32, NR = 12, TMR = 12, TNR = 32

    /// Workspace floats `forward` takes for an M × K by N × K product on `threads` threads.
    static func forwardWorkspaceFloats(M: Int, N: Int, K: Int, threads: Int) -> Int {
        let Mpad = (M + MR - 1) / MR * MR, nTiles = (N + NR - 1) / NR
        let t = max(1, min(threads, nTiles))
        return Mpad * K / 2 + nTiles * NR * Mpad + t * (PanelGEMM.forwardNCB * PanelGEMM.forwardKC / 2 + PanelGEMM.forwardKC)
    }

    /// Workspace floats `transposed` takes (dY in bf16, then the per-thread pair panels).
    static func transposedWorkspaceFloats(M: Int, N: Int, K: Int, threads: Int) -> Int {
        let t = max(1, min(threads, K / TNR))
        return (M * N + 31) / 32 * 16 + t * (PanelGEMM.transposedNB / 2 * TNR + 2 * TNR)
    }

    /// Y[M, N] = bf16(X)[M, K] · bf16(W)ᵀ (overwrites Y). Requires K % 32 == 0.
    static func forward(_ w: PanelSource, X: UnsafePointer<Float>, ldx: Int, M: Int,
                        Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int, workspace: KernelWorkspace) {
        let N = w.rows, K = w.cols
        let mTiles = (M + MR - 1) / MR, Mpad = mTiles * MR
        let nTiles = (N + NR - 1) / NR, Npad = nTiles * NR
        let KC = PanelGEMM.forwardKC, KCP = KC / 2, NCB = PanelGEMM.forwardNCB
        let nThreads = max(1, min(threads, nTiles))
        let xtCount = Mpad * K / 2, ytCount = Npad * Mpad, perThread = NCB * KCP + KC
        let base = workspace.floats(xtCount + ytCount + nThreads * perThread)
        let raw = UnsafeMutableRawPointer(base)
        let XT = raw.bindMemory(to: UInt32.self, capacity: xtCount)
        let YT = base + xtCount
        let scratch = base + xtCount + ytCount
        Parallel.forChunks(mTiles, threads: threads) { _, lo, hi in
            for mt in lo..<hi { BF16Pack.packSliver(X, ldx, mt * MR, M, K, XT + mt * (K / 2) * MR) }
        }
        Parallel.forChunks(nTiles, threads: nThreads) { t, lo, hi in
            let tmp = scratch + t * perThread
            let panel = UnsafeMutableRawPointer(tmp + KC).bindMemory(to: UInt32.self, capacity: NCB * KCP)
            let panel16 = UnsafeMutableRawPointer(panel).assumingMemoryBound(to: UInt16.self)
            let n0 = lo * NR, n1 = hi * NR
            var kb = 0
            while kb < K {
                let kc = min(KC, K - kb)
                var nb = n0
                while nb < n1 {
                    let ncb = min(NCB, n1 - nb)
                    for r in 0..<ncb {
                        if nb + r < N {
                            w.rowSegment(nb + r, kb, kc, tmp)
                            BF16Pack.roundRow(tmp, panel16 + r * KC, kc)
                        } else {
                            (panel + r * KCP).initialize(repeating: 0, count: kc / 2)
                        }
                    }
                    for mt in 0..<mTiles {
                        let xt = XT + (mt * K + kb) / 2 * MR
                        var nt = 0
                        while nt < ncb {
                            MicroKernelBF16.forward32x12(xt, panel + nt * KCP, KCP, kc / 2, YT + (nb + nt) * Mpad + mt * MR,
                                                         Mpad, kb > 0)
                            nt += NR
                        }
                    }
                    nb += ncb
                }
                kb += kc
            }
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

    /// dX[M, K] += bf16(dY)[M, N] · bf16(W). Requires K % 32 == 0 and N even.
    static func transposed(_ w: PanelSource, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                           dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int, workspace: KernelWorkspace) {
        let N = w.rows, K = w.cols
        let NB = PanelGEMM.transposedNB
        let cTiles = K / TNR
        let nThreads = max(1, min(threads, cTiles))
        let dyFloats = (M * N + 31) / 32 * 16, perThread = NB / 2 * TNR + 2 * TNR
        let base = workspace.floats(dyFloats + nThreads * perThread)
        let dYb = UnsafeMutableRawPointer(base).bindMemory(to: UInt16.self, capacity: 2 * dyFloats)
        Parallel.forChunks(M, threads: threads) { _, lo, hi in
            for m in lo..<hi { BF16Pack.roundRow(dY + m * lddy, dYb + m * N, N) }
        }
        Parallel.forChunks(cTiles, threads: nThreads) { t, lo, hi in
            let tmp = base + dyFloats + t * perThread
            let panel = UnsafeMutableRawPointer(tmp + 2 * TNR).bindMemory(to: UInt32.self, capacity: NB / 2 * TNR)
            var nb = 0
            while nb < N {
                let nbn = min(NB, N - nb), np = nbn / 2
                for ct in lo..<hi {
                    let c0 = ct * TNR
                    for p in 0..<np {
                        w.rowSegment(nb + 2 * p, c0, TNR, tmp)
                        w.rowSegment(nb + 2 * p + 1, c0, TNR, tmp + TNR)
                        BF16Pack.pairRows(tmp, tmp + TNR, panel + p * TNR, TNR)
                    }
                    var m = 0
                    while m + TMR <= M {
                        MicroKernelBF16.transposed12x32(dYb + m * N + nb, N, panel, np, dX + m * lddx + c0, lddx)
                        m += TMR
                    }
                    while m < M {
                        MicroKernelBF16.transposedRowx32(dYb + m * N + nb, panel, np, dX + m * lddx + c0)
                        m += 1
                    }
                }
                nb += nbn
            }
        }
    }
}
