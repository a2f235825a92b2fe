import QLoRA
import Testing

/// Records rendered to ids and learned flags, on a byte tokenizer (one token per byte), so each
/// expected sequence is written out from strings. The rule under test: only response tokens are
/// learned, unless training on the prompt; the first token never is.
@Suite struct ExampleRendererTests {
    typealias B = ByteTokenizer

    /// ids and flags: prompt pieces unlearned, response pieces learned.
    static func expected(_ pieces: [(ids: [Int32], learned: Bool)]) -> ([Int32], [Bool]) {
        var ids: [Int32] = [], learned: [Bool] = []
        for p in pieces {
            ids += p.ids
            learned += [Bool](repeating: p.learned, count: p.ids.count)
        }
        learned[0] = false
        return (ids, learned)
    }

    static func render(_ record: DataRecord, format: DataFormat, chat: Bool = true, bos: Bool = false,
                       trainOnPrompt: Bool = false) throws -> TokenizedExample {
        let tok = try B.make(chatTemplate: chat ? B.chatML : nil, bosPrefix: bos)
        let renderer = try ExampleRenderer(tokenizer: tok, format: format, trainOnPrompt: trainOnPrompt)
        return try renderer.example(LineRecord(record, line: 7))
    }

    @Test(arguments: [false, true]) func textIsLearnedWholeWithEOS(bos: Bool) throws {
        let e = try Self.render(.text("hi there"), format: .text, bos: bos)
        let (ids, learned) = Self.expected((bos ? [([B.bos], false)] : []) + [(B.ids("hi there") + [B.imEnd], true)])
        #expect(e.ids == ids)
        #expect(e.trained == learned)
        #expect(e.line == 7)
    }

    @Test func alpacaWithAChatTemplateIsOneUserAndOneAssistantTurn() throws {
        let e = try Self.render(.alpaca(instruction: "Add.", input: "1 2", output: "3"), format: .alpaca)
        let (ids, learned) = Self.expected([
            ([B.imStart] + B.ids("user\nAdd.\n\n1 2") + [B.imEnd] + B.ids("\n") + [B.imStart] + B.ids("assistant\n"), false),
            (B.ids("3") + [B.imEnd], true),
            (B.ids("\n"), false),
        ])
        #expect(e.ids == ids)
        #expect(e.trained == learned)
    }

    @Test func alpacaWithoutAChatTemplateUsesTheStanfordPrompt() throws {
        let e = try Self.render(.alpaca(instruction: "Greet.", input: "", output: "hi"), format: .alpaca, chat: false, bos: true)
        let prompt = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nGreet.\n\n### Response:\n"
        let (ids, learned) = Self.expected([([B.bos] + B.ids(prompt), false), (B.ids("hi") + [B.imEnd], true)])
        #expect(e.ids == ids)
        #expect(e.trained == learned)
    }

    @Test func chatLearnsEveryAssistantTurnAndNothingElse() throws {
        let messages: [ChatMessage] = [.system("Be brief."), .user("2+2?"), .assistant("4"), .user("3+3?"), .assistant("6"),
                                       .user("ignored: nothing answers it")]
        let e = try Self.render(.chat(messages), format: .chat)
        func turn(_ role: String, _ content: String) -> [Int32] { [B.imStart] + B.ids("\(role)\n\(content)") + [B.imEnd] + B.ids("\n") }
        let header = [B.imStart] + B.ids("assistant\n")
        let (ids, learned) = Self.expected([
            (turn("system", "Be brief.") + turn("user", "2+2?") + header, false),
            (B.ids("4") + [B.imEnd], true),
            (B.ids("\n") + turn("user", "3+3?") + header, false),
            (B.ids("6") + [B.imEnd], true),
            (B.ids("\n"), false),
        ])
        #expect(e.ids == ids)
        #expect(e.trained == learned)
    }

    @Test func templateFormRendersThePromptAndLearnsTheTarget() throws {
        let form = DataFormat.template(prompt: try FieldTemplate("分类任务:{text},请给出类别标签:"), target: try FieldTemplate.target("label"))
        let e = try Self.render(.fields(["text": "很好看", "label": "正面"]), format: form, bos: true)
        let (ids, learned) = Self.expected([([B.bos] + B.ids("分类任务:很好看,请给出类别标签:"), false),
                                            (B.ids("正面") + [B.imEnd], true)])
        #expect(e.ids == ids)
        #expect(e.trained == learned)
    }

    @Test func trainOnPromptLearnsEveryTokenButTheFirst() throws {
        let e = try Self.render(.alpaca(instruction: "Add.", input: "", output: "3"), format: .alpaca, trainOnPrompt: true)
        #expect(e.trained.first == false)
        #expect(e.trained.dropFirst().allSatisfy { $0 })
        #expect(e.trainedCount == e.ids.count - 1)
    }

    @Test func chatWithoutATemplateIsRefused() throws {
        let error = try #require(throws: QLoRAError.self) {
            try Self.render(.chat([.user("q"), .assistant("a")]), format: .chat, chat: false)
        }
        #expect(error.message.contains("chat records need a chat template"))
    }

    @Test func taskPromptIsTheTrainingPrefixBeforeTheLastResponse() throws {
        let tok = try B.make()
        let renderer = try ExampleRenderer(tokenizer: tok, format: .alpaca)
        let record = LineRecord(.alpaca(instruction: "Add.", input: "1 2", output: "3"), line: 4)
        let task = try renderer.taskExample(record)
        let example = try renderer.example(record)
        let firstLearned = example.trained.firstIndex(of: true)!
        #expect(task.prompt.map(Int32.init) == Array(example.ids[..<firstLearned]))
        #expect(task.prompt == (try tok.encodeChat([.user("Add.\n\n1 2")])))
        #expect(task.answer == "3" && task.question == "1 2" && task.line == 4)

        let multi = try renderer.taskExample(LineRecord(.chat([.user("a"), .assistant("b"), .user("c"), .assistant("d")]), line: 1))
        #expect(multi.answer == "d" && multi.question == "c")
        #expect(multi.prompt == (try tok.encodeChat([.user("a"), .assistant("b"), .user("c")])))
    }

    @Test func templateTaskAnswerIsTheFilledTarget() throws {
        let form = DataFormat.template(prompt: try FieldTemplate("分类任务:{text},请给出类别标签:"), target: try FieldTemplate.target("{label}"))
        let renderer = try ExampleRenderer(tokenizer: try B.make(), format: form)
        let task = try renderer.taskExample(LineRecord(.fields(["text": "很好看", "label": "正面"]), line: 2))
        #expect(task.prompt.map(Int32.init) == B.ids("分类任务:很好看,请给出类别标签:"))
        #expect(task.answer == "正面")
        #expect(throws: QLoRAError.self) { try renderer.taskExample(LineRecord(.text("x"), line: 1)) }
    }
}
