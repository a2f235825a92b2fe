import QLoRACore
import _Builtin_intrinsics.intel

/// Register-blocked Float32 micro-kernels for AVX-512 (32 of the 32 zmm registers budgeted:
/// 24 accumulators, 2 operands, 1 broadcast). Generated shape, written out so the compiler keeps
/// every accumulator in a register.
public enum MicroKernelAVX512 {
    /// Forward tile, vectorized along m: for j < 12, `yt[j·ldyt + 0..<32] (+)= Σ_k wp[j·ldw + k] · xt[32k + 0..<32]`.
    ///
    /// - xt: packed Xᵀ sliver [kc][32] (32 rows of X, k-major); wp: 12 rows of dequantized W, row stride
    ///   `ldw`; yt: Yᵀ tile rows (stride `ldyt`), overwritten when `accumulate` is false.
    @inline(__always)
    public static func forward32x12(_ xt: UnsafePointer<Float>, _ wp: UnsafePointer<Float>, _ ldw: Int, _ kc: Int,
                                    _ yt: UnsafeMutablePointer<Float>, _ ldyt: Int, _ accumulate: Bool) {
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
        let w0 = wp + 0 &* ldw
        let w1 = wp + 1 &* ldw
        let w2 = wp + 2 &* ldw
        let w3 = wp + 3 &* ldw
        let w4 = wp + 4 &* ldw
        let w5 = wp + 5 &* ldw
        let w6 = wp + 6 &* ldw
        let w7 = wp + 7 &* ldw
        let w8 = wp + 8 &* ldw
        let w9 = wp + 9 &* ldw
        let w10 = wp + 10 &* ldw
        let w11 = wp + 11 &* ldw
        var x = xt
        for k in 0..<kc {
            let a0 = _mm512_loadu_ps(x), a1 = _mm512_loadu_ps(x + 16)
            let b0 = _mm512_set1_ps(w0[k])
            c0a = _mm512_fmadd_ps(a0, b0, c0a); c0b = _mm512_fmadd_ps(a1, b0, c0b)
            let b1 = _mm512_set1_ps(w1[k])
            c1a = _mm512_fmadd_ps(a0, b1, c1a); c1b = _mm512_fmadd_ps(a1, b1, c1b)
            let b2 = _mm512_set1_ps(w2[k])
            c2a = _mm512_fmadd_ps(a0, b2, c2a); c2b = _mm512_fmadd_ps(a1, b2, c2b)
            let b3 = _mm512_set1_ps(w3[k])
            c3a = _mm512_fmadd_ps(a0, b3, c3a); c3b = _mm512_fmadd_ps(a1, b3, c3b)
            let b4 = _mm512_set1_ps(w4[k])
            c4a = _mm512_fmadd_ps(a0, b4, c4a); c4b = _mm512_fmadd_ps(a1, b4, c4b)
            let b5 = _mm512_set1_ps(w5[k])
            c5a = _mm512_fmadd_ps(a0, b5, c5a); c5b = _mm512_fmadd_ps(a1, b5, c5b)
            let b6 = _mm512_set1_ps(w6[k])
            c6a = _mm512_fmadd_ps(a0, b6, c6a); c6b = _mm512_fmadd_ps(a1, b6, c6b)
            let b7 = _mm512_set1_ps(w7[k])
            c7a = _mm512_fmadd_ps(a0, b7, c7a); c7b = _mm512_fmadd_ps(a1, b7, c7b)
            let b8 = _mm512_set1_ps(w8[k])
            c8a = _mm512_fmadd_ps(a0, b8, c8a); c8b = _mm512_fmadd_ps(a1, b8, c8b)
            let b9 = _mm512_set1_ps(w9[k])
            c9a = _mm512_fmadd_ps(a0, b9, c9a); c9b = _mm512_fmadd_ps(a1, b9, c9b)
            let b10 = _mm512_set1_ps(w10[k])
            c10a = _mm512_fmadd_ps(a0, b10, c10a); c10b = _mm512_fmadd_ps(a1, b10, c10b)
            let b11 = _mm512_set1_ps(w11[k])
            c11a = _mm512_fmadd_ps(a0, b11, c11a); c11b = _mm512_fmadd_ps(a1, b11, c11b)
            x += 32
        }
        if accumulate {
            c0a = _mm512_add_ps(c0a, _mm512_loadu_ps(yt + 0 &* ldyt)); c0b = _mm512_add_ps(c0b, _mm512_loadu_ps(yt + 0 &* ldyt + 16))
            c1a = _mm512_add_ps(c1a, _mm512_loadu_ps(yt + 1 &* ldyt)); c1b = _mm512_add_ps(c1b, _mm512_loadu_ps(yt + 1 &* ldyt + 16))
            c2a = _mm512_add_ps(c2a, _mm512_loadu_ps(yt + 2 &* ldyt)); c2b = _mm512_add_ps(c2b, _mm512_loadu_ps(yt + 2 &* ldyt + 16))
            c3a = _mm512_add_ps(c3a, _mm512_loadu_ps(yt + 3 &* ldyt)); c3b = _mm512_add_ps(c3b, _mm512_loadu_ps(yt + 3 &* ldyt + 16))
            c4a = _mm512_add_ps(c4a, _mm512_loadu_ps(yt + 4 &* ldyt)); c4b = _mm512_add_ps(c4b, _mm512_loadu_ps(yt + 4 &* ldyt + 16))
            c5a = _mm512_add_ps(c5a, _mm512_loadu_ps(yt + 5 &* ldyt)); c5b = _mm512_add_ps(c5b, _mm512_loadu_ps(yt + 5 &* ldyt + 16))
            c6a = _mm512_add_ps(c6a, _mm512_loadu_ps(yt + 6 &* ldyt)); c6b = _mm512_add_ps(c6b, _mm512_loadu_ps(yt + 6 &* ldyt + 16))
            c7a = _mm512_add_ps(c7a, _mm512_loadu_ps(yt + 7 &* ldyt)); c7b = _mm512_add_ps(c7b, _mm512_loadu_ps(yt + 7 &* ldyt + 16))
            c8a = _mm512_add_ps(c8a, _mm512_loadu_ps(yt + 8 &* ldyt)); c8b = _mm512_add_ps(c8b, _mm512_loadu_ps(yt + 8 &* ldyt + 16))
            c9a = _mm512_add_ps(c9a, _mm512_loadu_ps(yt + 9 &* ldyt)); c9b = _mm512_add_ps(c9b, _mm512_loadu_ps(yt + 9 &* ldyt + 16))
            c10a = _mm512_add_ps(c10a, _mm512_loadu_ps(yt + 10 &* ldyt)); c10b = _mm512_add_ps(c10b, _mm512_loadu_ps(yt + 10 &* ldyt + 16))
            c11a = _mm512_add_ps(c11a, _mm512_loadu_ps(yt + 11 &* ldyt)); c11b = _mm512_add_ps(c11b, _mm512_loadu_ps(yt + 11 &* ldyt + 16))
        }
        _mm512_storeu_ps(yt + 0 &* ldyt, c0a); _mm512_storeu_ps(yt + 0 &* ldyt + 16, c0b)
        _mm512_storeu_ps(yt + 1 &* ldyt, c1a); _mm512_storeu_ps(yt + 1 &* ldyt + 16, c1b)
        _mm512_storeu_ps(yt + 2 &* ldyt, c2a); _mm512_storeu_ps(yt + 2 &* ldyt + 16, c2b)
        _mm512_storeu_ps(yt + 3 &* ldyt, c3a); _mm512_storeu_ps(yt + 3 &* ldyt + 16, c3b)
        _mm512_storeu_ps(yt + 4 &* ldyt, c4a); _mm512_storeu_ps(yt + 4 &* ldyt + 16, c4b)
        _mm512_storeu_ps(yt + 5 &* ldyt, c5a); _mm512_storeu_ps(yt + 5 &* ldyt + 16, c5b)
        _mm512_storeu_ps(yt + 6 &* ldyt, c6a); _mm512_storeu_ps(yt + 6 &* ldyt + 16, c6b)
        _mm512_storeu_ps(yt + 7 &* ldyt, c7a); _mm512_storeu_ps(yt + 7 &* ldyt + 16, c7b)
        _mm512_storeu_ps(yt + 8 &* ldyt, c8a); _mm512_storeu_ps(yt + 8 &* ldyt + 16, c8b)
        _mm512_storeu_ps(yt + 9 &* ldyt, c9a); _mm512_storeu_ps(yt + 9 &* ldyt + 16, c9b)
        _mm512_storeu_ps(yt + 10 &* ldyt, c10a); _mm512_storeu_ps(yt + 10 &* ldyt + 16, c10b)
        _mm512_storeu_ps(yt + 11 &* ldyt, c11a); _mm512_storeu_ps(yt + 11 &* ldyt + 16, c11b)
    }

    /// Transposed-product tile, vectorized along the output column: for i < 12,
    /// `dx[i·lddx + 0..<32] += Σ_n dy[i·lddy + n] · panel[32n + 0..<32]`.
    ///
    /// - dy: 12 rows of dY (stride `lddy`), starting at the reduction offset; panel: dequantized W
    ///   rows [nc][32] for this output-column tile.
    @inline(__always)
    public static func transposed12x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
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
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        let d2 = dy + 2 &* lddy
        let d3 = dy + 3 &* lddy
        let d4 = dy + 4 &* lddy
        let d5 = dy + 5 &* lddy
        let d6 = dy + 6 &* lddy
        let d7 = dy + 7 &* lddy
        let d8 = dy + 8 &* lddy
        let d9 = dy + 9 &* lddy
        let d10 = dy + 10 &* lddy
        let d11 = dy + 11 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm512_loadu_ps(p), b1 = _mm512_loadu_ps(p + 16)
            let a0 = _mm512_set1_ps(d0[n])
            c0a = _mm512_fmadd_ps(a0, b0, c0a); c0b = _mm512_fmadd_ps(a0, b1, c0b)
            let a1 = _mm512_set1_ps(d1[n])
            c1a = _mm512_fmadd_ps(a1, b0, c1a); c1b = _mm512_fmadd_ps(a1, b1, c1b)
            let a2 = _mm512_set1_ps(d2[n])
            c2a = _mm512_fmadd_ps(a2, b0, c2a); c2b = _mm512_fmadd_ps(a2, b1, c2b)
            let a3 = _mm512_set1_ps(d3[n])
            c3a = _mm512_fmadd_ps(a3, b0, c3a); c3b = _mm512_fmadd_ps(a3, b1, c3b)
            let a4 = _mm512_set1_ps(d4[n])
            c4a = _mm512_fmadd_ps(a4, b0, c4a); c4b = _mm512_fmadd_ps(a4, b1, c4b)
            let a5 = _mm512_set1_ps(d5[n])
            c5a = _mm512_fmadd_ps(a5, b0, c5a); c5b = _mm512_fmadd_ps(a5, b1, c5b)
            let a6 = _mm512_set1_ps(d6[n])
            c6a = _mm512_fmadd_ps(a6, b0, c6a); c6b = _mm512_fmadd_ps(a6, b1, c6b)
            let a7 = _mm512_set1_ps(d7[n])
            c7a = _mm512_fmadd_ps(a7, b0, c7a); c7b = _mm512_fmadd_ps(a7, b1, c7b)
            let a8 = _mm512_set1_ps(d8[n])
            c8a = _mm512_fmadd_ps(a8, b0, c8a); c8b = _mm512_fmadd_ps(a8, b1, c8b)
            let a9 = _mm512_set1_ps(d9[n])
            c9a = _mm512_fmadd_ps(a9, b0, c9a); c9b = _mm512_fmadd_ps(a9, b1, c9b)
            let a10 = _mm512_set1_ps(d10[n])
            c10a = _mm512_fmadd_ps(a10, b0, c10a); c10b = _mm512_fmadd_ps(a10, b1, c10b)
            let a11 = _mm512_set1_ps(d11[n])
            c11a = _mm512_fmadd_ps(a11, b0, c11a); c11b = _mm512_fmadd_ps(a11, b1, c11b)
            p += 32
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
    public static func transposedRowx32(_ dy: UnsafePointer<Float>, _ panel: UnsafePointer<Float>, _ nc: Int,
                                        _ dx: UnsafeMutablePointer<Float>) {
        var ca = _mm512_setzero_ps(), cb = _mm512_setzero_ps()
        var p = panel
        for n in 0..<nc {
            let a = _mm512_set1_ps(dy[n])
            ca = _mm512_fmadd_ps(a, _mm512_loadu_ps(p), ca); cb = _mm512_fmadd_ps(a, _mm512_loadu_ps(p + 16), cb)
            p += 32
        }
        _mm512_storeu_ps(dx, _mm512_add_ps(ca, _mm512_loadu_ps(dx)))
        _mm512_storeu_ps(dx + 16, _mm512_add_ps(cb, _mm512_loadu_ps(dx + 16)))
    }

    /// Row tail of the 12-row tile: 8 rows of dY × the 32-wide panel (the 1-row kernel reads the
    /// panel once per row; this once per 8 rows).
    @inline(__always)
    public static func transposed8x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm512_setzero_ps(), c0b = _mm512_setzero_ps()
        var c1a = _mm512_setzero_ps(), c1b = _mm512_setzero_ps()
        var c2a = _mm512_setzero_ps(), c2b = _mm512_setzero_ps()
        var c3a = _mm512_setzero_ps(), c3b = _mm512_setzero_ps()
        var c4a = _mm512_setzero_ps(), c4b = _mm512_setzero_ps()
        var c5a = _mm512_setzero_ps(), c5b = _mm512_setzero_ps()
        var c6a = _mm512_setzero_ps(), c6b = _mm512_setzero_ps()
        var c7a = _mm512_setzero_ps(), c7b = _mm512_setzero_ps()
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        let d2 = dy + 2 &* lddy
        let d3 = dy + 3 &* lddy
        let d4 = dy + 4 &* lddy
        let d5 = dy + 5 &* lddy
        let d6 = dy + 6 &* lddy
        let d7 = dy + 7 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm512_loadu_ps(p), b1 = _mm512_loadu_ps(p + 16)
            let a0 = _mm512_set1_ps(d0[n])
            c0a = _mm512_fmadd_ps(a0, b0, c0a); c0b = _mm512_fmadd_ps(a0, b1, c0b)
            let a1 = _mm512_set1_ps(d1[n])
            c1a = _mm512_fmadd_ps(a1, b0, c1a); c1b = _mm512_fmadd_ps(a1, b1, c1b)
            let a2 = _mm512_set1_ps(d2[n])
            c2a = _mm512_fmadd_ps(a2, b0, c2a); c2b = _mm512_fmadd_ps(a2, b1, c2b)
            let a3 = _mm512_set1_ps(d3[n])
            c3a = _mm512_fmadd_ps(a3, b0, c3a); c3b = _mm512_fmadd_ps(a3, b1, c3b)
            let a4 = _mm512_set1_ps(d4[n])
            c4a = _mm512_fmadd_ps(a4, b0, c4a); c4b = _mm512_fmadd_ps(a4, b1, c4b)
            let a5 = _mm512_set1_ps(d5[n])
            c5a = _mm512_fmadd_ps(a5, b0, c5a); c5b = _mm512_fmadd_ps(a5, b1, c5b)
            let a6 = _mm512_set1_ps(d6[n])
            c6a = _mm512_fmadd_ps(a6, b0, c6a); c6b = _mm512_fmadd_ps(a6, b1, c6b)
            let a7 = _mm512_set1_ps(d7[n])
            c7a = _mm512_fmadd_ps(a7, b0, c7a); c7b = _mm512_fmadd_ps(a7, b1, c7b)
            p += 32
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
    }

    /// Row tail of the 12-row tile: 4 rows of dY × the 32-wide panel (the 1-row kernel reads the
    /// panel once per row; this once per 4 rows).
    @inline(__always)
    public static func transposed4x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm512_setzero_ps(), c0b = _mm512_setzero_ps()
        var c1a = _mm512_setzero_ps(), c1b = _mm512_setzero_ps()
        var c2a = _mm512_setzero_ps(), c2b = _mm512_setzero_ps()
        var c3a = _mm512_setzero_ps(), c3b = _mm512_setzero_ps()
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        let d2 = dy + 2 &* lddy
        let d3 = dy + 3 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm512_loadu_ps(p), b1 = _mm512_loadu_ps(p + 16)
            let a0 = _mm512_set1_ps(d0[n])
            c0a = _mm512_fmadd_ps(a0, b0, c0a); c0b = _mm512_fmadd_ps(a0, b1, c0b)
            let a1 = _mm512_set1_ps(d1[n])
            c1a = _mm512_fmadd_ps(a1, b0, c1a); c1b = _mm512_fmadd_ps(a1, b1, c1b)
            let a2 = _mm512_set1_ps(d2[n])
            c2a = _mm512_fmadd_ps(a2, b0, c2a); c2b = _mm512_fmadd_ps(a2, b1, c2b)
            let a3 = _mm512_set1_ps(d3[n])
            c3a = _mm512_fmadd_ps(a3, b0, c3a); c3b = _mm512_fmadd_ps(a3, b1, c3b)
            p += 32
        }
        _mm512_storeu_ps(dx + 0 &* lddx, _mm512_add_ps(c0a, _mm512_loadu_ps(dx + 0 &* lddx)))
        _mm512_storeu_ps(dx + 0 &* lddx + 16, _mm512_add_ps(c0b, _mm512_loadu_ps(dx + 0 &* lddx + 16)))
        _mm512_storeu_ps(dx + 1 &* lddx, _mm512_add_ps(c1a, _mm512_loadu_ps(dx + 1 &* lddx)))
        _mm512_storeu_ps(dx + 1 &* lddx + 16, _mm512_add_ps(c1b, _mm512_loadu_ps(dx + 1 &* lddx + 16)))
        _mm512_storeu_ps(dx + 2 &* lddx, _mm512_add_ps(c2a, _mm512_loadu_ps(dx + 2 &* lddx)))
        _mm512_storeu_ps(dx + 2 &* lddx + 16, _mm512_add_ps(c2b, _mm512_loadu_ps(dx + 2 &* lddx + 16)))
        _mm512_storeu_ps(dx + 3 &* lddx, _mm512_add_ps(c3a, _mm512_loadu_ps(dx + 3 &* lddx)))
        _mm512_storeu_ps(dx + 3 &* lddx + 16, _mm512_add_ps(c3b, _mm512_loadu_ps(dx + 3 &* lddx + 16)))
    }

    /// Row tail of the 12-row tile: 2 rows of dY × the 32-wide panel (the 1-row kernel reads the
    /// panel once per row; this once per 2 rows).
    @inline(__always)
    public static func transposed2x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm512_setzero_ps(), c0b = _mm512_setzero_ps()
        var c1a = _mm512_setzero_ps(), c1b = _mm512_setzero_ps()
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm512_loadu_ps(p), b1 = _mm512_loadu_ps(p + 16)
            let a0 = _mm512_set1_ps(d0[n])
            c0a = _mm512_fmadd_ps(a0, b0, c0a); c0b = _mm512_fmadd_ps(a0, b1, c0b)
            let a1 = _mm512_set1_ps(d1[n])
            c1a = _mm512_fmadd_ps(a1, b0, c1a); c1b = _mm512_fmadd_ps(a1, b1, c1b)
            p += 32
        }
        _mm512_storeu_ps(dx + 0 &* lddx, _mm512_add_ps(c0a, _mm512_loadu_ps(dx + 0 &* lddx)))
        _mm512_storeu_ps(dx + 0 &* lddx + 16, _mm512_add_ps(c0b, _mm512_loadu_ps(dx + 0 &* lddx + 16)))
        _mm512_storeu_ps(dx + 1 &* lddx, _mm512_add_ps(c1a, _mm512_loadu_ps(dx + 1 &* lddx)))
        _mm512_storeu_ps(dx + 1 &* lddx + 16, _mm512_add_ps(c1b, _mm512_loadu_ps(dx + 1 &* lddx + 16)))
    }
}
