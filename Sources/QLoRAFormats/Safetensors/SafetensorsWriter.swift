import Foundation
import QLoRACore

/// Builds a safetensors file: tensors are added in order, the header is written with 8-byte
/// alignment (space-padded), and the file appears atomically when `write(to:)` completes.
public struct SafetensorsWriter {
    public struct Entry {
        public var name: String
        public var dtype: TensorDType
        public var shape: [Int]
        public var data: Payload
    }

    /// A tensor's bytes as the caller has them: added arrays are kept as they are (a Float array
    /// shares its storage rather than being copied to bytes), and `borrowing` memory is read only
    /// when the file is written, so writing an adapter or a checkpoint costs no second copy of the
    /// trainable parameters.
    public enum Payload {
        case bytes([UInt8])
        case floats([Float])
        case borrowed(UnsafeRawBufferPointer)

        public var count: Int {
            switch self {
            case .bytes(let b): return b.count
            case .floats(let f): return 4 * f.count
            case .borrowed(let p): return p.count
            }
        }

        /// The bytes as an array (a copy; for tests and small tensors).
        public var byteArray: [UInt8] { withUnsafeBytes { [UInt8]($0) } }

        public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            switch self {
            case .bytes(let b): return try b.withUnsafeBytes(body)
            case .floats(let f): return try f.withUnsafeBytes(body)
            case .borrowed(let p): return try body(p)
            }
        }
    }

    public private(set) var entries: [Entry] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
        append(Entry(name: name, dtype: dtype, shape: shape, data: .bytes(bytes)))
    }

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        append(Entry(name: name, dtype: .f32, shape: shape, data: .floats(floats)))
    }

    /// Adds a tensor whose bytes stay in the caller's memory; they must stay valid and unchanged
    /// until `write(to:)` or `fileBytes()` has returned.
    public mutating func add(_ name: String, dtype: TensorDType, shape: [Int], borrowing bytes: UnsafeRawBufferPointer) {
        append(Entry(name: name, dtype: dtype, shape: shape, data: .borrowed(bytes)))
    }

    private mutating func append(_ e: Entry) {
        precondition(e.shape.reduce(1, *) * e.dtype.size == e.data.count, "\(e.name): shape and byte count disagree")
        entries.append(e)
    }

    /// Adds Float32 values stored as f16 or bf16 (round to nearest even) or f32.
    public mutating func add(_ name: String, shape: [Int], floats: [Float], as dtype: TensorDType) {
        switch dtype {
        case .f32: add(name, shape: shape, floats: floats)
        case .f16:
            let h = floats.map { HalfFloat.floatToF16($0) }
            add(name, dtype: .f16, shape: shape, bytes: h.withUnsafeBytes { [UInt8]($0) })
        case .bf16:
            let h = floats.map { HalfFloat.floatToBF16($0) }
            add(name, dtype: .bf16, shape: shape, bytes: h.withUnsafeBytes { [UInt8]($0) })
        default: preconditionFailure("cannot store floats as \(dtype)")
        }
    }

    /// The header JSON (keys sorted, as the reference implementation writes them).
    public func headerBytes() -> [UInt8] {
        Self.headerBytes(metadata: metadata, entries: entries.map { ($0.name, $0.dtype, $0.shape, $0.data.count) })
    }

    /// The header for tensors stored in this order with these byte counts.
    public static func headerBytes(metadata: [String: String],
                                   entries: [(name: String, dtype: TensorDType, shape: [Int], byteCount: Int)]) -> [UInt8] {
        var offset = 0
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(m.joined(separator: ","))}")
        }
        var ranges: [String: (Int, Int)] = [:]
        for e in entries {
            ranges[e.name] = (offset, offset + e.byteCount)
            offset += e.byteCount
        }
        for e in entries.sorted(by: { $0.name < $1.name }) {
            let (b, end) = ranges[e.name]!
            let shape = e.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(b),\(end)]}")
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        return header
    }

    /// The whole file in memory (for small files: tests and fuzzers read it back with
    /// `SafetensorsFile(file: MappedFile(bytes:path:))`).
    public func fileBytes() -> [UInt8] {
        let header = headerBytes()
        var out = withUnsafeBytes(of: UInt64(header.count).littleEndian) { [UInt8]($0) }
        out += header
        for e in entries { e.data.withUnsafeBytes { out += $0 } }
        return out
    }

    /// Writes the file atomically (temporary sibling, fsync, rename).
    public func write(to path: String) throws {
        AtomicOutput.removeStaleTemporaries(of: path)
        let tmp = AtomicOutput.temporarySibling(of: path)
        do {
            let out = try OutputFile(path: tmp)
            let header = headerBytes()
            var n = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &n) { try out.write($0) }
            try out.write(header)
            for e in entries { try e.data.withUnsafeBytes { try out.write($0) } }
            try out.finish()
            try AtomicOutput.rename(tmp, to: path)
        } catch {
            AtomicOutput.removeTree(tmp)
            throw AtomicOutput.naming(error, temporary: tmp, final: path)
        }
    }
}

/// A JSON string literal for `s` (quotes, backslashes and control characters escaped, as
/// `serde_json` writes safetensors headers).
public func jsonString(_ s: String) -> String { JSONValue.string(s).serialized() }
