import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Reading the JSONL forms: what each line becomes, which lines are refused (with their number),
/// skip mode, and the limits.
@Suite struct JSONLReaderTests {
    @Test func eachFormIsDetectedAndRead() throws {
        let dir = TempDir()
        let text = DataFiles.write([#"{"text": "hello"}"#, #"{"text": "again", "id": 3}"#], "t.jsonl", in: dir)
        let alpaca = DataFiles.write([#"{"instruction": "Add.", "input": "1 2", "output": "3"}"#,
                                      #"{"instruction": "Greet.", "output": "hi"}"#], "a.jsonl", in: dir)
        let chat = DataFiles.write([#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#],
                                   "c.jsonl", in: dir)
        let t = try JSONLReader.read(text)
        #expect(t.format == .text)
        #expect(t.records == [LineRecord(.text("hello"), line: 1), LineRecord(.text("again"), line: 2)])
        let a = try JSONLReader.read(alpaca)
        #expect(a.format == .alpaca)
        #expect(a.records.map(\.record) == [.alpaca(instruction: "Add.", input: "1 2", output: "3"),
                                            .alpaca(instruction: "Greet.", input: "", output: "hi")])
        let c = try JSONLReader.read(chat)
        #expect(c.format == .chat)
        #expect(c.records.map(\.record) == [.chat([.user("q"), .assistant("a")])])
    }

    @Test func templateFormReadsTheNamedFieldsAsText() throws {
        let dir = TempDir()
        let path = DataFiles.write([#"{"text": "这部电影很好看", "label": "正面", "extra": [1]}"#,
                                    #"{"text": "太无聊了", "label": 0}"#], in: dir)
        let form = DataFormat.template(prompt: try FieldTemplate("分类任务:{text},请给出类别标签:"),
                                       target: try FieldTemplate.target("{label}"))
        let file = try JSONLReader.read(path, format: form)
        #expect(file.records.map(\.record) == [.fields(["text": "这部电影很好看", "label": "正面"]),
                                               .fields(["text": "太无聊了", "label": "0"])])
    }

    @Test func blankLinesCRLFAndByteOrderMarkAreTolerated() throws {
        let dir = TempDir()
        let path = dir.path + "/d.jsonl"
        try Data([0xEF, 0xBB, 0xBF] + Array("{\"text\": \"a\"}\r\n\r\n   \n{\"text\": \"b\"}".utf8)).write(to: URL(fileURLWithPath: path))
        let file = try JSONLReader.read(path)
        #expect(file.records == [LineRecord(.text("a"), line: 1), LineRecord(.text("b"), line: 4)])
    }

    /// Each malformed line (as line 2 after a good Alpaca line), and a fragment of its reason.
    static let badLines: [(String, String)] = [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        (#"{"instruction": "x"}"#, "no \"output\" field"),
        (#"{"instruction": 5, "output": "y"}"#, "\"instruction\" is a number, expected a string"),
        (#"{"instruction": "x", "input": [], "output": "y"}"#, "\"input\" is an array"),
        (#"{"text": "a text line"}"#, "no \"instruction\" field"),
        (#"{"instruction": "x", "output": true}"#, "\"output\" is a boolean"),
        (#"{"instruction": "x", "output": "y""#, "not a JSON object"),
    ]

    @Test(arguments: 0..<badLines.count) func malformedLineIsReportedWithItsNumber(_ i: Int) throws {
        let dir = TempDir()
        let path = DataFiles.write([DataFiles.alpaca(1)[0], Self.badLines[i].0, DataFiles.alpaca(1)[0]], in: dir)
        let error = try #require(throws: QLoRAError.self) { try JSONLReader.read(path) }
        #expect(error.message.hasPrefix("\(path): line 2: "), "\(error.message)")
        #expect(error.message.contains(Self.badLines[i].1), "\(error.message)")
        #expect(!error.message.contains("\n"))
    }

    @Test func chatRecordsAreChecked() throws {
        let dir = TempDir()
        let cases = [
            (#"{"messages": []}"#, "non-empty array"),
            (#"{"messages": [{"role": "user"}]}"#, "messages[0] must be an object"),
            (#"{"messages": [{"role": "user", "content": "q"}]}"#, "no assistant message"),
            (#"{"messages": "hi"}"#, "non-empty array"),
        ]
        for (line, reason) in cases {
            let path = DataFiles.write([line], in: dir)
            let error = try #require(throws: QLoRAError.self) { try JSONLReader.read(path, format: .chat) }
            #expect(error.message.contains("line 1: ") && error.message.contains(reason), "\(error.message)")
        }
    }

    @Test func skipModeCountsBadLinesAndKeepsTheRest() throws {
        let dir = TempDir()
        let good = DataFiles.alpaca(4)
        let path = DataFiles.write([good[0], "{", good[1], #"{"instruction": 1}"#, good[2], "", good[3], "nope"], in: dir)
        let file = try JSONLReader.read(path, skipBadLines: true)
        #expect(file.records.map(\.line) == [1, 3, 5, 7])
        #expect(file.badLines.map(\.line) == [2, 4, 8])
        #expect(file.badLines[1].reason.contains("is a number"))
    }

    @Test func aFileWithoutValidRecordsFailsEvenWhenSkipping() throws {
        let dir = TempDir()
        let empty = DataFiles.write([""], "e.jsonl", in: dir)
        #expect(throws: QLoRAError.self) { try JSONLReader.read(empty) }
        let bad = DataFiles.write(["x", "y"], "b.jsonl", in: dir)
        let error = try #require(throws: QLoRAError.self) { try JSONLReader.read(bad, skipBadLines: true) }
        #expect(error.message.contains("no valid records (2 bad lines skipped)"))
    }

    @Test func limitsOnLineLengthAndRecordCount() throws {
        let dir = TempDir()
        let long = DataFiles.line(["text": String(repeating: "x", count: 200)])
        let path = DataFiles.write([DataFiles.line(["text": "short"]), long], in: dir)
        let limits = DataLimits(maxLineBytes: 100, maxRecords: 10)
        let error = try #require(throws: QLoRAError.self) { try JSONLReader.read(path, limits: limits) }
        #expect(error.message.contains("line 2: longer than 100 bytes"))
        #expect(try JSONLReader.read(path, limits: limits, skipBadLines: true).badLines.map(\.line) == [2])

        let many = DataFiles.write(DataFiles.alpaca(5), "many.jsonl", in: dir)
        let tooMany = try #require(throws: QLoRAError.self) {
            try JSONLReader.read(many, limits: DataLimits(maxRecords: 4), skipBadLines: true)
        }
        #expect(tooMany.message.contains("more than 4 records"))
        #expect(try JSONLReader.read(many, limits: DataLimits(maxRecords: 5)).records.count == 5)
    }

    @Test func autoFormIsFixedByTheFirstRecord() throws {
        let dir = TempDir()
        let path = DataFiles.write([#"{"text": "a"}"#, #"{"instruction": "i", "output": "o"}"#], in: dir)
        let error = try #require(throws: QLoRAError.self) { try JSONLReader.read(path) }
        #expect(error.message.contains("line 2: no \"text\" field (records are text, from the first record)"), "\(error.message)")
        let unknown = DataFiles.write([#"{"prompt": "a"}"#], "u.jsonl", in: dir)
        let e2 = try #require(throws: QLoRAError.self) { try JSONLReader.read(unknown) }
        #expect(e2.message.contains("line 1: no \"text\", \"instruction\" or \"messages\" field"))
    }

    @Test func missingFileIsAnIOError() throws {
        let error = try #require(throws: QLoRAError.self) { try JSONLReader.read("/nonexistent/x.jsonl") }
        #expect(error.kind == .io)
    }
}
