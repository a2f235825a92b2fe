/// Runs parsed template statements against variables, within `ChatTemplate.Limits`: the output,
/// every string a template builds, and the total of loop iterations are bounded, so a hostile
/// template cannot run for long or use much memory; recursion is bounded by the parser's depth.
final class TemplateRenderer {
    enum Flow { case normal, breakLoop, continueLoop }

    let limits: ChatTemplate.Limits
    private(set) var output = ""
    private var iterations = 0
    /// Innermost last; each `for` iteration gets its own, so `set` inside a loop stays there.
    private var scopes: [[String: TemplateValue]]

    init(variables: [String: TemplateValue], limits: ChatTemplate.Limits) {
        self.limits = limits
        scopes = [variables]
    }

    private var context: TemplateCallContext {
        TemplateCallContext(limits: limits, spend: { [unowned self] n in try self.spend(n) })
    }

    private func spend(_ count: Int) throws {
        iterations += count
        if iterations > limits.maxLoopIterations {
            throw TemplateError(line: 0, message: "more than \(limits.maxLoopIterations) loop iterations")
        }
    }

    /// Runs statements; errors from built-ins get the statement's line.
    func render(_ nodes: [TemplateNode]) throws -> Flow {
        for node in nodes {
            let flow = try withLine(node.line) { try run(node) }
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func withLine<T>(_ line: Int, _ body: () throws -> T) throws -> T {
        do { return try body() } catch var error as TemplateError where error.line == 0 {
            error.line = line
            throw error
        }
    }

    private func run(_ node: TemplateNode) throws -> Flow {
        switch node {
        case .text(let text):
            try emit(text)
        case .output(let expr, _):
            try emit(try evaluate(expr).printed)
        case .conditional(let branches, let otherwise, _):
            for (condition, body) in branches where try evaluate(condition).isTrue { return try render(body) }
            return try render(otherwise)
        case .loop(let targets, let iterable, let condition, let body, let otherwise, _):
            return try loop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise)
        case .assign(let name, let attribute, let expr, _):
            let value = try evaluate(expr)
            if let attribute {
                guard case .namespace(let namespace) = lookup(name) else {
                    throw TemplateError(line: 0, message: "'\(name)' is not a namespace; only namespace attributes can be set")
                }
                namespace.attributes[attribute] = value
            } else {
                scopes[scopes.count - 1][name] = value
            }
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        }
        return .normal
    }

    private func emit(_ text: String) throws {
        output += text
        if output.utf8.count > limits.maxOutputBytes {
            throw TemplateError(line: 0, message: "output is longer than \(limits.maxOutputBytes) bytes")
        }
    }

    private func loop(
        targets: [String], iterable: TemplateExpr, condition: TemplateExpr?, body: [TemplateNode], otherwise: [TemplateNode]
    ) throws -> Flow {
        var items = try TemplateBuiltins.items(try evaluate(iterable), "for")
        if let condition {
            try spend(items.count)
            items = try items.filter { item in
                scopes.append(try bind(targets, item))
                defer { scopes.removeLast() }
                return try evaluate(condition).isTrue
            }
        }
        if items.isEmpty { return try render(otherwise) }
        for (index, item) in items.enumerated() {
            try spend(1)
            var scope = try bind(targets, item)
            scope["loop"] = .object(TemplateObject([
                ("index", .int(index + 1)), ("index0", .int(index)),
                ("revindex", .int(items.count - index)), ("revindex0", .int(items.count - index - 1)),
                ("first", .bool(index == 0)), ("last", .bool(index == items.count - 1)),
                ("length", .int(items.count)),
                ("previtem", index > 0 ? items[index - 1] : .undefined),
                ("nextitem", index + 1 < items.count ? items[index + 1] : .undefined),
            ]))
            scopes.append(scope)
            defer { scopes.removeLast() }
            if try render(body) == .breakLoop { break }
        }
        return .normal
    }

    /// The loop variables for one item: the item itself, or its parts for `for a, b in …`.
    private func bind(_ targets: [String], _ item: TemplateValue) throws -> [String: TemplateValue] {
        guard targets.count > 1 else { return [targets[0]: item] }
        guard case .array(let parts) = item, parts.count == targets.count else {
            throw TemplateError(line: 0, message: "cannot unpack \(item.typeName) into \(targets.count) loop variables")
        }
        return Dictionary(uniqueKeysWithValues: zip(targets, parts))
    }

    private func lookup(_ name: String) -> TemplateValue {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return TemplateBuiltins.globals[name] ?? .undefined
    }

    // MARK: Expressions

    func evaluate(_ expr: TemplateExpr) throws -> TemplateValue {
        switch expr {
        case .literal(let value): return value
        case .name(let name): return lookup(name)
        case .list(let items): return .array(try items.map(evaluate))
        case .dict(let members):
            var object = TemplateObject()
            for (key, value) in members {
                guard case .string(let k) = try evaluate(key) else {
                    throw TemplateError(line: 0, message: "dict keys must be strings")
                }
                object[k] = try evaluate(value)
            }
            return .object(object)
        case .attribute(let base, let name): return try attribute(try evaluate(base), name)
        case .subscript(let base, let key): return try item(try evaluate(base), try evaluate(key))
        case .slice(let base, let start, let stop, let step):
            return try TemplateOperators.slice(try evaluate(base), start: start.map(evaluate), stop: stop.map(evaluate), step: step.map(evaluate))
        case .call(let callee, let args):
            guard case .function(let function) = try evaluate(callee) else {
                throw TemplateError(line: 0, message: "\(Self.describe(callee)) is not a function")
            }
            let (positional, keyword) = try arguments(args)
            return try function.call(positional, keyword, context)
        case .filter(let base, let name, let args):
            let (positional, keyword) = try arguments(args)
            return try TemplateBuiltins.filters[name]!(try evaluate(base), .init(positional: positional, keyword: keyword), context)
        case .test(let base, let name, let negated, let args):
            let (positional, keyword) = try arguments(args)
            return .bool(try TemplateBuiltins.tests[name]!(try evaluate(base), .init(positional: positional, keyword: keyword)) != negated)
        case .not(let inner): return .bool(!(try evaluate(inner).isTrue))
        case .negate(let inner): return try TemplateOperators.binary("-", .int(0), try evaluate(inner), context)
        case .and(let l, let r):
            let left = try evaluate(l)
            return left.isTrue ? try evaluate(r) : left
        case .or(let l, let r):
            let left = try evaluate(l)
            return left.isTrue ? left : try evaluate(r)
        case .binary(let op, let l, let r): return try TemplateOperators.binary(op, try evaluate(l), try evaluate(r), context)
        case .conditional(let then, let condition, let otherwise):
            if try evaluate(condition).isTrue { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined
        }
    }

    private func arguments(_ args: TemplateExpr.Arguments) throws -> ([TemplateValue], [String: TemplateValue]) {
        var keyword: [String: TemplateValue] = [:]
        for (key, value) in args.keyword { keyword[key] = try evaluate(value) }
        return (try args.positional.map(evaluate), keyword)
    }

    /// `base.name`: a method of a string or dict first (as Python's getattr), then a dict key or
    /// namespace attribute; undefined when there is none. Reading from undefined is an error.
    private func attribute(_ base: TemplateValue, _ name: String) throws -> TemplateValue {
        if case .undefined = base { throw TemplateError(line: 0, message: "cannot read '.\(name)' of an undefined value") }
        if let method = TemplateBuiltins.method(name, of: base) { return .function(method) }
        switch base {
        case .object(let object): return object[name] ?? .undefined
        case .namespace(let namespace): return namespace.attributes[name] ?? .undefined
        default: return .undefined
        }
    }

    /// `base[key]`: an item first (as Jinja's getitem), then an attribute.
    private func item(_ base: TemplateValue, _ key: TemplateValue) throws -> TemplateValue {
        switch (base, key) {
        case (.undefined, _): throw TemplateError(line: 0, message: "cannot read [\(key.repr)] of an undefined value")
        case (.array(let items), .int(let i)): return TemplateOperators.index(i, count: items.count).map { items[$0] } ?? .undefined
        case (.string(let s), .int(let i)):
            let scalars = Array(s.unicodeScalars)
            return TemplateOperators.index(i, count: scalars.count).map { .string(String(scalars[$0])) } ?? .undefined
        case (.object(let object), .string(let k)) where object[k] != nil: return object[k]!
        case (_, .string(let k)): return try attribute(base, k)
        default: return .undefined
        }
    }

    static func describe(_ expr: TemplateExpr) -> String {
        switch expr {
        case .name(let name): return "'\(name)'"
        case .attribute(_, let name): return "'.\(name)'"
        default: return "the called value"
        }
    }
}

extension TemplateNode {
    var line: Int {
        switch self {
        case .text: return 0
        case .output(_, let line), .conditional(_, _, let line), .loop(_, _, _, _, _, let line),
             .assign(_, _, _, let line), .breakLoop(let line), .continueLoop(let line):
            return line
        }
    }
}
