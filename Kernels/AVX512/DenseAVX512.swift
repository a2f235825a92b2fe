import QLoRACore
import _Builtin_intrinsics.intel

/// Row kernels for dense Float32 / bfloat16 weights (embeddings and lm_head), AVX-512.
/// Requires cols % 16 == 0.
public enum DenseAVX512 {
    @inline(__always)
    static func load16(_ w: DenseMatrixRef, _ i: Int) -> __m512 {
        switch w.storage {
        case .f32: return _mm512_loadu_ps(w.data + 4 &* i)
        case .bf16:
            let h = _mm256_loadu_si256(UnsafeRawPointer(w.data + 2 &* i).assumingMemoryBound(to: __m256i_u.self))
            return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
        }
    }

    /// W[r, c0 ..< c0 + count] as Float32 into dst (count % 16 == 0).
    public static func rowSegment(_ w: DenseMatrixRef, _ r: Int, _ c0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        let base = r &* w.cols &+ c0
        var j = 0
        while j < count {
            _mm512_storeu_ps(dst + j, load16(w, base &+ j))
            j &+= 16
        }
    }

    /// y[r] = W[r, :] · x for r in [r0, r1).
    public static func gemvRows(_ w: DenseMatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ r0: Int, _ r1: Int) {
        for r in r0..<r1 {
            var a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps()
            let base = r &* w.cols
            var j = 0
            while j &+ 32 <= w.cols {
                a0 = _mm512_fmadd_ps(load16(w, base &+ j), _mm512_loadu_ps(x + j), a0)
                a1 = _mm512_fmadd_ps(load16(w, base &+ j &+ 16), _mm512_loadu_ps(x + (j &+ 16)), a1)
                j &+= 32
            }
            if j < w.cols { a0 = _mm512_fmadd_ps(load16(w, base &+ j), _mm512_loadu_ps(x + j), a0) }
            let h = unsafeBitCast(_mm512_add_ps(a0, a1), to: SIMD16<Float>.self)
            y[r] = (h.lowHalf + h.highHalf).sum()
        }
    }
}
