/// How `JSONValue.serialized` lays a value out: Python's `json.dumps` arguments, whose output the
/// Hugging Face tools write and this engine must match byte for byte. `serde_json`'s pretty
/// printer (`tokenizers`' `tokenizer.json`) is `.pretty`, the same as `json.dumps(indent=2)`.
public struct JSONStyle: Sendable, Equatable {
    /// Spaces per level, each item on its own line; nil: one line.
    public var indent: Int?
    public var itemSeparator: String
    public var keySeparator: String
    /// Escape every non-ASCII character (and DEL) as `\uXXXX` (surrogate pairs beyond the BMP).
    public var ensureASCII: Bool
    /// Object members in code point order of their keys, at every level.
    public var sortKeys: Bool

    /// As `json.dumps(indent=, separators=, ensure_ascii=, sort_keys=)`: without separators, `", "`
    /// between items on one line and `","` with an indent, `": "` after keys.
    public init(indent: Int? = nil, separators: (item: String, key: String)? = nil, ensureASCII: Bool = false, sortKeys: Bool = false) {
        self.indent = indent
        self.itemSeparator = separators?.item ?? (indent == nil ? ", " : ",")
        self.keySeparator = separators?.key ?? ": "
        self.ensureASCII = ensureASCII
        self.sortKeys = sortKeys
    }

    /// `json.dumps(x, indent=2, ensure_ascii=False)`, and `serde_json::to_string_pretty`.
    public static let pretty = JSONStyle(indent: 2)
    /// `json.dumps(x, ensure_ascii=False)`: one line, `", "` and `": "`.
    public static let line = JSONStyle()
}

extension JSONValue {
    /// The text of this value in `style` (no trailing newline). Strings escape `"`, `\` and
    /// control characters (short forms for \b \t \n \f \r, else `\u00xx` in lowercase hex), and with
    /// `ensureASCII` everything beyond ASCII; doubles print as Python's `repr` does for the values
    /// configs hold (`0.05`, `1e-05`), NaN and infinities as `NaN`, `Infinity`, `-Infinity`.
    public func serialized(_ style: JSONStyle = .pretty) -> String {
        var writer = JSONWriter(style: style)
        writer.write(self, level: 0)
        return writer.out
    }
}

struct JSONWriter {
    let style: JSONStyle
    var out = ""

    mutating func newline(_ level: Int) {
        guard let indent = style.indent else { return }
        out += "\n" + String(repeating: " ", count: max(0, indent) * level)
    }

    mutating func write(_ value: JSONValue, level: Int) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let n): out += String(n)
        case .bigInt(let digits): out += digits
        case .double(let d): out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : "\(d)"
        case .string(let s): writeString(s)
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += style.itemSeparator }
                newline(level + 1)
                write(item, level: level + 1)
            }
            newline(level)
            out += "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            let ordered = style.sortKeys
                ? members.sorted { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } : members
            out += "{"
            for (i, (key, member)) in ordered.enumerated() {
                if i > 0 { out += style.itemSeparator }
                newline(level + 1)
                writeString(key)
                out += style.keySeparator
                write(member, level: level + 1)
            }
            newline(level)
            out += "}"
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
            case _ where scalar.value < 0x20 || (style.ensureASCII && scalar.value >= 0x7F):
                if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    writeEscape(0xD800 + (v >> 10))
                    writeEscape(0xDC00 + (v & 0x3FF))
                } else {
                    writeEscape(scalar.value)
                }
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    mutating func writeEscape(_ unit: UInt32) {
        let hex = String(unit, radix: 16)
        out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
