/// DropoutMask's loops built for x86-64-v4: plain per-element loops over the same hash, which LLVM
/// vectorizes 16 wide here (vpmulld). The generic SIMD16 version in the dispatch target, built
/// for baseline x86-64, measured slower than the sequential RNG it replaced.
public enum DropoutMaskAVX512 {
    @inline(__always)
    static func bits(_ i: UInt32, _ lo: UInt32, _ hi: UInt32) -> UInt32 {
        var h = (i &* 0x9E37_79B9) ^ lo
        h ^= h >> 16; h = h &* 0x7FEB_352D
        h ^= h >> 15; h = h &* 0x846C_A68B
        h ^= h >> 16
        h ^= hi
        h ^= h >> 16; h = h &* 0x7FEB_352D
        h ^= h >> 15; h = h &* 0x846C_A68B
        h ^= h >> 16
        return h
    }

    public static func apply(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int, seed: UInt64,
                             threshold t: UInt32, scale inv: Float) {
        let lo = UInt32(truncatingIfNeeded: seed), hi = UInt32(truncatingIfNeeded: seed >> 32)
        for i in 0..<count {
            out[i] = bits(UInt32(truncatingIfNeeded: i), lo, hi) < t ? x[i] * inv : 0
        }
    }

    public static func accumulate(_ g: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int, seed: UInt64,
                                  threshold t: UInt32, scale inv: Float) {
        let lo = UInt32(truncatingIfNeeded: seed), hi = UInt32(truncatingIfNeeded: seed >> 32)
        for i in 0..<count {
            dx[i] += bits(UInt32(truncatingIfNeeded: i), lo, hi) < t ? g[i] * inv : 0
        }
    }
}
