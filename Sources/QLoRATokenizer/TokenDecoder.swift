/// The `decoder` of a SentencePiece-converted `tokenizer.json` (Llama 2, Gemma, early Mistral):
/// steps applied in order to the list of token strings, then joined, as the `tokenizers`
/// library's `Decoder::decode_chain` does (`decoders/{replace,byte_fallback,fuse,strip}.rs`).
/// Byte-level tokenizers do not use it (their tokens map to bytes through the byte alphabet).
public struct TokenDecoder: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// Every occurrence of `pattern` in each token replaced by `content` (`Replace`, a string pattern).
        case replace(pattern: String, content: String)
        /// Runs of `<0xNN>` tokens become the text of their bytes when those are valid UTF-8, else
        /// one U+FFFD per byte (`ByteFallback`).
        case byteFallback
        /// All tokens joined into one (`Fuse`).
        case fuse
        /// Up to `start` leading and `stop` trailing `content` characters removed from each token (`Strip`).
        case strip(content: Unicode.Scalar, start: Int, stop: Int)
    }

    public var steps: [Step]

    public init(steps: [Step]) {
        self.steps = steps
    }

    /// The text of these tokens (their vocabulary spellings, in order).
    public func decode(_ tokens: [String]) -> String {
        var tokens = tokens
        for step in steps {
            switch step {
            case .replace(let pattern, let content):
                let p = Array(pattern.unicodeScalars), c = Array(content.unicodeScalars)
                tokens = tokens.map { Self.string(replacing(Array($0.unicodeScalars), p, c)) }
            case .byteFallback:
                tokens = Self.byteFallback(tokens)
            case .fuse:
                tokens = [tokens.joined()]
            case .strip(let content, let start, let stop):
                tokens = tokens.map { Self.strip($0, content, start, stop) }
            }
        }
        return tokens.joined()
    }

    /// The byte a `<0xNN>` token stands for (exactly six bytes, hex digits in either case).
    static func byteToken(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    static func byteFallback(_ tokens: [String]) -> [String] {
        var out: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validating: pending, as: UTF8.self) {
                out.append(text)
            } else {
                out += Array(repeating: "\u{FFFD}", count: pending.count)
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = byteToken(token) {
                pending.append(byte)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }

    static func strip(_ token: String, _ content: Unicode.Scalar, _ start: Int, _ stop: Int) -> String {
        let scalars = Array(token.unicodeScalars)
        var lower = 0
        while lower < min(start, scalars.count), scalars[lower] == content { lower += 1 }
        var upper = scalars.count
        var removed = 0
        while removed < stop, upper > lower, scalars[upper - 1] == content { upper -= 1; removed += 1 }
        return string(scalars[lower..<upper])
    }

    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}

/// `text` with every leftmost, non-overlapping occurrence of `pattern` replaced by `content`
/// (Rust's `str::replace`, over Unicode scalars).
func replacing(_ text: [Unicode.Scalar], _ pattern: [Unicode.Scalar], _ content: [Unicode.Scalar]) -> [Unicode.Scalar] {
    guard !pattern.isEmpty, text.count >= pattern.count else { return text }
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    var i = 0
    while i < text.count {
        if text[i] == pattern[0], i + pattern.count <= text.count, text[i..<(i + pattern.count)].elementsEqual(pattern) {
            out += content
            i += pattern.count
        } else {
            out.append(text[i])
            i += 1
        }
    }
    return out
}
