import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The one JSON value type (QLoRACore's `JSONValue`): key order, the integer/float distinction,
/// escapes, the nesting bound, one-line errors, and output byte-identical to Python's `json.dumps`
/// and `serde_json`'s pretty printer.
@Suite struct JSONValueTests {
    static func parseError(_ text: String) -> JSONValue.ParseError? {
        do { _ = try JSONValue.parse(text); return nil } catch let e as JSONValue.ParseError { return e } catch { return nil }
    }

    @Test func objectsKeepTheirKeyOrderAndRepeatedKeysReadTheLast() throws {
        let value = try JSONValue.parse(#"{"b": 1, "a": 2, "c": {"z": 0, "y": [true, null]}, "b": 3}"#)
        #expect(value.members?.map(\.0) == ["b", "a", "c", "b"])
        #expect(value["c"]?.members?.map(\.0) == ["z", "y"])
        #expect(value["b"] == .int(3))
        #expect(value["missing"] == nil && value["c"]?["y"]?.array == [.bool(true), .null])
        #expect(value.serialized(.line) == #"{"b": 1, "a": 2, "c": {"z": 0, "y": [true, null]}, "b": 3}"#)
    }

    @Test(arguments: [
        ("0", JSONValue.int(0)), ("-0", .int(0)), ("42", .int(42)), ("-7", .int(-7)),
        ("9223372036854775807", .int(Int.max)), ("-9223372036854775808", .int(Int.min)),
        ("9223372036854775808", .bigInt("9223372036854775808")),
        ("1000000000000000019884624838656", .bigInt("1000000000000000019884624838656")),
        ("-99999999999999999999", .bigInt("-99999999999999999999")),
        ("1.0", .double(1.0)), ("1e3", .double(1000)), ("2.5E-3", .double(0.0025)), ("-0.0", .double(-0.0)),
        ("1e+2", .double(100)),
    ])
    func numbersKeepTheIntegerFloatDistinction(text: String, expected: JSONValue) throws {
        let value = try JSONValue.parse(text)
        #expect(value == expected)
        if case .int = expected { #expect(value.int != nil) } else { #expect(value.int == nil) }
        #expect(value.double != nil && value.typeName == "a number")
    }

    @Test func numbersPrintAsPythonDoes() {
        let values: [JSONValue] = [.int(1), .double(1.0), .double(0.05), .double(1e-05), .double(100.0), .double(1e16),
                                   .bigInt("1000000000000000019884624838656"), .double(.nan), .double(-.infinity)]
        #expect(JSONValue.array(values).serialized(.line)
                == "[1, 1.0, 0.05, 1e-05, 100.0, 1e+16, 1000000000000000019884624838656, NaN, -Infinity]")
    }

    @Test func escapesDecodeIncludingSurrogatePairs() throws {
        let value = try JSONValue.parse(#""q\"b\\s\/\b\f\n\r\t\u00e9\u00E9 \ud83d\ude00 \uD83D\uDE00 é😀""#)
        #expect(value == .string("q\"b\\s/\u{8}\u{C}\n\r\té\u{E9} 😀 😀 é😀"))
        // A string with no escapes takes the fast path; with one, the slow one: same result.
        #expect(try JSONValue.parse(#"["plain é😀", "esc\n é😀"]"#) == .array([.string("plain é😀"), .string("esc\n é😀")]))
    }

    @Test func stringsEscapeAsPythonAndSerdeDo() {
        let s = JSONValue.string("q\"b\\\n\r\t\u{8}\u{C}\u{1}\u{1F}\u{7F}é😀/")
        #expect(s.serialized() == #""q\"b\\\n\r\t\b\f\u0001\u001f"# + "\u{7F}é😀/\"")
        #expect(s.serialized(JSONStyle(ensureASCII: true)) == #""q\"b\\\n\r\t\b\f\u0001\u001f\u007f\u00e9\ud83d\ude00/""#)
    }

    @Test func stylesFollowJSONDumps() {
        let value = JSONValue.object([("b", .array([.int(1), .object([])])), ("a", .null), ("é", .array([])), ("B", .bool(true))])
        #expect(value.serialized(.line) == #"{"b": [1, {}], "a": null, "é": [], "B": true}"#)
        #expect(value.serialized(JSONStyle(separators: (",", ":"))) == #"{"b":[1,{}],"a":null,"é":[],"B":true}"#)
        #expect(value.serialized(JSONStyle(sortKeys: true)) == #"{"B": true, "a": null, "b": [1, {}], "é": []}"#)
        #expect(value.serialized(.pretty) == """
            {
              "b": [
                1,
                {}
              ],
              "a": null,
              "é": [],
              "B": true
            }
            """)
        #expect(JSONValue.array([.int(1)]).serialized(JSONStyle(indent: 0)) == "[\n1\n]")
        #expect(JSONValue.array([.int(1)]).serialized(JSONStyle(indent: -3)) == "[\n1\n]")
    }

    /// transformers' and tokenizers' own files (the fixtures they wrote) read and print back byte
    /// for byte: order, non-ASCII text, the wide model_max_length all kept.
    @Test(arguments: ["tiny_llama/tokenizer.json", "tiny_llama/tokenizer_config.json",
                      "tokenizer_variant/tokenizer.json", "tokenizer_variant/tokenizer_config.json"])
    func huggingFaceFilesRoundTripByteForByte(name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.directory + "/tokenizer_reference/" + name))
        let text = String(decoding: data, as: UTF8.self)
        let value = try JSONValue.parse(data)
        let printed = value.serialized()
        #expect(printed == text || printed + "\n" == text)
        #expect(try JSONValue.parse(printed) == value)
    }

    @Test func nestingIsBoundedByMaxDepth() throws {
        let depth = JSONValue.maxDepth
        let deepest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var value = try JSONValue.parse(deepest)
        var levels = 0
        while case .array(let items) = value { levels += 1; value = items.first ?? .null }
        #expect(levels == depth)
        for nested in [String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1),
                       String(repeating: #"{"a":"#, count: depth + 1) + "1" + String(repeating: "}", count: depth + 1),
                       String(repeating: "[", count: 1_000_000)] {
            let error = try #require(Self.parseError(nested))
            #expect(error.reason == "nested deeper than \(depth) arrays and objects")
            #expect(error.offset == depth && error.column == depth + 1 || error.offset == 5 * depth && error.column == 5 * depth + 1)
        }
    }

    /// Malformed documents, each with a fragment of its one-line reason.
    static let malformed: [(String, String)] = [
        ("", "no JSON value"), ("  \n ", "no JSON value"), ("{", "expected a string key"), ("[1,]", "expected a value"),
        ("[1 2]", "expected ',' or ']'"), (#"{"a" 1}"#, "expected ':'"), ("{a: 1}", "expected a string key"),
        (#"{"a": 1,}"#, "expected a string key"), (#"{"a": 1"#, "end of input in an object"), ("[1", "end of input in an array"),
        ("01", "leading zero"), ("1.", "after '.'"), ("1e", "exponent digit"), ("-", "expected a digit"), ("+1", "expected a value"),
        (".5", "expected a value"), ("tru", "expected a value"), ("nul", "expected a value"), ("NaN", "expected a value"),
        ("Infinity", "expected a value"), ("[1]x", "after the JSON value"), ("1 2", "after the JSON value"),
        (#""abc"#, "end of input in a string"), ("1e400", "out of range"), ("-1e400", "out of range"),
        (#""a\x""#, "invalid escape"), (#""\u12"#, "\\u escape"), (#""\u12G4""#, "hex digit"),
        (#""\ud800""#, "lone surrogate \\uD800"), (#""\ud800\u0041""#, "lone surrogate"), (#""\udc00x""#, "lone surrogate \\uDC00"),
        ("\"a\u{1}b\"", "raw control character 0x1"), ("\"a\nb\"", "raw control character 0xA"), ("'a'", "expected a value"),
    ]

    @Test(arguments: 0..<malformed.count) func malformedDocumentsAreOneLineErrors(_ i: Int) throws {
        let (text, fragment) = Self.malformed[i]
        let error = try #require(Self.parseError(text), "\(text) parsed")
        #expect(error.description.contains(fragment), "\(text): \(error)")
        #expect(!error.description.contains("\n"))
        #expect(error.offset <= text.utf8.count)
    }

    @Test func invalidUTF8IsRefusedWithItsPlace() throws {
        for bytes: [UInt8] in [[0x22, 0x61, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22]] {
            let error = try #require(throws: JSONValue.ParseError.self) { try JSONValue.parse(Data(bytes)) }
            #expect(error.reason == "invalid UTF-8 in a string", "\(error)")
        }
        #expect(try JSONValue.parse(Data([0xEF, 0xBB, 0xBF] + Array(#"{"a": 1}"#.utf8))) == .object([("a", .int(1))]))
    }

    @Test func errorsSayTheLineAndColumn() throws {
        let error = try #require(Self.parseError("{\n  \"a\": 1,\n  \"b\" 2\n}"))
        #expect(error.description == "unexpected '2' after an object key, expected ':' at line 3, column 7")
    }

    @Test func accessorsAreStrictAboutTypes() throws {
        let value = try JSONValue.parse(#"{"s": "x", "b": false, "i": 3, "d": 3.0, "n": null, "a": [], "o": {}}"#)
        #expect(value["s"]?.string == "x" && value["i"]?.string == nil)
        #expect(value["b"]?.bool == false && value["i"]?.bool == nil)
        #expect(value["i"]?.int == 3 && value["d"]?.int == nil && value["b"]?.int == nil)
        #expect(value["d"]?.double == 3 && value["s"]?.double == nil)
        #expect(value["n"]?.isNull == true && value["a"]?.array == [] && value["o"]?.members?.isEmpty == true)
        #expect(["s", "b", "i", "n", "a", "o"].map { value[$0]!.typeName }
                == ["a string", "a boolean", "a number", "null", "an array", "an object"])
        #expect(value["s"]?["x"] == nil && JSONValue.optional(nil) == .null && JSONValue.optional("v") == .string("v"))
    }
}
