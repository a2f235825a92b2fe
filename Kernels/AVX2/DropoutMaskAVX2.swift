/// DropoutMask's loops built for x86-64-v3 (AVX2): the same per-element loops over the hash, which
/// LLVM vectorizes 8 wide here (vpmulld), as the AVX-512 target does 16 wide.
public enum DropoutMaskAVX2 {
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
