import CQLoRASupport
import QLoRACore
import _Builtin_intrinsics.intel

/// NF4 kernels for AVX-512 (x86-64-v4). Every routine here requires `w.rowsAreGroupAligned`
/// (cols % 32 == 0); the dispatcher sends other shapes to the reference kernels.
///
/// Decode of one group of 32 weights: a 16-byte load zero-extended to 16 dword lanes; `vpermps`
/// with the 16-entry code table uses the low 4 bits of each lane (elements 0…15), and again after a
/// shift by 4 (elements 16…31). See `NF4MatrixRef` for the layout.
public enum NF4AVX512 {
    @inline(__always)
    static func loadGroup(_ p: UnsafePointer<UInt8>) -> __m512i {
        _mm512_cvtepu8_epi32(_mm_loadu_si128(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i_u.self)))
    }

    @inline(__always)
    static func hsum(_ v: __m512) -> Float {
        let h = unsafeBitCast(v, to: SIMD16<Float>.self)
        return (h.lowHalf + h.highHalf).sum()
    }

    /// Σ over one 64-element block (two groups) of code · x, unscaled; x0…x3 hold its 64 x values.
    @inline(__always)
    static func blockDot64(_ p: UnsafePointer<UInt8>, _ x0: __m512, _ x1: __m512, _ x2: __m512, _ x3: __m512,
                           _ table: __m512) -> __m512 {
        let z0 = loadGroup(p), z1 = loadGroup(p + 16)
        let a = _mm512_mul_ps(_mm512_permutexvar_ps(z0, table), x0)
        let b = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z0, 4), table), x1)
        let c = _mm512_fmadd_ps(_mm512_permutexvar_ps(z1, table), x2, a)
        let d = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z1, 4), table), x3, b)
        return _mm512_add_ps(c, d)
    }

    /// y[r] = Σ_c W[r, c] · x[c] for rows r in [r0, r1).
    public static func gemvRows(_ w: NF4MatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ r0: Int, _ r1: Int) {
        if w.blockSize == 64 && w.cols & 63 == 0 {
            gemvRows64(w, x, y, r0, r1)
            return
        }
        let table = _mm512_loadu_ps(w.code)
        let groupsPerRow = w.cols >> 5
        let groupsPerBlock = w.blockSize >> 5
        for r in r0..<r1 {
            var acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps()
            var g = r &* groupsPerRow
            let gEnd = g &+ groupsPerRow
            var b = g / groupsPerBlock
            var left = groupsPerBlock &- (g &- b &* groupsPerBlock)
            var xp = x
            while g < gEnd {
                let n = min(left, gEnd &- g)
                var s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps()
                for _ in 0..<n {
                    let z = loadGroup(w.packed + 16 &* g)
                    s0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z, table), _mm512_loadu_ps(xp), s0)
                    s1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z, 4), table),
                                         _mm512_loadu_ps(xp + 16), s1)
                    xp += 32
                    g &+= 1
                }
                let s = _mm512_set1_ps(w.scale(block: b))
                if b & 1 == 0 {
                    acc0 = _mm512_fmadd_ps(_mm512_add_ps(s0, s1), s, acc0)
                } else {
                    acc1 = _mm512_fmadd_ps(_mm512_add_ps(s0, s1), s, acc1)
                }
                b &+= 1
                left = groupsPerBlock
            }
            y[r] = hsum(_mm512_add_ps(acc0, acc1))
        }
    }

    /// The common case: blocks of 64 that start every row (cols % 64 == 0); two blocks per step with
    /// independent accumulators. (Measured against two and four rows per step sharing x loads, and
    /// against column-chunked passes that keep x in L1: one row at a time was fastest.)
    /// Bytes ahead of the current block that GEMV prefetches into L1: the hardware prefetcher alone
    /// left long rows (K = 8192, 11008) at a third of the bandwidth; 4 KiB ahead measured best of
    /// 256 B … 8 KiB on 4096², 4096×11008 and 28672×8192.
    static let prefetchDistance = 4096

    static func gemvRows64(_ w: NF4MatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           _ r0: Int, _ r1: Int) {
        let table = _mm512_loadu_ps(w.code)
        let nb = w.cols >> 6
        for r in r0..<r1 {
            var acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps()
            var b = r &* nb
            let bEnd = b &+ nb
            var p = w.packed + (b &* 32)
            var xp = x
            while b &+ 2 <= bEnd {
                qlora_prefetch_l1(p + prefetchDistance)
                let d0 = blockDot64(p, _mm512_loadu_ps(xp), _mm512_loadu_ps(xp + 16), _mm512_loadu_ps(xp + 32),
                                    _mm512_loadu_ps(xp + 48), table)
                let d1 = blockDot64(p + 32, _mm512_loadu_ps(xp + 64), _mm512_loadu_ps(xp + 80),
                                    _mm512_loadu_ps(xp + 96), _mm512_loadu_ps(xp + 112), table)
                acc0 = _mm512_fmadd_ps(d0, _mm512_set1_ps(w.scale(block: b)), acc0)
                acc1 = _mm512_fmadd_ps(d1, _mm512_set1_ps(w.scale(block: b &+ 1)), acc1)
                p += 64
                xp += 128
                b &+= 2
            }
            if b < bEnd {
                let d = blockDot64(p, _mm512_loadu_ps(xp), _mm512_loadu_ps(xp + 16), _mm512_loadu_ps(xp + 32),
                                   _mm512_loadu_ps(xp + 48), table)
                acc0 = _mm512_fmadd_ps(d, _mm512_set1_ps(w.scale(block: b)), acc0)
            }
            y[r] = hsum(_mm512_add_ps(acc0, acc1))
        }
    }

    /// dx[c] += Σ_r dy[r] · W[r, c] for columns c in [c0, c1) (multiples of 64; requires blocks of 64
    /// and cols % 64 == 0): the one-token input gradient. Columns go in chunks of 256 whose sixteen
    /// accumulators stay in registers while every row streams past (prefetched a few rows ahead);
    /// each row contributes `dy[r] · scale` times its decoded codes.
    public static func gemvTColumns64(_ w: NF4MatrixRef, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                      _ c0: Int, _ c1: Int) {
        let table = _mm512_loadu_ps(w.code)
        let nbRow = w.cols >> 6
        let rowBytes = nbRow &* 32
        var c = c0
        while c &+ 256 <= c1 {
            var a0 = _mm512_setzero_ps()
            var a1 = _mm512_setzero_ps()
            var a2 = _mm512_setzero_ps()
            var a3 = _mm512_setzero_ps()
            var a4 = _mm512_setzero_ps()
            var a5 = _mm512_setzero_ps()
            var a6 = _mm512_setzero_ps()
            var a7 = _mm512_setzero_ps()
            var a8 = _mm512_setzero_ps()
            var a9 = _mm512_setzero_ps()
            var a10 = _mm512_setzero_ps()
            var a11 = _mm512_setzero_ps()
            var a12 = _mm512_setzero_ps()
            var a13 = _mm512_setzero_ps()
            var a14 = _mm512_setzero_ps()
            var a15 = _mm512_setzero_ps()
            for r in 0..<w.rows {
                let b0 = r &* nbRow &+ (c >> 6)
                let p = w.packed + (b0 &* 32)
                qlora_prefetch_l1(p + 8 &* rowBytes)
                qlora_prefetch_l1(p + (8 &* rowBytes &+ 64))
                do {
                    let coef = _mm512_set1_ps(dy[r] * w.scale(block: b0 &+ 0))
                    let z0 = loadGroup(p + 0), z1 = loadGroup(p + 16)
                    a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z0, table), coef, a0)
                    a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z0, 4), table), coef, a1)
                    a2 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z1, table), coef, a2)
                    a3 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z1, 4), table), coef, a3)
                }
                do {
                    let coef = _mm512_set1_ps(dy[r] * w.scale(block: b0 &+ 1))
                    let z0 = loadGroup(p + 32), z1 = loadGroup(p + 48)
                    a4 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z0, table), coef, a4)
                    a5 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z0, 4), table), coef, a5)
                    a6 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z1, table), coef, a6)
                    a7 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z1, 4), table), coef, a7)
                }
                do {
                    let coef = _mm512_set1_ps(dy[r] * w.scale(block: b0 &+ 2))
                    let z0 = loadGroup(p + 64), z1 = loadGroup(p + 80)
                    a8 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z0, table), coef, a8)
                    a9 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z0, 4), table), coef, a9)
                    a10 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z1, table), coef, a10)
                    a11 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z1, 4), table), coef, a11)
                }
                do {
                    let coef = _mm512_set1_ps(dy[r] * w.scale(block: b0 &+ 3))
                    let z0 = loadGroup(p + 96), z1 = loadGroup(p + 112)
                    a12 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z0, table), coef, a12)
                    a13 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z0, 4), table), coef, a13)
                    a14 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z1, table), coef, a14)
                    a15 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z1, 4), table), coef, a15)
                }
            }
            _mm512_storeu_ps(dx + (c &+ 0), _mm512_add_ps(a0, _mm512_loadu_ps(dx + (c &+ 0))))
            _mm512_storeu_ps(dx + (c &+ 16), _mm512_add_ps(a1, _mm512_loadu_ps(dx + (c &+ 16))))
            _mm512_storeu_ps(dx + (c &+ 32), _mm512_add_ps(a2, _mm512_loadu_ps(dx + (c &+ 32))))
            _mm512_storeu_ps(dx + (c &+ 48), _mm512_add_ps(a3, _mm512_loadu_ps(dx + (c &+ 48))))
            _mm512_storeu_ps(dx + (c &+ 64), _mm512_add_ps(a4, _mm512_loadu_ps(dx + (c &+ 64))))
            _mm512_storeu_ps(dx + (c &+ 80), _mm512_add_ps(a5, _mm512_loadu_ps(dx + (c &+ 80))))
            _mm512_storeu_ps(dx + (c &+ 96), _mm512_add_ps(a6, _mm512_loadu_ps(dx + (c &+ 96))))
            _mm512_storeu_ps(dx + (c &+ 112), _mm512_add_ps(a7, _mm512_loadu_ps(dx + (c &+ 112))))
            _mm512_storeu_ps(dx + (c &+ 128), _mm512_add_ps(a8, _mm512_loadu_ps(dx + (c &+ 128))))
            _mm512_storeu_ps(dx + (c &+ 144), _mm512_add_ps(a9, _mm512_loadu_ps(dx + (c &+ 144))))
            _mm512_storeu_ps(dx + (c &+ 160), _mm512_add_ps(a10, _mm512_loadu_ps(dx + (c &+ 160))))
            _mm512_storeu_ps(dx + (c &+ 176), _mm512_add_ps(a11, _mm512_loadu_ps(dx + (c &+ 176))))
            _mm512_storeu_ps(dx + (c &+ 192), _mm512_add_ps(a12, _mm512_loadu_ps(dx + (c &+ 192))))
            _mm512_storeu_ps(dx + (c &+ 208), _mm512_add_ps(a13, _mm512_loadu_ps(dx + (c &+ 208))))
            _mm512_storeu_ps(dx + (c &+ 224), _mm512_add_ps(a14, _mm512_loadu_ps(dx + (c &+ 224))))
            _mm512_storeu_ps(dx + (c &+ 240), _mm512_add_ps(a15, _mm512_loadu_ps(dx + (c &+ 240))))
            c &+= 256
        }
        // Tail of fewer than 256 columns: 64 at a time.
        while c < c1 {
            var a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps()
            for r in 0..<w.rows {
                let b = r &* nbRow &+ (c >> 6)
                let p = w.packed + (b &* 32)
                let coef = _mm512_set1_ps(dy[r] * w.scale(block: b))
                let z0 = loadGroup(p), z1 = loadGroup(p + 16)
                a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z0, table), coef, a0)
                a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z0, 4), table), coef, a1)
                a2 = _mm512_fmadd_ps(_mm512_permutexvar_ps(z1, table), coef, a2)
                a3 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z1, 4), table), coef, a3)
            }
            _mm512_storeu_ps(dx + c, _mm512_add_ps(a0, _mm512_loadu_ps(dx + c)))
            _mm512_storeu_ps(dx + (c &+ 16), _mm512_add_ps(a1, _mm512_loadu_ps(dx + (c &+ 16))))
            _mm512_storeu_ps(dx + (c &+ 32), _mm512_add_ps(a2, _mm512_loadu_ps(dx + (c &+ 32))))
            _mm512_storeu_ps(dx + (c &+ 48), _mm512_add_ps(a3, _mm512_loadu_ps(dx + (c &+ 48))))
            c &+= 64
        }
    }

    /// Dequantizes W[r, c0 ..< c0 + count] (c0 and count multiples of 32) into `dst`, exactly
    /// `code[nibble] * scale` per element (bit-identical to bitsandbytes' dequantization).
    public static func dequantizeRowSegment(_ w: NF4MatrixRef, _ r: Int, _ c0: Int, _ count: Int,
                                            _ dst: UnsafeMutablePointer<Float>) {
        let table = _mm512_loadu_ps(w.code)
        var j = r &* w.cols &+ c0
        let end = j &+ count
        var out = dst
        while j < end {
            let b = j &>> w.blockShift
            let blockEnd = min(end, (b &+ 1) &* w.blockSize)
            let s = _mm512_set1_ps(w.scale(block: b))
            while j < blockEnd {
                let z = loadGroup(w.packed + (j >> 1))
                _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_permutexvar_ps(z, table), s))
                _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(z, 4), table), s))
                out += 32
                j &+= 32
            }
        }
    }
}
