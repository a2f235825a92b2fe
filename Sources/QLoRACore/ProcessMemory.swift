import Foundation

/// This process's resident memory, from /proc/self/status (Linux).
public enum ProcessMemory {
    /// Current resident set size in bytes (VmRSS).
    public static var residentBytes: Int { field("VmRSS") }
    /// Peak resident set size in bytes (VmHWM).
    public static var peakResidentBytes: Int { field("VmHWM") }
    /// Current anonymous resident memory in bytes (RssAnon: the process's own allocations, not
    /// pages of mapped files, which the kernel can drop and read again).
    public static var anonymousBytes: Int { field("RssAnon") }

    static func field(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return 0
    }
}

/// The kernel keeps no peak of RssAnon: this samples it on a background thread (every
/// `interval` seconds) until `stop()`, keeping the largest value seen.
public final class AnonymousMemoryPeak: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    public init(interval: Double = 0.01) {
        let thread = Thread { [self] in
            while true {
                let now = ProcessMemory.anonymousBytes
                lock.lock()
                peak = max(peak, now)
                let go = running
                lock.unlock()
                if !go { break }
                Thread.sleep(forTimeInterval: interval)
            }
            done.signal()
        }
        thread.start()
    }

    /// Stops sampling; returns the peak in bytes.
    public func stop() -> Int {
        lock.lock()
        running = false
        lock.unlock()
        done.wait()
        lock.lock()
        defer { lock.unlock() }
        return peak
    }
}
