import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// Inverted dropout masks from a counter-based hash: element i of a mask with seed s is kept when
/// hash(s, i) < keep·2³², and kept values are scaled by 1/keep. Any element can be regenerated on
/// its own, so backward recomputes the forward's mask instead of storing it, and the work splits
/// into independent vector lanes (a sequential RNG made dropout ~25% of a LoRA training step).
/// The hash is Chris Wellons' "lowbias32" finalizer over the index mixed with the seed's two halves.
/// On AVX-512 and AVX2 the loops run from the x86-64-v4 / -v3 targets, where they vectorize.
public enum DropoutMask {
    /// The mask's keep threshold: elements whose hash is below it are kept.
    @inlinable public static func threshold(keep: Float) -> UInt32 {
        keep >= 1 ? .max : UInt32(Double(keep) * 4_294_967_296.0)
    }

    /// hash(seed, i): the reference each vector lane computes.
    @inlinable public static func bits(_ i: UInt32, seed: UInt64) -> UInt32 {
        var h = (i &* 0x9E37_79B9) ^ UInt32(truncatingIfNeeded: seed)
        h ^= h >> 16; h = h &* 0x7FEB_352D
        h ^= h >> 15; h = h &* 0x846C_A68B
        h ^= h >> 16
        h ^= UInt32(truncatingIfNeeded: seed >> 32)
        h ^= h >> 16; h = h &* 0x7FEB_352D
        h ^= h >> 15; h = h &* 0x846C_A68B
        h ^= h >> 16
        return h
    }

    @inline(__always) static func bits(_ i: SIMD16<UInt32>, seed: UInt64) -> SIMD16<UInt32> {
        var h = (i &* 0x9E37_79B9) ^ SIMD16(repeating: UInt32(truncatingIfNeeded: seed))
        h ^= h &>> 16; h = h &* 0x7FEB_352D
        h ^= h &>> 15; h = h &* 0x846C_A68B
        h ^= h &>> 16
        h ^= SIMD16(repeating: UInt32(truncatingIfNeeded: seed >> 32))
        h ^= h &>> 16; h = h &* 0x7FEB_352D
        h ^= h &>> 15; h = h &* 0x846C_A68B
        h ^= h &>> 16
        return h
    }

    static let lane = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// out[i] = kept(i) ? x[i] / keep : 0, for i in 0..<count.
    public static func apply(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int, seed: UInt64,
                             keep: Float, isa: KernelISA = .best) {
        let t = threshold(keep: keep), inv = 1 / keep
        if isa == .avx512 && isa.isSupported {
            return DropoutMaskAVX512.apply(x, out, count: count, seed: seed, threshold: t, scale: inv)
        }
        if isa == .avx2 && isa.isSupported {
            return DropoutMaskAVX2.apply(x, out, count: count, seed: seed, threshold: t, scale: inv)
        }
        var i = 0
        while i + 16 <= count {
            let h = bits(lane &+ UInt32(truncatingIfNeeded: i), seed: seed)
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) * inv
            UnsafeMutableRawPointer(out + i).storeBytes(of: SIMD16<Float>(repeating: 0).replacing(with: v, where: h .< t),
                                                        as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            out[i] = bits(UInt32(truncatingIfNeeded: i), seed: seed) < t ? x[i] * inv : 0
            i += 1
        }
    }

    /// dx[i] += kept(i) ? g[i] / keep : 0 — the gradient through the same mask.
    public static func accumulate(_ g: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int, seed: UInt64,
                                  keep: Float, isa: KernelISA = .best) {
        let t = threshold(keep: keep), inv = 1 / keep
        if isa == .avx512 && isa.isSupported {
            return DropoutMaskAVX512.accumulate(g, into: dx, count: count, seed: seed, threshold: t, scale: inv)
        }
        if isa == .avx2 && isa.isSupported {
            return DropoutMaskAVX2.accumulate(g, into: dx, count: count, seed: seed, threshold: t, scale: inv)
        }
        var i = 0
        while i + 16 <= count {
            let h = bits(lane &+ UInt32(truncatingIfNeeded: i), seed: seed)
            let v = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self) * inv
            let d = UnsafeRawPointer(dx + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(dx + i).storeBytes(of: d + SIMD16<Float>(repeating: 0).replacing(with: v, where: h .< t),
                                                       as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            if bits(UInt32(truncatingIfNeeded: i), seed: seed) < t { dx[i] += g[i] * inv }
            i += 1
        }
    }
}
