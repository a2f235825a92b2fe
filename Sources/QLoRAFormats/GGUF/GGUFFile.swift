import QLoRACore

/// One tensor's entry in a GGUF header.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: `dims[0]` (ne0) is the contiguous, fastest-varying dimension. A linear weight
    /// of `in` inputs and `out` outputs is `[in, out]`.
    public let dims: [Int]
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    public let byteCount: Int
    public let elementCount: Int

    /// Row-major shape, outermost first (the dims reversed): `[out, in]` for a linear weight, the
    /// shape numpy, torch and Hugging Face give the same data.
    public var shape: [Int] { dims.reversed() }
}

/// A memory-mapped GGUF file (versions 2 and 3) with a fully validated header.
///
/// Layout (all little-endian):
///
/// | field | type |
/// | --- | --- |
/// | magic | `"GGUF"` (4 bytes) |
/// | version | u32 (2 or 3; 1 used u32 counts and is refused) |
/// | tensor count, metadata count | u64, u64 |
/// | metadata | count × (key: string, value type: u32, value) |
/// | tensor infos | count × (name: string, n_dims: u32, dims: u64 × n_dims, ggml type: u32, offset: u64) |
/// | padding | to `general.alignment` (default 32) |
/// | data | tensor bytes at their offsets (relative to the data start, each aligned) |
///
/// A string is a u64 byte length and UTF-8 bytes; an array is an element type (u32), a count
/// (u64) and the elements. Validation: magic and version; every count and length fits in the
/// bytes that remain before anything is allocated; no duplicate keys or tensor names; alignment a
/// power of two; 0–4 dims, no element count beyond 2^48; a known ggml type (else
/// "unsupported GGUF tensor type N for tensor X"); rows a whole number of blocks; offsets aligned,
/// data inside the file and not overlapping. Tensor bytes are never copied until asked for.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let version: UInt32
    /// Every metadata key/value (the file's own header fields excluded).
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, or 32.
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataStart: Int
    private let tensorIndex: [String: Int]

    /// "GGUF" read as a little-endian u32.
    public static let magic: UInt32 = 0x4655_4747
    public static let defaultAlignment = 32
    public static let maxDims = 4
    public static let maxElements = 1 << 48

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Reads the GGUF file held in `file` (a map, or bytes in memory); errors name `file.path`.
    public init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        self.file = file
        var cursor = GGUFCursor(file: file)

        let magic = try cursor.read(UInt32.self, "magic")
        guard magic == Self.magic else { throw Self.badMagic(path, magic) }
        version = try cursor.read(UInt32.self, "version")
        try Self.checkVersion(path, version)

        // A tensor info takes at least 24 bytes (name length, n_dims, type, offset); a key/value
        // at least 13 (key length, value type, one byte).
        let tensorCount = try cursor.readCount("tensor count", minimumItemBytes: 24)
        let kvCount = try cursor.readCount("metadata count", minimumItemBytes: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try cursor.readString("metadata key #\(i)")
            let type = try cursor.readValueType("metadata '\(key)'")
            let value = try cursor.readValue(type, "metadata '\(key)'")
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw QLoRAError.format(path, "duplicate metadata key '\(key)'")
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys
        alignment = try Self.alignment(path, metadata["general.alignment"])

        var raw: [(name: String, dims: [Int], type: GGMLType, elements: Int, relative: UInt64)] = []
        raw.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        for i in 0..<tensorCount {
            let name = try cursor.readString("tensor #\(i) name")
            let nDims = try cursor.read(UInt32.self, "tensor '\(name)' n_dims")
            guard nDims <= UInt32(Self.maxDims) else {
                throw QLoRAError.format(path, "tensor '\(name)' has \(nDims) dimensions (GGUF allows at most \(Self.maxDims))")
            }
            var dims: [Int] = []
            var elements = 1
            for d in 0..<Int(nDims) {
                let n = try cursor.read(UInt64.self, "tensor '\(name)' dim \(d)")
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(clamping: n))
                guard n <= UInt64(Self.maxElements), !overflow, product <= Self.maxElements else {
                    throw QLoRAError.format(path, "tensor '\(name)' is too large (dim \(d) = \(n); at most 2^48 elements)")
                }
                dims.append(Int(n))
                elements = product
            }
            let typeID = try cursor.read(UInt32.self, "tensor '\(name)' type")
            guard let type = GGMLType.lookup(typeID) else {
                throw QLoRAError.unsupported(path, "unsupported GGUF tensor type \(typeID) for tensor '\(name)'")
            }
            guard (dims.first ?? 1) % type.blockSize == 0 else {
                throw QLoRAError.format(path, "tensor '\(name)' row of \(dims.first ?? 1) elements is not a whole number of \(type.name) blocks of \(type.blockSize)")
            }
            let relative = try cursor.read(UInt64.self, "tensor '\(name)' offset")
            guard index.updateValue(i, forKey: name) == nil else {
                throw QLoRAError.format(path, "duplicate tensor name '\(name)'")
            }
            raw.append((name, dims, type, elements, relative))
        }
        tensorIndex = index

        cursor.align(to: alignment)
        dataStart = cursor.offset
        let dataBytes = file.count - dataStart
        guard dataBytes >= 0 || raw.isEmpty else {
            throw QLoRAError.format(path, "truncated GGUF file: data section would start at byte \(dataStart), file has \(file.count) bytes")
        }
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(raw.count)
        for t in raw {
            let bytes = t.type.byteCount(elements: t.elements)!  // rows are whole blocks, elements ≤ 2^48
            guard t.relative % UInt64(alignment) == 0 else {
                throw QLoRAError.format(path, "tensor '\(t.name)' offset \(t.relative) is not a multiple of the alignment \(alignment)")
            }
            guard t.relative <= UInt64(max(dataBytes, 0)), bytes <= dataBytes - Int(t.relative) else {
                throw QLoRAError.format(path, "tensor '\(t.name)' data [\(t.relative), \(t.relative &+ UInt64(bytes))) lies outside the data section (\(max(dataBytes, 0)) bytes; file truncated?)")
            }
            infos.append(GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: dataStart + Int(t.relative),
                                        byteCount: bytes, elementCount: t.elements))
        }
        var end = dataStart
        for t in infos.sorted(by: { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }) where t.byteCount > 0 {
            guard t.offset >= end else {
                throw QLoRAError.format(path, "tensor '\(t.name)' data overlaps the previous tensor's data")
            }
            end = t.offset + t.byteCount
        }
        tensors = infos
    }

    // MARK: Header checks

    static func badMagic(_ path: String, _ magic: UInt32) -> QLoRAError {
        let bytes = withUnsafeBytes(of: magic.littleEndian) { Array($0) }
        let text = String(decoding: bytes.map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
        // llama.cpp's formats before GGUF wrote their magic as a u32: 'ggml', 'ggmf', 'ggjt'.
        let legacy: [UInt32: String] = [0x6767_6D6C: "GGML", 0x6767_6D66: "GGMF", 0x6767_6A74: "GGJT"]
        if let name = legacy[magic] {
            return QLoRAError.unsupported(path, "a legacy \(name) file (llama.cpp's format before GGUF); convert it to GGUF with llama.cpp first")
        }
        return QLoRAError.format(path, "not a GGUF file (starts with '\(text)', expected 'GGUF')")
    }

    static func checkVersion(_ path: String, _ version: UInt32) throws {
        switch version {
        case 2, 3: return
        case 1:
            throw QLoRAError.unsupported(path, "GGUF version 1 is not supported (a 2023 pre-release format with 32-bit counts); convert the model again with a current llama.cpp")
        case let v where v.byteSwapped == 2 || v.byteSwapped == 3:
            throw QLoRAError.unsupported(path, "big-endian GGUF (version \(v.byteSwapped)) is not supported; use a little-endian file")
        default:
            throw QLoRAError.unsupported(path, "unsupported GGUF version \(version) (this reader reads versions 2 and 3)")
        }
    }

    static func alignment(_ path: String, _ value: GGUFValue?) throws -> Int {
        guard let value else { return defaultAlignment }
        guard case .uint32(let a) = value else {
            throw QLoRAError.format(path, "general.alignment has type \(value.typeDescription), expected uint32")
        }
        guard a > 0, a & (a - 1) == 0 else {
            throw QLoRAError.format(path, "general.alignment \(a) is not a power of two")
        }
        return Int(a)
    }

    // MARK: Tensors

    /// The tensor called `name`, or a not-found error naming the file.
    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let i = tensorIndex[name] else { throw QLoRAError(.notFound, "\(path): no tensor named '\(name)'") }
        return tensors[i]
    }

    public func hasTensor(_ name: String) -> Bool { tensorIndex[name] != nil }

    /// The tensor's stored bytes, straight from the map.
    public func rawBytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        file.bytes(at: info.offset, count: info.byteCount)
    }

    /// The tensor dequantized to Float32, in the file's order (row-major over `info.shape`).
    public func floats(_ info: GGUFTensorInfo) throws -> [Float] {
        guard info.type.canDequantize else {
            throw QLoRAError.unsupported(path, "unsupported GGUF tensor type \(info.type.id) (\(info.type.name)) for tensor '\(info.name)'")
        }
        return [Float](unsafeUninitializedCapacity: info.elementCount) { buffer, count in
            info.type.dequantize(rawBytes(info), into: UnsafeMutableBufferPointer(rebasing: buffer[0..<info.elementCount]))
            count = info.elementCount
        }
    }

    public func floats(_ name: String) throws -> [Float] {
        try floats(tensor(name))
    }
}
