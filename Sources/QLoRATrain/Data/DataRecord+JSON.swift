import QLoRACore
import QLoRATokenizer

/// Why a line is not a record of the expected form (the reader adds the path and line number).
struct RecordError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension DataRecord {
    /// The record a JSON object holds in `format` (never `.auto`: the reader resolves it first).
    static func parse(_ object: JSONValue, as format: DataFormat) throws -> DataRecord {
        switch format {
        case .auto:
            preconditionFailure("the reader resolves .auto before parsing")
        case .text:
            return .text(try string(object, "text"))
        case .alpaca:
            let input: String
            switch object["input"] {
            case nil, .null?: input = ""
            case .string(let s)?: input = s
            case let other?: throw RecordError("\"input\" is \(other.typeName), expected a string")
            }
            return .alpaca(instruction: try string(object, "instruction"), input: input,
                           output: try string(object, "output"))
        case .chat:
            return .chat(try messages(object))
        case .template(let prompt, let target):
            var fields: [String: String] = [:]
            for name in prompt.fieldNames + target.fieldNames where fields[name] == nil {
                guard let value = object[name] else { throw RecordError("no field \"\(name)\" for the template") }
                guard let text = scalarText(value) else {
                    throw RecordError("field \"\(name)\" is \(value.typeName), expected a string or a number")
                }
                fields[name] = text
            }
            return .fields(fields)
        }
    }

    /// A field's value as template text: strings as they are, numbers and booleans as JSON writes
    /// them (a float with an integral value without its ".0", as the reader always has).
    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bigInt(let digits): return digits
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .bool(let b): return b ? "true" : "false"
        case .null, .array, .object: return nil
        }
    }

    static func string(_ object: JSONValue, _ key: String) throws -> String {
        guard let value = object[key] else { throw RecordError("no \"\(key)\" field") }
        guard let s = value.string else { throw RecordError("\"\(key)\" is \(value.typeName), expected a string") }
        return s
    }

    static func messages(_ object: JSONValue) throws -> [ChatMessage] {
        guard let value = object["messages"] else { throw RecordError("no \"messages\" field") }
        guard case .array(let items) = value, !items.isEmpty else {
            throw RecordError("\"messages\" must be a non-empty array")
        }
        var out: [ChatMessage] = []
        for (i, item) in items.enumerated() {
            guard case .object = item, let role = item["role"]?.string, let content = item["content"]?.string else {
                throw RecordError("messages[\(i)] must be an object with string \"role\" and \"content\"")
            }
            out.append(ChatMessage(role: role, content: content))
        }
        guard out.contains(where: { $0.role == "assistant" }) else {
            throw RecordError("no assistant message to learn from")
        }
        return out
    }
}
