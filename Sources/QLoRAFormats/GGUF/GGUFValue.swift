import QLoRACore

/// The value types of GGUF metadata, with the codes the file stores (`gguf_type` in ggml).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value on disk for fixed-size types; nil for string and array.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value can take on disk: a string is at least its u64 length, an array
    /// its u32 element type and u64 count. Array counts are bounded with this before allocating.
    public var minimumSize: Int {
        switch self {
        case .string: return 8
        case .array: return 12
        default: return fixedSize!
        }
    }

    public var name: String { String(describing: self) }
}

/// One GGUF metadata value. Arrays keep their declared element type (an empty array has one too)
/// and may nest.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Any integer type whose value fits in `Int`; nil otherwise.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// float32 or float64 widened to Double (float32 keeps its exact value, e.g. 1e-5 stays
    /// 9.999999747378752e-06 as transformers reads it).
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return nil
        }
    }

    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(_, let v) = self { return v }
        return nil
    }

    /// An array of strings; nil if this is not one.
    public var strings: [String]? {
        guard case .array(.string, let items) = self else { return nil }
        return items.map { $0.string! }
    }

    /// An array of integers of any width; nil if this is not one or an element does not fit.
    public var ints: [Int]? {
        guard case .array(let t, let items) = self, t.fixedSize != nil, t != .bool else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.int else { return nil }
            out.append(v)
        }
        return out
    }

    /// An array of float32/float64 as Float; nil if this is not one.
    public var floats: [Float]? {
        guard case .array(let t, let items) = self, t == .float32 || t == .float64 else { return nil }
        return items.map { Float($0.double!) }
    }

    /// How the type reads in an error message: `uint32`, `array[string]`.
    public var typeDescription: String {
        if case .array(let t, _) = self { return "array[\(t.name)]" }
        return type.name
    }
}

/// Typed metadata lookups that throw one-line errors naming the file and the key.
extension GGUFFile {
    public func value(_ key: String) -> GGUFValue? { metadata[key] }

    public func requiredValue(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else { throw QLoRAError.format(path, "metadata key '\(key)' is missing") }
        return v
    }

    private func mismatch(_ key: String, _ v: GGUFValue, _ expected: String) -> QLoRAError {
        QLoRAError.format(path, "metadata key '\(key)' has type \(v.typeDescription), expected \(expected)")
    }

    /// An integer value, or nil when the key is absent; a non-integer value is an error.
    public func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        if case .uint64(let big) = v, v.int == nil {
            throw QLoRAError.format(path, "metadata key '\(key)' value \(big) is out of range")
        }
        guard let i = v.int else { throw mismatch(key, v, "an integer") }
        return i
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.double else { throw mismatch(key, v, "a float") }
        return d
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.bool else { throw mismatch(key, v, "bool") }
        return b
    }

    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.string else { throw mismatch(key, v, "string") }
        return s
    }

    public func strings(_ key: String) throws -> [String]? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.strings else { throw mismatch(key, v, "array[string]") }
        return s
    }

    public func ints(_ key: String) throws -> [Int]? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.ints else { throw mismatch(key, v, "an integer array") }
        return s
    }

    public func floatArray(_ key: String) throws -> [Float]? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.floats else { throw mismatch(key, v, "a float array") }
        return s
    }

    public func requiredInt(_ key: String) throws -> Int {
        guard let i = try int(key) else { throw QLoRAError.format(path, "metadata key '\(key)' is missing") }
        return i
    }

    /// `general.architecture` (e.g. "llama"), the prefix of the model's own keys.
    public var architecture: String? { metadata["general.architecture"]?.string }
}
