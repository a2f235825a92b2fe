import QLoRACore

/// Element types a checkpoint tensor can have, spelled as safetensors spells them.
public enum TensorDType: String, CaseIterable, Sendable, Codable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16, .f8e4m3, .f8e5m2: return true
        default: return false
        }
    }

    /// The torch dtype name (as bitsandbytes' quant-state JSON records it).
    public var torchName: String {
        switch self {
        case .f64: return "float64"
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .i64: return "int64"
        case .i32: return "int32"
        case .i16: return "int16"
        case .i8: return "int8"
        case .u64: return "uint64"
        case .u32: return "uint32"
        case .u16: return "uint16"
        case .u8: return "uint8"
        case .bool: return "bool"
        case .f8e4m3: return "float8_e4m3fn"
        case .f8e5m2: return "float8_e5m2"
        }
    }
}

/// Element-wise conversion of raw tensor bytes to Float32.
public enum TensorConvert {
    /// Converts `count` elements of `dtype` at `src` into `dst` (Float32).
    public static func toFloat(
        _ dtype: TensorDType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int
    ) {
        switch dtype {
        case .f32:
            for i in 0..<count { dst[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count {
                dst[i] = HalfFloat.f16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .bf16:
            for i in 0..<count {
                dst[i] = HalfFloat.bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .f64:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .i64:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .i32:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .i16:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
        case .i8:
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        case .u64:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
        case .u32:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        case .u16:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .u8, .bool:
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case .f8e4m3:
            for i in 0..<count { dst[i] = FP8.e4m3ToFloat(src.load(fromByteOffset: i, as: UInt8.self)) }
        case .f8e5m2:
            for i in 0..<count { dst[i] = FP8.e5m2ToFloat(src.load(fromByteOffset: i, as: UInt8.self)) }
        }
    }
}

/// The two 8-bit float formats (OCP FP8): E4M3 "fn" (no infinities, 0x7F/0xFF NaN) and E5M2.
public enum FP8 {
    public static func e4m3ToFloat(_ b: UInt8) -> Float {
        let sign: Float = b & 0x80 != 0 ? -1 : 1
        let e = Int((b >> 3) & 0xF), m = Float(b & 0x7)
        if e == 0xF && b & 0x7 == 0x7 { return .nan }
        if e == 0 { return sign * m / 8 * Float.pow2(-6) }
        return sign * (1 + m / 8) * Float.pow2(e - 7)
    }

    public static func e5m2ToFloat(_ b: UInt8) -> Float {
        HalfFloat.f16ToFloat(UInt16(b) << 8)
    }
}

extension Float {
    static func pow2(_ e: Int) -> Float { Float(sign: .plus, exponent: e, significand: 1) }
}
