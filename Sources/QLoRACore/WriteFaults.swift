import Foundation

/// A test hook on the write path: with `QLORA_TEST_DISK_BYTES=N` in the environment, every
/// `OutputFile` of the process shares a budget of N bytes, as if the file system had N bytes left;
/// the write that crosses it stores what fits and then fails with ENOSPC, as a full disk does.
/// Unset (always, outside tests), writes are untouched. Tests use it where mounting a tiny tmpfs
/// is not allowed (`docs/reliability.md`).
public enum WriteFaults {
    public static let variable = "QLORA_TEST_DISK_BYTES"
    private static let lock = NSLock()
    nonisolated(unsafe) private static var remaining: Int? = Environment.get(variable).flatMap { Int($0) }

    /// How many of `bytes` may be written now (all of them without a budget); 0 means "disk full".
    public static func grant(_ bytes: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        guard let left = remaining else { return bytes }
        let n = min(bytes, left)
        remaining = left - n
        return n
    }
}
