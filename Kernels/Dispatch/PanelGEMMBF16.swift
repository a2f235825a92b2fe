import QLoRACore
import QLoRAKernelsAVX512BF16

/// The bf16 counterparts of `PanelGEMM.forward` / `.transposed` on AVX512-BF16, with the panels and
/// the activation held as bf16 pairs and `vdpbf16ps` tiles (Float32 accumulation). W still arrives as
/// Float32 row segments from its `PanelSource` (NF4 dequantization or dense rows) and is rounded to bf16
/// as its panel is filled, so a bf16 copy of W never exists either. Both products are vectorized along
/// their output columns, so X is rounded row by row (no transposed slivers) and Y is written in place
/// (no Yᵀ accumulator to transpose). Call only when `CPUFeatures.current.hasAVX512BF16`.
enum PanelGEMMBF16 {
    static let MR = 12, NR = 32, TMR = 12, TNR = 32

    /// Workspace floats `forward` takes for an M × K by N × K product on `threads` threads.
    static func forwardWorkspaceFloats(M: Int, N: Int, K: Int, threads: Int) -> Int {
        let t = max(1, min(threads, (N + NR - 1) / NR))
        return (M * K / 2 + 15) / 16 * 16 + t * (PanelGEMM.forwardNCB * PanelGEMM.forwardKC / 2 + PanelGEMM.forwardKC + MR * NR)
    }

    /// Workspace floats `transposed` takes (dY in bf16, then the per-thread pair panels).
    static func transposedWorkspaceFloats(M: Int, N: Int, K: Int, threads: Int) -> Int {
        let t = max(1, min(threads, K / TNR))
        return (M * N + 31) / 32 * 16 + t * (PanelGEMM.transposedNB / 2 * TNR + 2 * TNR)
    }

    /// Y[M, N] = bf16(X)[M, K] · bf16(W)ᵀ (overwrites Y). Requires K % 32 == 0.
    ///
    /// Per thread, a run of 32-column tiles of Y; per KC-deep pass, NCB rows of W become a pair panel
    /// [KC/2][NCB] (W[n, 2p], W[n, 2p+1]) and every 12-row block of X multiplies it (`PairGEMMBF16`).
    static func forward(_ w: PanelSource, X: UnsafePointer<Float>, ldx: Int, M: Int,
                        Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int, workspace: KernelWorkspace) {
        let N = w.rows, K = w.cols, KP = K / 2
        let nTiles = (N + NR - 1) / NR
        let KC = PanelGEMM.forwardKC, NCB = PanelGEMM.forwardNCB
        let nThreads = max(1, min(threads, nTiles))
        let xpCount = (M * KP + 15) / 16 * 16, perThread = NCB * KC / 2 + KC + MR * NR
        let base = workspace.floats(xpCount + nThreads * perThread)
        let XP = UnsafeMutableRawPointer(base).bindMemory(to: UInt32.self, capacity: xpCount)
        let scratch = base + xpCount
        Parallel.forChunks(M, threads: threads) { _, lo, hi in
            BF16Pack.rowPairs(X + lo * ldx, ldx, hi - lo, K, XP + lo * KP, KP)
        }
        Parallel.forChunks(nTiles, threads: nThreads) { t, lo, hi in
            let tmp = scratch + t * perThread
            let edge = tmp + KC
            let panel = UnsafeMutableRawPointer(edge + MR * NR).bindMemory(to: UInt32.self, capacity: NCB * KC / 2)
            let n0 = lo * NR, n1 = min(hi * NR, N)
            var kb = 0
            while kb < K {
                let kc = min(KC, K - kb), kp = kc / 2
                var nb = n0
                while nb < n1 {
                    let ncb = min(NCB, n1 - nb)
                    let ncbPad = (ncb + NR - 1) / NR * NR
                    for r in 0..<ncb {
                        w.rowSegment(nb + r, kb, kc, tmp)
                        BF16Pack.rowPairsTransposed(tmp, kc, 1, kc, panel + r, NCB)
                    }
                    if ncbPad > ncb { for p in 0..<kp { (panel + p * NCB + ncb).initialize(repeating: 0, count: ncbPad - ncb) } }
                    let accumulate = kb > 0
                    var m0 = 0
                    while m0 < M {
                        let mr = min(MR, M - m0)
                        let xp = XP + m0 * KP + kb / 2
                        var nt = 0
                        while nt < ncb {
                            let cols = min(NR, ncb - nt)
                            let full = cols == NR
                            let y = Y + m0 * ldy + nb + nt
                            let c = full ? y : edge
                            let ldc = full ? ldy : NR
                            if !full && accumulate { for i in 0..<mr { (edge + i * NR).update(from: y + i * ldy, count: cols) } }
                            if mr == MR {
                                PairGEMMBF16.tile12x32(xp, KP, 1, panel + nt, NCB, kp, c, ldc, 1, accumulate)
                            } else {
                                for i in 0..<mr {
                                    PairGEMMBF16.row1x32(xp + i * KP, 1, panel + nt, NCB, kp, c + i * ldc, 1, accumulate)
                                }
                            }
                            if !full { for i in 0..<mr { (y + i * ldy).update(from: edge + i * NR, count: cols) } }
                            nt += NR
                        }
                        m0 += mr
                    }
                    nb += ncb
                }
                kb += kc
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
