/// Reference dequantizers for ggml's 256-element "K" super-block formats, bit-exact with
/// `gguf.quants.dequantize` (numpy, float32 throughout).
///
/// Block layouts (ggml-common.h; little-endian, `half` = IEEE binary16, QK_K = 256):
///
/// | type | bytes | fields |
/// | --- | --- | --- |
/// | Q4_K | 144 | `half d; half dmin; u8 scales[12]; u8 qs[128]` |
/// | Q5_K | 176 | `half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]` |
/// | Q6_K | 210 | `u8 ql[128]; u8 qh[64]; i8 scales[16]; half d` |
///
/// **Q4_K / Q5_K**: eight sub-blocks g of 32 elements, each with a 6-bit scale `sc[g]` and 6-bit
/// min `mn[g]` packed into `scales[12]` (`s`): for g < 4, `sc = s[g] & 63`, `mn = s[g+4] & 63`;
/// for g ≥ 4, `sc = (s[g+4] & 15) | (s[g-4] >> 6) << 4`, `mn = (s[g+4] >> 4) | (s[g] >> 6) << 4`.
/// Element l of sub-block g reads byte `qs[(g/2)*32 + l]`, low nibble for even g, high for odd;
/// Q5_K adds bit g of `qh[l]` as bit 4. Value: `(d*sc[g]) * q - (dmin*mn[g])`, each operation
/// rounded to float32 in that order.
///
/// **Q6_K**: sixteen sub-blocks of 16 with signed 8-bit scales. Element e = 32*g + l (g < 8,
/// l < 32), with h = g/4: low four bits from `ql[64h + 32(g%2) + l]` (low nibble when g%4 < 2,
/// else high), bits 4–5 from `qh[32h + l] >> 2(g%4)`; q = that 6-bit value - 32. Value:
/// `(d*scales[e/16]) * q`.
enum GGMLKQuants {
    static let blockSize = 256

    /// The 6-bit (scale, min) of sub-block `g` of a Q4_K/Q5_K super-block from its `scales[12]`.
    @inline(__always)
    static func scaleAndMin(_ s: UnsafeRawPointer, _ g: Int) -> (scale: UInt8, min: UInt8) {
        let b = { (i: Int) in s.load(fromByteOffset: i, as: UInt8.self) }
        if g < 4 { return (b(g) & 63, b(g + 4) & 63) }
        return ((b(g + 4) & 15) | (b(g - 4) >> 6) << 4, (b(g + 4) >> 4) | (b(g) >> 6) << 4)
    }

    static func dequantizeQ4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 144
            let d = GGMLFloatTypes.f16(block, 0)
            let dmin = GGMLFloatTypes.f16(block, 2)
            let qs = block + 16
            let out = dst + b * blockSize
            for g in 0..<8 {
                let (sc, mn) = scaleAndMin(block + 4, g)
                let scale = d * Float(sc)
                let offset = dmin * Float(mn)
                let shift: UInt8 = g % 2 == 0 ? 0 : 4
                for l in 0..<32 {
                    let q = (qs.load(fromByteOffset: (g / 2) * 32 + l, as: UInt8.self) >> shift) & 0x0F
                    let scaled = scale * Float(q)
                    out[g * 32 + l] = scaled - offset
                }
            }
        }
    }

    static func dequantizeQ5_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 176
            let d = GGMLFloatTypes.f16(block, 0)
            let dmin = GGMLFloatTypes.f16(block, 2)
            let qh = block + 16
            let qs = block + 48
            let out = dst + b * blockSize
            for g in 0..<8 {
                let (sc, mn) = scaleAndMin(block + 4, g)
                let scale = d * Float(sc)
                let offset = dmin * Float(mn)
                let shift: UInt8 = g % 2 == 0 ? 0 : 4
                for l in 0..<32 {
                    let low = (qs.load(fromByteOffset: (g / 2) * 32 + l, as: UInt8.self) >> shift) & 0x0F
                    let high = (qh.load(fromByteOffset: l, as: UInt8.self) >> UInt8(g)) & 1
                    let scaled = scale * Float(low | high << 4)
                    out[g * 32 + l] = scaled - offset
                }
            }
        }
    }

    static func dequantizeQ6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let block = src + b * 210
            let ql = block
            let qh = block + 128
            let scales = block + 192
            let d = GGMLFloatTypes.f16(block, 208)
            let out = dst + b * blockSize
            for g in 0..<8 {
                let h = g / 4
                let lowShift: UInt8 = g % 4 < 2 ? 0 : 4
                let highShift = UInt8(2 * (g % 4))
                for l in 0..<32 {
                    let low = (ql.load(fromByteOffset: 64 * h + 32 * (g % 2) + l, as: UInt8.self) >> lowShift) & 0x0F
                    let high = (qh.load(fromByteOffset: 32 * h + l, as: UInt8.self) >> highShift) & 0x03
                    let q = Int(low | high << 4) - 32
                    let e = g * 32 + l
                    let scale = d * Float(scales.load(fromByteOffset: e / 16, as: Int8.self))
                    out[e] = scale * Float(q)
                }
            }
        }
    }
}
