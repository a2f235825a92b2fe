import QLoRACore

/// `optimizer.bin`: every page of an optimizer's state, paged in and written in order.
///
/// Layout (little-endian): "QLORAOPT" magic (8 B), u32 version, u32 stateCount, u64 pageBytes,
/// u64 elementCount, u64 pageCount, u64 stepCount (48 B in all), then pageCount pages of pageBytes,
/// each `stateCount` runs of P Float32 (see `StateLayout`).
public enum OptimizerStateFile {
    public static let name = "optimizer.bin"
    static let magic = Array("QLORAOPT".utf8)
    static let version: UInt32 = 1
    static let headerBytes = 48

    static func write(_ optimizer: Optimizer, to path: String) throws {
        let file = try OutputFile(path: path)
        let l = optimizer.layout
        var header = magic
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        append(version)
        append(UInt32(l.stateCount))
        append(UInt64(l.pageBytes))
        append(UInt64(l.elementCount))
        append(UInt64(l.pageCount))
        append(UInt64(optimizer.stepCount))
        try file.write(header)
        try optimizer.readState { _, page in try file.write(page) }
        try file.finish()
    }

    /// Reads the state into `optimizer`, whose layout must match the file's.
    static func read(_ path: String, into optimizer: Optimizer) throws {
        let map = try MappedFile(path: path)
        guard map.count >= headerBytes, Array(map.bytes(at: 0, count: 8)) == magic else {
            throw QLoRAError.format(path, "not an optimizer state file (bad magic)")
        }
        guard map.load(UInt32.self, at: 8) == version else {
            throw QLoRAError.unsupported(path, "optimizer state version \(map.load(UInt32.self, at: 8)!); this build reads \(version)")
        }
        let l = optimizer.layout
        // Int(exactly:): a corrupt u64 above Int.max is a mismatch, not a trap.
        func field(_ offset: Int) -> Int { Int(exactly: map.load(UInt64.self, at: offset)!) ?? -1 }
        let stored = (Int(map.load(UInt32.self, at: 12)!), field(16), field(24), field(32))
        guard stored == (l.stateCount, l.pageBytes, l.elementCount, l.pageCount) else {
            throw QLoRAError.format(path, "optimizer state of \(stored.2) elements × \(stored.0) in \(stored.3) pages of \(stored.1) B does not match this run's \(l.elementCount) × \(l.stateCount) in \(l.pageCount) pages of \(l.pageBytes) B")
        }
        guard map.count == headerBytes + l.pageCount * l.pageBytes else {
            throw QLoRAError.format(path, "optimizer state is \(map.count) bytes, expected \(headerBytes + l.pageCount * l.pageBytes)")
        }
        guard let steps = Int(exactly: map.load(UInt64.self, at: 40)!) else {
            throw QLoRAError.format(path, "optimizer step count \(map.load(UInt64.self, at: 40)!) is out of range")
        }
        try optimizer.writeState { k, page in
            let offset = headerBytes + k * l.pageBytes
            page.copyMemory(from: map.bytes(at: offset, count: l.pageBytes))
            map.dropPages(at: offset, count: l.pageBytes)
        }
        optimizer.stepCount = steps
    }
}
