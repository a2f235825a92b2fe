import QLoRACore
import _Builtin_intrinsics.intel

/// Rounding and packing of Float32 operands into the bf16-pair layouts `MicroKernelBF16` reads.
/// Rounding is `BF16.bits16` (nearest even, same bits as the scalar reference on every machine).
/// Counts are multiples of 32 unless said otherwise.
public enum BF16Pack {
    /// Each lane rounded to bf16 in its high half (low half garbage): `BF16.bits` ≪ 16 in whole-vector
    /// integer ops (the NaN case is selected arithmetically; `replacing(with:where:)` compiled to a scalar
    /// loop and made rounding 7% of a bf16 training step).
    @inline(__always)
    static func roundHigh(_ u: SIMD16<UInt32>) -> SIMD16<UInt32> {
        let r = u &+ 0x7FFF &+ ((u &>> 16) & 1)
        let a = unsafeBitCast(u & 0x7FFF_FFFF, to: SIMD16<Int32>.self)
        let nan = unsafeBitCast((SIMD16<Int32>(repeating: 0x7F80_0000) &- a) &>> 31, to: SIMD16<UInt32>.self)
        return (r & ~nan) | ((u | 0x40_0000) & nan)
    }

    @inline(__always)
    static func loadBits(_ p: UnsafePointer<Float>) -> SIMD16<UInt32> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt32>.self)
    }

    /// The odd 16-bit words of two vectors (the high halves of 32 lanes), in order.
    @inline(__always)
    static var oddWords: __m512i {
        unsafeBitCast(SIMD16<UInt32>(0x0003_0001, 0x0007_0005, 0x000B_0009, 0x000F_000D, 0x0013_0011, 0x0017_0015, 0x001B_0019, 0x001F_001D, 0x0023_0021, 0x0027_0025, 0x002B_0029, 0x002F_002D, 0x0033_0031, 0x0037_0035, 0x003B_0039, 0x003F_003D), to: __m512i.self)
    }

    /// 32 floats → 16 bf16 pairs (element 2p low, 2p+1 high).
    @inline(__always)
    static func pairs16(_ src: UnsafePointer<Float>) -> SIMD16<UInt32> {
        let h0 = roundHigh(loadBits(src)), h1 = roundHigh(loadBits(src + 16))
        let w = _mm512_permutex2var_epi16(unsafeBitCast(h0, to: __m512i.self), oddWords, unsafeBitCast(h1, to: __m512i.self))
        return unsafeBitCast(w, to: SIMD16<UInt32>.self)
    }

    /// Lane c = (bf16 a[c], bf16 b[c]).
    @inline(__always)
    static func interleave16(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> SIMD16<UInt32> {
        (roundHigh(loadBits(a)) &>> 16) | (roundHigh(loadBits(b)) & 0xFFFF_0000)
    }

    /// dst[0 ..< count] = bf16(src[0 ..< count]) (count % 32 == 0; a tail is rounded one by one).
    public static func roundRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ count: Int) {
        var i = 0
        while i &+ 32 <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: pairs16(src + i), as: SIMD16<UInt32>.self)
            i &+= 32
        }
        while i < count { dst[i] = BF16.bits(src[i]); i &+= 1 }
    }

    /// dst[c] = (bf16(r0[c]), bf16(r1[c])) for c < count (count % 16 == 0): two rows of W interleaved
    /// into the transposed product's pair panel.
    public static func pairRows(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt32>,
                                _ count: Int) {
        var c = 0
        while c &+ 16 <= count {
            UnsafeMutableRawPointer(dst + c).storeBytes(of: interleave16(r0 + c, r1 + c), as: SIMD16<UInt32>.self)
            c &+= 16
        }
    }

    // MARK: Pair layouts of `PairGEMMBF16` (attention's products). Any shape; odd tails get a zero high half.

    /// dst[r·ldd + p] = (bf16 X[r, 2p], bf16 X[r, 2p+1]) for r < rows, p < ⌈cols/2⌉ (X[r, cols] read as 0).
    public static func rowPairs(_ X: UnsafePointer<Float>, _ ldx: Int, _ rows: Int, _ cols: Int,
                                _ dst: UnsafeMutablePointer<UInt32>, _ ldd: Int) {
        for r in 0..<rows {
            let x = X + r &* ldx, d = dst + r &* ldd
            var k = 0
            while k &+ 32 <= cols {
                UnsafeMutableRawPointer(d + (k >> 1)).storeBytes(of: pairs16(x + k), as: SIMD16<UInt32>.self)
                k &+= 32
            }
            while k < cols {
                let lo = UInt32(BF16.bits(x[k])), hi = k &+ 1 < cols ? UInt32(BF16.bits(x[k &+ 1])) : 0
                d[k >> 1] = lo | (hi << 16)
                k &+= 2
            }
        }
    }

    /// dst[p·ldd + r] = (bf16 X[r, 2p], bf16 X[r, 2p+1]) for r < rows, p < ⌈cols/2⌉: `rowPairs` transposed
    /// (the pair panel of a product with Xᵀ as its right operand).
    public static func rowPairsTransposed(_ X: UnsafePointer<Float>, _ ldx: Int, _ rows: Int, _ cols: Int,
                                          _ dst: UnsafeMutablePointer<UInt32>, _ ldd: Int) {
        for r in 0..<rows {
            let x = X + r &* ldx
            var k = 0
            while k &+ 32 <= cols {
                let v = pairs16(x + k)
                let d = dst + ((k >> 1) &* ldd &+ r)
                for l in 0..<16 { d[l &* ldd] = v[l] }
                k &+= 32
            }
            while k < cols {
                let lo = UInt32(BF16.bits(x[k])), hi = k &+ 1 < cols ? UInt32(BF16.bits(x[k &+ 1])) : 0
                dst[(k >> 1) &* ldd &+ r] = lo | (hi << 16)
                k &+= 2
            }
        }
    }

    /// dst[p·ldd + c] = (bf16 X[2p, c], bf16 X[2p+1, c]) for p < ⌈rows/2⌉, c < cols (row `rows` read as 0):
    /// two rows interleaved, the pair panel of a product with X as its right operand, or Xᵀ's pairs
    /// as a left operand.
    public static func interleaveRows(_ X: UnsafePointer<Float>, _ ldx: Int, _ rows: Int, _ cols: Int,
                                      _ dst: UnsafeMutablePointer<UInt32>, _ ldd: Int) {
        var r = 0
        while r < rows {
            let r0 = X + r &* ldx, d = dst + (r >> 1) &* ldd
            if r &+ 1 < rows {
                let r1 = r0 + ldx
                var c = 0
                while c &+ 16 <= cols {
                    UnsafeMutableRawPointer(d + c).storeBytes(of: interleave16(r0 + c, r1 + c), as: SIMD16<UInt32>.self)
                    c &+= 16
                }
                while c < cols { d[c] = UInt32(BF16.bits(r0[c])) | (UInt32(BF16.bits(r1[c])) << 16); c &+= 1 }
            } else {
                for c in 0..<cols { d[c] = UInt32(BF16.bits(r0[c])) }
            }
            r &+= 2
        }
    }
}
