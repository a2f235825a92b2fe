import QLoRACore

/// A forward reader over a mapped GGUF header that never reads past the end of the file and never
/// allocates for a count it has not first checked against the bytes that remain.
///
/// Every read names what it reads, so a truncated or corrupt file gives a one-line error such as
/// `model.gguf: truncated GGUF file: tensor count at byte 8 needs 8 bytes, 3 remain`.
struct GGUFCursor {
    let file: MappedFile
    private(set) var offset: Int

    /// Deepest array nesting accepted (real files use 1; the bound keeps recursion finite).
    static let maxArrayDepth = 8

    init(file: MappedFile, offset: Int = 0) {
        self.file = file
        self.offset = offset
    }

    var path: String { file.path }
    var remaining: Int { file.count - offset }

    func truncated(_ what: String, needs: Int) -> QLoRAError {
        QLoRAError.format(path, "truncated GGUF file: \(what) at byte \(offset) needs \(needs) bytes, \(max(remaining, 0)) remain")
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        guard let v = file.load(T.self, at: offset) else {
            throw truncated(what(), needs: MemoryLayout<T>.size)
        }
        offset += MemoryLayout<T>.size
        return v
    }

    /// A u64 count, checked so that `count` items of at least `minimumItemBytes` each still fit
    /// in the file: a header claiming 2^60 elements fails here, before anything is allocated.
    mutating func readCount(_ what: @autoclosure () -> String, minimumItemBytes: Int) throws -> Int {
        let n = try read(UInt64.self, what())
        let fits = UInt64(max(remaining, 0)) / UInt64(max(minimumItemBytes, 1))
        guard n <= fits else {
            throw QLoRAError.format(path, "corrupt or truncated GGUF file: \(what()) \(n) at byte \(offset - 8) cannot fit in the \(remaining) bytes that remain")
        }
        return Int(n)
    }

    /// A GGUF string: u64 byte length, then that many UTF-8 bytes (invalid sequences become
    /// U+FFFD). A length beyond the end of the file is an error before any allocation.
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let n = try read(UInt64.self, "\(what()) length")
        guard n <= UInt64(max(remaining, 0)) else {
            throw QLoRAError.format(path, "corrupt or truncated GGUF file: \(what()) at byte \(offset - 8) claims \(n) bytes, \(remaining) remain")
        }
        let bytes = file.bytes(at: offset, count: Int(n))
        offset += Int(n)
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func readValueType(_ what: @autoclosure () -> String) throws -> GGUFValueType {
        let raw = try read(UInt32.self, "\(what()) type")
        guard let t = GGUFValueType(rawValue: raw) else {
            throw QLoRAError.format(path, "\(what()) has unknown value type \(raw) at byte \(offset - 4)")
        }
        return t
    }

    /// One metadata value of type `type` (arrays recursively, up to `maxArrayDepth`).
    mutating func readValue(
        _ type: GGUFValueType, _ what: @autoclosure () -> String, depth: Int = 0
    ) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, what()))
        case .int8: return .int8(try read(Int8.self, what()))
        case .uint16: return .uint16(try read(UInt16.self, what()))
        case .int16: return .int16(try read(Int16.self, what()))
        case .uint32: return .uint32(try read(UInt32.self, what()))
        case .int32: return .int32(try read(Int32.self, what()))
        case .uint64: return .uint64(try read(UInt64.self, what()))
        case .int64: return .int64(try read(Int64.self, what()))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, what())))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, what())))
        case .bool: return .bool(try read(UInt8.self, what()) != 0)  // as ggml and gguf-py read it
        case .string: return .string(try readString(what()))
        case .array:
            guard depth < Self.maxArrayDepth else {
                throw QLoRAError.format(path, "\(what()) nests arrays deeper than \(Self.maxArrayDepth) levels")
            }
            let elementType = try readValueType("\(what()) element")
            let count = try readCount("\(what()) element count", minimumItemBytes: elementType.minimumSize)
            var items: [GGUFValue] = []
            items.reserveCapacity(count)
            for i in 0..<count {
                items.append(try readValue(elementType, "\(what())[\(i)]", depth: depth + 1))
            }
            return .array(elementType, items)
        }
    }

    /// Moves to the next multiple of `alignment` (a power of two).
    mutating func align(to alignment: Int) {
        offset = (offset + alignment - 1) & ~(alignment - 1)
    }
}
