import QLoRACore
import _Builtin_intrinsics.intel

/// Row kernels for dense Float32 / bfloat16 weights, AVX2. Requires cols % 16 == 0.
public enum DenseAVX2 {
    @inline(__always)
    static func load8(_ w: DenseMatrixRef, _ i: Int) -> __m256 {
        switch w.storage {
        case .f32: return _mm256_loadu_ps(w.data.assumingMemoryBound(to: Float.self) + i)
        case .bf16:
            let h = _mm_loadu_si128(UnsafeRawPointer(w.data + 2 &* i).assumingMemoryBound(to: __m128i_u.self))
            return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
        }
    }

    public static func rowSegment(_ w: DenseMatrixRef, _ r: Int, _ c0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        let base = r &* w.cols &+ c0
        var j = 0
        while j < count {
            _mm256_storeu_ps(dst + j, load8(w, base &+ j))
            j &+= 8
        }
    }

    public static func gemvRows(_ w: DenseMatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ r0: Int, _ r1: Int) {
        for r in r0..<r1 {
            var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps()
            let base = r &* w.cols
            var j = 0
            while j &+ 16 <= w.cols {
                a0 = _mm256_fmadd_ps(load8(w, base &+ j), _mm256_loadu_ps(x + j), a0)
                a1 = _mm256_fmadd_ps(load8(w, base &+ j &+ 8), _mm256_loadu_ps(x + (j &+ 8)), a1)
                j &+= 16
            }
            let h = unsafeBitCast(_mm256_add_ps(a0, a1), to: SIMD8<Float>.self)
            y[r] = (h.lowHalf + h.highHalf).sum()
        }
    }
}
