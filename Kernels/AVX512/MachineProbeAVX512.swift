import _Builtin_intrinsics.intel

/// Loops that measure the machine's own limits for the roofline.
public enum MachineProbeAVX512 {
    /// `iterations` × 16 independent 16-lane FMAs (latency hidden): 512 flops per iteration.
    @inline(never)
    public static func fmaLoop(_ iterations: Int, _ seed: Float) -> Float {
        let m = _mm512_set1_ps(0.999_999), a = _mm512_set1_ps(1e-7)
        var c0 = _mm512_set1_ps(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        var c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0
        for _ in 0..<iterations {
            c0 = _mm512_fmadd_ps(c0, m, a); c1 = _mm512_fmadd_ps(c1, m, a); c2 = _mm512_fmadd_ps(c2, m, a)
            c3 = _mm512_fmadd_ps(c3, m, a); c4 = _mm512_fmadd_ps(c4, m, a); c5 = _mm512_fmadd_ps(c5, m, a)
            c6 = _mm512_fmadd_ps(c6, m, a); c7 = _mm512_fmadd_ps(c7, m, a); c8 = _mm512_fmadd_ps(c8, m, a)
            c9 = _mm512_fmadd_ps(c9, m, a); c10 = _mm512_fmadd_ps(c10, m, a); c11 = _mm512_fmadd_ps(c11, m, a)
            c12 = _mm512_fmadd_ps(c12, m, a); c13 = _mm512_fmadd_ps(c13, m, a); c14 = _mm512_fmadd_ps(c14, m, a)
            c15 = _mm512_fmadd_ps(c15, m, a)
        }
        let s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                              _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)))
        let t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                              _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15)))
        return unsafeBitCast(_mm512_add_ps(s, t), to: SIMD16<Float>.self).sum()
    }

    /// Sums `count` floats (a multiple of 64) with four 16-lane accumulators: a read-bandwidth probe.
    @inline(never)
    public static func readSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = _mm512_setzero_ps(), b = a, c = a, d = a
        var i = 0
        while i < count {
            a = _mm512_add_ps(a, _mm512_loadu_ps(p + i)); b = _mm512_add_ps(b, _mm512_loadu_ps(p + i + 16))
            c = _mm512_add_ps(c, _mm512_loadu_ps(p + i + 32)); d = _mm512_add_ps(d, _mm512_loadu_ps(p + i + 48))
            i &+= 64
        }
        return unsafeBitCast(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)), to: SIMD16<Float>.self).sum()
    }
}
