import _Builtin_intrinsics.intel

/// Vectorized exp for softmax rows (AVX2 + FMA): the AVX-512 path's Cephes reduction and polynomial
/// on 8 lanes. AVX2 has no `vscalefps`, so 2^n is built in the exponent field, in two halves
/// (2^⌊n/2⌋ · 2^(n−⌊n/2⌋)) so results down to the denormal range (n ≥ −150) stay exact.
public enum VectorMathAVX2 {
    @inline(__always)
    static func exp8(_ x0: __m256) -> __m256 {
        let x = _mm256_max_ps(_mm256_min_ps(x0, _mm256_set1_ps(88.376_26)), _mm256_set1_ps(-103.972_08))
        let ni = _mm256_cvtps_epi32(_mm256_mul_ps(x, _mm256_set1_ps(1.442_695_04)))  // nearest
        let n = _mm256_cvtepi32_ps(ni)
        var r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_375), x)
        r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r)
        var p = _mm256_set1_ps(1.987_569_15e-4)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_95e-3))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_451_9e-3))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_59e-2))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.166_666_65))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.500_000_01))
        let r2 = _mm256_mul_ps(r, r)
        let e = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1))
        let n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1)
        let bias = _mm256_set1_epi32(127)
        let s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23))
        let s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23))
        return _mm256_mul_ps(_mm256_mul_ps(e, s1), s2)
    }

    /// x[i] = exp(x[i] − shift) in place for i < count; returns Σ of the results.
    public static func expShiftedSum(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ shift: Float) -> Float {
        let s = _mm256_set1_ps(shift)
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        var i = 0
        while i &+ 16 <= count {
            let e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s))
            let e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + (i &+ 8)), s))
            _mm256_storeu_ps(x + i, e0)
            _mm256_storeu_ps(x + (i &+ 8), e1)
            acc0 = _mm256_add_ps(acc0, e0)
            acc1 = _mm256_add_ps(acc1, e1)
            i &+= 16
        }
        while i &+ 8 <= count {
            let e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s))
            _mm256_storeu_ps(x + i, e0)
            acc0 = _mm256_add_ps(acc0, e0)
            i &+= 8
        }
        var total = unsafeBitCast(_mm256_add_ps(acc0, acc1), to: SIMD8<Float>.self).sum()
        while i < count {
            let e = unsafeBitCast(exp8(_mm256_set1_ps(x[i] - shift)), to: SIMD8<Float>.self)[0]
            x[i] = e
            total += e
            i &+= 1
        }
        return total
    }

    /// max of x[0..<count].
    public static func maximum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var m0 = _mm256_set1_ps(-.infinity), m1 = m0
        var i = 0
        while i &+ 16 <= count {
            m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i))
            m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + (i &+ 8)))
            i &+= 16
        }
        var r = unsafeBitCast(_mm256_max_ps(m0, m1), to: SIMD8<Float>.self).max()
        while i < count { r = max(r, x[i]); i &+= 1 }
        return r
    }
}
