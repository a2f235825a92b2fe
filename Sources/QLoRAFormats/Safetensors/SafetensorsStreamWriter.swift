import Foundation
import QLoRACore

/// Writes a safetensors file tensor by tensor without holding the tensors in memory, for outputs
/// larger than memory (`qlora quantize` of an 8B model). The header comes first in the file but
/// needs every tensor's offset, so `headerCapacity` bytes are set aside for it (a bound the caller
/// computes from the tensor names it will add), the data follows as it comes, and `finish` writes
/// the header into the space, padded with spaces (which safetensors allows after the JSON) to fill
/// it. One pass, no temporary copy. Write it inside an `AtomicOutput.directory` (it is not atomic
/// itself); every write goes through `OutputFile` (and its write-fault hook).
public final class SafetensorsStreamWriter {
    public struct Entry {
        public var name: String
        public var dtype: TensorDType
        public var shape: [Int]
        public var byteCount: Int
    }

    public let path: String
    public private(set) var entries: [Entry] = []
    public var metadata: [String: String] = [:]
    public let headerCapacity: Int
    private let out: OutputFile

    /// Header bytes that always suffice for one entry named `name` (dtype, shape of ≤ 4 dims and
    /// offsets of ≤ 20 digits each, quotes and separators).
    public static func headerBound(name: String) -> Int { jsonString(name).utf8.count + 200 }

    /// - headerCapacity: at least the header's length; rounded up to a multiple of 8.
    public init(path: String, headerCapacity: Int) throws {
        self.path = path
        self.headerCapacity = (headerCapacity + 7) / 8 * 8
        out = try OutputFile(path: path)
        try out.write([UInt8](repeating: 0x20, count: 8 + self.headerCapacity))
    }

    public func add(_ name: String, dtype: TensorDType, shape: [Int], bytes: UnsafeRawBufferPointer) throws {
        precondition(shape.reduce(1, *) * dtype.size == bytes.count, "\(name): shape and byte count disagree")
        try out.write(bytes)
        entries.append(Entry(name: name, dtype: dtype, shape: shape, byteCount: bytes.count))
    }

    /// Adds every tensor of an in-memory writer, in its order.
    public func add(_ small: SafetensorsWriter) throws {
        for e in small.entries {
            try e.data.withUnsafeBytes { try add(e.name, dtype: e.dtype, shape: e.shape, bytes: $0) }
        }
    }

    /// Writes the header into its space and closes the file (fsync'd).
    public func finish() throws {
        var header = SafetensorsWriter.headerBytes(metadata: metadata,
                                                   entries: entries.map { ($0.name, $0.dtype, $0.shape, $0.byteCount) })
        guard header.count <= headerCapacity else {
            throw QLoRAError.io(path, "internal error: the header (\(header.count) B) outgrew its reserved \(headerCapacity) B")
        }
        header += [UInt8](repeating: 0x20, count: headerCapacity - header.count)
        var prefix = withUnsafeBytes(of: UInt64(headerCapacity).littleEndian) { [UInt8]($0) }
        prefix += header
        try prefix.withUnsafeBytes { try out.overwrite(at: 0, $0) }
        try out.finish()
    }
}
