import _Builtin_intrinsics.intel

/// Vectorized exp for softmax rows (AVX-512): Cephes' expf reduction and polynomial
/// (|relative error| ≲ 2 ulp on the softmax range), 2^n applied with vscalefps.
public enum VectorMathAVX512 {
    @inline(__always)
    static func exp16(_ x0: __m512) -> __m512 {
        let x = _mm512_max_ps(_mm512_min_ps(x0, _mm512_set1_ps(88.376_26)), _mm512_set1_ps(-103.972_08))
        let n = _mm512_cvtepi32_ps(_mm512_cvtps_epi32(_mm512_mul_ps(x, _mm512_set1_ps(1.442_695_04))))  // nearest
        var r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_375), x)
        r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r)
        var p = _mm512_set1_ps(1.987_569_15e-4)
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.398_199_95e-3))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.333_451_9e-3))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166_579_59e-2))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166_666_65))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.500_000_01))
        let r2 = _mm512_mul_ps(r, r)
        let e = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1))
        return _mm512_scalef_ps(e, n)
    }

    /// x[i] = exp(x[i] − shift) in place for i < count (count % 16 == 0 handled in bulk, the rest
    /// scalar by the caller); returns Σ of the results.
    public static func expShiftedSum(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ shift: Float) -> Float {
        let s = _mm512_set1_ps(shift)
        var acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps()
        var i = 0
        while i &+ 32 <= count {
            let e0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s))
            let e1 = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + (i &+ 16)), s))
            _mm512_storeu_ps(x + i, e0)
            _mm512_storeu_ps(x + (i &+ 16), e1)
            acc0 = _mm512_add_ps(acc0, e0)
            acc1 = _mm512_add_ps(acc1, e1)
            i &+= 32
        }
        while i &+ 16 <= count {
            let e0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s))
            _mm512_storeu_ps(x + i, e0)
            acc0 = _mm512_add_ps(acc0, e0)
            i &+= 16
        }
        var total = unsafeBitCast(_mm512_add_ps(acc0, acc1), to: SIMD16<Float>.self).sum()
        while i < count {
            let e = unsafeBitCast(exp16(_mm512_set1_ps(x[i] - shift)), to: SIMD16<Float>.self)[0]
            x[i] = e
            total += e
            i &+= 1
        }
        return total
    }

    /// max of x[0..<count].
    public static func maximum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var m = _mm512_set1_ps(-.infinity)
        var i = 0
        while i &+ 16 <= count {
            m = _mm512_max_ps(m, _mm512_loadu_ps(x + i))
            i &+= 16
        }
        var r = unsafeBitCast(m, to: SIMD16<Float>.self).max()
        while i < count { r = max(r, x[i]); i &+= 1 }
        return r
    }
}
