import Foundation

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
final class ProgressBar {
    let label: String
    let enabled: Bool
    private var lastDraw = Date.distantPast

    init(label: String, enabled: Bool = isatty(2) != 0) {
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int, _ total: Int, _ detail: String) {
        guard enabled, total > 0 else { return }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let width = 30
        let filled = min(width, width * done / total)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let text = "\r\(label) \(bar) \(done)/\(total) \(detail.prefix(60))"
        FileHandle.standardError.write((text.padding(toLength: 120, withPad: " ", startingAt: 0)).data(using: .utf8)!)
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write("\r\u{1B}[2K".data(using: .utf8)!)
    }
}

/// Fixed-width text tables for summaries.
enum TextTable {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let cols = header.count
        var width = header.map(\.count)
        for r in rows { for c in 0..<cols { width[c] = max(width[c], r[c].count) } }
        func line(_ cells: [String]) -> String {
            (0..<cols).map { c in
                c == 0 ? cells[c].padding(toLength: width[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: width[c] - cells[c].count) + cells[c]
            }.joined(separator: "  ")
        }
        let rule = width.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// Human-readable byte counts (binary units).
func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.2f %@", v, units[u])
}
