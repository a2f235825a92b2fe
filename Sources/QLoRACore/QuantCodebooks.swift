/// The 4-bit code tables of bitsandbytes, shared by the quantizer (QLoRAQuant) and the kernels.
///
/// NF4: `bitsandbytes/functional.py` `get_4bit_type("nf4")` (the same numbers as the CUDA table
/// `nf4_dequantization_lut`), written as Float32 bit patterns so they are exact. Index = the 4-bit
/// pattern; the table is sorted ascending; index 7 is 0.0.
///
/// FP4 (E2M1, exponent bias 2, not IEEE): the sign is bit 3; the low 3 bits select the magnitude
/// `[0, 0.0625, 8, 12, 4, 6, 2, 3] / 12`, computed in Float32 as bitsandbytes does (so index 8
/// is -0.0). Not sorted by bit pattern.
public enum QuantCodebooks {
    public static let nf4Bits: [UInt32] = [
        0xbf80_0000, 0xbf32_39b1, 0xbf06_6b30, 0xbeca_32a0, 0xbe91_a24d, 0xbe3d_353f, 0xbdba_7871, 0x0000_0000,
        0x3da2_faff, 0x3e24_cae3, 0x3e7c_04dd, 0x3ead_033a, 0x3ee1_a4b8, 0x3f10_07ab, 0x3f39_13b3, 0x3f80_0000,
    ]

    /// The NF4 code values, index order.
    public static let nf4: [Float] = nf4Bits.map { Float(bitPattern: $0) }

    /// The FP4 code values, index order (bitsandbytes `get_4bit_type("fp4")`).
    public static let fp4: [Float] = {
        let raw: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3]
        let pos = raw.map { $0 / 12 }
        return pos + pos.map { -$0 }
    }()

    /// The nibble bitsandbytes pads an odd element count with: the code of 0.0.
    public static let nf4ZeroIndex: UInt8 = 7
    public static let fp4ZeroIndex: UInt8 = 0
}
