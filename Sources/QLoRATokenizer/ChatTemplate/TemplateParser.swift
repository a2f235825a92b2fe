/// An expression of the template language (Jinja's, minus everything that is not plain data).
indirect enum TemplateExpr: Sendable {
    case literal(TemplateValue)
    case name(String)
    case list([TemplateExpr])
    case dict([(TemplateExpr, TemplateExpr)])
    case attribute(TemplateExpr, String)
    case `subscript`(TemplateExpr, TemplateExpr)
    case slice(TemplateExpr, start: TemplateExpr?, stop: TemplateExpr?, step: TemplateExpr?)
    case call(TemplateExpr, Arguments)
    case filter(TemplateExpr, name: String, Arguments)
    case test(TemplateExpr, name: String, negated: Bool, Arguments)
    case not(TemplateExpr)
    case negate(TemplateExpr)
    case binary(String, TemplateExpr, TemplateExpr)
    case and(TemplateExpr, TemplateExpr)
    case or(TemplateExpr, TemplateExpr)
    case conditional(then: TemplateExpr, condition: TemplateExpr, otherwise: TemplateExpr?)

    struct Arguments: Sendable {
        var positional: [TemplateExpr] = []
        var keyword: [(String, TemplateExpr)] = []
    }
}

/// A statement; `line` is where it starts, for messages.
indirect enum TemplateNode: Sendable {
    case text(String)
    case output(TemplateExpr, line: Int)
    case conditional(branches: [(TemplateExpr, [TemplateNode])], otherwise: [TemplateNode], line: Int)
    case loop(targets: [String], iterable: TemplateExpr, condition: TemplateExpr?, body: [TemplateNode], otherwise: [TemplateNode], line: Int)
    /// `{% set name = … %}` or `{% set ns.attr = … %}`.
    case assign(name: String, attribute: String?, TemplateExpr, line: Int)
    case breakLoop(line: Int), continueLoop(line: Int)
}

/// Parses template tokens into statements. Statements: `if`/`elif`/`else`, `for` (with tuple
/// targets, an `if` filter and `else`), `set`, `break`, `continue`, and transformers'
/// `generation` block (rendered as its body). Any other tag is an error naming it.
/// Expressions follow Jinja's precedence: `x if c else y` < `or` < `and` < `not` < comparisons
/// (`==` `!=` `<` `<=` `>` `>=` `in` `not in`) < `+` `-` < `~` < `*` `/` `//` `%` < unary `-` <
/// postfix (`.name`, `[…]`, calls, `| filter`, `is test`).
struct TemplateParser {
    private let tokens: [(token: TemplateToken, line: Int)]
    private var p = 0
    private var depth = 0
    /// Deepest nesting of statements and expressions (bounds the renderer's recursion). Each
    /// operator or postfix in a chain (`a + b + c`, `x[0][0]`) counts as a level too, since the
    /// tree it builds is that deep.
    static let maxDepth = 100

    init(tokens: [(token: TemplateToken, line: Int)]) {
        self.tokens = tokens
    }

    static func parse(_ source: String) throws -> [TemplateNode] {
        var parser = TemplateParser(tokens: try TemplateLexer(source).tokens)
        let (body, end) = try parser.statements(until: [])
        if let end { throw TemplateError(line: parser.line, message: "unexpected '{% \(end) %}'") }
        return body
    }

    // MARK: Statements

    private var line: Int { p < tokens.count ? tokens[p].line : (tokens.last?.line ?? 1) }
    private var peek: TemplateToken? { p < tokens.count ? tokens[p].token : nil }

    private func fail(_ message: String) -> TemplateError { TemplateError(line: line, message: message) }

    private mutating func next() throws -> TemplateToken {
        guard p < tokens.count else { throw fail("unexpected end of template") }
        defer { p += 1 }
        return tokens[p].token
    }

    private mutating func expect(_ token: TemplateToken, _ what: String) throws {
        let got = try next()
        guard got == token else { throw TemplateError(line: tokens[p - 1].line, message: "expected \(what), found \(Self.describe(got))") }
    }

    private mutating func expectName() throws -> String {
        guard case .name(let name) = try next() else { throw TemplateError(line: tokens[p - 1].line, message: "expected a name") }
        return name
    }

    private mutating func accept(_ token: TemplateToken) -> Bool {
        guard peek == token else { return false }
        p += 1
        return true
    }

    private mutating func nested<T>(_ body: (inout TemplateParser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        return try body(&self)
    }

    /// One more level for a node that wraps the tree built so far; `levels` counts them so the
    /// caller can give them back when its chain ends.
    private mutating func deepen(_ levels: inout Int) throws {
        levels += 1
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("expression nested deeper than \(Self.maxDepth)") }
    }

    /// Statements up to a block tag named in `ends` (returned, its name consumed) or the end.
    private mutating func statements(until ends: Set<String>) throws -> ([TemplateNode], String?) {
        var body: [TemplateNode] = []
        while let token = peek {
            let startLine = line
            p += 1
            switch token {
            case .text(let text): body.append(.text(text))
            case .outputBegin:
                let expr = try expression()
                try expect(.outputEnd, "'}}'")
                body.append(.output(expr, line: startLine))
            case .blockBegin:
                let tag = try expectName()
                if ends.contains(tag) { return (body, tag) }
                if let node = try nested({ try $0.statement(tag, line: startLine) }) { body.append(contentsOf: node) }
            default: throw fail("unexpected \(Self.describe(token))")
            }
        }
        guard ends.isEmpty else {
            throw fail("missing \(ends.sorted().map { "'{% \($0) %}'" }.joined(separator: " or "))")
        }
        return (body, nil)
    }

    private mutating func statement(_ tag: String, line: Int) throws -> [TemplateNode]? {
        switch tag {
        case "if":
            var branches: [(TemplateExpr, [TemplateNode])] = []
            var condition = try expression()
            var otherwise: [TemplateNode] = []
            while true {
                try expect(.blockEnd, "'%}'")
                let (body, end) = try statements(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                if end == "elif" { condition = try expression(); continue }
                if end == "else" {
                    try expect(.blockEnd, "'%}'")
                    otherwise = try statements(until: ["endif"]).0
                }
                break
            }
            try expect(.blockEnd, "'%}'")
            return [.conditional(branches: branches, otherwise: otherwise, line: line)]
        case "for":
            var targets = [try expectName()]
            while accept(.op(",")) { targets.append(try expectName()) }
            try expect(.name("in"), "'in'")
            let iterable = try conditionalFree()
            let condition = accept(.name("if")) ? try conditionalFree() : nil
            try expect(.blockEnd, "'%}'")
            let (body, end) = try statements(until: ["else", "endfor"])
            var otherwise: [TemplateNode] = []
            if end == "else" {
                try expect(.blockEnd, "'%}'")
                otherwise = try statements(until: ["endfor"]).0
            }
            try expect(.blockEnd, "'%}'")
            return [.loop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line)]
        case "set":
            let name = try expectName()
            let attribute = accept(.op(".")) ? try expectName() : nil
            guard accept(.op("=")) else { throw fail("'{% set %}' needs '= value' (block assignments are not supported)") }
            let value = try expression()
            try expect(.blockEnd, "'%}'")
            return [.assign(name: name, attribute: attribute, value, line: line)]
        case "break", "continue":
            try expect(.blockEnd, "'%}'")
            return [tag == "break" ? .breakLoop(line: line) : .continueLoop(line: line)]
        case "generation":
            try expect(.blockEnd, "'%}'")
            let body = try statements(until: ["endgeneration"]).0
            try expect(.blockEnd, "'%}'")
            return body
        case "elif", "else", "endif", "endfor", "endgeneration":
            throw TemplateError(line: line, message: "unexpected '{% \(tag) %}'")
        default:
            throw TemplateError(line: line, message: "unknown tag '\(tag)'")
        }
    }

    // MARK: Expressions

    mutating func expression() throws -> TemplateExpr {
        try nested { parser in
            let value = try parser.or()
            guard parser.accept(.name("if")) else { return value }
            let condition = try parser.or()
            let otherwise = parser.accept(.name("else")) ? try parser.expression() : nil
            return .conditional(then: value, condition: condition, otherwise: otherwise)
        }
    }

    /// An expression without a trailing `if … else …` (a `for` iterable, before its filter).
    private mutating func conditionalFree() throws -> TemplateExpr { try nested { try $0.or() } }

    private mutating func or() throws -> TemplateExpr {
        var levels = 0
        defer { depth -= levels }
        var left = try and()
        while accept(.name("or")) { try deepen(&levels); left = .or(left, try and()) }
        return left
    }

    private mutating func and() throws -> TemplateExpr {
        var levels = 0
        defer { depth -= levels }
        var left = try not()
        while accept(.name("and")) { try deepen(&levels); left = .and(left, try not()) }
        return left
    }

    private mutating func not() throws -> TemplateExpr {
        accept(.name("not")) ? .not(try nested { try $0.not() }) : try comparison()
    }

    private mutating func comparison() throws -> TemplateExpr {
        var levels = 0
        defer { depth -= levels }
        var left = try sum()
        while true {
            try deepen(&levels)
            if case .op(let op) = peek, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
                p += 1
                left = .binary(op, left, try sum())
            } else if accept(.name("in")) {
                left = .binary("in", left, try sum())
            } else if peek == .name("not"), p + 1 < tokens.count, tokens[p + 1].token == .name("in") {
                p += 2
                left = .not(.binary("in", left, try sum()))
            } else {
                return left
            }
        }
    }

    private mutating func sum() throws -> TemplateExpr {
        var levels = 0
        defer { depth -= levels }
        var left = try concatenation()
        while case .op(let op) = peek, op == "+" || op == "-" {
            p += 1
            try deepen(&levels)
            left = .binary(op, left, try concatenation())
        }
        return left
    }

    private mutating func concatenation() throws -> TemplateExpr {
        var levels = 0
        defer { depth -= levels }
        var left = try product()
        while accept(.op("~")) { try deepen(&levels); left = .binary("~", left, try product()) }
        return left
    }

    private mutating func product() throws -> TemplateExpr {
        var levels = 0
        defer { depth -= levels }
        var left = try unary()
        while case .op(let op) = peek, ["*", "/", "//", "%"].contains(op) {
            p += 1
            try deepen(&levels)
            left = .binary(op, left, try unary())
        }
        return left
    }

    private mutating func unary() throws -> TemplateExpr {
        if accept(.op("-")) { return .negate(try nested { try $0.unary() }) }
        if accept(.op("+")) { return try nested { try $0.unary() } }
        return try postfix(try primary())
    }

    private mutating func primary() throws -> TemplateExpr {
        switch try next() {
        case .name("true"), .name("True"): return .literal(.bool(true))
        case .name("false"), .name("False"): return .literal(.bool(false))
        case .name("none"), .name("None"): return .literal(.none)
        case .name(let name): return .name(name)
        case .string(var text):
            while case .string(let more) = peek { text += more; p += 1 }  // adjacent literals join
            return .literal(.string(text))
        case .int(let n): return .literal(.int(n))
        case .double(let d): return .literal(.double(d))
        case .op("("):
            // A parenthesized expression, or a tuple (a list here: both are read-only).
            if accept(.op(")")) { return .list([]) }
            let inner = try expression()
            guard accept(.op(",")) else {
                try expect(.op(")"), "')'")
                return inner
            }
            var items = [inner]
            while !accept(.op(")")) {
                items.append(try expression())
                if !accept(.op(",")) { try expect(.op(")"), "')'"); break }
            }
            return .list(items)
        case .op("{"):
            // A dict literal, built in key order.
            var members: [(TemplateExpr, TemplateExpr)] = []
            while !accept(.op("}")) {
                let key = try expression()
                try expect(.op(":"), "':'")
                members.append((key, try expression()))
                if !accept(.op(",")) { try expect(.op("}"), "'}'"); break }
            }
            return .dict(members)
        case .op("["):
            var items: [TemplateExpr] = []
            while !accept(.op("]")) {
                items.append(try expression())
                if !accept(.op(",")) { try expect(.op("]"), "']'"); break }
            }
            return .list(items)
        case let token:
            throw TemplateError(line: tokens[p - 1].line, message: "unexpected \(Self.describe(token))")
        }
    }

    private mutating func postfix(_ base: TemplateExpr) throws -> TemplateExpr {
        var levels = 0
        defer { depth -= levels }
        var value = base
        while true {
            if [.op("."), .op("["), .op("("), .op("|"), .name("is")].contains(peek) { try deepen(&levels) }
            if accept(.op(".")) {
                value = .attribute(value, try expectName())
            } else if accept(.op("[")) {
                value = try subscriptOrSlice(value)
            } else if accept(.op("(")) {
                value = .call(value, try arguments())
            } else if accept(.op("|")) {
                let name = try expectName()
                value = .filter(value, name: name, accept(.op("(")) ? try arguments() : .init())
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                let name = try expectName()
                var args = TemplateExpr.Arguments()
                if accept(.op("(")) { args = try arguments() }
                value = .test(value, name: name, negated: negated, args)
            } else {
                return value
            }
        }
    }

    private mutating func subscriptOrSlice(_ value: TemplateExpr) throws -> TemplateExpr {
        func part(_ parser: inout TemplateParser) throws -> TemplateExpr? {
            parser.peek == .op(":") || parser.peek == .op("]") ? nil : try parser.expression()
        }
        let start = try part(&self)
        guard accept(.op(":")) else {
            try expect(.op("]"), "']'")
            guard let start else { throw fail("empty subscript") }
            return .subscript(value, start)
        }
        let stop = try part(&self)
        let step = accept(.op(":")) ? try part(&self) : nil
        try expect(.op("]"), "']'")
        return .slice(value, start: start, stop: stop, step: step)
    }

    /// Call arguments after `(`, through `)`: positional, then `name=value`.
    private mutating func arguments() throws -> TemplateExpr.Arguments {
        var args = TemplateExpr.Arguments()
        while !accept(.op(")")) {
            if case .name(let key) = peek, p + 1 < tokens.count, tokens[p + 1].token == .op("=") {
                p += 2
                args.keyword.append((key, try expression()))
            } else {
                guard args.keyword.isEmpty else { throw fail("a positional argument follows a keyword argument") }
                args.positional.append(try expression())
            }
            if !accept(.op(",")) { try expect(.op(")"), "')'"); break }
        }
        return args
    }

    static func describe(_ token: TemplateToken) -> String {
        switch token {
        case .text: return "text"
        case .outputBegin: return "'{{'"
        case .outputEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string(let s): return TemplateValue.pythonStringRepr(s)
        case .int(let n): return "\(n)"
        case .double(let d): return "\(d)"
        case .op(let o): return "'\(o)'"
        }
    }
}
