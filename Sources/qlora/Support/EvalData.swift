import Foundation
import QLoRA

/// Reads evaluation text: a plain text file, or JSONL with a "text" field per line.
enum EvalData {
    static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QLoRAError.io(path, "cannot read")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw QLoRAError.format(path, "not UTF-8 text") }
        guard path.hasSuffix(".jsonl") else { return [text] }
        var out: [String] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let t = (try? JSONValue.parse(trimmed))?["text"]?.string else {
                throw QLoRAError.format(path, "line \(n + 1): expected a JSON object with a \"text\" string")
            }
            out.append(t)
        }
        guard !out.isEmpty else { throw QLoRAError.format(path, "no records") }
        return out
    }
}
