import Foundation

/// A JSON value as read from one data line, decoded with `JSONDecoder` (strict: `true` is never
/// the number 1, and strings are kept exactly).
enum RecordJSON: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([RecordJSON])
    case object([String: RecordJSON])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int.self) {
            self = .integer(i)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([RecordJSON].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: RecordJSON].self))
        }
    }

    /// A JSON object from one line's bytes, or nil when the line is not one.
    static func object(_ bytes: UnsafeRawBufferPointer) -> [String: RecordJSON]? {
        guard case .object(let members)? = try? JSONDecoder().decode(RecordJSON.self, from: Data(bytes)) else {
            return nil
        }
        return members
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The value as template text: strings as they are, numbers and booleans as JSON writes them.
    var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .bool(let b): return b ? "true" : "false"
        case .null, .array, .object: return nil
        }
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
