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
        let stored = (Int(map.load(UInt32.self, at: 12)!), Int(map.load(UInt64.self, at: 16)!),
                      Int(map.load(UInt64.self, at: 24)!), Int(map.load(UInt64.self, at: 32)!))
        guard stored == (l.stateCount, l.pageBytes, l.elementCount, l.pageCount) else {
            throw QLoRAError.format(path, "optimizer state of \(stored.2) elements × \(stored.0) in \(stored.3) pages of \(stored.1) B does not match this run's \(l.elementCount) × \(l.stateCount) in \(l.pageCount) pages of \(l.pageBytes) B")
        }
        guard map.count == headerBytes + l.pageCount * l.pageBytes else {
            throw QLoRAError.format(path, "optimizer state is \(map.count) bytes, expected \(headerBytes + l.pageCount * l.pageBytes)")
        }
        try optimizer.writeState { k, page in
            let offset = headerBytes + k * l.pageBytes
            page.copyMemory(from: map.bytes(at: offset, count: l.pageBytes))
            map.dropPages(at: offset, count: l.pageBytes)
        }
        optimizer.stepCount = Int(map.load(UInt64.self, at: 40)!)
    }
}
