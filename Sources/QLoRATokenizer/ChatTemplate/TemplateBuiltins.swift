import Foundation

/// Everything a template can call, one table each: filters (`x | trim`), tests (`x is defined`),
/// methods of strings and dicts (`s.strip()`, `m.get('k')`) and global functions. Nothing else
/// is reachable — no attributes of Swift or Python objects — which is the sandbox. Adding a
/// built-in is one entry.
enum TemplateBuiltins {
    typealias Function = (_ value: TemplateValue, _ args: Args, _ context: TemplateCallContext) throws -> TemplateValue

    /// Arguments of a call, read by position or keyword as Python binds them.
    struct Args {
        var positional: [TemplateValue]
        var keyword: [String: TemplateValue]

        func get(_ index: Int, _ name: String, default value: TemplateValue = .undefined) -> TemplateValue {
            index < positional.count ? positional[index] : keyword[name] ?? value
        }

        func string(_ index: Int, _ name: String) throws -> String? {
            switch get(index, name) {
            case .undefined, .none: return nil
            case .string(let s): return s
            case let other: throw TemplateBuiltins.error("argument '\(name)' must be a string, not \(other.typeName)")
            }
        }

        func int(_ index: Int, _ name: String) throws -> Int? {
            switch get(index, name) {
            case .undefined, .none: return nil
            case .int(let n): return n
            case let other: throw TemplateBuiltins.error("argument '\(name)' must be an int, not \(other.typeName)")
            }
        }
    }

    static func error(_ message: String) -> TemplateError { TemplateError(line: 0, message: message) }

    // MARK: Filters

    static let filters: [String: Function] = [
        // String filters print a non-string first, as Jinja's `soft_str` does.
        "trim": { v, a, _ in .string(strip(v.printed, chars: try a.string(0, "chars"), left: true, right: true)) },
        "length": { v, _, _ in .int(try length(v)) },
        "count": { v, _, _ in .int(try length(v)) },
        "tojson": { v, a, _ in .string(try v.toJSON(a)) },
        "upper": { v, _, _ in .string(v.printed.uppercased()) },
        "lower": { v, _, _ in .string(v.printed.lowercased()) },
        "capitalize": { v, _, _ in .string(capitalize(v.printed)) },
        "string": { v, _, _ in .string(v.printed) },
        "safe": { v, _, _ in v },
        "default": defaultFilter,
        "d": defaultFilter,
        "first": { v, _, _ in try items(v, "first").first ?? .undefined },
        "last": { v, _, _ in try items(v, "last").last ?? .undefined },
        "list": { v, _, _ in .array(try items(v, "list")) },
        "reverse": { v, _, _ in
            if case .string(let s) = v { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .array(try items(v, "reverse").reversed())
        },
        "join": { v, a, c in
            let joined = try items(v, "join").map(\.printed).joined(separator: try a.string(0, "d") ?? "")
            try c.checkSize(joined)
            return .string(joined)
        },
        "items": { v, _, _ in try dictItems(v) },
        "replace": { v, a, c in try replace(v.printed, a, c) },
        "int": { v, a, _ in
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d) where d.isFinite && abs(d) < 9e18: return .int(Int(d))
            case .string(let s): return Int(s.trimmingCharacters(in: .whitespaces)).map { .int($0) } ?? a.get(0, "default", default: .int(0))
            default: return a.get(0, "default", default: .int(0))
            }
        },
    ]

    static let defaultFilter: Function = { v, a, _ in
        let fallback = a.get(0, "default_value", default: .string(""))
        let boolean = a.get(1, "boolean", default: .bool(false)).isTrue
        if case .undefined = v { return fallback }
        return boolean && !v.isTrue ? fallback : v
    }

    // MARK: Tests

    static let tests: [String: (TemplateValue, Args) throws -> Bool] = [
        "defined": { v, _ in v != .undefined },
        "undefined": { v, _ in v == .undefined },
        "none": { v, _ in if case .none = v { return true }; return false },
        "boolean": { v, _ in if case .bool = v { return true }; return false },
        "true": { v, _ in if case .bool(true) = v { return true }; return false },
        "false": { v, _ in if case .bool(false) = v { return true }; return false },
        "integer": { v, _ in if case .int = v { return true }; return false },
        "float": { v, _ in if case .double = v { return true }; return false },
        "number": { v, _ in switch v { case .int, .double, .bool: return true; default: return false } },
        "string": { v, _ in if case .string = v { return true }; return false },
        "mapping": { v, _ in switch v { case .object, .namespace: return true; default: return false } },
        "sequence": { v, _ in switch v { case .array, .string, .object: return true; default: return false } },
        "iterable": { v, _ in switch v { case .array, .string, .object, .undefined: return true; default: return false } },
        "callable": { v, _ in if case .function = v { return true }; return false },
        "even": { v, _ in if case .int(let n) = v { return n % 2 == 0 }; throw error("'even' needs an int") },
        "odd": { v, _ in if case .int(let n) = v { return n % 2 != 0 }; throw error("'odd' needs an int") },
        "lower": { v, _ in if case .string(let s) = v { return s == s.lowercased() }; return false },
        "upper": { v, _ in if case .string(let s) = v { return s == s.uppercased() }; return false },
    ]

    // MARK: Globals

    static let globals: [String: TemplateValue] = [
        "raise_exception": .function(TemplateFunction(name: "raise_exception") { args, _, _ in
            throw TemplateError(line: 0, message: "raise_exception: \(args.first?.printed ?? "")")
        }),
        "namespace": .function(TemplateFunction(name: "namespace") { args, kwargs, _ in
            var attributes = TemplateObject()
            if case .object(let initial)? = args.first { attributes = initial }
            for key in kwargs.keys.sorted() { attributes[key] = kwargs[key] }
            return .namespace(TemplateNamespace(attributes))
        }),
        "range": .function(TemplateFunction(name: "range") { args, _, context in
            let bounds = try args.map { v -> Int in
                guard case .int(let n) = v else { throw error("range() needs ints") }
                return n
            }
            guard (1...3).contains(bounds.count) else { throw error("range() takes 1 to 3 arguments") }
            let (start, stop) = bounds.count == 1 ? (0, bounds[0]) : (bounds[0], bounds[1])
            let step = bounds.count == 3 ? bounds[2] : 1
            guard step != 0 else { throw error("range() step must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            try context.spend(count)
            return .array((0..<count).map { .int(start + $0 * step) })
        }),
    ]

    // MARK: Methods

    /// A method of a value (`text.strip`, `message.get`), bound to it; nil when there is none.
    static func method(_ name: String, of value: TemplateValue) -> TemplateFunction? {
        switch value {
        case .string(let s): return stringMethods[name].map { m in TemplateFunction(name: name) { a, k, c in try m(s, Args(positional: a, keyword: k), c) } }
        case .object(let o): return dictMethods[name].map { m in TemplateFunction(name: name) { a, k, _ in try m(o, Args(positional: a, keyword: k)) } }
        default: return nil
        }
    }

    static let stringMethods: [String: (String, Args, TemplateCallContext) throws -> TemplateValue] = [
        "strip": { s, a, _ in .string(strip(s, chars: try a.string(0, "chars"), left: true, right: true)) },
        "lstrip": { s, a, _ in .string(strip(s, chars: try a.string(0, "chars"), left: true, right: false)) },
        "rstrip": { s, a, _ in .string(strip(s, chars: try a.string(0, "chars"), left: false, right: true)) },
        "upper": { s, _, _ in .string(s.uppercased()) },
        "lower": { s, _, _ in .string(s.lowercased()) },
        "capitalize": { s, _, _ in .string(capitalize(s)) },
        "startswith": { s, a, _ in .bool(try affixes(a).contains { s.unicodeScalars.starts(with: $0.unicodeScalars) }) },
        "endswith": { s, a, _ in .bool(try affixes(a).contains { s.unicodeScalars.reversed().starts(with: $0.unicodeScalars.reversed()) }) },
        "replace": { s, a, c in try replace(s, a, c) },
        "split": { s, a, _ in .array(try split(s, separator: a.string(0, "sep"), maxSplit: a.int(1, "maxsplit") ?? -1).map { .string($0) }) },
        "join": { s, a, c in
            let joined = try items(a.get(0, "iterable"), "join").map { v -> String in
                guard case .string(let text) = v else { throw error("join() needs strings, found \(v.typeName)") }
                return text
            }.joined(separator: s)
            try c.checkSize(joined)
            return .string(joined)
        },
    ]

    static let dictMethods: [String: (TemplateObject, Args) throws -> TemplateValue] = [
        "items": { o, _ in try dictItems(.object(o)) },
        "keys": { o, _ in .array(o.keys.map { .string($0) }) },
        "values": { o, _ in .array(o.keys.map { o[$0]! }) },
        "get": { o, a in
            guard case .string(let key) = a.get(0, "key") else { return a.get(1, "default", default: .none) }
            return o[key] ?? a.get(1, "default", default: .none)
        },
    ]

    // MARK: Helpers

    static func string(_ v: TemplateValue, _ what: String) throws -> String {
        switch v {
        case .string(let s): return s
        case .undefined: return ""
        default: throw error("'\(what)' needs a string, not \(v.typeName)")
        }
    }

    /// The elements a loop or a list filter sees: list items, dict keys, string characters.
    static func items(_ v: TemplateValue, _ what: String) throws -> [TemplateValue] {
        switch v {
        case .array(let a): return a
        case .object(let o): return o.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw error("'\(what)': \(v.typeName) is not iterable")
        }
    }

    static func length(_ v: TemplateValue) throws -> Int {
        switch v {
        case .string(let s): return s.unicodeScalars.count  // Python counts code points
        case .array(let a): return a.count
        case .object(let o): return o.count
        case .undefined: return 0
        default: throw error("\(v.typeName) has no length")
        }
    }

    static func dictItems(_ v: TemplateValue) throws -> TemplateValue {
        guard case .object(let o) = v else { throw error("'items' needs a dict, not \(v.typeName)") }
        return .array(o.keys.map { .array([.string($0), o[$0]!]) })
    }

    /// Python's `str.isspace` characters (Unicode White_Space and the four separators U+001C–1F).
    static func isPythonSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    /// Python's `strip`/`lstrip`/`rstrip`: whitespace, or any of `chars`.
    static func strip(_ s: String, chars: String?, left: Bool, right: Bool) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        let strips = { (c: Unicode.Scalar) in set?.contains(c) ?? isPythonSpace(c) }
        var scalars = Substring(s).unicodeScalars[...]
        if left { while let f = scalars.first, strips(f) { scalars.removeFirst() } }
        if right { while let l = scalars.last, strips(l) { scalars.removeLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return String(first).uppercased() + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())).lowercased()
    }

    /// `startswith`/`endswith` take one string or a list of them.
    static func affixes(_ a: Args) throws -> [String] {
        switch a.get(0, "prefix") {
        case .string(let s): return [s]
        case .array(let list): return try list.map { try string($0, "startswith") }
        case let other: throw error("startswith/endswith need a string, not \(other.typeName)")
        }
    }

    static func replace(_ s: String, _ a: Args, _ c: TemplateCallContext) throws -> TemplateValue {
        guard let old = try a.string(0, "old"), let new = try a.string(1, "new"), !old.isEmpty else {
            throw error("replace() needs a non-empty old string and a new string")
        }
        var limit = try a.int(2, "count") ?? -1
        var out = String.UnicodeScalarView()
        var rest = Substring(s).unicodeScalars[...]
        let pattern = Array(old.unicodeScalars)
        while !rest.isEmpty {
            if limit != 0, rest.starts(with: pattern) {
                out.append(contentsOf: new.unicodeScalars)
                rest = rest.dropFirst(pattern.count)
                limit -= 1
            } else {
                out.append(rest.removeFirst())
            }
        }
        let result = String(out)
        try c.checkSize(result)
        return .string(result)
    }

    /// Python's `str.split`: on runs of whitespace (no separator), else on the separator.
    static func split(_ s: String, separator: String?, maxSplit: Int) throws -> [String] {
        let scalars = Array(s.unicodeScalars)
        var parts: [String] = []
        var splits = 0
        guard let separator else {
            var i = 0
            while i < scalars.count {
                while i < scalars.count, isPythonSpace(scalars[i]) { i += 1 }
                guard i < scalars.count else { break }
                if maxSplit >= 0, splits == maxSplit { parts.append(TemplateLexer.string(scalars[i...].reversed().drop(while: isPythonSpace).reversed())); break }
                var j = i
                while j < scalars.count, !isPythonSpace(scalars[j]) { j += 1 }
                parts.append(TemplateLexer.string(scalars[i..<j]))
                splits += 1
                i = j
            }
            return parts
        }
        let sep = Array(separator.unicodeScalars)
        guard !sep.isEmpty else { throw error("split() separator is empty") }
        var start = 0, i = 0
        while i + sep.count <= scalars.count, maxSplit < 0 || splits < maxSplit {
            if Array(scalars[i..<(i + sep.count)]) == sep {
                parts.append(TemplateLexer.string(scalars[start..<i]))
                i += sep.count
                start = i
                splits += 1
            } else {
                i += 1
            }
        }
        parts.append(TemplateLexer.string(scalars[start...]))
        return parts
    }
}

extension TemplateCallContext {
    /// Refuses a string longer than the output limit (a template doubling a string in a loop).
    func checkSize(_ s: String) throws {
        if s.utf8.count > limits.maxOutputBytes {
            throw TemplateBuiltins.error("a string grew past the output limit of \(limits.maxOutputBytes) bytes")
        }
    }
}
