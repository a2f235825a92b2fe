/// A value in a chat template: what Jinja (in transformers' sandbox) computes with, limited to
/// plain data. Python's semantics are kept where a template can see them: how values print
/// (`None`, `True`, `['a', 1]`), truthiness, `==` (1 == 1.0 == True), and `json.dumps`.
public indirect enum TemplateValue: Sendable, Equatable {
    /// A name or key that does not exist: prints as "", is false, `is defined` is false.
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([TemplateValue])
    /// A mapping whose keys keep their insertion order (as Python dicts do).
    case object(TemplateObject)
    /// `namespace(...)`: the one mutable value (`{% set ns.x = … %}`).
    case namespace(TemplateNamespace)
    /// A built-in function or a bound method (`message.get`, `text.strip`).
    case function(TemplateFunction)

    public static func == (a: TemplateValue, b: TemplateValue) -> Bool { a.equals(b) }

    /// Python `==`: numbers (and booleans) by value, containers element-wise.
    func equals(_ other: TemplateValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.equals($1) }
        case (.object(let x), .object(let y)):
            return x.keys.count == y.keys.count && x.keys.allSatisfy { key in y[key].map { x[key]!.equals($0) } ?? false }
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if let x = numeric, let y = other.numeric { return x == y }
            return false
        }
    }

    /// The number a bool, int or float stands for.
    var numeric: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Python truthiness.
    var isTrue: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.keys.isEmpty
        case .namespace, .function: return true
        }
    }

    /// The Python type name, for messages.
    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .object: return "dict"
        case .namespace: return "namespace"
        case .function: return "function"
        }
    }

    /// `str(value)`, what `{{ value }}` prints (undefined prints nothing).
    var printed: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr
        }
    }

    /// Python `repr(value)`.
    var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return Self.pythonFloat(d)
        case .string(let s): return Self.pythonStringRepr(s)
        case .array(let a): return "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.keys.map { "\(Self.pythonStringRepr($0)): \(o[$0]!.repr)" }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        case .function(let f): return "<function \(f.name)>"
        }
    }

    /// Python's float repr. Swift prints the same shortest round-trip form, switching to an
    /// exponent at the same points ("1e-05", "1000000000000000.0", "1e+16").
    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        return "\(d)"
    }

    /// Python's `repr` of a str: single quotes unless the text has a single quote and no double.
    static func pythonStringRepr(_ s: String) -> String {
        let quote: Unicode.Scalar = s.unicodeScalars.contains("'") && !s.unicodeScalars.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case quote: out += "\\" + String(quote)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + hex(scalar.value, digits: 2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + String(quote)
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let h = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - h.count)) + h
    }
}

/// An insertion-ordered string-keyed mapping (a Python dict of a chat message).
public struct TemplateObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var values: [String: TemplateValue] = [:]

    public init(_ members: [(String, TemplateValue)] = []) {
        for (key, value) in members { self[key] = value }
    }

    public subscript(key: String) -> TemplateValue? {
        get { values[key] }
        set {
            if values[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            values[key] = newValue
        }
    }

    public var count: Int { keys.count }
}

/// The mutable attribute bag `namespace()` makes.
public final class TemplateNamespace: @unchecked Sendable {
    var attributes = TemplateObject()
    init(_ attributes: TemplateObject) { self.attributes = attributes }
}

/// A callable value: positional and keyword arguments in, a value out.
public struct TemplateFunction: Sendable {
    let name: String
    let call: @Sendable (_ args: [TemplateValue], _ kwargs: [String: TemplateValue], _ context: TemplateCallContext) throws -> TemplateValue
}

/// What a built-in may need from the renderer: the budget checks.
struct TemplateCallContext {
    let limits: ChatTemplate.Limits
    /// Takes `count` loop iterations (or list elements made) from the budget.
    let spend: (Int) throws -> Void
}

extension TemplateValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, TemplateValue)...) { self = .object(TemplateObject(elements)) }
}
