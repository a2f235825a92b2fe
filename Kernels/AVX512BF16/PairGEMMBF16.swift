import QLoRACore
import CQLoRASupport
import _Builtin_intrinsics.intel

/// General bf16 pair products for operands that are not a frozen weight (attention's products):
/// a 12 × 32 output tile of C = op(A)·op(B) with op(A) given as bf16 pairs along the reduction at any
/// row and pair stride, so one kernel serves A and Aᵀ (pairs of one row, or two rows interleaved),
/// and op(B) as a pair panel [np][ldb] (B[2p, n], B[2p+1, n]). `vdpbf16ps`, Float32 accumulation.
/// Generated shape, written out so every accumulator stays in a register. Call only when
/// `CPUFeatures.current.hasAVX512BF16`.
public enum PairGEMMBF16 {
    @inline(__always)
    static func pair(_ p: UnsafePointer<UInt32>) -> __m512i { _mm512_set1_epi32(Int32(bitPattern: p.pointee)) }

    @inline(__always)
    static func load(_ p: UnsafePointer<UInt32>) -> __m512i { _mm512_loadu_si512(UnsafeRawPointer(p)) }

    /// For i < 12: `c[i·ldc + 0..<32] = (accumulate ? c[…] : 0) + alpha · Σ_{p<np} ⟨a[i·ars + p·aps], b[p·ldb + 0..<32]⟩`.
    ///
    /// - a: bf16 pairs of op(A)'s 12 rows (row stride `ars`, pair stride `aps`, in pairs); b: the pair
    ///   panel of op(B) for these 32 columns (row stride `ldb` pairs); c: 32 Float32 columns per row.
    @inline(__always)
    public static func tile12x32(_ a: UnsafePointer<UInt32>, _ ars: Int, _ aps: Int, _ b: UnsafePointer<UInt32>, _ ldb: Int,
                                 _ np: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ accumulate: Bool) {
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
        let a0 = a + 0 &* ars
        let a1 = a + 1 &* ars
        let a2 = a + 2 &* ars
        let a3 = a + 3 &* ars
        let a4 = a + 4 &* ars
        let a5 = a + 5 &* ars
        let a6 = a + 6 &* ars
        let a7 = a + 7 &* ars
        let a8 = a + 8 &* ars
        let a9 = a + 9 &* ars
        let a10 = a + 10 &* ars
        let a11 = a + 11 &* ars
        var q = b, off = 0
        for _ in 0..<np {
            let b0 = load(q), b1 = load(q + 16)
            let x0 = pair(a0 + off)
            c0a = qlora_dpbf16_ps(c0a, x0, b0); c0b = qlora_dpbf16_ps(c0b, x0, b1)
            let x1 = pair(a1 + off)
            c1a = qlora_dpbf16_ps(c1a, x1, b0); c1b = qlora_dpbf16_ps(c1b, x1, b1)
            let x2 = pair(a2 + off)
            c2a = qlora_dpbf16_ps(c2a, x2, b0); c2b = qlora_dpbf16_ps(c2b, x2, b1)
            let x3 = pair(a3 + off)
            c3a = qlora_dpbf16_ps(c3a, x3, b0); c3b = qlora_dpbf16_ps(c3b, x3, b1)
            let x4 = pair(a4 + off)
            c4a = qlora_dpbf16_ps(c4a, x4, b0); c4b = qlora_dpbf16_ps(c4b, x4, b1)
            let x5 = pair(a5 + off)
            c5a = qlora_dpbf16_ps(c5a, x5, b0); c5b = qlora_dpbf16_ps(c5b, x5, b1)
            let x6 = pair(a6 + off)
            c6a = qlora_dpbf16_ps(c6a, x6, b0); c6b = qlora_dpbf16_ps(c6b, x6, b1)
            let x7 = pair(a7 + off)
            c7a = qlora_dpbf16_ps(c7a, x7, b0); c7b = qlora_dpbf16_ps(c7b, x7, b1)
            let x8 = pair(a8 + off)
            c8a = qlora_dpbf16_ps(c8a, x8, b0); c8b = qlora_dpbf16_ps(c8b, x8, b1)
            let x9 = pair(a9 + off)
            c9a = qlora_dpbf16_ps(c9a, x9, b0); c9b = qlora_dpbf16_ps(c9b, x9, b1)
            let x10 = pair(a10 + off)
            c10a = qlora_dpbf16_ps(c10a, x10, b0); c10b = qlora_dpbf16_ps(c10b, x10, b1)
            let x11 = pair(a11 + off)
            c11a = qlora_dpbf16_ps(c11a, x11, b0); c11b = qlora_dpbf16_ps(c11b, x11, b1)
            q += ldb; off &+= aps
        }
        let s = _mm512_set1_ps(alpha)
        if accumulate {
            _mm512_storeu_ps(c + 0 &* ldc, _mm512_fmadd_ps(s, c0a, _mm512_loadu_ps(c + 0 &* ldc)))
            _mm512_storeu_ps(c + 0 &* ldc + 16, _mm512_fmadd_ps(s, c0b, _mm512_loadu_ps(c + 0 &* ldc + 16)))
            _mm512_storeu_ps(c + 1 &* ldc, _mm512_fmadd_ps(s, c1a, _mm512_loadu_ps(c + 1 &* ldc)))
            _mm512_storeu_ps(c + 1 &* ldc + 16, _mm512_fmadd_ps(s, c1b, _mm512_loadu_ps(c + 1 &* ldc + 16)))
            _mm512_storeu_ps(c + 2 &* ldc, _mm512_fmadd_ps(s, c2a, _mm512_loadu_ps(c + 2 &* ldc)))
            _mm512_storeu_ps(c + 2 &* ldc + 16, _mm512_fmadd_ps(s, c2b, _mm512_loadu_ps(c + 2 &* ldc + 16)))
            _mm512_storeu_ps(c + 3 &* ldc, _mm512_fmadd_ps(s, c3a, _mm512_loadu_ps(c + 3 &* ldc)))
            _mm512_storeu_ps(c + 3 &* ldc + 16, _mm512_fmadd_ps(s, c3b, _mm512_loadu_ps(c + 3 &* ldc + 16)))
            _mm512_storeu_ps(c + 4 &* ldc, _mm512_fmadd_ps(s, c4a, _mm512_loadu_ps(c + 4 &* ldc)))
            _mm512_storeu_ps(c + 4 &* ldc + 16, _mm512_fmadd_ps(s, c4b, _mm512_loadu_ps(c + 4 &* ldc + 16)))
            _mm512_storeu_ps(c + 5 &* ldc, _mm512_fmadd_ps(s, c5a, _mm512_loadu_ps(c + 5 &* ldc)))
            _mm512_storeu_ps(c + 5 &* ldc + 16, _mm512_fmadd_ps(s, c5b, _mm512_loadu_ps(c + 5 &* ldc + 16)))
            _mm512_storeu_ps(c + 6 &* ldc, _mm512_fmadd_ps(s, c6a, _mm512_loadu_ps(c + 6 &* ldc)))
            _mm512_storeu_ps(c + 6 &* ldc + 16, _mm512_fmadd_ps(s, c6b, _mm512_loadu_ps(c + 6 &* ldc + 16)))
            _mm512_storeu_ps(c + 7 &* ldc, _mm512_fmadd_ps(s, c7a, _mm512_loadu_ps(c + 7 &* ldc)))
            _mm512_storeu_ps(c + 7 &* ldc + 16, _mm512_fmadd_ps(s, c7b, _mm512_loadu_ps(c + 7 &* ldc + 16)))
            _mm512_storeu_ps(c + 8 &* ldc, _mm512_fmadd_ps(s, c8a, _mm512_loadu_ps(c + 8 &* ldc)))
            _mm512_storeu_ps(c + 8 &* ldc + 16, _mm512_fmadd_ps(s, c8b, _mm512_loadu_ps(c + 8 &* ldc + 16)))
            _mm512_storeu_ps(c + 9 &* ldc, _mm512_fmadd_ps(s, c9a, _mm512_loadu_ps(c + 9 &* ldc)))
            _mm512_storeu_ps(c + 9 &* ldc + 16, _mm512_fmadd_ps(s, c9b, _mm512_loadu_ps(c + 9 &* ldc + 16)))
            _mm512_storeu_ps(c + 10 &* ldc, _mm512_fmadd_ps(s, c10a, _mm512_loadu_ps(c + 10 &* ldc)))
            _mm512_storeu_ps(c + 10 &* ldc + 16, _mm512_fmadd_ps(s, c10b, _mm512_loadu_ps(c + 10 &* ldc + 16)))
            _mm512_storeu_ps(c + 11 &* ldc, _mm512_fmadd_ps(s, c11a, _mm512_loadu_ps(c + 11 &* ldc)))
            _mm512_storeu_ps(c + 11 &* ldc + 16, _mm512_fmadd_ps(s, c11b, _mm512_loadu_ps(c + 11 &* ldc + 16)))
        } else {
            _mm512_storeu_ps(c + 0 &* ldc, _mm512_mul_ps(s, c0a)); _mm512_storeu_ps(c + 0 &* ldc + 16, _mm512_mul_ps(s, c0b))
            _mm512_storeu_ps(c + 1 &* ldc, _mm512_mul_ps(s, c1a)); _mm512_storeu_ps(c + 1 &* ldc + 16, _mm512_mul_ps(s, c1b))
            _mm512_storeu_ps(c + 2 &* ldc, _mm512_mul_ps(s, c2a)); _mm512_storeu_ps(c + 2 &* ldc + 16, _mm512_mul_ps(s, c2b))
            _mm512_storeu_ps(c + 3 &* ldc, _mm512_mul_ps(s, c3a)); _mm512_storeu_ps(c + 3 &* ldc + 16, _mm512_mul_ps(s, c3b))
            _mm512_storeu_ps(c + 4 &* ldc, _mm512_mul_ps(s, c4a)); _mm512_storeu_ps(c + 4 &* ldc + 16, _mm512_mul_ps(s, c4b))
            _mm512_storeu_ps(c + 5 &* ldc, _mm512_mul_ps(s, c5a)); _mm512_storeu_ps(c + 5 &* ldc + 16, _mm512_mul_ps(s, c5b))
            _mm512_storeu_ps(c + 6 &* ldc, _mm512_mul_ps(s, c6a)); _mm512_storeu_ps(c + 6 &* ldc + 16, _mm512_mul_ps(s, c6b))
            _mm512_storeu_ps(c + 7 &* ldc, _mm512_mul_ps(s, c7a)); _mm512_storeu_ps(c + 7 &* ldc + 16, _mm512_mul_ps(s, c7b))
            _mm512_storeu_ps(c + 8 &* ldc, _mm512_mul_ps(s, c8a)); _mm512_storeu_ps(c + 8 &* ldc + 16, _mm512_mul_ps(s, c8b))
            _mm512_storeu_ps(c + 9 &* ldc, _mm512_mul_ps(s, c9a)); _mm512_storeu_ps(c + 9 &* ldc + 16, _mm512_mul_ps(s, c9b))
            _mm512_storeu_ps(c + 10 &* ldc, _mm512_mul_ps(s, c10a)); _mm512_storeu_ps(c + 10 &* ldc + 16, _mm512_mul_ps(s, c10b))
            _mm512_storeu_ps(c + 11 &* ldc, _mm512_mul_ps(s, c11a)); _mm512_storeu_ps(c + 11 &* ldc + 16, _mm512_mul_ps(s, c11b))
        }
    }

    /// One row of `tile12x32` (the row tail).
    @inline(__always)
    public static func row1x32(_ a: UnsafePointer<UInt32>, _ aps: Int, _ b: UnsafePointer<UInt32>, _ ldb: Int, _ np: Int,
                               _ c: UnsafeMutablePointer<Float>, _ alpha: Float, _ accumulate: Bool) {
        var ca = _mm512_setzero_ps(), cb = _mm512_setzero_ps()
        var q = b, off = 0
        for _ in 0..<np {
            let x = pair(a + off)
            ca = qlora_dpbf16_ps(ca, x, load(q)); cb = qlora_dpbf16_ps(cb, x, load(q + 16))
            q += ldb; off &+= aps
        }
        let s = _mm512_set1_ps(alpha)
        if accumulate {
            _mm512_storeu_ps(c, _mm512_fmadd_ps(s, ca, _mm512_loadu_ps(c)))
            _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(s, cb, _mm512_loadu_ps(c + 16)))
        } else {
            _mm512_storeu_ps(c, _mm512_mul_ps(s, ca)); _mm512_storeu_ps(c + 16, _mm512_mul_ps(s, cb))
        }
    }
}
