/// A JSON value: the one the engine reads every JSON document into (tokenizer files, training data
/// lines, adapter configs) and writes every JSON it must print byte for byte as the Hugging Face
/// tools do (GGUF-derived tokenizer files, `adapter_config.json`, the chat template's `tojson`).
///
/// Objects keep their keys in document order (Python's dict, `serde_json`'s `preserve_order`), and
/// numbers keep the integer/float distinction Python makes: `1` is `.int`, `1.0` and `1e3` are
/// `.double`, and an integer too wide for `Int` (transformers' `model_max_length`
/// 1000000000000000019884624838656) is `.bigInt` with its digits, so it prints back unchanged.
/// `JSONValue.parse` reads (`JSONParser.swift`), `serialized(_:)` writes (`JSONWriter.swift`).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    /// An integer literal outside `Int`'s range, as its decimal text (an optional `-`, then digits).
    case bigInt(String)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Members in document order. A key may repeat (JSON allows it); lookups see the last one,
    /// as Python's `json` does.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.bigInt(let x), .bigInt(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0.unicodeScalars.elementsEqual($1.0.unicodeScalars) && $0.1 == $1.1 }
        default: return false
        }
    }

    /// A string value, or null when nil.
    public static func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }

    /// The member `key` of an object (the last, if the key repeats); nil for a missing key or a
    /// value that is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// An integer written as one (`3`, not `3.0`).
    public var int: Int? {
        if case .int(let i) = self { return i }
        return nil
    }

    /// Any number as a Double (an integer or a wide integer, rounded to the nearest Double).
    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .bigInt(let digits): return Double(digits)
        case .double(let d): return d
        default: return nil
        }
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// An object's members in document order.
    public var members: [(String, JSONValue)]? {
        if case .object(let m) = self { return m }
        return nil
    }

    /// What the value is, for messages: "a string", "a number", "an object", …
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .bigInt, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
