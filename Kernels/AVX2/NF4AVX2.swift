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
