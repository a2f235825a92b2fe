import QLoRACore

/// A text with `{field}` placeholders, filled from a record's fields. `{{` and `}}` stand for
/// literal braces. A target given as a bare name (`label`, no braces) means `{label}`.
public struct FieldTemplate: Sendable, Equatable {
    enum Piece: Sendable, Equatable {
        case literal(String)
        case field(String)
    }

    /// The template as the user wrote it.
    public let source: String
    let pieces: [Piece]

    /// Parses `source`; an unclosed or empty placeholder is a one-line error naming `option`.
    public init(_ source: String, option: String = "--template") throws {
        self.source = source
        var pieces: [Piece] = []
        var literal = ""
        var i = source.startIndex
        while i < source.endIndex {
            let c = source[i]
            let next = source.index(after: i)
            if c == "{" || c == "}", next < source.endIndex, source[next] == c {
                literal.append(c)  // "{{" or "}}"
                i = source.index(after: next)
                continue
            }
            if c == "}" { throw QLoRAError.invalid("\(option): unmatched '}' in \"\(source)\" (write '}}' for a brace)") }
            if c == "{" {
                guard let close = source[next...].firstIndex(of: "}") else {
                    throw QLoRAError.invalid("\(option): unclosed '{' in \"\(source)\"")
                }
                let name = String(source[next..<close]).trimmingWhitespace
                guard !name.isEmpty, !name.contains("{") else {
                    throw QLoRAError.invalid("\(option): empty or nested placeholder in \"\(source)\"")
                }
                if !literal.isEmpty { pieces.append(.literal(literal)); literal = "" }
                pieces.append(.field(name))
                i = source.index(after: close)
                continue
            }
            literal.append(c)
            i = next
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// A target template: a bare field name means that field alone.
    public static func target(_ source: String) throws -> FieldTemplate {
        let isBareName = !source.isEmpty && !source.contains("{") && !source.contains("}")
        return try FieldTemplate(isBareName ? "{\(source)}" : source, option: "--target")
    }

    /// The fields the template reads, in order of first use.
    public var fieldNames: [String] {
        var seen = Set<String>(), names: [String] = []
        for case .field(let name) in pieces where seen.insert(name).inserted { names.append(name) }
        return names
    }

    /// The text with every placeholder replaced; the caller has checked the fields exist.
    public func fill(_ fields: [String: String]) -> String {
        pieces.map { piece -> String in
            switch piece {
            case .literal(let s): return s
            case .field(let name): return fields[name] ?? ""
            }
        }.joined()
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
