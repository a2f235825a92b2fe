/// Reference dequantizers for ggml's 32-element block formats, bit-exact with
/// `gguf.quants.dequantize` (numpy, float32 throughout).
///
/// Block layouts (ggml-common.h; all little-endian, `half` = IEEE binary16):
///
/// | type | bytes | fields |
/// | --- | --- | --- |
/// | Q4_0 | 18 | `half d; u8 qs[16]` |
/// | Q4_1 | 20 | `half d; half m; u8 qs[16]` |
/// | Q5_0 | 22 | `half d; u8 qh[4]; u8 qs[16]` |
/// | Q5_1 | 24 | `half d; half m; u8 qh[4]; u8 qs[16]` |
/// | Q8_0 | 34 | `half d; i8 qs[32]` |
///
/// Element `j` of a block (0..<32) takes its low four bits from the low nibble of `qs[j]` for
/// j < 16 and the high nibble of `qs[j - 16]` otherwise; Q5 types add bit `j` of the u32 `qh` as
/// bit 4. Values, with each operation rounded to float32 in this order (a multiply then an add,
/// never a fused multiply-add, as numpy computes it; Swift does not contract `a * b + c`):
///
/// - Q4_0: `d * (q - 8)`      - Q4_1: `d * q + m`
/// - Q5_0: `d * (q - 16)`     - Q5_1: `d * q + m`
/// - Q8_0: `qs[j] * d`
enum GGMLLegacyQuants {
    /// Elements per block for every type here.
    static let blockSize = 32

    /// The 4-bit part of element `j` from the 16 nibble bytes at `qs`.
    @inline(__always)
    static func nibble(_ qs: UnsafeRawPointer, _ j: Int) -> UInt8 {
        let byte = qs.load(fromByteOffset: j & 15, as: UInt8.self)
        return j < 16 ? byte & 0x0F : byte >> 4
    }

    @inline(__always)
    static func u32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    static func dequantizeQ4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 18
            let d = GGMLFloatTypes.f16(block, 0)
            let out = dst + b * blockSize
            for j in 0..<blockSize {
                out[j] = d * Float(Int(nibble(block + 2, j)) - 8)
            }
        }
    }

    static func dequantizeQ4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 20
            let d = GGMLFloatTypes.f16(block, 0)
            let m = GGMLFloatTypes.f16(block, 2)
            let out = dst + b * blockSize
            for j in 0..<blockSize {
                let scaled = d * Float(nibble(block + 4, j))
                out[j] = scaled + m
            }
        }
    }

    static func dequantizeQ5_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 22
            let d = GGMLFloatTypes.f16(block, 0)
            let qh = u32(block, 2)
            let out = dst + b * blockSize
            for j in 0..<blockSize {
                let q = Int(nibble(block + 6, j)) | Int((qh >> UInt32(j)) & 1) << 4
                out[j] = d * Float(q - 16)
            }
        }
    }

    static func dequantizeQ5_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 24
            let d = GGMLFloatTypes.f16(block, 0)
            let m = GGMLFloatTypes.f16(block, 2)
            let qh = u32(block, 4)
            let out = dst + b * blockSize
            for j in 0..<blockSize {
                let q = Int(nibble(block + 8, j)) | Int((qh >> UInt32(j)) & 1) << 4
                let scaled = d * Float(q)
                out[j] = scaled + m
            }
        }
    }

    static func dequantizeQ8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 34
            let d = GGMLFloatTypes.f16(block, 0)
            let out = dst + b * blockSize
            for j in 0..<blockSize {
                out[j] = Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) * d
            }
        }
    }
}
