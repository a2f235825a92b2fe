/// A token matched in raw text before pre-tokenization and BPE: the `added_tokens` of a
/// `tokenizer.json` (special ones such as `<|im_start|>`, and user-defined ones).
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Special tokens are skipped by `decode(_:skipSpecialTokens: true)` and are not matched
    /// when encoding with `parseSpecialTokens: false`.
    public var special: Bool
    /// The match also takes the whitespace before it.
    public var lstrip: Bool
    /// The match also takes the whitespace after it.
    public var rstrip: Bool

    public init(id: Int, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
    }
}

/// Finds added tokens in text: at each position the longest token that starts there, the
/// leftmost position first (the `tokenizers` library's leftmost-longest Aho-Corasick match).
/// Matching compares Unicode scalars, so "é" and "e\u{301}" are different tokens, as in Rust.
struct AddedTokenMatcher: Sendable {
    /// A match: the scalar range it covers (with stripped whitespace) and the token.
    struct Match {
        var range: Range<Int>
        var token: AddedToken
    }

    let tokens: [AddedToken]
    /// Candidates by first scalar, longest first: (index into `tokens`, its scalars).
    private let byFirstScalar: [Unicode.Scalar: [(Int, [Unicode.Scalar])]]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        var table: [Unicode.Scalar: [(Int, [Unicode.Scalar])]] = [:]
        for (i, token) in tokens.enumerated() {
            let scalars = Array(token.content.unicodeScalars)
            guard let first = scalars.first else { continue }
            table[first, default: []].append((i, scalars))
        }
        for key in table.keys { table[key]!.sort { $0.1.count > $1.1.count } }
        byFirstScalar = table
    }

    /// The added tokens in `text`, in order and not overlapping. `includeSpecial: false` leaves
    /// special tokens as ordinary text.
    func matches(in text: [Unicode.Scalar], includeSpecial: Bool) -> [Match] {
        guard !byFirstScalar.isEmpty else { return [] }
        var found: [Match] = []
        var i = 0
        var segmentStart = 0  // where the text after the previous match starts
        while i < text.count {
            guard let candidates = byFirstScalar[text[i]],
                  let (index, length) = longest(candidates, in: text, at: i, includeSpecial: includeSpecial)
            else {
                i += 1
                continue
            }
            let token = tokens[index]
            var start = i, end = i + length
            if token.lstrip {
                while start > segmentStart, text[start - 1].properties.isWhitespace { start -= 1 }
            }
            if token.rstrip {
                while end < text.count, text[end].properties.isWhitespace { end += 1 }
            }
            found.append(Match(range: start..<end, token: token))
            i = end
            segmentStart = end
        }
        return found
    }

    private func longest(
        _ candidates: [(Int, [Unicode.Scalar])], in text: [Unicode.Scalar], at i: Int, includeSpecial: Bool
    ) -> (Int, Int)? {
        for (index, scalars) in candidates where includeSpecial || !tokens[index].special {
            guard i + scalars.count <= text.count else { continue }
            var k = 1
            while k < scalars.count, text[i + k] == scalars[k] { k += 1 }
            if k == scalars.count { return (index, k) }
        }
        return nil
    }
}
