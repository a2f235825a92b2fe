import QLoRACore

extension TemplateValue {
    /// The `tojson` filter as transformers defines it: Python's `json.dumps(x, ensure_ascii=False,
    /// indent=None, separators=None, sort_keys=False)` (not Jinja's HTML-escaping one), byte for byte,
    /// its arguments taken positionally or by name.
    func toJSON(_ args: TemplateBuiltins.Args) throws -> String {
        var separators: (item: String, key: String)?
        if case .array(let pair) = args.get(2, "separators"), pair.count == 2,
           case .string(let item) = pair[0], case .string(let key) = pair[1] {
            separators = (item, key)
        }
        let indent = try args.int(1, "indent")
        if let indent, indent > Self.maxJSONIndent {
            throw TemplateBuiltins.error("tojson: indent \(indent) is larger than \(Self.maxJSONIndent)")
        }
        let style = JSONStyle(indent: indent, separators: separators,
                              ensureASCII: args.get(0, "ensure_ascii", default: .bool(false)).isTrue,
                              sortKeys: args.get(3, "sort_keys", default: .bool(false)).isTrue)
        return try jsonValue(level: 0).serialized(style)
    }

    /// The widest `tojson` indent: Python takes any, but a hostile template's `indent=10**12` would
    /// make every line a terabyte (a negative one indents nothing, as in Python).
    static let maxJSONIndent = 1024

    /// This value as JSON; undefined, namespaces and functions are not serializable, as in Python.
    func jsonValue(level: Int) throws -> JSONValue {
        guard level < TemplateParser.maxDepth else { throw TemplateBuiltins.error("tojson: value nested too deeply") }
        switch self {
        case .none: return .null
        case .bool(let b): return .bool(b)
        case .int(let n): return .int(n)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .array(let items): return .array(try items.map { try $0.jsonValue(level: level + 1) })
        case .object(let object): return .object(try object.keys.map { ($0, try object[$0]!.jsonValue(level: level + 1)) })
        case .undefined, .namespace, .function:
            throw TemplateBuiltins.error("tojson: object of type \(typeName) is not JSON serializable")
        }
    }
}
