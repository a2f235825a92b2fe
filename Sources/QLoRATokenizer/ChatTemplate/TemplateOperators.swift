/// The binary operators, indexing and slicing of the template language, with Python's
/// semantics: `+` adds numbers or joins strings or lists, `/` always gives a float, `//` and `%`
/// floor, comparisons order numbers or strings, `in` tests substrings, items and keys. Integer
/// overflow and division by zero are errors, never traps.
enum TemplateOperators {
    static func error(_ message: String) -> TemplateError { TemplateError(line: 0, message: message) }

    static func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue, _ context: TemplateCallContext) throws -> TemplateValue {
        switch op {
        case "==": return .bool(a.equals(b))
        case "!=": return .bool(!a.equals(b))
        case "<", "<=", ">", ">=": return .bool(try compare(op, a, b))
        case "in": return .bool(try contains(b, a))
        case "~":
            let joined = a.printed + b.printed
            try context.checkSize(joined)
            return .string(joined)
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)):
                try context.checkSize(x + y)
                return .string(x + y)
            case (.array(let x), .array(let y)):
                try context.spend(x.count + y.count)
                return .array(x + y)
            default: return try arithmetic(op, a, b)
            }
        default: return try arithmetic(op, a, b)
        }
    }

    /// `+ - * / // %` on numbers (booleans count as 0 and 1).
    static func arithmetic(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        if case .int(let x) = a.asInteger, case .int(let y) = b.asInteger, op != "/" {
            let (result, overflow): (Int, Bool)
            switch op {
            case "+": (result, overflow) = x.addingReportingOverflow(y)
            case "-": (result, overflow) = x.subtractingReportingOverflow(y)
            case "*": (result, overflow) = x.multipliedReportingOverflow(by: y)
            case "//", "%":
                guard y != 0 else { throw error("integer division or modulo by zero") }
                guard !(x == .min && y == -1) else { throw error("integer overflow") }
                let q = x / y, r = x % y
                let floorQ = (r != 0 && (r < 0) != (y < 0)) ? q - 1 : q
                (result, overflow) = (op == "//" ? floorQ : x - floorQ * y, false)
            default: throw error("unsupported operator '\(op)'")
            }
            if overflow { throw error("integer overflow in '\(op)'") }
            return .int(result)
        }
        guard let x = a.numeric, let y = b.numeric, a.typeName != "str", b.typeName != "str" else {
            throw error("unsupported operand types for \(op): \(a.typeName) and \(b.typeName)")
        }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/", "//", "%":
            guard y != 0 else { throw error("float division by zero") }
            if op == "/" { return .double(x / y) }
            let q = (x / y).rounded(.down)
            return .double(op == "//" ? q : x - q * y)
        default: throw error("unsupported operator '\(op)'")
        }
    }

    static func compare(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> Bool {
        let order: Int
        if case .string(let x) = a, case .string(let y) = b {
            let xs = x.unicodeScalars.map(\.value), ys = y.unicodeScalars.map(\.value)
            order = xs == ys ? 0 : (xs.lexicographicallyPrecedes(ys) ? -1 : 1)
        } else if let x = a.numeric, let y = b.numeric {
            order = x == y ? 0 : (x < y ? -1 : 1)
        } else {
            throw error("'\(op)' is not supported between \(a.typeName) and \(b.typeName)")
        }
        switch op {
        case "<": return order < 0
        case "<=": return order <= 0
        case ">": return order > 0
        default: return order >= 0
        }
    }

    /// Python's `needle in container`.
    static func contains(_ container: TemplateValue, _ needle: TemplateValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else { throw error("'in <string>' needs a string, not \(needle.typeName)") }
            let hay = Array(s.unicodeScalars), pat = Array(n.unicodeScalars)
            if pat.isEmpty { return true }
            guard hay.count >= pat.count else { return false }
            return (0...(hay.count - pat.count)).contains { hay[$0..<($0 + pat.count)].elementsEqual(pat) }
        case .array(let items): return items.contains { $0.equals(needle) }
        case .object(let object):
            if case .string(let key) = needle { return object[key] != nil }
            return false
        case .undefined: return false
        default: throw error("argument of type \(container.typeName) is not iterable")
        }
    }

    /// A Python index (negative counts from the end) into `count` items, nil when out of range.
    static func index(_ i: Int, count: Int) -> Int? {
        let k = i < 0 ? count + i : i
        return (0..<count).contains(k) ? k : nil
    }

    /// Python's `base[start:stop:step]` on a list or a string.
    static func slice(_ base: TemplateValue, start: TemplateValue?, stop: TemplateValue?, step: TemplateValue?) throws -> TemplateValue {
        func bound(_ v: TemplateValue?) throws -> Int? {
            switch v {
            case nil, .none?, .undefined?: return nil
            case .int(let n)?: return n
            case let other?: throw error("slice indices must be integers, not \(other.typeName)")
            }
        }
        let stride = try bound(step) ?? 1
        guard stride != 0 else { throw error("slice step cannot be zero") }
        let items: [TemplateValue]
        switch base {
        case .array(let a): items = a
        case .string(let s): items = s.unicodeScalars.map { .string(String($0)) }
        case .undefined: throw error("cannot slice an undefined value")
        default: throw error("\(base.typeName) cannot be sliced")
        }
        let n = items.count
        func clamp(_ v: Int?, _ fallback: Int) -> Int {
            guard var v else { return fallback }
            if v < 0 { v += n }
            return stride > 0 ? min(max(v, 0), n) : min(max(v, -1), n - 1)
        }
        var picked: [TemplateValue] = []
        var i = clamp(try bound(start), stride > 0 ? 0 : n - 1)
        let end = clamp(try bound(stop), stride > 0 ? n : -1)
        while stride > 0 ? i < end : i > end {
            picked.append(items[i])
            let (next, overflow) = i.addingReportingOverflow(stride)
            if overflow { break }
            i = next
        }
        if case .string = base { return .string(picked.map(\.printed).joined()) }
        return .array(picked)
    }
}

extension TemplateValue {
    /// An int (a bool as 0/1) for integer arithmetic; nil for anything else.
    var asInteger: TemplateValue? {
        switch self {
        case .int: return self
        case .bool(let b): return .int(b ? 1 : 0)
        default: return nil
        }
    }
}
