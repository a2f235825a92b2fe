import _Builtin_intrinsics.intel

/// Loops that measure the machine's own limits for the roofline (AVX2: 8-lane FMAs).
public enum MachineProbeAVX2 {
    /// `iterations` × 12 independent 8-lane FMAs: 192 flops per iteration.
    @inline(never)
    public static func fmaLoop(_ iterations: Int, _ seed: Float) -> Float {
        let m = _mm256_set1_ps(0.999_999), a = _mm256_set1_ps(1e-7)
        var c0 = _mm256_set1_ps(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
        var c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
        for _ in 0..<iterations {
            c0 = _mm256_fmadd_ps(c0, m, a); c1 = _mm256_fmadd_ps(c1, m, a); c2 = _mm256_fmadd_ps(c2, m, a)
            c3 = _mm256_fmadd_ps(c3, m, a); c4 = _mm256_fmadd_ps(c4, m, a); c5 = _mm256_fmadd_ps(c5, m, a)
            c6 = _mm256_fmadd_ps(c6, m, a); c7 = _mm256_fmadd_ps(c7, m, a); c8 = _mm256_fmadd_ps(c8, m, a)
            c9 = _mm256_fmadd_ps(c9, m, a); c10 = _mm256_fmadd_ps(c10, m, a); c11 = _mm256_fmadd_ps(c11, m, a)
        }
        let s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                              _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)))
        let t = _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11))
        return unsafeBitCast(_mm256_add_ps(s, t), to: SIMD8<Float>.self).sum()
    }
}

extension MachineProbeAVX2 {
    /// Sums `count` floats (a multiple of 32) with four 8-lane accumulators: a read-bandwidth probe.
    @inline(never)
    public static func readSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = _mm256_setzero_ps(), b = a, c = a, d = a
        var i = 0
        while i < count {
            a = _mm256_add_ps(a, _mm256_loadu_ps(p + i)); b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8))
            c = _mm256_add_ps(c, _mm256_loadu_ps(p + i + 16)); d = _mm256_add_ps(d, _mm256_loadu_ps(p + i + 24))
            i &+= 32
        }
        return unsafeBitCast(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)), to: SIMD8<Float>.self).sum()
    }
}
