import Foundation

/// This process's resident memory, from /proc/self/status (Linux).
public enum ProcessMemory {
    /// Current resident set size in bytes (VmRSS).
    public static var residentBytes: Int { field("VmRSS") }
    /// Peak resident set size in bytes (VmHWM).
    public static var peakResidentBytes: Int { field("VmHWM") }

    static func field(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return 0
    }
}
