import QLoRACore

/// Rounding and packing of Float32 operands into the bf16-pair layouts `MicroKernelBF16` reads.
/// Rounding is `BF16.bits16` (nearest even, same bits as the scalar reference on every machine).
/// Counts are multiples of 32 unless said otherwise.
public enum BF16Pack {
    /// 32 floats → 16 bf16 pairs (element 2p low, 2p+1 high).
    @inline(__always)
    static func pairs16(_ src: UnsafePointer<Float>) -> SIMD16<UInt32> {
        let lo = BF16.bits16(UnsafeRawPointer(src).loadUnaligned(as: SIMD16<Float>.self))
        let hi = BF16.bits16(UnsafeRawPointer(src + 16).loadUnaligned(as: SIMD16<Float>.self))
        let h = SIMD32<UInt16>(lowHalf: SIMD16<UInt16>(truncatingIfNeeded: lo), highHalf: SIMD16<UInt16>(truncatingIfNeeded: hi))
        return unsafeBitCast(h, to: SIMD16<UInt32>.self)
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
            let a = BF16.bits16(UnsafeRawPointer(r0 + c).loadUnaligned(as: SIMD16<Float>.self))
            let b = BF16.bits16(UnsafeRawPointer(r1 + c).loadUnaligned(as: SIMD16<Float>.self))
            UnsafeMutableRawPointer(dst + c).storeBytes(of: a | (b &<< 16), as: SIMD16<UInt32>.self)
            c &+= 16
        }
    }

    /// One Xᵀ sliver for the forward tile: sliver[p·32 + i] = (bf16 x[m0+i, 2p], bf16 x[m0+i, 2p+1])
    /// for i < 32, p < K/2; rows at or past M are zero. K % 32 == 0.
    public static func packSliver(_ X: UnsafePointer<Float>, _ ldx: Int, _ m0: Int, _ M: Int, _ K: Int,
                                  _ sliver: UnsafeMutablePointer<UInt32>) {
        for i in 0..<32 {
            let m = m0 &+ i
            if m < M {
                let x = X + m &* ldx
                var k = 0
                while k < K {
                    let v = pairs16(x + k)
                    let base = sliver + ((k >> 1) &* 32 &+ i)
                    for l in 0..<16 { base[l &* 32] = v[l] }
                    k &+= 32
                }
            } else {
                for p in 0..<(K >> 1) { sliver[p &* 32 &+ i] = 0 }
            }
        }
    }
}
