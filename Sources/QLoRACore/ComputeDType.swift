/// The arithmetic of the frozen base's products (`--compute-dtype`).
///
/// - `f32`: Float32 operands, Float32 FMA (the reference; every parity test runs on it).
/// - `bf16`: QLoRA's `bnb_4bit_compute_dtype=torch.bfloat16`: the dequantized weight and the
///   activations are rounded to bfloat16 (nearest even), products accumulate in Float32 —
///   `vdpbf16ps` on AVX512-BF16, Float32 FMA on the same rounded values elsewhere, so results agree
///   across machines up to summation order. LoRA A/B, gradients, optimizer state and norms stay Float32.
/// - `auto`: resolved once per process (`ComputeDTypeChoice` in QLoRAKernels) to `bf16` where the
///   machine's bf16 dot product outruns its Float32 FMA, else `f32`.
///
/// - `int8`: inference only (`generate`, `eval`, `bench model`): int8 activations × NF4 levels
///   (AVX512-VNNI `vpdpbusd` or AVX2 `vpmaddubsw`), see `Int8Kernels`; the training commands refuse it.
///
/// A command that cannot run a value refuses it by name.
public enum ComputeDType: String, CaseIterable, Sendable, Codable {
    case f32, bf16, int8, auto

    /// The one-line refusal of the training commands (train, bench train-step, compare, merge).
    public static let int8TrainingRefusal =
        "--compute-dtype int8 is for inference (generate, eval, bench model); training and merging compute in f32 or bf16"
}

/// Round-to-nearest-even conversion Float32 → bfloat16 (the upper 16 bits), as `vcvtneps2bf16`
/// does for normal numbers (that instruction also flushes subnormal inputs to zero). NaN stays a
/// quiet NaN.
public enum BF16 {
    @inlinable @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: u >> 16) | 0x40 }
        return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    }

    /// x rounded to the nearest bfloat16, as a Float32.
    @inlinable @inline(__always)
    public static func round(_ x: Float) -> Float {
        Float(bitPattern: UInt32(bits(x)) << 16)
    }

    /// Sixteen lanes at once: the bf16 bits in the low half of each lane.
    @inlinable @inline(__always)
    public static func bits16(_ x: SIMD16<Float>) -> SIMD16<UInt32> {
        let u = unsafeBitCast(x, to: SIMD16<UInt32>.self)
        let rounded = (u &+ 0x7FFF &+ ((u &>> 16) & 1)) &>> 16
        let nan = (u & 0x7FFF_FFFF) .> 0x7F80_0000
        return rounded.replacing(with: (u &>> 16) | 0x40, where: nan)
    }

    /// Rounds `count` floats in place to bf16 values (kept as Float32).
    @inlinable
    public static func roundInPlace(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        while i &+ 16 <= count {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            let r = bits16(v) &<< 16
            UnsafeMutableRawPointer(p + i).storeBytes(of: unsafeBitCast(r, to: SIMD16<Float>.self), as: SIMD16<Float>.self)
            i &+= 16
        }
        while i < count { p[i] = round(p[i]); i &+= 1 }
    }
}
