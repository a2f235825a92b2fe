import Foundation

/// A lexical token of a template: literal text between tags, a tag boundary, or a token of the
/// expression language inside `{{ }}` / `{% %}`.
enum TemplateToken: Equatable {
    case text(String)
    case outputBegin, outputEnd  // {{ }}
    case blockBegin, blockEnd  // {% %}
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    case op(String)
}

/// A failure while reading or running a template; `ChatTemplate` turns it into a `QLoRAError`.
struct TemplateError: Error {
    var line: Int
    var message: String
}

/// Splits a template into tokens the way Jinja's lexer does with transformers' settings
/// (`trim_blocks=True`, `lstrip_blocks=True`, `keep_trailing_newline=False`):
///
/// - `\r\n` and `\r` become `\n`, and one newline at the very end is dropped;
/// - `{%- … -%}` / `{{- … -}}` / `{#- … -#}` strip all whitespace on that side;
/// - a newline right after `%}` or `#}` is dropped (trim_blocks);
/// - spaces and tabs from the start of a line up to `{%` or `{#` are dropped (lstrip_blocks),
///   unless the tag opens with `{%+`.
struct TemplateLexer {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var line = 1
    private(set) var tokens: [(token: TemplateToken, line: Int)] = []

    static let operators = ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=",
                            "(", ")", "[", "]", "{", "}", ".", ",", ":", "|"].map { Array($0.unicodeScalars) }

    init(_ source: String) throws {
        var text = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if text.hasSuffix("\n") { text.removeLast() }
        s = Array(text.unicodeScalars)
        try lexRoot()
    }

    private func at(_ k: Int, _ literal: String) -> Bool {
        var k = k
        for scalar in literal.unicodeScalars {
            guard k < s.count, s[k] == scalar else { return false }
            k += 1
        }
        return true
    }

    private mutating func emit(_ token: TemplateToken) { tokens.append((token, line)) }

    private mutating func advance(to k: Int) {
        line += s[i..<k].filter { $0 == "\n" }.count
        i = k
    }

    /// Text and tags, until the end of the source.
    private mutating func lexRoot() throws {
        var lineStarting = true
        while i < s.count {
            var k = i
            while k < s.count, !(s[k] == "{" && k + 1 < s.count && "{%#".unicodeScalars.contains(s[k + 1])) { k += 1 }
            var text = Array(s[i..<k])
            let lineOfText = line
            advance(to: k)
            if k < s.count {
                let kind = s[k + 1]
                let sign: Unicode.Scalar? = k + 2 < s.count && (s[k + 2] == "-" || s[k + 2] == "+") ? s[k + 2] : nil
                if sign == "-" {
                    while let last = text.last, last.properties.isWhitespace { text.removeLast() }
                } else if sign != "+", kind != "{" {
                    let lineStart = (text.lastIndex(of: "\n") ?? -1) + 1
                    if (lineStart > 0 || lineStarting), lineStart < text.count,
                       text[lineStart...].allSatisfy({ $0.properties.isWhitespace }) {
                        text.removeSubrange(lineStart...)
                    }
                }
                if !text.isEmpty { tokens.append((.text(Self.string(text)), lineOfText)) }
                advance(to: k + 2 + (sign == nil ? 0 : 1))
                switch kind {
                case "#": lineStarting = try lexComment()
                case "%": lineStarting = try lexTag(begin: .blockBegin, end: "%}", endToken: .blockEnd, trimNewline: true)
                default: lineStarting = try lexTag(begin: .outputBegin, end: "}}", endToken: .outputEnd, trimNewline: false)
                }
            } else if !text.isEmpty {
                tokens.append((.text(Self.string(text)), lineOfText))
            }
        }
    }

    /// Skips a comment; returns whether what it consumed ends a line.
    private mutating func lexComment() throws -> Bool {
        let start = line
        var k = i
        while k < s.count, !at(k, "#}") { k += 1 }
        guard k < s.count else { throw TemplateError(line: start, message: "missing end of comment tag") }
        let strip = k > i && s[k - 1] == "-"
        advance(to: k + 2)
        return consumeAfterTag(strip: strip, trimNewline: true)
    }

    /// After a tag: all whitespace (`-`), or one newline (trim_blocks). Returns whether the
    /// consumed text ends with a newline (Jinja's `line_starting`).
    private mutating func consumeAfterTag(strip: Bool, trimNewline: Bool) -> Bool {
        var k = i
        if strip {
            while k < s.count, s[k].properties.isWhitespace { k += 1 }
        } else if trimNewline, k < s.count, s[k] == "\n" {
            k += 1
        }
        let endsLine = k > i && s[k - 1] == "\n"
        advance(to: k)
        return endsLine
    }

    /// The expression tokens of one tag, through its end delimiter.
    private mutating func lexTag(begin: TemplateToken, end: String, endToken: TemplateToken, trimNewline: Bool) throws -> Bool {
        emit(begin)
        let start = line
        var openBrackets = 0  // the end delimiter only counts outside brackets, as in Jinja
        while i < s.count {
            if s[i].properties.isWhitespace { advance(to: i + 1); continue }
            for sign in ["-", "+", ""] where openBrackets == 0 && at(i, sign + end) {
                advance(to: i + sign.count + 2)
                emit(endToken)
                return consumeAfterTag(strip: sign == "-", trimNewline: trimNewline && sign != "+")
            }
            try lexExpressionToken()
            if case .op(let op)? = tokens.last?.token {
                if ["(", "[", "{"].contains(op) { openBrackets += 1 }
                if [")", "]", "}"].contains(op) { openBrackets = max(0, openBrackets - 1) }
            }
        }
        throw TemplateError(line: start, message: "tag opened here is not closed with '\(end)'")
    }

    private mutating func lexExpressionToken() throws {
        let c = s[i]
        if c == "_" || (c.isASCII && c.properties.isAlphabetic) {
            var k = i + 1
            while k < s.count, s[k] == "_" || (s[k].isASCII && (s[k].properties.isAlphabetic || s[k].properties.numericType != nil)) { k += 1 }
            emit(.name(Self.string(s[i..<k])))
            advance(to: k)
        } else if c.isASCII, ("0"..."9").contains(c) {
            try lexNumber()
        } else if c == "'" || c == "\"" {
            try lexString(quote: c)
        } else if let op = Self.operators.first(where: { op in op.indices.allSatisfy { i + $0 < s.count && s[i + $0] == op[$0] } }) {
            emit(.op(Self.string(op)))
            advance(to: i + op.count)
        } else {
            throw TemplateError(line: line, message: "unexpected character '\(c)'")
        }
    }

    private mutating func lexNumber() throws {
        func digits(_ k: inout Int) { while k < s.count, ("0"..."9").contains(s[k]) || s[k] == "_" { k += 1 } }
        var k = i
        digits(&k)
        var isFloat = false
        if k + 1 < s.count, s[k] == ".", ("0"..."9").contains(s[k + 1]) {
            isFloat = true
            k += 1
            digits(&k)
        }
        if k < s.count, s[k] == "e" || s[k] == "E" {
            var e = k + 1
            if e < s.count, s[e] == "+" || s[e] == "-" { e += 1 }
            if e < s.count, ("0"..."9").contains(s[e]) { isFloat = true; k = e; digits(&k) }
        }
        let text = Self.string(s[i..<k]).replacingOccurrences(of: "_", with: "")
        if isFloat, let d = Double(text) {
            emit(.double(d))
        } else if let n = Int(text) {
            emit(.int(n))
        } else {
            throw TemplateError(line: line, message: "number '\(text)' is out of range")
        }
        advance(to: k)
    }

    /// A quoted string with Python's escapes (`\n`, `\t`, `\\`, `\'`, `\xhh`, `\uhhhh`, …); an
    /// unknown escape keeps its backslash, as Python does.
    private mutating func lexString(quote: Unicode.Scalar) throws {
        let start = line
        var out = String.UnicodeScalarView()
        var k = i + 1
        while k < s.count, s[k] != quote {
            guard s[k] == "\\", k + 1 < s.count else { out.append(s[k]); k += 1; continue }
            let e = s[k + 1]
            k += 2
            let simple: [Unicode.Scalar: Unicode.Scalar] = ["n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'",
                                                           "\"": "\"", "0": "\0", "a": "\u{7}", "b": "\u{8}", "f": "\u{C}", "v": "\u{B}"]
            if let mapped = simple[e] {
                out.append(mapped)
            } else if let width = ["x": 2, "u": 4, "U": 8][Character(e)] {
                let hex = k + width <= s.count ? Self.string(s[k..<(k + width)]) : ""
                guard let v = UInt32(hex, radix: 16), hex.count == width, let scalar = Unicode.Scalar(v) else {
                    throw TemplateError(line: line, message: "bad \\\(e) escape in a string")
                }
                out.append(scalar)
                k += width
            } else if e == "\n" {
                continue  // a backslash-newline continues the line
            } else {
                out.append("\\")
                out.append(e)
            }
        }
        guard k < s.count else { throw TemplateError(line: start, message: "string is not closed") }
        emit(.string(String(out)))
        advance(to: k + 1)
    }

    static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
