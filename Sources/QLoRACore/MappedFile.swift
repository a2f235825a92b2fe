#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Pages are read on first touch, so opening a large
/// checkpoint costs nothing until its tensors are used; the map lives as long as this object.
///
/// `init(bytes:path:)` gives the same view of bytes already in memory (a copy), so every parser
/// that reads a `MappedFile` also reads a buffer: fuzzers and tests use it without temp files.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    public let base: UnsafeRawPointer
    /// True when `base` is our own allocation (an empty file, or `init(bytes:path:)`), not a map.
    private let ownsAllocation: Bool

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw QLoRAError.io(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw QLoRAError.io(path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw QLoRAError.io(path, "not a regular file") }
        count = Int(st.st_size)
        if count == 0 {
            // mmap of length 0 fails; give an empty, valid pointer instead.
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            ownsAllocation = true
            return
        }
        ownsAllocation = false
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw QLoRAError.io(path, "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    /// A copy of `bytes` (an array, `Data`, a buffer), read as if it were the file `path` (the
    /// name errors give).
    public init<Bytes: Collection>(bytes: Bytes, path: String) where Bytes.Element == UInt8 {
        self.path = path
        count = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        _ = UnsafeMutableRawBufferPointer(start: p, count: count).copyBytes(from: bytes)
        base = UnsafeRawPointer(p)
        ownsAllocation = true
    }

    deinit {
        if ownsAllocation {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        }
    }

    /// The bytes [offset, offset+length) as a buffer; the caller has checked the range.
    public func bytes(at offset: Int, count length: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && length >= 0 && offset <= count - length, "range outside \(path)")
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    /// Tells the kernel the pages of [offset, offset+length) are no longer needed: clean file-backed
    /// pages leave the resident set at once (they are read again if touched). Used after a tensor has
    /// been copied into the engine's own layout, so loading does not hold two copies.
    public func dropPages(at offset: Int, count length: Int) {
        // Never on our own allocation: MADV_DONTNEED would zero anonymous memory, not drop a cache.
        guard !ownsAllocation, count > 0, length > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page  // only whole pages inside the range
        let end = (offset + length) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// Little-endian integer at `offset`, or nil when it does not fit in the file.
    @inline(__always)
    public func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        guard offset >= 0, offset <= count - MemoryLayout<T>.size else { return nil }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
