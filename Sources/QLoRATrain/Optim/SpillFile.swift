#if canImport(Glibc)
import Glibc
#endif
import QLoRACore

/// The file beside a run that holds optimizer pages that are not resident, each zstd-compressed in
/// its own extent. Extents are reused in place when a page's new compressed form fits, otherwise
/// freed (and merged with free neighbours) for first-fit reuse, so the file stays near the sum of
/// the compressed pages. The file is scratch: it is removed when the pager closes, and checkpoints
/// never refer to it.
final class SpillFile {
    /// A byte range of the file holding one compressed page: `length` used of `capacity`.
    struct Extent: Equatable {
        var offset: Int
        var capacity: Int
        var length: Int
    }

    /// Extent capacities are multiples of this (small, so tiny pages still shrink on disk).
    static let granule = 64

    let path: String
    private let fd: Int32
    private var free: [(offset: Int, capacity: Int)] = []  // sorted by offset, never adjacent
    private(set) var fileBytes = 0
    private var closed = false

    /// Creates (truncating) the spill file; an unwritable directory is a one-line error.
    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw QLoRAError.io(path, "cannot create the optimizer spill file: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close() }

    /// Closes and removes the file (only a regular file or a symlink: never a device node).
    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG || (st.st_mode & S_IFMT) == S_IFLNK {
            unlink(path)
        }
    }

    /// Writes `length` bytes from `bytes` into `old` if they fit, else into a new extent (freeing
    /// `old`); returns where they went.
    func write(_ bytes: UnsafeRawPointer, length: Int, replacing old: Extent?) throws -> Extent {
        var extent: Extent
        if let old, old.capacity >= length {
            extent = old
        } else {
            if let old { release(old) }
            extent = allocate(length)
        }
        extent.length = length
        try pwriteAll(bytes, length, at: extent.offset)
        return extent
    }

    /// Reads an extent's bytes into `buffer` (at least `extent.length` bytes).
    func read(_ extent: Extent, into buffer: UnsafeMutableRawPointer) throws {
        var done = 0
        while done < extent.length {
            let n = pread(fd, buffer + done, extent.length - done, off_t(extent.offset + done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw QLoRAError.io(path, "cannot read the optimizer spill file: \(String(cString: strerror(errno)))") }
            if n == 0 { throw QLoRAError.format(path, "optimizer spill file is shorter than its pages (was it truncated?)") }
            done += n
        }
    }

    /// Returns an extent to the free list, merging it with free neighbours.
    func release(_ extent: Extent) {
        var lo = extent.offset, hi = extent.offset + extent.capacity
        var i = free.firstIndex { $0.offset > lo } ?? free.count
        if i > 0, free[i - 1].offset + free[i - 1].capacity == lo {
            lo = free[i - 1].offset
            free.remove(at: i - 1)
            i -= 1
        }
        if i < free.count, free[i].offset == hi {
            hi = free[i].offset + free[i].capacity
            free.remove(at: i)
        }
        free.insert((lo, hi - lo), at: i)
    }

    private func allocate(_ length: Int) -> Extent {
        let capacity = max(Self.granule, (length + Self.granule - 1) / Self.granule * Self.granule)
        if let i = free.firstIndex(where: { $0.capacity >= capacity }) {
            let slot = free[i]
            if slot.capacity == capacity {
                free.remove(at: i)
            } else {
                free[i] = (slot.offset + capacity, slot.capacity - capacity)
            }
            return Extent(offset: slot.offset, capacity: capacity, length: 0)
        }
        let extent = Extent(offset: fileBytes, capacity: capacity, length: 0)
        fileBytes += capacity
        return extent
    }

    /// Bytes of the file written so far (what the disk holds for it).
    private var writtenEnd = 0

    private func pwriteAll(_ bytes: UnsafeRawPointer, _ length: Int, at offset: Int) throws {
        // Growth past what was written takes disk space: the write-fault hook may refuse it.
        let growth = max(0, offset + length - writtenEnd)
        if growth > 0 {
            guard WriteFaults.grant(growth) == growth else { throw QLoRAError.io(path, "no space left on device") }
            writtenEnd = offset + length
        }
        var done = 0
        while done < length {
            let n = pwrite(fd, bytes + done, length - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                if errno == ENOSPC { throw QLoRAError.io(path, "no space left on device") }
                throw QLoRAError.io(path, "cannot write the optimizer spill file: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}
