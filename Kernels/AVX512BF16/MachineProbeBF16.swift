import CQLoRASupport
import _Builtin_intrinsics.intel

/// The bf16 dot-product peak for the roofline and for `--compute-dtype auto`.
public enum MachineProbeBF16 {
    /// `iterations` × 16 independent `vdpbf16ps` (latency hidden): 16 × 16 lanes × 2 products × 2
    /// flops = 1024 flops per iteration.
    @inline(never)
    public static func dotLoop(_ iterations: Int, _ seed: Float) -> Float {
        let a = _mm512_set1_epi32(0x3F80_3F80)   // (1.0, 1.0) in bf16
        let b = _mm512_set1_epi32(0x3380_3380)   // (≈6e-8, ≈6e-8)
        var c0 = _mm512_set1_ps(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        var c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0
        for _ in 0..<iterations {
            c0 = qlora_dpbf16_ps(c0, a, b); c1 = qlora_dpbf16_ps(c1, a, b); c2 = qlora_dpbf16_ps(c2, a, b)
            c3 = qlora_dpbf16_ps(c3, a, b); c4 = qlora_dpbf16_ps(c4, a, b); c5 = qlora_dpbf16_ps(c5, a, b)
            c6 = qlora_dpbf16_ps(c6, a, b); c7 = qlora_dpbf16_ps(c7, a, b); c8 = qlora_dpbf16_ps(c8, a, b)
            c9 = qlora_dpbf16_ps(c9, a, b); c10 = qlora_dpbf16_ps(c10, a, b); c11 = qlora_dpbf16_ps(c11, a, b)
            c12 = qlora_dpbf16_ps(c12, a, b); c13 = qlora_dpbf16_ps(c13, a, b); c14 = qlora_dpbf16_ps(c14, a, b)
            c15 = qlora_dpbf16_ps(c15, a, b)
        }
        let s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                              _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)))
        let t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                              _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15)))
        return unsafeBitCast(_mm512_add_ps(s, t), to: SIMD16<Float>.self).sum()
    }
}
