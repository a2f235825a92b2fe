/// Parses a Python `re` pattern (a `str` pattern, as Python 3.11's `sre_parse` reads it) into a
/// `PyRegexNode`. Errors are the reasons Python gives for invalid patterns, or the name of the
/// construct this engine does not match (it is not regular).
struct PyRegexParser {
    struct Flags: Equatable {
        var ignoreCase = false, multiline = false, dotAll = false, ascii = false
    }

    enum Failure: Error, Equatable {
        /// Python itself rejects the pattern (`re.error`).
        case invalid(String)
        /// Valid in Python, but not a regular construct.
        case unsupported(String)
    }

    private let s: [Unicode.Scalar]
    private var i = 0
    private var flags = Flags()

    private init(_ pattern: String) { s = Array(pattern.unicodeScalars) }

    static func parse(_ pattern: String) throws(Failure) -> PyRegexNode {
        var p = PyRegexParser(pattern)
        p.flags = try p.leadingGlobalFlags()
        let node = try p.alternation()
        if p.i < p.s.count {
            // Only an unbalanced ')' stops the top-level alternation early.
            throw .invalid("unbalanced parenthesis at position \(p.i)")
        }
        return node
    }

    // MARK: structure

    private var next: Unicode.Scalar? { i < s.count ? s[i] : nil }

    private mutating func take(_ c: Unicode.Scalar) -> Bool {
        if next == c { i += 1; return true }
        return false
    }

    /// Python 3.11 allows global flags `(?aimsux)` only at the start of the pattern; read them all.
    private mutating func leadingGlobalFlags() throws(Failure) -> Flags {
        var f = Flags()
        while i + 2 < s.count, s[i] == "(", s[i + 1] == "?", Self.flagLetters.contains(s[i + 2]) {
            var j = i + 2
            var letters: [Unicode.Scalar] = []
            while j < s.count, Self.flagLetters.contains(s[j]) { letters.append(s[j]); j += 1 }
            guard j < s.count, s[j] == ")" else { break }  // a scoped group (?i:...), read later
            try Self.apply(letters, to: &f, removing: false)
            i = j + 1
        }
        return f
    }

    private static let flagLetters: Set<Unicode.Scalar> = ["a", "i", "L", "m", "s", "u", "x"]

    private static func apply(_ letters: [Unicode.Scalar], to f: inout Flags, removing: Bool) throws(Failure) {
        for c in letters {
            switch c {
            case "i": f.ignoreCase = !removing
            case "m": f.multiline = !removing
            case "s": f.dotAll = !removing
            case "a":
                if removing { throw .invalid("bad inline flags: cannot turn off flags 'a', 'u' and 'L'") }
                f.ascii = true
            case "u":
                if removing { throw .invalid("bad inline flags: cannot turn off flags 'a', 'u' and 'L'") }
            case "x": throw .unsupported("the verbose flag (?x)")
            case "L": throw .invalid("bad inline flags: cannot use 'L' flag with a str pattern")
            default: throw .invalid("unknown flag")
            }
        }
    }

    private mutating func alternation() throws(Failure) -> PyRegexNode {
        var branches = [try sequence()]
        while take("|") { branches.append(try sequence()) }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func sequence() throws(Failure) -> PyRegexNode {
        var items: [PyRegexNode] = []
        // Whether the last item is a quantifier's result (so another quantifier is a "multiple repeat").
        var lastIsRepeat = false
        while let c = next, c != "|", c != ")" {
            let start = i
            i += 1
            switch c {
            case "*", "+", "?", "{":
                var bounds: (Int, Int?)
                switch c {
                case "*": bounds = (0, nil)
                case "+": bounds = (1, nil)
                case "?": bounds = (0, 1)
                default:
                    guard let b = try repeatBounds() else {
                        items.append(.scalar(literal("{")))
                        lastIsRepeat = false
                        continue
                    }
                    bounds = b
                }
                guard let item = items.last, !Self.isAssertion(item) else {
                    throw .invalid("nothing to repeat at position \(start)")
                }
                if lastIsRepeat { throw .invalid("multiple repeat at position \(start)") }
                if take("+") { throw .unsupported("the possessive quantifier '\(String(String.UnicodeScalarView(s[start..<i])))'") }
                _ = take("?")  // lazy: the same strings match in full
                items[items.count - 1] = .repetition(item, min: bounds.0, max: bounds.1)
                lastIsRepeat = true
                continue
            case "(":
                guard let group = try group() else { continue }  // a comment
                items.append(group)
            case "[": items.append(.scalar(try characterSet()))
            case ".": items.append(.scalar(PyCharSet(items: [.any(dotAll: flags.dotAll)])))
            case "^": items.append(.assertion(flags.multiline ? .lineStart : .textStart))
            case "$": items.append(.assertion(flags.multiline ? .lineEnd : .endOrFinalNewline))
            case "\\": items.append(try escape())
            default: items.append(.scalar(literal(c)))
            }
            lastIsRepeat = false
        }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .concat(items)
        }
    }

    private static func isAssertion(_ n: PyRegexNode) -> Bool {
        if case .assertion = n { return true }
        return false
    }

    /// After `{`: `{m}`, `{m,}`, `{,n}`, `{m,n}`, `{,}`; nil when the brace is a literal.
    private mutating func repeatBounds() throws(Failure) -> (Int, Int?)? {
        let here = i
        if next == "}" { return nil }
        func digits() -> String {
            var d = ""
            while let c = next, ("0"..."9").contains(c) { d.unicodeScalars.append(c); i += 1 }
            return d
        }
        let lo = digits()
        var hi = lo
        if take(",") { hi = digits() }
        guard take("}") else { i = here; return nil }
        let limit = PyRegex.maxRepeat
        guard lo.count <= 9, hi.count <= 9 else { throw .unsupported("a repetition count above \(limit)") }
        let min = Int(lo) ?? 0
        let max = hi.isEmpty ? nil : Int(hi)
        if let max, max < min { throw .invalid("min repeat greater than max repeat at position \(here)") }
        if min > limit || (max ?? 0) > limit { throw .unsupported("a repetition count above \(limit)") }
        return (min, max)
    }

    /// After `(`; nil for a `(?#...)` comment.
    private mutating func group() throws(Failure) -> PyRegexNode? {
        let start = i - 1
        var scoped: Flags? = nil
        if take("?") {
            guard let c = next else { throw .invalid("unexpected end of pattern") }
            i += 1
            switch c {
            case ":": break
            case "P":
                if take("<") {
                    var name = ""
                    while let n = next, n != ">" { name.unicodeScalars.append(n); i += 1 }
                    guard take(">") else { throw .invalid("missing >, unterminated name") }
                    guard Self.isIdentifier(name) else { throw .invalid("bad character in group name '\(name)'") }
                } else if take("=") {
                    throw .unsupported("the backreference (?P=...)")
                } else {
                    throw .invalid("unknown extension ?P\(next.map { String($0) } ?? "")")
                }
            case "#":
                while let n = next, n != ")" { i += 1 }
                guard take(")") else { throw .invalid("missing ), unterminated comment") }
                return nil
            case "=": throw .unsupported("the lookahead (?=...)")
            case "!": throw .unsupported("the negative lookahead (?!...)")
            case "<":
                if take("=") { throw .unsupported("the lookbehind (?<=...)") }
                if take("!") { throw .unsupported("the negative lookbehind (?<!...)") }
                throw .invalid("unknown extension ?<\(next.map { String($0) } ?? "")")
            case "(": throw .unsupported("the conditional group (?(...)...)")
            case ">": throw .unsupported("the atomic group (?>...)")
            default:
                guard Self.flagLetters.contains(c) || c == "-" else { throw .invalid("unknown extension ?\(c)") }
                i -= 1
                var add: [Unicode.Scalar] = [], remove: [Unicode.Scalar] = []
                while let n = next, Self.flagLetters.contains(n) { add.append(n); i += 1 }
                if take("-") {
                    while let n = next, Self.flagLetters.contains(n) { remove.append(n); i += 1 }
                    guard !remove.isEmpty else { throw .invalid("missing flag") }
                }
                if take(")") {
                    guard remove.isEmpty else { throw .invalid("missing :") }
                    throw .invalid("global flags not at the start of the expression at position \(start)")
                }
                guard take(":") else { throw .invalid("missing -, : or )") }
                var f = flags
                try Self.apply(add, to: &f, removing: false)
                try Self.apply(remove, to: &f, removing: true)
                scoped = f
            }
        }
        let saved = flags
        if let scoped { flags = scoped }
        let body = try alternation()
        flags = saved
        guard take(")") else { throw .invalid("missing ), unterminated subpattern at position \(start)") }
        // Wrapped, so a quantifier after a group around an assertion, `(?:^)*`, is accepted as Python does.
        return .concat([body])
    }

    private static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isXIDStart else { return false }
        return name.unicodeScalars.dropFirst().allSatisfy { $0.properties.isXIDContinue }
    }

    private func literal(_ c: Unicode.Scalar) -> PyCharSet {
        var set = PyCharSet.literal(c, ignoreCase: flags.ignoreCase)
        if flags.ignoreCase {
            for v in PyCharSet.caseVariants(c) { set.items.append(.range(v.value, v.value)) }
        }
        return set
    }

    private func classSet(_ cls: PyCharClass, negated: Bool) -> PyCharSet {
        PyCharSet(items: [.cls(cls, negated: negated)], ascii: flags.ascii)
    }

    // MARK: escapes

    private static let categories: [Unicode.Scalar: (PyCharClass, Bool)] = [
        "d": (.digit, false), "D": (.digit, true), "s": (.space, false), "S": (.space, true),
        "w": (.word, false), "W": (.word, true),
    ]
    private static let controlEscapes: [Unicode.Scalar: UInt32] = [
        "a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92,
    ]

    /// After `\` outside a set.
    private mutating func escape() throws(Failure) -> PyRegexNode {
        guard let c = next else { throw .invalid("bad escape (end of pattern)") }
        i += 1
        if let (cls, neg) = Self.categories[c] { return .scalar(classSet(cls, negated: neg)) }
        switch c {
        case "A": return .assertion(.textStart)
        case "Z": return .assertion(.textEnd)
        case "b": return .assertion(.wordBoundary(ascii: flags.ascii))
        case "B": return .assertion(.notWordBoundary(ascii: flags.ascii))
        default: break
        }
        if let v = Self.controlEscapes[c] { return .scalar(literal(Unicode.Scalar(v)!)) }
        if let v = try codeEscape(c) { return .scalar(literal(v)) }
        if c == "0" {
            var v: UInt32 = 0
            for _ in 0..<2 { guard let d = next, ("0"..."7").contains(d) else { break }; v = v * 8 + d.value - 48; i += 1 }
            return .scalar(literal(Unicode.Scalar(v)!))
        }
        if ("1"..."9").contains(c) {
            // Three octal digits are an octal escape; anything else is a group reference.
            if i + 1 < s.count, ("0"..."7").contains(c), ("0"..."7").contains(s[i]), ("0"..."7").contains(s[i + 1]) {
                let v = (c.value - 48) * 64 + (s[i].value - 48) * 8 + (s[i + 1].value - 48)
                i += 2
                guard v <= 0o377 else { throw .invalid("octal escape value \\\(c)\(s[i - 2])\(s[i - 1]) outside of range 0-0o377") }
                return .scalar(literal(Unicode.Scalar(v)!))
            }
            var ref = String(c)
            if let d = next, ("0"..."9").contains(d) { ref.unicodeScalars.append(d) }
            throw .unsupported("the backreference \\\(ref)")
        }
        if Self.isASCIILetter(c) { throw .invalid("bad escape \\\(c) at position \(i - 2)") }
        return .scalar(literal(c))
    }

    /// `\x..`, `\u....`, `\U........` (nil for another escape); `\N{...}` is refused.
    private mutating func codeEscape(_ c: Unicode.Scalar) throws(Failure) -> Unicode.Scalar? {
        let width: Int
        switch c {
        case "x": width = 2
        case "u": width = 4
        case "U": width = 8
        case "N": throw .unsupported("the named character escape \\N{...}")
        default: return nil
        }
        var v: UInt32 = 0
        for k in 0..<width {
            guard let d = next, let h = Self.hexValue(d) else {
                throw .invalid("incomplete escape \\\(c)\(String(String.UnicodeScalarView(s[(i - k)..<i])))")
            }
            v = v &* 16 &+ h
            i += 1
        }
        guard let scalar = Unicode.Scalar(v) else { throw .invalid("bad escape \\\(c): not a Unicode scalar") }
        return scalar
    }

    private static func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c {
        case "0"..."9": return c.value - 48
        case "a"..."f": return c.value - 87
        case "A"..."F": return c.value - 55
        default: return nil
        }
    }

    private static func isASCIILetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }

    // MARK: sets

    private enum SetMember { case scalar(UInt32), cls(PyCharClass, Bool) }

    /// After `[`.
    private mutating func characterSet() throws(Failure) -> PyCharSet {
        let start = i - 1
        var set = PyCharSet(items: [], ignoreCase: flags.ignoreCase, ascii: flags.ascii)
        set.negated = take("^")
        var first = true
        while true {
            guard let c = next else { throw .invalid("unterminated character set at position \(start)") }
            i += 1
            if c == "]" && !first { break }
            first = false
            let m1 = c == "\\" ? try classEscape() : .scalar(c.value)
            if next == "-" {
                i += 1
                guard let d = next else { throw .invalid("unterminated character set at position \(start)") }
                i += 1
                if d == "]" {
                    add(m1, to: &set)
                    add(.scalar(45), to: &set)
                    break
                }
                let m2 = d == "\\" ? try classEscape() : .scalar(d.value)
                guard case .scalar(let lo) = m1, case .scalar(let hi) = m2, lo <= hi else {
                    throw .invalid("bad character range at position \(start)")
                }
                set.items.append(.range(lo, hi))
            } else {
                add(m1, to: &set)
            }
        }
        return set
    }

    private func add(_ m: SetMember, to set: inout PyCharSet) {
        switch m {
        case .scalar(let v): set.items.append(.range(v, v))
        case .cls(let cls, let neg): set.items.append(.cls(cls, negated: neg))
        }
    }

    /// After `\` inside a set: `\b` is a backspace there and digits are octal.
    private mutating func classEscape() throws(Failure) -> SetMember {
        guard let c = next else { throw .invalid("unterminated character set") }
        i += 1
        if let (cls, neg) = Self.categories[c] { return .cls(cls, neg) }
        if c == "b" { return .scalar(8) }
        if let v = Self.controlEscapes[c] { return .scalar(v) }
        if let v = try codeEscape(c) { return .scalar(v.value) }
        if ("0"..."7").contains(c) {
            var v = c.value - 48
            for _ in 0..<2 { guard let d = next, ("0"..."7").contains(d) else { break }; v = v * 8 + d.value - 48; i += 1 }
            guard v <= 0o377 else { throw .invalid("octal escape value outside of range 0-0o377") }
            return .scalar(v)
        }
        if ("8"..."9").contains(c) || Self.isASCIILetter(c) { throw .invalid("bad escape \\\(c) at position \(i - 2)") }
        return .scalar(c.value)
    }
}
