import Foundation
import QLoRA
import QLoRATestSupport

/// Writes JSONL test files.
enum DataFiles {
    /// Writes `lines` (joined with "\n", plus a final newline) to `name` in `dir`; returns the path.
    static func write(_ lines: [String], _ name: String = "data.jsonl", in dir: TempDir) -> String {
        let path = dir.path + "/" + name
        try! (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A JSONL line for an object (keys sorted, non-ASCII kept).
    static func line(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
               as: UTF8.self)
    }

    /// Alpaca records: "Say i." → "a<i>".
    static func alpaca(_ n: Int) -> [String] {
        (0..<n).map { line(["instruction": "Say \($0).", "input": "", "output": "a\($0)"]) }
    }
}
