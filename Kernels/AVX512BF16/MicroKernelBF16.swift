import QLoRACore
import CQLoRASupport
import _Builtin_intrinsics.intel

/// Register-blocked bf16 micro-kernels (AVX512-BF16, `vdpbf16ps`): the same tile shapes as
/// `MicroKernelAVX512`'s Float32 ones, but every step reduces a *pair* of bf16 products into each
/// Float32 lane, so a tile does twice the work per instruction. Operands are bf16 pairs packed in
/// UInt32 (element 2p in the low half, 2p+1 in the high half). Generated shape, written out so every
/// accumulator stays in a register. Call only when `CPUFeatures.current.hasAVX512BF16`.
public enum MicroKernelBF16 {
    @inline(__always)
    static func pair(_ p: UnsafePointer<UInt32>) -> __m512i { _mm512_set1_epi32(Int32(bitPattern: p.pointee)) }

    @inline(__always)
    static func load(_ p: UnsafePointer<UInt32>) -> __m512i { _mm512_loadu_si512(UnsafeRawPointer(p)) }

    /// Transposed-product tile, vectorized along the output column: for i < 12,
    /// `dx[i·lddx + 0..<32] += Σ_p ⟨dy[i·lddy + 2p ..< 2p+2], panel[32p + 0..<32]⟩`.
    ///
    /// - dy: 12 rows of bf16 dY (stride `lddy` bf16 elements, even), starting at an even reduction
    ///   offset; panel: W rows paired [np][32] (W[2p, c], W[2p+1, c]) for this column tile; np: pairs.
    @inline(__always)
    public static func transposed12x32(_ dy: UnsafePointer<UInt16>, _ lddy: Int, _ panel: UnsafePointer<UInt32>, _ np: Int,
                                       _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm512_setzero_ps(), c0b = _mm512_setzero_ps()
        var c1a = _mm512_setzero_ps(), c1b = _mm512_setzero_ps()
        var c2a = _mm512_setzero_ps(), c2b = _mm512_setzero_ps()
        var c3a = _mm512_setzero_ps(), c3b = _mm512_setzero_ps()
        var c4a = _mm512_setzero_ps(), c4b = _mm512_setzero_ps()
        var c5a = _mm512_setzero_ps(), c5b = _mm512_setzero_ps()
        var c6a = _mm512_setzero_ps(), c6b = _mm512_setzero_ps()
        var c7a = _mm512_setzero_ps(), c7b = _mm512_setzero_ps()
        var c8a = _mm512_setzero_ps(), c8b = _mm512_setzero_ps()
        var c9a = _mm512_setzero_ps(), c9b = _mm512_setzero_ps()
        var c10a = _mm512_setzero_ps(), c10b = _mm512_setzero_ps()
        var c11a = _mm512_setzero_ps(), c11b = _mm512_setzero_ps()
        let d0 = UnsafeRawPointer(dy + 0 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d1 = UnsafeRawPointer(dy + 1 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d2 = UnsafeRawPointer(dy + 2 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d3 = UnsafeRawPointer(dy + 3 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d4 = UnsafeRawPointer(dy + 4 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d5 = UnsafeRawPointer(dy + 5 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d6 = UnsafeRawPointer(dy + 6 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d7 = UnsafeRawPointer(dy + 7 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d8 = UnsafeRawPointer(dy + 8 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d9 = UnsafeRawPointer(dy + 9 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d10 = UnsafeRawPointer(dy + 10 &* lddy).assumingMemoryBound(to: UInt32.self)
        let d11 = UnsafeRawPointer(dy + 11 &* lddy).assumingMemoryBound(to: UInt32.self)
        var q = panel
        for p in 0..<np {
            let b0 = load(q), b1 = load(q + 16)
            let a0 = pair(d0 + p)
            c0a = qlora_dpbf16_ps(c0a, a0, b0); c0b = qlora_dpbf16_ps(c0b, a0, b1)
            let a1 = pair(d1 + p)
            c1a = qlora_dpbf16_ps(c1a, a1, b0); c1b = qlora_dpbf16_ps(c1b, a1, b1)
            let a2 = pair(d2 + p)
            c2a = qlora_dpbf16_ps(c2a, a2, b0); c2b = qlora_dpbf16_ps(c2b, a2, b1)
            let a3 = pair(d3 + p)
            c3a = qlora_dpbf16_ps(c3a, a3, b0); c3b = qlora_dpbf16_ps(c3b, a3, b1)
            let a4 = pair(d4 + p)
            c4a = qlora_dpbf16_ps(c4a, a4, b0); c4b = qlora_dpbf16_ps(c4b, a4, b1)
            let a5 = pair(d5 + p)
            c5a = qlora_dpbf16_ps(c5a, a5, b0); c5b = qlora_dpbf16_ps(c5b, a5, b1)
            let a6 = pair(d6 + p)
            c6a = qlora_dpbf16_ps(c6a, a6, b0); c6b = qlora_dpbf16_ps(c6b, a6, b1)
            let a7 = pair(d7 + p)
            c7a = qlora_dpbf16_ps(c7a, a7, b0); c7b = qlora_dpbf16_ps(c7b, a7, b1)
            let a8 = pair(d8 + p)
            c8a = qlora_dpbf16_ps(c8a, a8, b0); c8b = qlora_dpbf16_ps(c8b, a8, b1)
            let a9 = pair(d9 + p)
            c9a = qlora_dpbf16_ps(c9a, a9, b0); c9b = qlora_dpbf16_ps(c9b, a9, b1)
            let a10 = pair(d10 + p)
            c10a = qlora_dpbf16_ps(c10a, a10, b0); c10b = qlora_dpbf16_ps(c10b, a10, b1)
            let a11 = pair(d11 + p)
            c11a = qlora_dpbf16_ps(c11a, a11, b0); c11b = qlora_dpbf16_ps(c11b, a11, b1)
            q += 32
        }
        _mm512_storeu_ps(dx + 0 &* lddx, _mm512_add_ps(c0a, _mm512_loadu_ps(dx + 0 &* lddx)))
        _mm512_storeu_ps(dx + 0 &* lddx + 16, _mm512_add_ps(c0b, _mm512_loadu_ps(dx + 0 &* lddx + 16)))
        _mm512_storeu_ps(dx + 1 &* lddx, _mm512_add_ps(c1a, _mm512_loadu_ps(dx + 1 &* lddx)))
        _mm512_storeu_ps(dx + 1 &* lddx + 16, _mm512_add_ps(c1b, _mm512_loadu_ps(dx + 1 &* lddx + 16)))
        _mm512_storeu_ps(dx + 2 &* lddx, _mm512_add_ps(c2a, _mm512_loadu_ps(dx + 2 &* lddx)))
        _mm512_storeu_ps(dx + 2 &* lddx + 16, _mm512_add_ps(c2b, _mm512_loadu_ps(dx + 2 &* lddx + 16)))
        _mm512_storeu_ps(dx + 3 &* lddx, _mm512_add_ps(c3a, _mm512_loadu_ps(dx + 3 &* lddx)))
        _mm512_storeu_ps(dx + 3 &* lddx + 16, _mm512_add_ps(c3b, _mm512_loadu_ps(dx + 3 &* lddx + 16)))
        _mm512_storeu_ps(dx + 4 &* lddx, _mm512_add_ps(c4a, _mm512_loadu_ps(dx + 4 &* lddx)))
        _mm512_storeu_ps(dx + 4 &* lddx + 16, _mm512_add_ps(c4b, _mm512_loadu_ps(dx + 4 &* lddx + 16)))
        _mm512_storeu_ps(dx + 5 &* lddx, _mm512_add_ps(c5a, _mm512_loadu_ps(dx + 5 &* lddx)))
        _mm512_storeu_ps(dx + 5 &* lddx + 16, _mm512_add_ps(c5b, _mm512_loadu_ps(dx + 5 &* lddx + 16)))
        _mm512_storeu_ps(dx + 6 &* lddx, _mm512_add_ps(c6a, _mm512_loadu_ps(dx + 6 &* lddx)))
        _mm512_storeu_ps(dx + 6 &* lddx + 16, _mm512_add_ps(c6b, _mm512_loadu_ps(dx + 6 &* lddx + 16)))
        _mm512_storeu_ps(dx + 7 &* lddx, _mm512_add_ps(c7a, _mm512_loadu_ps(dx + 7 &* lddx)))
        _mm512_storeu_ps(dx + 7 &* lddx + 16, _mm512_add_ps(c7b, _mm512_loadu_ps(dx + 7 &* lddx + 16)))
        _mm512_storeu_ps(dx + 8 &* lddx, _mm512_add_ps(c8a, _mm512_loadu_ps(dx + 8 &* lddx)))
        _mm512_storeu_ps(dx + 8 &* lddx + 16, _mm512_add_ps(c8b, _mm512_loadu_ps(dx + 8 &* lddx + 16)))
        _mm512_storeu_ps(dx + 9 &* lddx, _mm512_add_ps(c9a, _mm512_loadu_ps(dx + 9 &* lddx)))
        _mm512_storeu_ps(dx + 9 &* lddx + 16, _mm512_add_ps(c9b, _mm512_loadu_ps(dx + 9 &* lddx + 16)))
        _mm512_storeu_ps(dx + 10 &* lddx, _mm512_add_ps(c10a, _mm512_loadu_ps(dx + 10 &* lddx)))
        _mm512_storeu_ps(dx + 10 &* lddx + 16, _mm512_add_ps(c10b, _mm512_loadu_ps(dx + 10 &* lddx + 16)))
        _mm512_storeu_ps(dx + 11 &* lddx, _mm512_add_ps(c11a, _mm512_loadu_ps(dx + 11 &* lddx)))
        _mm512_storeu_ps(dx + 11 &* lddx + 16, _mm512_add_ps(c11b, _mm512_loadu_ps(dx + 11 &* lddx + 16)))
    }

    /// The row tail of `transposed12x32`: one row at a time.
    @inline(__always)
    public static func transposedRowx32(_ dy: UnsafePointer<UInt16>, _ panel: UnsafePointer<UInt32>, _ np: Int,
                                        _ dx: UnsafeMutablePointer<Float>) {
        var ca = _mm512_setzero_ps(), cb = _mm512_setzero_ps()
        let d = UnsafeRawPointer(dy).assumingMemoryBound(to: UInt32.self)
        var q = panel
        for p in 0..<np {
            let a = pair(d + p)
            ca = qlora_dpbf16_ps(ca, a, load(q)); cb = qlora_dpbf16_ps(cb, a, load(q + 16))
            q += 32
        }
        _mm512_storeu_ps(dx, _mm512_add_ps(ca, _mm512_loadu_ps(dx)))
        _mm512_storeu_ps(dx + 16, _mm512_add_ps(cb, _mm512_loadu_ps(dx + 16)))
    }
}
