import QLoRACore
import QLoRAKernelsAVX512BF16

/// Entries of a product known to be zero or not wanted (a causal band), which the bf16 product skips.
/// Offsets are in elements; i is op(A)'s row, k the reduction index, j C's column.
public enum ProductBand: Sendable, Equatable {
    case full
    /// Only C[i, j] with j ≤ i + offset is wanted; the others are left as the product or set to 0.
    case outputLower(Int)
    /// op(A)[i, k] = 0 for k > i + offset (those terms are skipped).
    case aLower(Int)
    /// op(A)[i, k] = 0 for k < i − offset (those terms are skipped).
    case aUpper(Int)
}

/// bf16 products of two activation operands (attention's QKᵀ, P·V and their gradients):
/// C[M, N] = (accumulate ? C : 0) + α · bf16(op(A))[M, K] · bf16(op(B))[K, N], products of bf16 pairs
/// summed in Float32 (`vdpbf16ps`). op(X) is X or Xᵀ of a row-major matrix, as in BLAS. Both operands
/// are rounded once per call into pair layouts (`BF16Pack`): op(A) as pairs along K at a row and a pair
/// stride (so A and Aᵀ need no transposition), op(B) as a pair panel [⌈K/2⌉][N rounded up to 32].
/// Without AVX512-BF16 the variant's Float32 tiles multiply the same rounded values (`BF16Variant`).
public enum BF16Products {
    static let MR = 12, NR = 32

    /// Floats of scratch `gemm` needs for this shape on `threads` threads.
    public static func scratchFloats(M: Int, N: Int, K: Int, threads: Int = 1) -> Int {
        let kp = (K + 1) / 2, npad = (N + NR - 1) / NR * NR
        return align(kp * M) + align(kp * npad) + max(1, threads) * perThreadFloats(kp)
    }

    static func align(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    /// A partial column tile, and the fallback's unpacked A rows, B panel and accumulator tile.
    static func perThreadFloats(_ kp: Int) -> Int { align(MR * NR) + align(MR * 2 * kp) + align(2 * kp * NR) + align(MR * NR) }

    public static func gemm(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Float = 1,
                            A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
                            accumulate: Bool = false, C: UnsafeMutablePointer<Float>, ldc: Int,
                            band: ProductBand = .full, threads: Int = 1, variant: BF16Variant = .best,
                            scratch: UnsafeMutablePointer<Float>) {
        guard M > 0, N > 0 else { return }
        let kp = (K + 1) / 2, npad = (N + NR - 1) / NR * NR
        let fast = variant == .avx512bf16 && variant.isSupported
        let raw = UnsafeMutableRawPointer(scratch)
        let aPack = raw.bindMemory(to: UInt32.self, capacity: align(kp * M))
        let bPack = (raw + 4 * align(kp * M)).bindMemory(to: UInt32.self, capacity: align(kp * npad))
        let perThread = scratch + align(kp * M) + align(kp * npad)
        // op(A) pairs: (i, p) at aPack[i·ars + p·aps].
        let ars: Int, aps: Int
        if transA {   // op(A)[i, k] = A[k, i]: rows 2p, 2p+1 of A interleaved
            (ars, aps) = (1, M)
            if fast { BF16Pack.interleaveRows(A, lda, K, M, aPack, M) } else { PortablePack.interleaveRows(A, lda, K, M, aPack, M) }
        } else {
            (ars, aps) = (kp, 1)
            if fast { BF16Pack.rowPairs(A, lda, M, K, aPack, kp) } else { PortablePack.rowPairs(A, lda, M, K, aPack, kp) }
        }
        if transB {   // op(B)[k, j] = B[j, k]
            if fast { BF16Pack.rowPairsTransposed(B, ldb, N, K, bPack, npad) } else { PortablePack.rowPairsTransposed(B, ldb, N, K, bPack, npad) }
        } else {
            if fast { BF16Pack.interleaveRows(B, ldb, K, N, bPack, npad) } else { PortablePack.interleaveRows(B, ldb, K, N, bPack, npad) }
        }
        if npad > N { for p in 0..<kp { (bPack + p * npad + N).initialize(repeating: 0, count: npad - N) } }

        let blocks = (M + MR - 1) / MR
        let tiles = TileKernels.forISA(variant.floatISA)
        Parallel.forChunks(blocks, threads: threads) { t, lo, hi in
            let work = perThread + t * perThreadFloats(kp)
            let partial = work
            let af = work + align(MR * NR), bf = af + align(MR * 2 * kp), acc = bf + align(2 * kp * NR)
            for blk in lo..<hi {
                let m0 = blk * MR, mr = min(MR, M - m0)
                var pBeg = 0, pEnd = kp, nEnd = N
                switch band {
                case .full: break
                case .outputLower(let off): nEnd = min(N, max(0, m0 + mr + off))
                case .aLower(let off): pEnd = (min(K, max(0, m0 + mr + off)) + 1) / 2
                case .aUpper(let off): pBeg = min(K, max(0, m0 - off)) / 2
                }
                let np = max(0, pEnd - pBeg)
                if !accumulate && nEnd < N {
                    for i in 0..<mr { (C + (m0 + i) * ldc + nEnd).initialize(repeating: 0, count: N - nEnd) }
                }
                let aBlock = aPack + m0 * ars + pBeg * aps
                var n0 = 0
                while n0 < nEnd {
                    let cols = min(NR, N - n0)
                    let full = cols == NR
                    let cTile = full ? C + m0 * ldc + n0 : partial
                    let ldt = full ? ldc : NR
                    if !full && accumulate {
                        for i in 0..<mr { (partial + i * NR).update(from: C + (m0 + i) * ldc + n0, count: cols) }
                    }
                    let bTile = bPack + pBeg * npad + n0
                    if fast {
                        if mr == MR {
                            PairGEMMBF16.tile12x32(aBlock, ars, aps, bTile, npad, np, cTile, ldt, alpha, accumulate)
                        } else {
                            for i in 0..<mr {
                                PairGEMMBF16.row1x32(aBlock + i * ars, aps, bTile, npad, np, cTile + i * ldt, alpha, accumulate)
                            }
                        }
                    } else {
                        fallbackTile(aBlock, ars, aps, mr, bTile, npad, np, cTile, ldt, alpha, accumulate, tiles: tiles,
                                     af: af, bf: bf, acc: acc)
                    }
                    if !full {
                        for i in 0..<mr { (C + (m0 + i) * ldc + n0).update(from: partial + i * NR, count: cols) }
                    }
                    n0 += NR
                }
            }
        }
    }

    /// The same tile on CPUs without AVX512-BF16: the bf16 pairs widened to Float32 (exact) and
    /// multiplied by the variant's Float32 transposed tile (or a scalar loop), then scaled into C.
    static func fallbackTile(_ a: UnsafePointer<UInt32>, _ ars: Int, _ aps: Int, _ mr: Int, _ b: UnsafePointer<UInt32>,
                             _ ldb: Int, _ np: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float,
                             _ accumulate: Bool, tiles: TileKernels?, af: UnsafeMutablePointer<Float>,
                             bf: UnsafeMutablePointer<Float>, acc: UnsafeMutablePointer<Float>) {
        let kk = 2 * np
        @inline(__always) func lo(_ u: UInt32) -> Float { Float(bitPattern: u << 16) }
        @inline(__always) func hi(_ u: UInt32) -> Float { Float(bitPattern: u & 0xFFFF_0000) }
        for i in 0..<mr {
            for p in 0..<np {
                let u = a[i * ars + p * aps]
                af[i * kk + 2 * p] = lo(u); af[i * kk + 2 * p + 1] = hi(u)
            }
        }
        for p in 0..<np {
            for j in 0..<NR {
                let u = b[p * ldb + j]
                bf[(2 * p) * NR + j] = lo(u); bf[(2 * p + 1) * NR + j] = hi(u)
            }
        }
        acc.initialize(repeating: 0, count: mr * NR)
        if let k = tiles {
            var i = 0
            while i + k.tMR <= mr {
                k.transposedTile(af + i * kk, kk, bf, kk, acc + i * NR, NR)
                i += k.tMR
            }
            while i < mr { k.transposedRow(af + i * kk, bf, kk, acc + i * NR); i += 1 }
        } else {
            for i in 0..<mr {
                for j in 0..<NR {
                    var s: Float = 0
                    for r in 0..<kk { s += af[i * kk + r] * bf[r * NR + j] }
                    acc[i * NR + j] = s
                }
            }
        }
        for i in 0..<mr {
            for j in 0..<NR {
                let v = alpha * acc[i * NR + j]
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + v : v
            }
        }
    }
}

/// `BF16Pack`'s pair layouts in portable code (same bits), for the variants without AVX512-BF16.
enum PortablePack {
    @inline(__always)
    static func pair(_ x: UnsafePointer<Float>, _ k: Int, _ cols: Int) -> UInt32 {
        let lo = UInt32(BF16.bits(x[k])), hi = k + 1 < cols ? UInt32(BF16.bits(x[k + 1])) : 0
        return lo | (hi << 16)
    }

    static func rowPairs(_ X: UnsafePointer<Float>, _ ldx: Int, _ rows: Int, _ cols: Int,
                         _ dst: UnsafeMutablePointer<UInt32>, _ ldd: Int) {
        for r in 0..<rows {
            for p in 0..<((cols + 1) / 2) { dst[r * ldd + p] = pair(X + r * ldx, 2 * p, cols) }
        }
    }

    static func rowPairsTransposed(_ X: UnsafePointer<Float>, _ ldx: Int, _ rows: Int, _ cols: Int,
                                   _ dst: UnsafeMutablePointer<UInt32>, _ ldd: Int) {
        for r in 0..<rows {
            for p in 0..<((cols + 1) / 2) { dst[p * ldd + r] = pair(X + r * ldx, 2 * p, cols) }
        }
    }

    static func interleaveRows(_ X: UnsafePointer<Float>, _ ldx: Int, _ rows: Int, _ cols: Int,
                               _ dst: UnsafeMutablePointer<UInt32>, _ ldd: Int) {
        for p in 0..<((rows + 1) / 2) {
            for c in 0..<cols {
                let lo = UInt32(BF16.bits(X[2 * p * ldx + c]))
                let hi = 2 * p + 1 < rows ? UInt32(BF16.bits(X[(2 * p + 1) * ldx + c])) : 0
                dst[p * ldd + c] = lo | (hi << 16)
            }
        }
    }
}
