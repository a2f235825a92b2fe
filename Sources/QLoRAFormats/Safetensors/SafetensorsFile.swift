import Foundation
import QLoRACore

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: TensorDType
    public var shape: [Int]
    /// Absolute byte offset of the data in the file.
    public var offset: Int
    public var byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file with a fully validated header.
///
/// Layout: u64 little-endian header length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`, then the
/// data region; offsets are relative to it. Validation: N within bounds, JSON an object, known
/// dtypes, non-negative shapes, dtype size × elements = byte length, ranges inside the data region
/// and not overlapping. Tensor bytes are never copied until asked for.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let tensors: [String: TensorInfo]
    /// Tensor names in data order.
    public let names: [String]
    public let metadata: [String: String]

    /// Headers larger than this are refused (the format's own reference limit is 100 MB).
    public static let maxHeaderBytes = 100 << 20
    /// Tensors of more dimensions are refused (real ones have at most 5; the bound keeps a header of
    /// `[1,1,1,…]` from building a shape array of millions).
    public static let maxDims = 32

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Reads the safetensors file held in `file` (a map, or bytes in memory); errors name `file.path`.
    public init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        self.file = file
        guard let n64 = file.load(UInt64.self, at: 0) else {
            throw QLoRAError.format(path, "truncated safetensors file (\(file.count) bytes, no header length)")
        }
        guard n64 <= UInt64(Self.maxHeaderBytes) else {
            throw QLoRAError.format(path, "safetensors header length \(n64) exceeds \(Self.maxHeaderBytes) bytes")
        }
        let n = Int(n64)
        guard 8 + n <= file.count else {
            throw QLoRAError.format(path, "truncated safetensors file: header claims \(n) bytes, file has \(file.count - 8)")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(file.bytes(at: 8, count: n))
        } catch {
            throw QLoRAError.format(path, "safetensors header is not valid JSON: \(error)")
        }
        guard let object = json.members else {
            throw QLoRAError.format(path, "safetensors header is not a JSON object")
        }
        let dataStart = 8 + n
        let dataCount = file.count - dataStart
        var infos: [String: TensorInfo] = [:]
        var meta: [String: String] = [:]
        for (key, value) in object {
            if key == "__metadata__" {
                guard let m = value.members else {
                    throw QLoRAError.format(path, "__metadata__ is not an object")
                }
                for (k, v) in m {
                    guard let s = v.string else { throw QLoRAError.format(path, "__metadata__.\(k) is not a string") }
                    meta[k] = s
                }
                continue
            }
            infos[key] = try Self.parseEntry(key, value, dataStart: dataStart, dataCount: dataCount, path: path)
        }
        let sorted = infos.values.sorted { ($0.offset, $0.name) < ($1.offset, $1.name) }
        var end = dataStart
        for t in sorted where t.byteCount > 0 {
            guard t.offset >= end else {
                throw QLoRAError.format(path, "tensor '\(t.name)' overlaps the previous tensor's data")
            }
            end = t.offset + t.byteCount
        }
        tensors = infos
        names = sorted.map(\.name)
        metadata = meta
    }

    static func parseEntry(_ name: String, _ entry: JSONValue, dataStart: Int, dataCount: Int, path: String) throws -> TensorInfo {
        guard case .object = entry else {
            throw QLoRAError.format(path, "tensor '\(name)' entry is not an object")
        }
        guard let ds = entry["dtype"]?.string else { throw QLoRAError.format(path, "tensor '\(name)' has no dtype") }
        guard let dtype = TensorDType(rawValue: ds) else {
            throw QLoRAError.unsupported(path, "tensor '\(name)' has unknown dtype '\(ds)'")
        }
        guard let shapeAny = entry["shape"]?.array else { throw QLoRAError.format(path, "tensor '\(name)' has no shape") }
        guard shapeAny.count <= maxDims else {
            throw QLoRAError.format(path, "tensor '\(name)' has \(shapeAny.count) dimensions (at most \(maxDims) are read)")
        }
        var shape: [Int] = []
        var elements = 1
        for d in shapeAny {
            guard let n = jsonInt(d), n >= 0 else { throw QLoRAError.format(path, "tensor '\(name)' has an invalid shape") }
            shape.append(n)
            let (p, o) = elements.multipliedReportingOverflow(by: n)
            guard !o, p <= 1 << 48 else { throw QLoRAError.format(path, "tensor '\(name)' shape is too large") }
            elements = p
        }
        guard let offs = entry["data_offsets"]?.array, offs.count == 2,
              let begin = jsonInt(offs[0]), let end = jsonInt(offs[1]) else {
            throw QLoRAError.format(path, "tensor '\(name)' has invalid data_offsets")
        }
        guard begin >= 0, end >= begin, end <= dataCount else {
            throw QLoRAError.format(path, "tensor '\(name)' data_offsets [\(begin), \(end)] are outside the data region (\(dataCount) bytes)")
        }
        guard elements * dtype.size == end - begin else {
            throw QLoRAError.format(path, "tensor '\(name)': \(dtype.rawValue) × \(shape) needs \(elements * dtype.size) bytes, offsets give \(end - begin)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: end - begin)
    }

    public func info(_ name: String) throws -> TensorInfo {
        guard let t = tensors[name] else { throw QLoRAError(.notFound, "\(path): no tensor named '\(name)'") }
        return t
    }

    /// The tensor's raw bytes, straight from the map.
    public func raw(_ name: String) throws -> UnsafeRawBufferPointer {
        let t = try info(name)
        return file.bytes(at: t.offset, count: t.byteCount)
    }

    /// Drops the tensor's pages from the resident set (see `MappedFile.dropPages`).
    public func dropPages(_ name: String) {
        guard let t = tensors[name] else { return }
        file.dropPages(at: t.offset, count: t.byteCount)
    }

    /// The tensor converted to Float32 (a copy).
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        let src = file.base + t.offset
        return [Float](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            TensorConvert.toFloat(t.dtype, src, buf.baseAddress!, count: t.elementCount)
            n = t.elementCount
        }
    }

    /// The tensor's bytes, requiring dtype U8 (or I8/BOOL).
    public func bytes(_ name: String) throws -> [UInt8] {
        let t = try info(name)
        guard t.dtype.size == 1 else { throw QLoRAError.format(path, "tensor '\(name)' is \(t.dtype.rawValue), expected U8") }
        return [UInt8](try raw(name))
    }

    /// Integer tensors (I64/I32/U8…) as Int.
    public func ints(_ name: String) throws -> [Int] {
        try floats(name).map { Int($0) }
    }
}

/// A JSON number that is an exact non-fractional integer (`8` or `8.0`), or nil; never a boolean.
public func jsonInt(_ value: JSONValue) -> Int? {
    switch value {
    case .int(let i): return abs(Double(i)) < 9.0e15 ? i : nil
    case .double(let d) where d == d.rounded() && abs(d) < 9.0e15: return Int(d)
    default: return nil
    }
}
