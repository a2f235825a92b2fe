import QLoRACore
import _Builtin_intrinsics.intel

/// Register-blocked Float32 micro-kernels for AVX2 (16 ymm: 12 accumulators, operands, 1 broadcast).
public enum MicroKernelAVX2 {
    /// Forward tile, vectorized along m: for j < 6, `yt[j·ldyt + 0..<16] (+)= Σ_k wp[j·ldw + k] · xt[16k + 0..<16]`.
    @inline(__always)
    public static func forward16x6(_ xt: UnsafePointer<Float>, _ wp: UnsafePointer<Float>, _ ldw: Int, _ kc: Int,
                                   _ yt: UnsafeMutablePointer<Float>, _ ldyt: Int, _ accumulate: Bool) {
        var c0a = _mm256_setzero_ps(), c0b = _mm256_setzero_ps()
        var c1a = _mm256_setzero_ps(), c1b = _mm256_setzero_ps()
        var c2a = _mm256_setzero_ps(), c2b = _mm256_setzero_ps()
        var c3a = _mm256_setzero_ps(), c3b = _mm256_setzero_ps()
        var c4a = _mm256_setzero_ps(), c4b = _mm256_setzero_ps()
        var c5a = _mm256_setzero_ps(), c5b = _mm256_setzero_ps()
        let w0 = wp + 0 &* ldw
        let w1 = wp + 1 &* ldw
        let w2 = wp + 2 &* ldw
        let w3 = wp + 3 &* ldw
        let w4 = wp + 4 &* ldw
        let w5 = wp + 5 &* ldw
        var x = xt
        for k in 0..<kc {
            let a0 = _mm256_loadu_ps(x), a1 = _mm256_loadu_ps(x + 8)
            let b0 = _mm256_set1_ps(w0[k])
            c0a = _mm256_fmadd_ps(a0, b0, c0a); c0b = _mm256_fmadd_ps(a1, b0, c0b)
            let b1 = _mm256_set1_ps(w1[k])
            c1a = _mm256_fmadd_ps(a0, b1, c1a); c1b = _mm256_fmadd_ps(a1, b1, c1b)
            let b2 = _mm256_set1_ps(w2[k])
            c2a = _mm256_fmadd_ps(a0, b2, c2a); c2b = _mm256_fmadd_ps(a1, b2, c2b)
            let b3 = _mm256_set1_ps(w3[k])
            c3a = _mm256_fmadd_ps(a0, b3, c3a); c3b = _mm256_fmadd_ps(a1, b3, c3b)
            let b4 = _mm256_set1_ps(w4[k])
            c4a = _mm256_fmadd_ps(a0, b4, c4a); c4b = _mm256_fmadd_ps(a1, b4, c4b)
            let b5 = _mm256_set1_ps(w5[k])
            c5a = _mm256_fmadd_ps(a0, b5, c5a); c5b = _mm256_fmadd_ps(a1, b5, c5b)
            x += 16
        }
        if accumulate {
            c0a = _mm256_add_ps(c0a, _mm256_loadu_ps(yt + 0 &* ldyt)); c0b = _mm256_add_ps(c0b, _mm256_loadu_ps(yt + 0 &* ldyt + 8))
            c1a = _mm256_add_ps(c1a, _mm256_loadu_ps(yt + 1 &* ldyt)); c1b = _mm256_add_ps(c1b, _mm256_loadu_ps(yt + 1 &* ldyt + 8))
            c2a = _mm256_add_ps(c2a, _mm256_loadu_ps(yt + 2 &* ldyt)); c2b = _mm256_add_ps(c2b, _mm256_loadu_ps(yt + 2 &* ldyt + 8))
            c3a = _mm256_add_ps(c3a, _mm256_loadu_ps(yt + 3 &* ldyt)); c3b = _mm256_add_ps(c3b, _mm256_loadu_ps(yt + 3 &* ldyt + 8))
            c4a = _mm256_add_ps(c4a, _mm256_loadu_ps(yt + 4 &* ldyt)); c4b = _mm256_add_ps(c4b, _mm256_loadu_ps(yt + 4 &* ldyt + 8))
            c5a = _mm256_add_ps(c5a, _mm256_loadu_ps(yt + 5 &* ldyt)); c5b = _mm256_add_ps(c5b, _mm256_loadu_ps(yt + 5 &* ldyt + 8))
        }
        _mm256_storeu_ps(yt + 0 &* ldyt, c0a); _mm256_storeu_ps(yt + 0 &* ldyt + 8, c0b)
        _mm256_storeu_ps(yt + 1 &* ldyt, c1a); _mm256_storeu_ps(yt + 1 &* ldyt + 8, c1b)
        _mm256_storeu_ps(yt + 2 &* ldyt, c2a); _mm256_storeu_ps(yt + 2 &* ldyt + 8, c2b)
        _mm256_storeu_ps(yt + 3 &* ldyt, c3a); _mm256_storeu_ps(yt + 3 &* ldyt + 8, c3b)
        _mm256_storeu_ps(yt + 4 &* ldyt, c4a); _mm256_storeu_ps(yt + 4 &* ldyt + 8, c4b)
        _mm256_storeu_ps(yt + 5 &* ldyt, c5a); _mm256_storeu_ps(yt + 5 &* ldyt + 8, c5b)
    }

    /// Transposed-product tile: for i < 3, `dx[i·lddx + 0..<32] += Σ_n dy[i·lddy + n] · panel[32n + 0..<32]`.
    @inline(__always)
    public static func transposed3x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm256_setzero_ps(), c0b = _mm256_setzero_ps(), c0c = _mm256_setzero_ps(), c0d = _mm256_setzero_ps()
        var c1a = _mm256_setzero_ps(), c1b = _mm256_setzero_ps(), c1c = _mm256_setzero_ps(), c1d = _mm256_setzero_ps()
        var c2a = _mm256_setzero_ps(), c2b = _mm256_setzero_ps(), c2c = _mm256_setzero_ps(), c2d = _mm256_setzero_ps()
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        let d2 = dy + 2 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm256_loadu_ps(p), b1 = _mm256_loadu_ps(p + 8), b2 = _mm256_loadu_ps(p + 16), b3 = _mm256_loadu_ps(p + 24)
            let a0 = _mm256_set1_ps(d0[n])
            c0a = _mm256_fmadd_ps(a0, b0, c0a); c0b = _mm256_fmadd_ps(a0, b1, c0b)
            c0c = _mm256_fmadd_ps(a0, b2, c0c); c0d = _mm256_fmadd_ps(a0, b3, c0d)
            let a1 = _mm256_set1_ps(d1[n])
            c1a = _mm256_fmadd_ps(a1, b0, c1a); c1b = _mm256_fmadd_ps(a1, b1, c1b)
            c1c = _mm256_fmadd_ps(a1, b2, c1c); c1d = _mm256_fmadd_ps(a1, b3, c1d)
            let a2 = _mm256_set1_ps(d2[n])
            c2a = _mm256_fmadd_ps(a2, b0, c2a); c2b = _mm256_fmadd_ps(a2, b1, c2b)
            c2c = _mm256_fmadd_ps(a2, b2, c2c); c2d = _mm256_fmadd_ps(a2, b3, c2d)
            p += 32
        }
        _mm256_storeu_ps(dx + 0 &* lddx + 0, _mm256_add_ps(c0a, _mm256_loadu_ps(dx + 0 &* lddx + 0)))
        _mm256_storeu_ps(dx + 0 &* lddx + 8, _mm256_add_ps(c0b, _mm256_loadu_ps(dx + 0 &* lddx + 8)))
        _mm256_storeu_ps(dx + 0 &* lddx + 16, _mm256_add_ps(c0c, _mm256_loadu_ps(dx + 0 &* lddx + 16)))
        _mm256_storeu_ps(dx + 0 &* lddx + 24, _mm256_add_ps(c0d, _mm256_loadu_ps(dx + 0 &* lddx + 24)))
        _mm256_storeu_ps(dx + 1 &* lddx + 0, _mm256_add_ps(c1a, _mm256_loadu_ps(dx + 1 &* lddx + 0)))
        _mm256_storeu_ps(dx + 1 &* lddx + 8, _mm256_add_ps(c1b, _mm256_loadu_ps(dx + 1 &* lddx + 8)))
        _mm256_storeu_ps(dx + 1 &* lddx + 16, _mm256_add_ps(c1c, _mm256_loadu_ps(dx + 1 &* lddx + 16)))
        _mm256_storeu_ps(dx + 1 &* lddx + 24, _mm256_add_ps(c1d, _mm256_loadu_ps(dx + 1 &* lddx + 24)))
        _mm256_storeu_ps(dx + 2 &* lddx + 0, _mm256_add_ps(c2a, _mm256_loadu_ps(dx + 2 &* lddx + 0)))
        _mm256_storeu_ps(dx + 2 &* lddx + 8, _mm256_add_ps(c2b, _mm256_loadu_ps(dx + 2 &* lddx + 8)))
        _mm256_storeu_ps(dx + 2 &* lddx + 16, _mm256_add_ps(c2c, _mm256_loadu_ps(dx + 2 &* lddx + 16)))
        _mm256_storeu_ps(dx + 2 &* lddx + 24, _mm256_add_ps(c2d, _mm256_loadu_ps(dx + 2 &* lddx + 24)))
    }

    @inline(__always)
    public static func transposedRowx32(_ dy: UnsafePointer<Float>, _ panel: UnsafePointer<Float>, _ nc: Int,
                                        _ dx: UnsafeMutablePointer<Float>) {
        var ca = _mm256_setzero_ps(), cb = _mm256_setzero_ps(), cc = _mm256_setzero_ps(), cd = _mm256_setzero_ps()
        var p = panel
        for n in 0..<nc {
            let a = _mm256_set1_ps(dy[n])
            ca = _mm256_fmadd_ps(a, _mm256_loadu_ps(p), ca); cb = _mm256_fmadd_ps(a, _mm256_loadu_ps(p + 8), cb)
            cc = _mm256_fmadd_ps(a, _mm256_loadu_ps(p + 16), cc); cd = _mm256_fmadd_ps(a, _mm256_loadu_ps(p + 24), cd)
            p += 32
        }
        _mm256_storeu_ps(dx + 0, _mm256_add_ps(ca, _mm256_loadu_ps(dx + 0)))
        _mm256_storeu_ps(dx + 8, _mm256_add_ps(cb, _mm256_loadu_ps(dx + 8)))
        _mm256_storeu_ps(dx + 16, _mm256_add_ps(cc, _mm256_loadu_ps(dx + 16)))
        _mm256_storeu_ps(dx + 24, _mm256_add_ps(cd, _mm256_loadu_ps(dx + 24)))
    }

    /// Transposed-product tile over 6 rows of dY and 16 columns of a 32-wide panel (`half` 0 or 1):
    /// `dx[i·lddx + 0..<16] += Σ_n dy[i·lddy + n] · panel[32n + 16·half + 0..<16]`, i < 6. Twice the
    /// rows of `transposed3x32` per panel load: half the L1/L2 traffic of the panel per flop.
    @inline(__always)
    public static func transposed6x16(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm256_setzero_ps(), c0b = _mm256_setzero_ps()
        var c1a = _mm256_setzero_ps(), c1b = _mm256_setzero_ps()
        var c2a = _mm256_setzero_ps(), c2b = _mm256_setzero_ps()
        var c3a = _mm256_setzero_ps(), c3b = _mm256_setzero_ps()
        var c4a = _mm256_setzero_ps(), c4b = _mm256_setzero_ps()
        var c5a = _mm256_setzero_ps(), c5b = _mm256_setzero_ps()
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        let d2 = dy + 2 &* lddy
        let d3 = dy + 3 &* lddy
        let d4 = dy + 4 &* lddy
        let d5 = dy + 5 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm256_loadu_ps(p), b1 = _mm256_loadu_ps(p + 8)
            let a0 = _mm256_set1_ps(d0[n])
            c0a = _mm256_fmadd_ps(a0, b0, c0a); c0b = _mm256_fmadd_ps(a0, b1, c0b)
            let a1 = _mm256_set1_ps(d1[n])
            c1a = _mm256_fmadd_ps(a1, b0, c1a); c1b = _mm256_fmadd_ps(a1, b1, c1b)
            let a2 = _mm256_set1_ps(d2[n])
            c2a = _mm256_fmadd_ps(a2, b0, c2a); c2b = _mm256_fmadd_ps(a2, b1, c2b)
            let a3 = _mm256_set1_ps(d3[n])
            c3a = _mm256_fmadd_ps(a3, b0, c3a); c3b = _mm256_fmadd_ps(a3, b1, c3b)
            let a4 = _mm256_set1_ps(d4[n])
            c4a = _mm256_fmadd_ps(a4, b0, c4a); c4b = _mm256_fmadd_ps(a4, b1, c4b)
            let a5 = _mm256_set1_ps(d5[n])
            c5a = _mm256_fmadd_ps(a5, b0, c5a); c5b = _mm256_fmadd_ps(a5, b1, c5b)
            p += 32
        }
        _mm256_storeu_ps(dx + 0 &* lddx, _mm256_add_ps(c0a, _mm256_loadu_ps(dx + 0 &* lddx)))
        _mm256_storeu_ps(dx + 0 &* lddx + 8, _mm256_add_ps(c0b, _mm256_loadu_ps(dx + 0 &* lddx + 8)))
        _mm256_storeu_ps(dx + 1 &* lddx, _mm256_add_ps(c1a, _mm256_loadu_ps(dx + 1 &* lddx)))
        _mm256_storeu_ps(dx + 1 &* lddx + 8, _mm256_add_ps(c1b, _mm256_loadu_ps(dx + 1 &* lddx + 8)))
        _mm256_storeu_ps(dx + 2 &* lddx, _mm256_add_ps(c2a, _mm256_loadu_ps(dx + 2 &* lddx)))
        _mm256_storeu_ps(dx + 2 &* lddx + 8, _mm256_add_ps(c2b, _mm256_loadu_ps(dx + 2 &* lddx + 8)))
        _mm256_storeu_ps(dx + 3 &* lddx, _mm256_add_ps(c3a, _mm256_loadu_ps(dx + 3 &* lddx)))
        _mm256_storeu_ps(dx + 3 &* lddx + 8, _mm256_add_ps(c3b, _mm256_loadu_ps(dx + 3 &* lddx + 8)))
        _mm256_storeu_ps(dx + 4 &* lddx, _mm256_add_ps(c4a, _mm256_loadu_ps(dx + 4 &* lddx)))
        _mm256_storeu_ps(dx + 4 &* lddx + 8, _mm256_add_ps(c4b, _mm256_loadu_ps(dx + 4 &* lddx + 8)))
        _mm256_storeu_ps(dx + 5 &* lddx, _mm256_add_ps(c5a, _mm256_loadu_ps(dx + 5 &* lddx)))
        _mm256_storeu_ps(dx + 5 &* lddx + 8, _mm256_add_ps(c5b, _mm256_loadu_ps(dx + 5 &* lddx + 8)))
    }

    /// `transposed6x16` on both halves of a 32-wide panel: a 6 × 32 tile.
    @inline(__always)
    public static func transposed6x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        transposed6x16(dy, lddy, panel, nc, dx, lddx)
        transposed6x16(dy, lddy, panel + 16, nc, dx + 16, lddx)
    }

    /// Row tail of the 6-row tile: 4 rows of dY × 16 columns of a 32-wide panel (`transposed4x32` runs
    /// both halves). The 1-row kernel reads the panel once per row; this reads it once per 4 rows.
    @inline(__always)
    public static func transposed4x16(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm256_setzero_ps(), c0b = _mm256_setzero_ps()
        var c1a = _mm256_setzero_ps(), c1b = _mm256_setzero_ps()
        var c2a = _mm256_setzero_ps(), c2b = _mm256_setzero_ps()
        var c3a = _mm256_setzero_ps(), c3b = _mm256_setzero_ps()
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        let d2 = dy + 2 &* lddy
        let d3 = dy + 3 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm256_loadu_ps(p), b1 = _mm256_loadu_ps(p + 8)
            let a0 = _mm256_set1_ps(d0[n])
            c0a = _mm256_fmadd_ps(a0, b0, c0a); c0b = _mm256_fmadd_ps(a0, b1, c0b)
            let a1 = _mm256_set1_ps(d1[n])
            c1a = _mm256_fmadd_ps(a1, b0, c1a); c1b = _mm256_fmadd_ps(a1, b1, c1b)
            let a2 = _mm256_set1_ps(d2[n])
            c2a = _mm256_fmadd_ps(a2, b0, c2a); c2b = _mm256_fmadd_ps(a2, b1, c2b)
            let a3 = _mm256_set1_ps(d3[n])
            c3a = _mm256_fmadd_ps(a3, b0, c3a); c3b = _mm256_fmadd_ps(a3, b1, c3b)
            p += 32
        }
        _mm256_storeu_ps(dx + 0 &* lddx, _mm256_add_ps(c0a, _mm256_loadu_ps(dx + 0 &* lddx)))
        _mm256_storeu_ps(dx + 0 &* lddx + 8, _mm256_add_ps(c0b, _mm256_loadu_ps(dx + 0 &* lddx + 8)))
        _mm256_storeu_ps(dx + 1 &* lddx, _mm256_add_ps(c1a, _mm256_loadu_ps(dx + 1 &* lddx)))
        _mm256_storeu_ps(dx + 1 &* lddx + 8, _mm256_add_ps(c1b, _mm256_loadu_ps(dx + 1 &* lddx + 8)))
        _mm256_storeu_ps(dx + 2 &* lddx, _mm256_add_ps(c2a, _mm256_loadu_ps(dx + 2 &* lddx)))
        _mm256_storeu_ps(dx + 2 &* lddx + 8, _mm256_add_ps(c2b, _mm256_loadu_ps(dx + 2 &* lddx + 8)))
        _mm256_storeu_ps(dx + 3 &* lddx, _mm256_add_ps(c3a, _mm256_loadu_ps(dx + 3 &* lddx)))
        _mm256_storeu_ps(dx + 3 &* lddx + 8, _mm256_add_ps(c3b, _mm256_loadu_ps(dx + 3 &* lddx + 8)))
    }

    /// `transposed4x16` on both halves of a 32-wide panel: a 4 × 32 tile.
    @inline(__always)
    public static func transposed4x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        transposed4x16(dy, lddy, panel, nc, dx, lddx)
        transposed4x16(dy, lddy, panel + 16, nc, dx + 16, lddx)
    }

    /// Row tail: 2 rows of dY × the whole 32-wide panel (8 accumulators).
    @inline(__always)
    public static func transposed2x32(_ dy: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nc: Int,
                                      _ dx: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var c0a = _mm256_setzero_ps(), c0b = _mm256_setzero_ps(), c0c = _mm256_setzero_ps(), c0d = _mm256_setzero_ps()
        var c1a = _mm256_setzero_ps(), c1b = _mm256_setzero_ps(), c1c = _mm256_setzero_ps(), c1d = _mm256_setzero_ps()
        let d0 = dy + 0 &* lddy
        let d1 = dy + 1 &* lddy
        var p = panel
        for n in 0..<nc {
            let b0 = _mm256_loadu_ps(p), b1 = _mm256_loadu_ps(p + 8), b2 = _mm256_loadu_ps(p + 16), b3 = _mm256_loadu_ps(p + 24)
            let a0 = _mm256_set1_ps(d0[n])
            c0a = _mm256_fmadd_ps(a0, b0, c0a); c0b = _mm256_fmadd_ps(a0, b1, c0b)
            c0c = _mm256_fmadd_ps(a0, b2, c0c); c0d = _mm256_fmadd_ps(a0, b3, c0d)
            let a1 = _mm256_set1_ps(d1[n])
            c1a = _mm256_fmadd_ps(a1, b0, c1a); c1b = _mm256_fmadd_ps(a1, b1, c1b)
            c1c = _mm256_fmadd_ps(a1, b2, c1c); c1d = _mm256_fmadd_ps(a1, b3, c1d)
            p += 32
        }
        _mm256_storeu_ps(dx + 0 &* lddx + 0, _mm256_add_ps(c0a, _mm256_loadu_ps(dx + 0 &* lddx + 0)))
        _mm256_storeu_ps(dx + 0 &* lddx + 8, _mm256_add_ps(c0b, _mm256_loadu_ps(dx + 0 &* lddx + 8)))
        _mm256_storeu_ps(dx + 0 &* lddx + 16, _mm256_add_ps(c0c, _mm256_loadu_ps(dx + 0 &* lddx + 16)))
        _mm256_storeu_ps(dx + 0 &* lddx + 24, _mm256_add_ps(c0d, _mm256_loadu_ps(dx + 0 &* lddx + 24)))
        _mm256_storeu_ps(dx + 1 &* lddx + 0, _mm256_add_ps(c1a, _mm256_loadu_ps(dx + 1 &* lddx + 0)))
        _mm256_storeu_ps(dx + 1 &* lddx + 8, _mm256_add_ps(c1b, _mm256_loadu_ps(dx + 1 &* lddx + 8)))
        _mm256_storeu_ps(dx + 1 &* lddx + 16, _mm256_add_ps(c1c, _mm256_loadu_ps(dx + 1 &* lddx + 16)))
        _mm256_storeu_ps(dx + 1 &* lddx + 24, _mm256_add_ps(c1d, _mm256_loadu_ps(dx + 1 &* lddx + 24)))
    }
}
