import QLoRACore

/// TFRecord framing, the container of TensorBoard's event files: each record is
/// `uint64 length, uint32 masked CRC-32C of the length bytes, data, uint32 masked CRC-32C of data`,
/// all little-endian.
public enum TFRecord {
    /// One framed record.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = littleEndian(UInt64(data.count))
        out += length
        out += littleEndian(CRC32C.masked(length))
        out += data
        out += littleEndian(CRC32C.masked(data))
        return out
    }

    /// A record read back: its data and the byte offset just past it.
    public struct Record {
        public var data: [UInt8]
        public var end: Int
    }

    /// Reads records until the end of `bytes` or the first incomplete one (a tail torn by a kill
    /// ends the list: `torn` is true then). A record whose checksum does not match throws.
    public static func read(_ bytes: [UInt8]) throws -> (records: [Record], torn: Bool) {
        var records: [Record] = []
        var at = 0
        while at < bytes.count {
            guard let r = try next(bytes, at: at) else { return (records, true) }
            records.append(r)
            at = r.end
        }
        return (records, false)
    }

    /// The record starting at byte `at`, or nil when the bytes end inside it.
    public static func next(_ bytes: [UInt8], at: Int) throws -> Record? {
        guard bytes.count - at >= 12 else { return nil }
        let lengthBytes = bytes[at..<at + 8]
        guard CRC32C.masked(lengthBytes) == uint32(bytes, at + 8) else {
            throw QLoRAError.invalid("TFRecord at byte \(at): the length's checksum does not match")
        }
        let length = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(bytes.count - at - 12), bytes.count - at - 12 - Int(length) >= 4 else { return nil }
        let start = at + 12, end = start + Int(length)
        let data = Array(bytes[start..<end])
        guard CRC32C.masked(data) == uint32(bytes, end) else {
            throw QLoRAError.invalid("TFRecord at byte \(at): the data's checksum does not match")
        }
        return Record(data: data, end: end + 4)
    }

    static func uint32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * $1) }
    }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
    }
}
