import _Builtin_intrinsics.intel

/// The SwiGLU gate h = silu(g) ⊙ u and its gradient on 8 lanes, with `VectorMathAVX2.exp8`
/// (the scalar loops in the model's SwiGLU op call expf per element, single-threaded).
public enum SwiGLUAVX2 {
    /// out[i] = g / (1 + exp(−g)) · u (out may alias gate).
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>,
                               _ up: UnsafePointer<Float>, _ count: Int) -> Int {
        let one = _mm256_set1_ps(1), zero = _mm256_setzero_ps()
        var i = 0
        while i &+ 8 <= count {
            let g = _mm256_loadu_ps(gate + i)
            let e = VectorMathAVX2.exp8(_mm256_sub_ps(zero, g))
            _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)))
            i &+= 8
        }
        return i
    }

    /// dgate += dh · u · σ(g)(1 + g(1 − σ(g))), dup += dh · g · σ(g).
    public static func backward(_ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>,
                                _ dh: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                                _ count: Int) -> Int {
        let one = _mm256_set1_ps(1), zero = _mm256_setzero_ps()
        var i = 0
        while i &+ 8 <= count {
            let g = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dh + i)
            let s = _mm256_div_ps(one, _mm256_add_ps(one, VectorMathAVX2.exp8(_mm256_sub_ps(zero, g))))
            let dg = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), s),
                                   _mm256_add_ps(one, _mm256_mul_ps(g, _mm256_sub_ps(one, s))))
            _mm256_storeu_ps(dgate + i, _mm256_add_ps(_mm256_loadu_ps(dgate + i), dg))
            _mm256_storeu_ps(dup + i, _mm256_add_ps(_mm256_loadu_ps(dup + i), _mm256_mul_ps(_mm256_mul_ps(d, g), s)))
            i &+= 8
        }
        return i
    }
}
