/// Reference dequantizers for ggml's plain float types (block size 1):
///
/// | type | bytes per element | layout |
/// | --- | --- | --- |
/// | F32  | 4 | IEEE binary32, little-endian |
/// | F16  | 2 | IEEE binary16, little-endian |
/// | BF16 | 2 | the top 16 bits of a binary32 |
///
/// Every conversion is exact and keeps NaN payloads bit for bit, as numpy's `astype(np.float32)`
/// does (it does not quiet a signalling NaN; hardware conversions may), so the output equals
/// `gguf.quants.dequantize` to the bit.
enum GGMLFloatTypes {
    static func dequantizeF32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    static func dequantizeF16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            dst[i] = f16ToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    }

    static func dequantizeBF16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }

    /// binary16 → binary32, exact. Infinities and NaNs are built from the bits (numpy's
    /// `npy_halfbits_to_floatbits`: sign, all-ones exponent, significand shifted up by 13) so a
    /// signalling NaN stays signalling; every finite value goes through `Float16`, which is exact.
    @inline(__always)
    static func f16ToFloat(_ bits: UInt16) -> Float {
        if bits & 0x7C00 == 0x7C00 {
            let sign = UInt32(bits & 0x8000) << 16
            return Float(bitPattern: sign | 0x7F80_0000 | UInt32(bits & 0x03FF) << 13)
        }
        return Float(Float16(bitPattern: bits))
    }

    /// The f16 at `offset` bytes into a block, as Float32.
    @inline(__always)
    static func f16(_ block: UnsafeRawPointer, _ offset: Int) -> Float {
        f16ToFloat(UInt16(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }
}
