import Foundation

/// How much memory a new allocation can count on, in bytes: the kernel's `MemAvailable`
/// (/proc/meminfo), or what is left under the process's cgroup limit when that is lower (a
/// container's memory.max, cgroup v2, or memory.limit_in_bytes, v1).
///
/// `QLORA_AVAILABLE_MEMORY` (bytes, or with a unit: `64MB`, `2GiB`) replaces the measurement; it
/// exists so tests can play a small machine and is documented in docs/reliability.md.
public enum AvailableMemory {
    public static let variable = "QLORA_AVAILABLE_MEMORY"

    public struct Reading: Sendable, Equatable {
        public var bytes: Int
        /// Where the figure came from: `MemAvailable`, `cgroup memory.max`, or the variable.
        public var source: String
    }

    /// The current reading, or nil where none of the sources exist (not Linux).
    public static func read() throws -> Reading? {
        if let text = Environment.get(variable) {
            guard let bytes = parseSize(text), bytes >= 0 else {
                throw QLoRAError.invalid("\(variable)='\(text)' is not a size (e.g. 512MB, 2GiB or a byte count)")
            }
            return Reading(bytes: bytes, source: variable)
        }
        var best: Reading?
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8), let kib = meminfoField(text, "MemAvailable") {
            best = Reading(bytes: kib * 1024, source: "MemAvailable")
        }
        if let left = cgroupHeadroom(), left.bytes < (best?.bytes ?? .max) { best = left }
        return best
    }

    /// `name:   123 kB` from /proc/meminfo text, in KiB.
    static func meminfoField(_ text: String, _ name: String) -> Int? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// Limit minus usage of this process's cgroup, when it has a limit.
    static func cgroupHeadroom() -> Reading? {
        let files: [(limit: String, usage: String, label: String)] = [
            ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "cgroup memory.max"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
             "cgroup memory.limit_in_bytes"),
        ]
        for f in files {
            guard let limitText = try? String(contentsOfFile: f.limit, encoding: .utf8),
                  let limit = Int(limitText.trimmingCharacters(in: .whitespacesAndNewlines)),
                  limit < 1 << 60 else { continue }  // "max" or v1's "no limit" (~2^63)
            let used = (try? String(contentsOfFile: f.usage, encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            return Reading(bytes: max(limit - used, 0), source: f.label)
        }
        return nil
    }

    /// `1234`, `64MB`, `64MiB`, `2GB`, `2 GiB`, `512k` → bytes (decimal and binary units both as
    /// powers of 1024, as `free` and most people mean them).
    public static func parseSize(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = t.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits), value.isFinite else { return nil }
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let scale: [String: Int] = ["": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20,
                                       "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
                                       "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40]
        guard let s = scale[unit].map(Double.init), value * s < 9e18 else { return nil }
        return Int(value * s)
    }
}
