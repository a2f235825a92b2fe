import Foundation
import QLoRACore

/// How prompt-learning parameters start (`--init`): `random` (PEFT's default: N(0, 1), and
/// Kaiming-uniform linears), `vocab` (prompt tuning: embeddings of random vocabulary tokens, PEFT's
/// SAMPLE_VOCAB) or `text:…` (prompt tuning: embeddings of the text's tokens, PEFT's TEXT; prefix
/// tuning: the model's keys and values for the text), cut or repeated to N.
public enum PromptInit: Equatable, Sendable {
    case random
    case vocab
    case text(String)

    /// Parses `random`, `vocab` or `text:…`.
    public init(parsing s: String) throws {
        if s == "random" { self = .random; return }
        if s == "vocab" { self = .vocab; return }
        if s.hasPrefix("text:") {
            let text = String(s.dropFirst(5))
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw QLoRAError.invalid("--init text: needs a text after 'text:' (e.g. --init \"text:Convert the date to ISO 8601\")")
            }
            self = .text(text)
            return
        }
        throw QLoRAError.invalid("--init must be random, vocab or text:\"…\", got '\(s)'")
    }

    /// Rows 0..<n of a sequence of `count` rows cut or repeated to n (PEFT's TEXT init: repeated
    /// whole, then cut).
    static func repeatedRows(count: Int, to n: Int) -> [Int] { (0..<n).map { $0 % count } }
}
