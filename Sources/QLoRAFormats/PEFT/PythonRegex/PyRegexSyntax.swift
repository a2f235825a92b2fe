/// The syntax tree of a Python `re` pattern, restricted to the regular subset: what a finite
/// automaton can match, so matching takes time linear in the text (see `PyRegex`).
///
/// Backreferences, lookaround, conditionals, atomic groups and possessive quantifiers are not
/// regular (or change which strings match in ways an automaton cannot follow); the parser refuses
/// them by name rather than approximating them.
indirect enum PyRegexNode: Sendable {
    case empty
    /// One scalar from a set.
    case scalar(PyCharSet)
    case concat([PyRegexNode])
    case alternation([PyRegexNode])
    /// `max == nil`: unbounded. Lazy and greedy quantifiers accept the same strings under fullmatch.
    case repetition(PyRegexNode, min: Int, max: Int?)
    case assertion(PyAssertion)
}

/// Zero-width assertions, with Python's meanings (`_sre`'s `SRE_AT_*`).
enum PyAssertion: Sendable, Equatable {
    /// `^` without MULTILINE, `\A`: the start of the text.
    case textStart
    /// `\Z`: the very end of the text.
    case textEnd
    /// `$` without MULTILINE: the end, or just before a final newline.
    case endOrFinalNewline
    /// `^` with MULTILINE: the start, or just after a newline.
    case lineStart
    /// `$` with MULTILINE: the end, or just before any newline.
    case lineEnd
    /// `\b`, `\B` (`ascii`: the `a` flag, word characters are `[a-zA-Z0-9_]`).
    case wordBoundary(ascii: Bool)
    case notWordBoundary(ascii: Bool)

    func holds(at i: Int, in text: [Unicode.Scalar]) -> Bool {
        let n = text.count
        switch self {
        case .textStart: return i == 0
        case .textEnd: return i == n
        case .endOrFinalNewline: return i == n || (i == n - 1 && text[i] == "\n")
        case .lineStart: return i == 0 || text[i - 1] == "\n"
        case .lineEnd: return i == n || text[i] == "\n"
        case .wordBoundary(let ascii):
            let before = i > 0 && PyCharClass.word.contains(text[i - 1], ascii: ascii)
            let after = i < n && PyCharClass.word.contains(text[i], ascii: ascii)
            return before != after
        case .notWordBoundary(let ascii):
            // _sre: \B never matches in an empty text.
            if n == 0 { return false }
            let before = i > 0 && PyCharClass.word.contains(text[i - 1], ascii: ascii)
            let after = i < n && PyCharClass.word.contains(text[i], ascii: ascii)
            return before == after
        }
    }
}

/// `\d`, `\s`, `\w` with Python's Unicode (or, with the `a` flag, ASCII) meanings.
enum PyCharClass: Sendable, Equatable {
    case digit, space, word

    func contains(_ c: Unicode.Scalar, ascii: Bool) -> Bool {
        let v = c.value
        switch self {
        case .digit:
            return ascii ? (0x30...0x39).contains(v) : c.properties.generalCategory == .decimalNumber
        case .space:
            // Py_UNICODE_ISSPACE: White_Space plus the separators \x1c-\x1f.
            if ascii { return v == 0x20 || (0x09...0x0D).contains(v) }
            return c.properties.isWhitespace || (0x1C...0x1F).contains(v)
        case .word:
            if v == 0x5F { return true }
            if ascii { return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) }
            // str.isalnum(): a letter (L*) or any character with a numeric value.
            switch c.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
            default: return c.properties.numericType != nil
            }
        }
    }
}

/// A set of scalars: `[...]`, `.`, a literal, `\d` and friends.
struct PyCharSet: Sendable {
    enum Item: Sendable, Equatable {
        case range(UInt32, UInt32)
        case cls(PyCharClass, negated: Bool)
        /// `.`: everything, or everything but `\n`.
        case any(dotAll: Bool)
    }

    var items: [Item]
    var negated = false
    var ignoreCase = false
    var ascii = false

    static func literal(_ c: Unicode.Scalar, ignoreCase: Bool) -> PyCharSet {
        PyCharSet(items: [.range(c.value, c.value)], ignoreCase: ignoreCase)
    }

    func contains(_ c: Unicode.Scalar) -> Bool {
        var hit = plainContains(c)
        if !hit && ignoreCase {
            hit = Self.caseVariants(c).contains { plainContains($0) }
        }
        return hit != negated
    }

    private func plainContains(_ c: Unicode.Scalar) -> Bool {
        items.contains { item in
            switch item {
            case .range(let lo, let hi): return (lo...hi).contains(c.value)
            case .cls(let cls, let negated): return cls.contains(c, ascii: ascii) != negated
            case .any(let dotAll): return dotAll || c != "\n"
            }
        }
    }

    /// The scalar's single-scalar lower- and uppercase mappings (IGNORECASE's simple case folding).
    static func caseVariants(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
        [c.properties.lowercaseMapping, c.properties.uppercaseMapping, c.properties.titlecaseMapping]
            .compactMap { s in s.unicodeScalars.count == 1 ? s.unicodeScalars.first : nil }
            .filter { $0 != c }
    }
}
