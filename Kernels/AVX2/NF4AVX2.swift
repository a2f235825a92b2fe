import CQLoRASupport
import QLoRACore
import _Builtin_intrinsics.intel

/// NF4 kernels for AVX2 + FMA (x86-64-v3): the same algorithms as `NF4AVX512` on 8-lane vectors.
/// A 16-entry lookup is two 8-entry `vpermps` (codes 0…7 and 8…15) blended on bit 3 of the index.
/// Requires `w.rowsAreGroupAligned`.
public enum NF4AVX2 {
    /// Decodes 8 indices (zero-extended bytes, index in bits 0…3 after `shift`) to code values.
    @inline(__always)
    static func lookup(_ idx: __m256i, _ lo: __m256, _ hi: __m256) -> __m256 {
        let a = _mm256_permutevar8x32_ps(lo, idx)
        let b = _mm256_permutevar8x32_ps(hi, idx)
        return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)))
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<UInt8>) -> __m256i {
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i_u.self)))
    }

    /// The 32 weights of group `g` as four vectors (elements 0…7, 8…15, 16…23, 24…31), unscaled.
    @inline(__always)
    static func decodeGroup(_ p: UnsafePointer<UInt8>, _ lo: __m256, _ hi: __m256) -> (__m256, __m256, __m256, __m256) {
        let z0 = load8(p), z1 = load8(p + 8)
        // The low nibble needs no mask: vpermps reads bits 0…2 and the blend bit 3 (shifted to bit 31).
        return (lookup(z0, lo, hi), lookup(z1, lo, hi),
                lookup(_mm256_srli_epi32(z0, 4), lo, hi), lookup(_mm256_srli_epi32(z1, 4), lo, hi))
    }

    @inline(__always)
    static func hsum(_ v: __m256) -> Float {
        let h = unsafeBitCast(v, to: SIMD8<Float>.self)
        return (h.lowHalf + h.highHalf).sum()
    }

    public static func gemvRows(_ w: NF4MatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ r0: Int, _ r1: Int) {
        if w.blockSize == 64 && w.cols & 63 == 0 {
            gemvRows64(w, x, y, r0, r1)
            return
        }
        let lo = _mm256_loadu_ps(w.code), hi = _mm256_loadu_ps(w.code + 8)
        let groupsPerRow = w.cols >> 5
        let groupsPerBlock = w.blockSize >> 5
        for r in r0..<r1 {
            var acc = _mm256_setzero_ps()
            var g = r &* groupsPerRow
            let gEnd = g &+ groupsPerRow
            var b = g / groupsPerBlock
            var left = groupsPerBlock &- (g &- b &* groupsPerBlock)
            var xp = x
            while g < gEnd {
                let n = min(left, gEnd &- g)
                var s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps()
                for _ in 0..<n {
                    let (v0, v1, v2, v3) = decodeGroup(w.packed + 16 &* g, lo, hi)
                    s0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(xp), s0)
                    s1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(xp + 8), s1)
                    s0 = _mm256_fmadd_ps(v2, _mm256_loadu_ps(xp + 16), s0)
                    s1 = _mm256_fmadd_ps(v3, _mm256_loadu_ps(xp + 24), s1)
                    xp += 32
                    g &+= 1
                }
                acc = _mm256_fmadd_ps(_mm256_add_ps(s0, s1), _mm256_set1_ps(w.scale(block: b)), acc)
                b &+= 1
                left = groupsPerBlock
            }
            y[r] = hsum(acc)
        }
    }

    /// Σ over one 64-element block (two groups) of code · x, unscaled.
    @inline(__always)
    static func blockDot64(_ p: UnsafePointer<UInt8>, _ xp: UnsafePointer<Float>, _ lo: __m256, _ hi: __m256) -> __m256 {
        let z0 = load8(p), z1 = load8(p + 8), z2 = load8(p + 16), z3 = load8(p + 24)
        var a = _mm256_mul_ps(lookup(z0, lo, hi), _mm256_loadu_ps(xp))
        var b = _mm256_mul_ps(lookup(z1, lo, hi), _mm256_loadu_ps(xp + 8))
        a = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z0, 4), lo, hi), _mm256_loadu_ps(xp + 16), a)
        b = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z1, 4), lo, hi), _mm256_loadu_ps(xp + 24), b)
        a = _mm256_fmadd_ps(lookup(z2, lo, hi), _mm256_loadu_ps(xp + 32), a)
        b = _mm256_fmadd_ps(lookup(z3, lo, hi), _mm256_loadu_ps(xp + 40), b)
        a = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z2, 4), lo, hi), _mm256_loadu_ps(xp + 48), a)
        b = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z3, 4), lo, hi), _mm256_loadu_ps(xp + 56), b)
        return _mm256_add_ps(a, b)
    }

    /// Bytes ahead of the current block that GEMV prefetches, per row stream (measured on 4096², forced
    /// AVX2 on Zen 4: 2 KiB beat 512 B; two rows per pass beat one and four).
    static let prefetchDistance = 2048

    /// Blocks of 64 that start every row (cols % 64 == 0): two rows per pass share each x load, each
    /// row stream prefetched ahead.
    static func gemvRows64(_ w: NF4MatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           _ r0: Int, _ r1: Int) {
        let lo = _mm256_loadu_ps(w.code), hi = _mm256_loadu_ps(w.code + 8)
        let nb = w.cols >> 6
        let rowBytes = nb &* 32
        var r = r0
        while r &+ 2 <= r1 {
            var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
            let p0 = w.packed + r &* rowBytes
            let b0 = r &* nb
            for b in 0..<nb {
                let p = p0 + 32 &* b
                qlora_prefetch_l1(p + prefetchDistance)
                qlora_prefetch_l1(p + (rowBytes &+ prefetchDistance))
                let xp = x + 64 &* b
                acc0 = _mm256_fmadd_ps(blockDot64(p, xp, lo, hi), _mm256_set1_ps(w.scale(block: b0 &+ b)), acc0)
                acc1 = _mm256_fmadd_ps(blockDot64(p + rowBytes, xp, lo, hi),
                                       _mm256_set1_ps(w.scale(block: b0 &+ nb &+ b)), acc1)
            }
            y[r] = hsum(acc0); y[r &+ 1] = hsum(acc1)
            r &+= 2
        }
        while r < r1 {
            var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
            let p0 = w.packed + r &* rowBytes
            let b0 = r &* nb
            var b = 0
            while b &+ 2 <= nb {
                let p = p0 + 32 &* b
                qlora_prefetch_l1(p + prefetchDistance)
                acc0 = _mm256_fmadd_ps(blockDot64(p, x + 64 &* b, lo, hi), _mm256_set1_ps(w.scale(block: b0 &+ b)), acc0)
                acc1 = _mm256_fmadd_ps(blockDot64(p + 32, x + 64 &* (b &+ 1), lo, hi),
                                       _mm256_set1_ps(w.scale(block: b0 &+ b &+ 1)), acc1)
                b &+= 2
            }
            if b < nb {
                acc0 = _mm256_fmadd_ps(blockDot64(p0 + 32 &* b, x + 64 &* b, lo, hi),
                                       _mm256_set1_ps(w.scale(block: b0 &+ b)), acc0)
            }
            y[r] = hsum(_mm256_add_ps(acc0, acc1))
            r &+= 1
        }
    }

    /// dx[c] += Σ_r dy[r] · W[r, c] for columns c in [c0, c1) (multiples of 64; requires blocks of 64
    /// and cols % 64 == 0): the one-token input gradient. 64 columns at a time in eight accumulators
    /// while every row streams past (prefetched 24 rows ahead: each row is only 32 bytes of work); each row adds `dy[r] · scale` times
    /// its decoded codes. The other half of each 128-byte pair of rows' lines is still in L2 when the
    /// next 64 columns come by.
    public static func gemvTColumns64(_ w: NF4MatrixRef, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                      _ c0: Int, _ c1: Int) {
        let lo = _mm256_loadu_ps(w.code), hi = _mm256_loadu_ps(w.code + 8)
        let nbRow = w.cols >> 6
        let rowBytes = nbRow &* 32
        var c = c0
        while c < c1 {
            var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps()
            var a4 = _mm256_setzero_ps(), a5 = _mm256_setzero_ps(), a6 = _mm256_setzero_ps(), a7 = _mm256_setzero_ps()
            var b = c >> 6
            var p = w.packed + (b &* 32)
            for r in 0..<w.rows {
                qlora_prefetch_l1(p + 24 &* rowBytes)
                let coef = _mm256_set1_ps(dy[r] * w.scale(block: b))
                let z0 = load8(p), z1 = load8(p + 8), z2 = load8(p + 16), z3 = load8(p + 24)
                a0 = _mm256_fmadd_ps(lookup(z0, lo, hi), coef, a0)
                a1 = _mm256_fmadd_ps(lookup(z1, lo, hi), coef, a1)
                a2 = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z0, 4), lo, hi), coef, a2)
                a3 = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z1, 4), lo, hi), coef, a3)
                a4 = _mm256_fmadd_ps(lookup(z2, lo, hi), coef, a4)
                a5 = _mm256_fmadd_ps(lookup(z3, lo, hi), coef, a5)
                a6 = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z2, 4), lo, hi), coef, a6)
                a7 = _mm256_fmadd_ps(lookup(_mm256_srli_epi32(z3, 4), lo, hi), coef, a7)
                b &+= nbRow
                p += rowBytes
            }
            _mm256_storeu_ps(dx + c, _mm256_add_ps(a0, _mm256_loadu_ps(dx + c)))
            _mm256_storeu_ps(dx + (c &+ 8), _mm256_add_ps(a1, _mm256_loadu_ps(dx + (c &+ 8))))
            _mm256_storeu_ps(dx + (c &+ 16), _mm256_add_ps(a2, _mm256_loadu_ps(dx + (c &+ 16))))
            _mm256_storeu_ps(dx + (c &+ 24), _mm256_add_ps(a3, _mm256_loadu_ps(dx + (c &+ 24))))
            _mm256_storeu_ps(dx + (c &+ 32), _mm256_add_ps(a4, _mm256_loadu_ps(dx + (c &+ 32))))
            _mm256_storeu_ps(dx + (c &+ 40), _mm256_add_ps(a5, _mm256_loadu_ps(dx + (c &+ 40))))
            _mm256_storeu_ps(dx + (c &+ 48), _mm256_add_ps(a6, _mm256_loadu_ps(dx + (c &+ 48))))
            _mm256_storeu_ps(dx + (c &+ 56), _mm256_add_ps(a7, _mm256_loadu_ps(dx + (c &+ 56))))
            c &+= 64
        }
    }

    public static func dequantizeRowSegment(_ w: NF4MatrixRef, _ r: Int, _ c0: Int, _ count: Int,
                                            _ dst: UnsafeMutablePointer<Float>) {
        let lo = _mm256_loadu_ps(w.code), hi = _mm256_loadu_ps(w.code + 8)
        var j = r &* w.cols &+ c0
        let end = j &+ count
        var out = dst
        while j < end {
            let b = j &>> w.blockShift
            let blockEnd = min(end, (b &+ 1) &* w.blockSize)
            let s = _mm256_set1_ps(w.scale(block: b))
            while j < blockEnd {
                let (v0, v1, v2, v3) = decodeGroup(w.packed + (j >> 1), lo, hi)
                _mm256_storeu_ps(out, _mm256_mul_ps(v0, s)); _mm256_storeu_ps(out + 8, _mm256_mul_ps(v1, s))
                _mm256_storeu_ps(out + 16, _mm256_mul_ps(v2, s)); _mm256_storeu_ps(out + 24, _mm256_mul_ps(v3, s))
                out += 32
                j &+= 32
            }
        }
    }
}
