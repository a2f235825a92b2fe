import Foundation
import QLoRACore

/// Byte sizes as people write them, and as the planner prints them.
///
/// Units are strict: `GB`/`MB`/`TB` are SI (10^9, 10^6, 10^12 bytes), `GiB`/`MiB`/`TiB` are binary
/// (2^30, 2^20, 2^40). A number without a unit is refused, because "24" could mean either and the two
/// differ by 7% — about the margin that decides whether a 33B QLoRA run fits a 24 GB card.
public enum ByteCount {
    /// Multipliers per unit, matched case-insensitively (`gb`, `GB`, `Gib` all work).
    static let units: [(suffix: String, bytes: Double)] = [
        ("kib", 1024), ("mib", 1_048_576), ("gib", 1_073_741_824), ("tib", 1_099_511_627_776),
        ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12), ("b", 1),
    ]

    /// Parses `24GB`, `24 GiB`, `1.5TB`, `512MiB`; throws a one-line reason for anything else.
    public static func parse(_ text: String, what: String = "budget") throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let unit = units.first(where: { trimmed.hasSuffix($0.suffix) }) else {
            throw QLoRAError.invalid(
                "\(what) '\(text)' has no unit: write it as e.g. 24GB (10^9 bytes) or 24GiB (2^30 bytes)")
        }
        let number = trimmed.dropLast(unit.suffix.count).trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value.isFinite else {
            throw QLoRAError.invalid("\(what) '\(text)' is not a number followed by a unit (e.g. 24GB)")
        }
        guard value > 0 else {
            throw QLoRAError.invalid("\(what) '\(text)' must be positive")
        }
        let bytes = value * unit.bytes
        guard bytes < Double(Int.max / 2) else {
            throw QLoRAError.invalid("\(what) '\(text)' is too large")
        }
        return Int(bytes.rounded())
    }

    /// `bytes` in GiB (2^30), for arithmetic in reports.
    public static func gib(_ bytes: Int) -> Double { Double(bytes) / Double(1 << 30) }

    /// Human form with a binary unit: `32.89 GiB`, `512.0 MiB`, `4.0 KiB`, `12 B`; keeps the sign.
    public static func format(_ bytes: Int) -> String {
        let sign = bytes < 0 ? "-" : ""
        let b = Double(bytes.magnitude)
        if b >= Double(1 << 30) { return sign + String(format: "%.2f GiB", b / Double(1 << 30)) }
        if b >= Double(1 << 20) { return sign + String(format: "%.1f MiB", b / Double(1 << 20)) }
        if b >= 1024 { return sign + String(format: "%.1f KiB", b / 1024) }
        return "\(sign)\(Int(b)) B"
    }
}

/// Parameter and element counts as the report prints them: `68.45 B`, `159.9 M`, `4096`.
public enum CountFormat {
    public static func format(_ count: Int) -> String {
        let c = Double(count)
        if c >= 1e9 { return String(format: "%.2f B", c / 1e9) }
        if c >= 1e6 { return String(format: "%.1f M", c / 1e6) }
        if c >= 1e4 { return String(format: "%.1f K", c / 1e3) }
        return "\(count)"
    }
}
