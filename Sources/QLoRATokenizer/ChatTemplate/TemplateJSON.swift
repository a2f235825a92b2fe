/// The `tojson` filter as transformers defines it: Python's `json.dumps(x, ensure_ascii=False,
/// indent=None, separators=None, sort_keys=False)` (not Jinja's HTML-escaping one), byte for byte:
/// `", "` and `": "` between items (`","` with an indent), `\uXXXX` in lowercase hex for control
/// characters, non-ASCII kept unless `ensure_ascii`, floats as Python prints them.
enum TemplateJSON {
    static func dumps(_ value: TemplateValue, args: TemplateBuiltins.Args) throws -> String {
        let indent = try args.int(1, "indent")
        let ensureASCII = args.get(0, "ensure_ascii", default: .bool(false)).isTrue
        let sortKeys = args.get(3, "sort_keys", default: .bool(false)).isTrue
        var itemSeparator = indent == nil ? ", " : ","
        var keySeparator = ": "
        if case .array(let pair) = args.get(2, "separators"), pair.count == 2,
           case .string(let item) = pair[0], case .string(let key) = pair[1] {
            (itemSeparator, keySeparator) = (item, key)
        }
        var writer = Writer(indent: indent, itemSeparator: itemSeparator, keySeparator: keySeparator,
                            ensureASCII: ensureASCII, sortKeys: sortKeys)
        try writer.write(value, level: 0)
        return writer.out
    }

    struct Writer {
        let indent: Int?
        let itemSeparator: String
        let keySeparator: String
        let ensureASCII: Bool
        let sortKeys: Bool
        var out = ""

        mutating func newline(_ level: Int) {
            guard let indent else { return }
            out += "\n" + String(repeating: " ", count: indent * level)
        }

        mutating func write(_ value: TemplateValue, level: Int) throws {
            guard level < TemplateParser.maxDepth else { throw TemplateBuiltins.error("tojson: value nested too deeply") }
            switch value {
            case .none: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let n): out += String(n)
            case .double(let d):
                out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : TemplateValue.pythonFloat(d)
            case .string(let s): writeString(s)
            case .array(let items):
                guard !items.isEmpty else { out += "[]"; return }
                out += "["
                for (i, item) in items.enumerated() {
                    if i > 0 { out += itemSeparator }
                    newline(level + 1)
                    try write(item, level: level + 1)
                }
                newline(level)
                out += "]"
            case .object(let object):
                guard object.count > 0 else { out += "{}"; return }
                let keys = sortKeys ? object.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) } : object.keys
                out += "{"
                for (i, key) in keys.enumerated() {
                    if i > 0 { out += itemSeparator }
                    newline(level + 1)
                    writeString(key)
                    out += keySeparator
                    try write(object[key]!, level: level + 1)
                }
                newline(level)
                out += "}"
            case .undefined, .namespace, .function:
                throw TemplateBuiltins.error("tojson: object of type \(value.typeName) is not JSON serializable")
            }
        }

        mutating func writeString(_ s: String) {
            out += "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{8}": out += "\\b"
                case "\u{C}": out += "\\f"
                case _ where scalar.value < 0x20 || (ensureASCII && scalar.value >= 0x7F):
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        out += "\\u" + TemplateValue.hex(0xD800 + (v >> 10), digits: 4)
                        out += "\\u" + TemplateValue.hex(0xDC00 + (v & 0x3FF), digits: 4)
                    } else {
                        out += "\\u" + TemplateValue.hex(scalar.value, digits: 4)
                    }
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        }
    }
}
