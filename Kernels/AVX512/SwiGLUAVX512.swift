import _Builtin_intrinsics.intel

/// The SwiGLU gate h = silu(g) ⊙ u and its gradient on 16 lanes, with `VectorMathAVX512.exp16`
/// (the scalar loops in the model's SwiGLU op call expf per element, single-threaded).
public enum SwiGLUAVX512 {
    /// out[i] = g / (1 + exp(−g)) · u (out may alias gate).
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>,
                               _ up: UnsafePointer<Float>, _ count: Int) -> Int {
        let one = _mm512_set1_ps(1), zero = _mm512_setzero_ps()
        var i = 0
        while i &+ 16 <= count {
            let g = _mm512_loadu_ps(gate + i)
            let e = VectorMathAVX512.exp16(_mm512_sub_ps(zero, g))
            _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_loadu_ps(up + i)))
            i &+= 16
        }
        return i
    }

    /// dgate += dh · u · σ(g)(1 + g(1 − σ(g))), dup += dh · g · σ(g).
    public static func backward(_ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>,
                                _ dh: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                                _ count: Int) -> Int {
        let one = _mm512_set1_ps(1), zero = _mm512_setzero_ps()
        var i = 0
        while i &+ 16 <= count {
            let g = _mm512_loadu_ps(gate + i), d = _mm512_loadu_ps(dh + i)
            let s = _mm512_div_ps(one, _mm512_add_ps(one, VectorMathAVX512.exp16(_mm512_sub_ps(zero, g))))
            let dg = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, _mm512_loadu_ps(up + i)), s),
                                   _mm512_add_ps(one, _mm512_mul_ps(g, _mm512_sub_ps(one, s))))
            _mm512_storeu_ps(dgate + i, _mm512_add_ps(_mm512_loadu_ps(dgate + i), dg))
            _mm512_storeu_ps(dup + i, _mm512_add_ps(_mm512_loadu_ps(dup + i), _mm512_mul_ps(_mm512_mul_ps(d, g), s)))
            i &+= 16
        }
        return i
    }
}
