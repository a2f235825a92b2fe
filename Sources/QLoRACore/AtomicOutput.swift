import CQLoRASupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes outputs so that a reader sees either nothing, the previous complete version, or the new
/// complete version — never a partial file: data goes to a temporary sibling, is fsync'ed, and is
/// renamed over the final name. Directories are built as a temporary sibling directory and renamed
/// into place the same way.
public enum AtomicOutput {
    /// A temporary sibling name for `path` in the same directory (so rename is atomic).
    public static func temporarySibling(of path: String) -> String {
        let (dir, name) = splitPath(path)
        return dir + "/." + name + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        removeStaleTemporaries(of: path)
        let tmp = temporarySibling(of: path)
        do {
            let file = try OutputFile(path: tmp)
            try file.write(bytes)
            try file.finish()
            try rename(tmp, to: path)
        } catch {
            unlink(tmp)
            throw naming(error, temporary: tmp, final: path)
        }
    }

    public static func write(_ bytes: [UInt8], to path: String) throws {
        try bytes.withUnsafeBytes { try write($0, to: path) }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Builds a directory at `path` atomically: `body` fills a temporary sibling directory; when it
    /// returns, the directory is fsync'ed and renamed into place (replacing an old one in a single
    /// atomic exchange where the kernel supports it). If `body`
    /// throws, the temporary directory is removed and nothing at `path` changes.
    public static func directory<T>(at path: String, _ body: (String) throws -> T) throws -> T {
        removeStaleTemporaries(of: path)
        let tmp = temporarySibling(of: path)
        guard mkdir(tmp, 0o755) == 0 else {
            throw QLoRAError.io(path, "cannot create output directory: \(String(cString: strerror(errno)))")
        }
        do {
            let result = try body(tmp)
            try syncDirectory(tmp)
            var st = stat()
            if lstat(path, &st) == 0 {
                if qlora_rename_exchange(tmp, path) == 0 {
                    // Swapped in one step: `tmp` now holds the old directory.
                    removeTree(tmp)
                } else {
                    // No atomic exchange here: move the old one aside, swap in, delete the old one.
                    let old = temporarySibling(of: path)
                    try rename(path, to: old)
                    try rename(tmp, to: path)
                    removeTree(old)
                }
            } else {
                try rename(tmp, to: path)
            }
            try syncDirectory(splitPath(path).0)
            return result
        } catch {
            removeTree(tmp)
            throw naming(error, temporary: tmp, final: path)
        }
    }

    /// Removes `path` (a file or a tree) so that it is never seen half-deleted: it is first renamed
    /// to a hidden temporary sibling, which a kill may leave behind but never at `path`.
    public static func remove(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        let aside = temporarySibling(of: path)
        try rename(path, to: aside)
        removeTree(aside)
    }

    /// Removes temporary siblings of `path` left by processes that no longer exist (a write killed
    /// by SIGKILL cannot clean up after itself); those of live processes are left alone.
    public static func removeStaleTemporaries(of path: String) {
        let (dir, name) = splitPath(path)
        let prefix = "." + name + ".tmp-"
        guard let d = opendir(dir) else { return }
        var stale: [String] = []
        while let entry = readdir(d) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard entryName.hasPrefix(prefix),
                  let pid = Int32(entryName.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { stale.append(dir + "/" + entryName) }
        }
        closedir(d)
        for p in stale { removeTree(p) }
    }

    /// An error about a file under the temporary name `temporary`, reworded to name `final` (the
    /// path the user asked for; the temporary one is gone by the time they read the message).
    public static func naming(_ error: Error, temporary: String, final: String) -> Error {
        guard let e = error as? QLoRAError, e.message.contains(temporary) else { return error }
        return QLoRAError(e.kind, e.message.replacing(temporary, with: final))
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw QLoRAError.io(to, "cannot rename into place: \(String(cString: strerror(errno)))")
        }
    }

    public static func syncDirectory(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Removes a file or a directory tree (best effort; used for cleanup only).
    public static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if let d = opendir(path) {
                while let entry = readdir(d) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                    }
                    if name == "." || name == ".." { continue }
                    removeTree(path + "/" + name)
                }
                closedir(d)
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func splitPath(_ path: String) -> (String, String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        if let slash = p.lastIndex(of: "/") {
            let dir = String(p[..<slash])
            return (dir.isEmpty ? "/" : dir, String(p[p.index(after: slash)...]))
        }
        return (".", p)
    }
}

/// A file opened for writing with buffered appends; errors name the path (ENOSPC says "no space left").
public final class OutputFile {
    public let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var closed = false

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw QLoRAError.io(path, "cannot create: \(String(cString: strerror(errno)))")
        }
        buffer.reserveCapacity(bufferLimit)
    }

    /// Opens `path` for appending (created if missing): for logs that grow line by line
    /// (metrics.jsonl); `flush()` after each line puts it on disk.
    public init(appendingTo path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw QLoRAError.io(path, "cannot open for appending: \(String(cString: strerror(errno)))")
        }
        buffer.reserveCapacity(4096)
    }

    /// Closes without syncing (errors on close are ignored: every write was checked).
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    deinit { if !closed { Glibc.close(fd) } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > bufferLimit { try flush() }
        if bytes.count >= bufferLimit {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Replaces bytes already written at `offset` (flushing first); the file does not grow, so the
    /// disk budget is not charged again. For headers whose content is known only at the end.
    public func overwrite(at offset: Int, _ bytes: UnsafeRawBufferPointer) throws {
        try flush()
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write failed")
            }
            done += n
        }
    }

    /// Flushes, fsyncs and closes.
    public func finish() throws {
        try flush()
        guard fsync(fd) == 0 else { throw ioError("cannot sync") }
        closed = true
        guard Glibc.close(fd) == 0 else { throw ioError("cannot close") }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let granted = WriteFaults.grant(bytes.count - done)
            guard granted > 0 else {
                errno = ENOSPC
                throw ioError("write failed")
            }
            let n = Glibc.write(fd, bytes.baseAddress! + done, granted)
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write failed")
            }
            done += n
        }
    }

    private func ioError(_ what: String) -> QLoRAError {
        if errno == ENOSPC { return QLoRAError.io(path, "no space left on device") }
        return QLoRAError.io(path, "\(what): \(String(cString: strerror(errno)))")
    }
}
