/// The pre-tokenizer split regexes of byte-level BPE tokenizers, as hand-written scanners over
/// Unicode scalars (Swift `Regex` is far too slow for megabytes of text).
///
/// Each pattern is a regex of alternatives tried in order at every position, leftmost first:
///
///     GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///     Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
///              | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///     Qwen2:   Llama 3's, with \p{N} (one digit) in place of \p{N}{1,3}
///
/// The patterns differ only in the knobs below, so one scanner (`matchLength`) serves all three and
/// adding a pattern of this family is one entry in `SplitPattern.all`. Every scalar is matched by
/// some alternative, so the pieces cover the text (the `Isolated` split behaviour keeps both).
public struct SplitPattern: Sendable, Equatable {
    /// How the tokenizer files name it (diagnostics only).
    public let name: String
    /// The regex source as `tokenizer.json` spells it; the key for recognizing a `Split` step.
    public let regex: String
    /// `(?i:…)` around the contractions.
    let contractionsIgnoreCase: Bool
    /// `[^\r\n\p{L}\p{N}]?\p{L}+` (any one non-letter, non-digit, non-newline before a letter run)
    /// rather than GPT-2's ` ?\p{L}+` (only a space).
    let letterRunTakesAnyPrefix: Bool
    /// ` ?\p{N}+` (GPT-2) rather than `\p{N}{1,k}`.
    let digitRunTakesSpace: Bool
    /// The longest digit run one piece takes (`Int.max` for `+`).
    let maxDigits: Int
    /// `[\r\n]*` after a punctuation run, and the `\s*[\r\n]+` alternative.
    let newlineAware: Bool

    /// GPT-2's pattern, what the `ByteLevel` pre-tokenizer applies when `use_regex` is true.
    public static let gpt2 = SplitPattern(
        name: "gpt2",
        regex: #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#,
        contractionsIgnoreCase: false, letterRunTakesAnyPrefix: false, digitRunTakesSpace: true,
        maxDigits: .max, newlineAware: false)

    /// Llama 3's pattern (GGUF pre "llama-bpe" and the names transformers maps to it).
    public static let llama3 = SplitPattern(
        name: "llama3",
        regex: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        contractionsIgnoreCase: true, letterRunTakesAnyPrefix: true, digitRunTakesSpace: false,
        maxDigits: 3, newlineAware: true)

    /// Qwen2's pattern: Llama 3's with single digits.
    public static let qwen2 = SplitPattern(
        name: "qwen2",
        regex: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        contractionsIgnoreCase: true, letterRunTakesAnyPrefix: true, digitRunTakesSpace: false,
        maxDigits: 1, newlineAware: true)

    /// Every pattern the scanner implements.
    public static let all: [SplitPattern] = [gpt2, llama3, qwen2]

    /// The pattern whose regex source is exactly `regex`, if the scanner implements it.
    public static func matching(regex: String) -> SplitPattern? {
        all.first { $0.regex == regex }
    }

    /// The pieces the regex cuts `text` into (for inspection and tests).
    public func pieces(of text: String) -> [String] {
        let scalars = ScalarText(text.unicodeScalars)
        var ranges: [Range<Int>] = []
        split(scalars, 0..<scalars.scalars.count, into: &ranges)
        return ranges.map { scalars.string($0) }
    }

    /// Appends the pieces of `range` of `text` to `pieces`, in order; together they cover `range`.
    func split(_ text: ScalarText, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        text.scalars.withUnsafeBufferPointer { scalars in
            text.classes.withUnsafeBufferPointer { classes in
                var i = range.lowerBound
                while i < range.upperBound {
                    let n = matchLength(scalars, classes, at: i, end: range.upperBound)
                    pieces.append(i..<(i + n))
                    i += n
                }
            }
        }
    }

    /// The length (≥ 1) of the match the regex makes at `i`, the text ending at `end`.
    func matchLength(
        _ s: UnsafeBufferPointer<Unicode.Scalar>, _ c: UnsafeBufferPointer<UInt8>, at i: Int, end: Int
    ) -> Int {
        /// The end of the run of scalars from `j` whose class has a bit of `mask` (or, when
        /// `invert`, has none of `mask`).
        func runEnd(_ j: Int, _ mask: UInt8, invert: Bool = false, limit: Int = .max) -> Int {
            var k = j
            let stop = limit == .max ? end : min(end, j + limit)
            while k < stop, (c[k] & mask != 0) != invert { k += 1 }
            return k
        }
        let cls = c[i]
        let space: Unicode.Scalar = " "
        let next: UInt8? = i + 1 < end ? c[i + 1] : nil
        // 's|'t|'re|'ve|'m|'ll|'d
        if s[i] == "'", let k = contractionLength(s, after: i + 1, end: end) { return 1 + k }
        // ` ?\p{L}+` or `[^\r\n\p{L}\p{N}]?\p{L}+`
        if cls & ScalarClass.letter != 0 { return runEnd(i, ScalarClass.letter) - i }
        let letterPrefix = letterRunTakesAnyPrefix
            ? cls & (ScalarClass.number | ScalarClass.newline) == 0 : s[i] == space
        if letterPrefix, let next, next & ScalarClass.letter != 0 {
            return runEnd(i + 1, ScalarClass.letter) - i
        }
        // ` ?\p{N}+` or `\p{N}{1,k}`
        if cls & ScalarClass.number != 0 { return runEnd(i, ScalarClass.number, limit: maxDigits) - i }
        if digitRunTakesSpace, s[i] == space, let next, next & ScalarClass.number != 0 {
            return runEnd(i + 1, ScalarClass.number, limit: maxDigits) - i
        }
        // ` ?[^\s\p{L}\p{N}]+` then `[\r\n]*`
        let alnumSpace = ScalarClass.letter | ScalarClass.number | ScalarClass.whitespace
        var j = i
        if s[i] == space, let next, next & alnumSpace == 0 { j = i + 1 }
        if c[j] & alnumSpace == 0 {
            j = runEnd(j, alnumSpace, invert: true)
            if newlineAware { j = runEnd(j, ScalarClass.newline) }
            return j - i
        }
        // Whitespace from here on. `\s*[\r\n]+`: up to and including the run's last newline.
        let whitespaceEnd = runEnd(i, ScalarClass.whitespace)
        if newlineAware {
            var k = whitespaceEnd - 1
            while k >= i, c[k] & ScalarClass.newline == 0 { k -= 1 }
            if k >= i { return k + 1 - i }
        }
        // `\s+(?!\S)`: the whole run at the end of text, else all but its last scalar; then `\s+`.
        if whitespaceEnd == end { return whitespaceEnd - i }
        return whitespaceEnd - i >= 2 ? whitespaceEnd - 1 - i : 1
    }

    /// The length of the contraction suffix (`s`, `t`, `re`, `ve`, `m`, `ll`, `d`) starting at
    /// `j`, if there is one. Case-insensitive matching folds as Unicode does, so `ſ` (long s) is `s`.
    func contractionLength(_ s: UnsafeBufferPointer<Unicode.Scalar>, after j: Int, end: Int) -> Int? {
        func letter(_ k: Int) -> UInt32? {
            guard k < end else { return nil }
            let v = s[k].value
            guard contractionsIgnoreCase else { return v }
            if v == 0x17F { return 0x73 }  // ſ folds to s
            return (0x41...0x5A).contains(v) ? v + 0x20 : v
        }
        guard let first = letter(j) else { return nil }
        switch first {
        case 0x73, 0x74, 0x6D, 0x64: return 1  // s t m d
        case 0x72, 0x76: return letter(j + 1) == 0x65 ? 2 : nil  // re ve
        case 0x6C: return letter(j + 1) == 0x6C ? 2 : nil  // ll
        default: return nil
        }
    }
}

/// The character classes the split patterns test, one byte per scalar.
enum ScalarClass {
    /// `\p{L}`: general category Lu, Ll, Lt, Lm or Lo.
    static let letter: UInt8 = 1
    /// `\p{N}`: general category Nd, Nl or No.
    static let number: UInt8 = 2
    /// `\s`: U+0009…U+000D, U+0085 and categories Zs, Zl, Zp (Unicode White_Space).
    static let whitespace: UInt8 = 4
    /// `[\r\n]`.
    static let newline: UInt8 = 8

    static let ascii: [UInt8] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    /// The class bits of a scalar.
    static func classify(_ scalar: Unicode.Scalar) -> UInt8 {
        let v = scalar.value
        if v == 0x0A || v == 0x0D { return whitespace | newline }
        if (0x09...0x0D).contains(v) || v == 0x85 { return whitespace }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return whitespace
        default: return 0
        }
    }

    @inline(__always) static func of(_ scalar: Unicode.Scalar) -> UInt8 {
        scalar.value < 128 ? ascii[Int(scalar.value)] : classify(scalar)
    }
}

/// Text as Unicode scalars with their `ScalarClass` bits, the form the pre-tokenizer scans.
struct ScalarText {
    var scalars: [Unicode.Scalar]
    var classes: [UInt8]

    init(_ scalars: [Unicode.Scalar]) {
        self.scalars = scalars
        classes = scalars.map(ScalarClass.of)
    }

    init<S: Sequence>(_ scalars: S) where S.Element == Unicode.Scalar {
        self.init(Array(scalars))
    }

    /// The scalars of `range` as a string.
    func string(_ range: Range<Int>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[range])
        return String(view)
    }
}
