import QLoRACore

/// Writes a GGUF file, version 3 (the layout `GGUFFile` documents): magic, version, counts, metadata
/// key/values, tensor infos with offsets aligned to `general.alignment` (32), padding, then each
/// tensor's bytes, padded to the alignment. Tensor bytes are asked for one tensor at a time, so a
/// whole model is never held; the file is written under a temporary name and renamed when complete.
public struct GGUFWriter {
    public struct Tensor {
        public var name: String
        /// ggml order: dims[0] (ne0) is the contiguous dimension (`in` for a linear weight).
        public var dims: [Int]
        public var type: GGMLType
        public init(name: String, dims: [Int], type: GGMLType) {
            self.name = name
            self.dims = dims
            self.type = type
        }
        public var byteCount: Int { type.byteCount(elements: dims.reduce(1, *))! }
    }

    public static let version: UInt32 = 3
    public var alignment = GGUFFile.defaultAlignment
    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [Tensor] = []

    public init() {}

    /// Writes the file at `path` atomically; `data(i)` returns tensor i's bytes (`byteCount` long).
    public func write(to path: String, data: (Int) throws -> [UInt8]) throws {
        var header: [UInt8] = []
        header.appendLE(GGUFFile.magic)
        header.appendLE(Self.version)
        header.appendLE(UInt64(tensors.count))
        header.appendLE(UInt64(metadata.count))
        for (key, value) in metadata {
            header.appendGGUFString(key)
            header.appendLE(value.type.rawValue)
            value.encode(into: &header)
        }
        var offset = 0
        for t in tensors {
            header.appendGGUFString(t.name)
            header.appendLE(UInt32(t.dims.count))
            for d in t.dims { header.appendLE(UInt64(d)) }
            header.appendLE(t.type.id)
            header.appendLE(UInt64(offset))
            offset += Self.padded(t.byteCount, alignment)
        }
        header += [UInt8](repeating: 0, count: Self.padded(header.count, alignment) - header.count)
        let tmp = AtomicOutput.temporarySibling(of: path)
        do {
            let file = try OutputFile(path: tmp)
            try file.write(header)
            for (i, t) in tensors.enumerated() {
                let bytes = try data(i)
                precondition(bytes.count == t.byteCount, "\(t.name): \(bytes.count) bytes for \(t.byteCount)")
                try file.write(bytes)
                try file.write([UInt8](repeating: 0, count: Self.padded(bytes.count, alignment) - bytes.count))
            }
            try file.finish()
            try AtomicOutput.rename(tmp, to: path)
        } catch {
            AtomicOutput.removeTree(tmp)
            throw error
        }
    }

    static func padded(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

/// ggml's reference encoders for the types the writer produces (`quantize_row_q8_0_ref`,
/// `ggml_fp32_to_fp16_row`).
public enum GGMLEncode {
    public static func f32(_ x: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4 * x.count)
        for v in x { out.appendLE(v.bitPattern) }
        return out
    }

    public static func f16(_ x: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 * x.count)
        for v in x { out.appendLE(HalfFloat.floatToF16(v)) }
        return out
    }

    /// Q8_0: blocks of 32 as (d: f16, qs: 32 × int8) with d = max|x| / 127 and qs = round(x / d)
    /// (rounded half away from zero, with 1/d taken from the Float32 d, as ggml does).
    public static func q8_0(_ x: [Float]) -> [UInt8] {
        precondition(x.count % 32 == 0, "Q8_0 needs a multiple of 32 values")
        var out: [UInt8] = []
        out.reserveCapacity(x.count / 32 * 34)
        for b in stride(from: 0, to: x.count, by: 32) {
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[b + j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            out.appendLE(HalfFloat.floatToF16(d))
            for j in 0..<32 { out.append(UInt8(bitPattern: Int8((x[b + j] * id).rounded()))) }
        }
        return out
    }
}

extension GGUFValue {
    /// The value's bytes as GGUF stores them (its type code is written by the caller).
    func encode(into out: inout [UInt8]) {
        switch self {
        case .uint8(let v): out.append(v)
        case .int8(let v): out.append(UInt8(bitPattern: v))
        case .uint16(let v): out.appendLE(v)
        case .int16(let v): out.appendLE(UInt16(bitPattern: v))
        case .uint32(let v): out.appendLE(v)
        case .int32(let v): out.appendLE(UInt32(bitPattern: v))
        case .uint64(let v): out.appendLE(v)
        case .int64(let v): out.appendLE(UInt64(bitPattern: v))
        case .float32(let v): out.appendLE(v.bitPattern)
        case .float64(let v): out.appendLE(v.bitPattern)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let s): out.appendGGUFString(s)
        case .array(let type, let items):
            out.appendLE(type.rawValue)
            out.appendLE(UInt64(items.count))
            for item in items { item.encode(into: &out) }
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendGGUFString(_ s: String) {
        let bytes = Array(s.utf8)
        appendLE(UInt64(bytes.count))
        append(contentsOf: bytes)
    }
}
