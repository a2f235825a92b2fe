import Foundation

extension JSONValue {
    /// How deep arrays and objects may nest. Real files nest a few levels (a `tokenizer.json`
    /// under 10); the bound keeps a hostile document from overflowing the parser's stack, and is
    /// the chat template engine's own nesting limit, so whatever parses also prints with `tojson`.
    public static let maxDepth = 100

    /// Why a document is not JSON, and where: one line ("expected ':' after an object key at line
    /// 1, column 9"). Callers prefix the file's name.
    public struct ParseError: Error, CustomStringConvertible, Equatable, Sendable {
        public let reason: String
        /// Byte offset of the problem, from 0; line and column from 1 (column in bytes).
        public let offset: Int
        public let line: Int
        public let column: Int
        public var description: String { "\(reason) at line \(line), column \(column)" }
    }

    /// Parses one JSON document (RFC 8259, UTF-8): strict, as Python's `json.loads` is by default
    /// except that NaN/Infinity literals, lone surrogates and invalid UTF-8 are refused, and a
    /// leading UTF-8 byte-order mark is skipped. Nesting is bounded by `maxDepth`; size by the
    /// caller (`MetadataFile`'s per-kind limits, the JSONL line limit) — memory is linear in it.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        var parser = JSONParser(bytes)
        return try parser.document()
    }

    public static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { try parse($0) }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(UnsafeRawBufferPointer($0)) }
    }
}

/// A recursive-descent reader over the document's bytes.
struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func document() throws -> JSONValue {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
        skipWhitespace()
        guard i < bytes.count else { throw fail("no JSON value (the input is empty)") }
        let value = try self.value(depth: 0)
        skipWhitespace()
        guard i == bytes.count else { throw fail("unexpected \(describe(i)) after the JSON value") }
        return value
    }

    func fail(_ reason: String, at offset: Int? = nil) -> JSONValue.ParseError {
        let at = min(offset ?? i, bytes.count)
        var line = 1, lineStart = 0
        for k in 0..<at where bytes[k] == 0x0A { line += 1; lineStart = k + 1 }
        return JSONValue.ParseError(reason: reason, offset: at, line: line, column: at - lineStart + 1)
    }

    /// The byte at `k` for a message: a printable ASCII character quoted, else its hex value.
    func describe(_ k: Int) -> String {
        guard k < bytes.count else { return "end of input" }
        let b = bytes[k]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16, uppercase: true)
    }

    mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard i < bytes.count else { throw fail("unexpected end of input, expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected \(describe(i)), expected a value")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let start = i
        let n = word.utf8CodeUnitCount
        guard bytes.count - i >= n, (0..<n).allSatisfy({ bytes[i + $0] == word.utf8Start[$0] }) else {
            throw fail("unexpected \(describe(start)), expected a value", at: start)
        }
        i += n
    }

    mutating func enter(_ depth: Int) throws {
        guard depth <= JSONValue.maxDepth else {
            throw fail("nested deeper than \(JSONValue.maxDepth) arrays and objects")
        }
    }

    mutating func array(depth: Int) throws -> JSONValue {
        try enter(depth)
        i += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in an array, expected ',' or ']'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("unexpected \(describe(i)) in an array, expected ',' or ']'")
        }
    }

    mutating func object(depth: Int) throws -> JSONValue {
        try enter(depth)
        i += 1
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                throw fail(i < bytes.count ? "unexpected \(describe(i)) in an object, expected a string key"
                                           : "unexpected end of input in an object, expected a string key")
            }
            let key = try string()
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else {
                throw fail("unexpected \(describe(i)) after an object key, expected ':'")
            }
            i += 1
            skipWhitespace()
            members.append((key, try value(depth: depth)))
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in an object, expected ',' or '}'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw fail("unexpected \(describe(i)) in an object, expected ',' or '}'")
        }
    }

    /// A number: an integer literal is `.int` (or `.bigInt` beyond Int), one with a fraction or an
    /// exponent `.double`; one beyond Double's range is refused (Python would read infinity).
    mutating func number() throws -> JSONValue {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let from = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return i - from
        }
        let intStart = i
        let intDigits = digits()
        guard intDigits > 0 else { throw fail("unexpected \(describe(i)) in a number, expected a digit") }
        if intDigits > 1, bytes[intStart] == UInt8(ascii: "0") {
            throw fail("a number has a leading zero", at: intStart)
        }
        var integral = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard digits() > 0 else { throw fail("unexpected \(describe(i)) in a number, expected a digit after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("unexpected \(describe(i)) in a number, expected an exponent digit") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if integral {
            if let n = Int(text) { return .int(n) }
            return .bigInt(text)
        }
        guard let d = Double(text), d.isFinite else { throw fail("number \(text.prefix(40)) is out of range", at: start) }
        return .double(d)
    }

    /// A string literal (at its opening quote), escapes decoded; raw control characters, invalid
    /// UTF-8, bad escapes and lone surrogates are refused.
    mutating func string() throws -> String {
        i += 1
        let start = i
        // Fast path: no escapes, so the literal is the bytes themselves.
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let s = try utf8(start, i)
                i += 1
                return s
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            i += 1
        }
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: try utf8(start, i).unicodeScalars)
        while true {
            guard i < bytes.count else { throw fail("unexpected end of input in a string", at: i) }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; return String(scalars) }
            if b < 0x20 { throw fail("raw control character 0x\(String(b, radix: 16, uppercase: true)) in a string (it must be escaped)") }
            if b != UInt8(ascii: "\\") {
                let runStart = i
                while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
                scalars.append(contentsOf: try utf8(runStart, i).unicodeScalars)
                continue
            }
            let escapeStart = i
            i += 1
            guard i < bytes.count else { throw fail("unexpected end of input in a string escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{8}")
            case UInt8(ascii: "f"): scalars.append("\u{C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let unit = try hex4()
                var value = UInt32(unit)
                if (0xD800..<0xDC00).contains(unit) {
                    guard bytes.count - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("lone surrogate \\u\(String(unit, radix: 16, uppercase: true)) in a string", at: escapeStart)
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw fail("lone surrogate \\u\(String(unit, radix: 16, uppercase: true)) in a string", at: escapeStart)
                    }
                    value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                } else if (0xDC00..<0xE000).contains(unit) {
                    throw fail("lone surrogate \\u\(String(unit, radix: 16, uppercase: true)) in a string", at: escapeStart)
                }
                scalars.append(Unicode.Scalar(value)!)
            default:
                throw fail("invalid escape (backslash then \(describe(i - 1))) in a string", at: escapeStart)
            }
        }
    }

    mutating func hex4() throws -> UInt16 {
        guard bytes.count - i >= 4 else { throw fail("unexpected end of input in a \\u escape") }
        var v: UInt16 = 0
        for k in 0..<4 {
            let b = bytes[i + k]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw fail("unexpected \(describe(i + k)) in a \\u escape, expected a hex digit", at: i + k)
            }
            v = v << 4 | UInt16(d)
        }
        i += 4
        return v
    }

    /// The bytes start..<end as a String; invalid UTF-8 is refused.
    func utf8(_ start: Int, _ end: Int) throws -> String {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        if let s = String(validating: slice, as: UTF8.self) { return s }
        var k = start
        var decoder = UTF8()
        var it = slice.makeIterator()
        while true {
            let before = k
            switch decoder.decode(&it) {
            case .scalarValue(let s): k += UTF8.width(s)
            case .emptyInput: return String(decoding: slice, as: UTF8.self)
            case .error: throw fail("invalid UTF-8 in a string", at: before)
            }
        }
    }
}
