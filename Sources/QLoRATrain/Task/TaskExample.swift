import QLoRACore
import QLoRATokenizer

/// One evaluation question: the prompt ids exactly as training renders them (everything before the
/// final response), and the expected answer.
public struct TaskExample: Sendable, Equatable {
    public var prompt: [Int]
    public var answer: String
    /// A short human-readable form of the question (the input, last user turn or filled template).
    public var question: String
    /// The line of the data file it came from.
    public var line: Int

    public init(prompt: [Int], answer: String, question: String, line: Int) {
        self.prompt = prompt
        self.answer = answer
        self.question = question
        self.line = line
    }
}

extension ExampleRenderer {
    /// The evaluation question of a record: prompt = the record's tokens up to its last response.
    /// Errors do not name the line; `TaskSet.load` adds it.
    public func taskExample(_ record: LineRecord) throws -> TaskExample {
        let segments = try segments(record.record)
        guard let last = segments.lastIndex(where: { $0.isResponse && $0.content != .endOfSequence }) else {
            throw QLoRAError.invalid("no response to check")
        }
        var prompt = prefixIDs(record.record)
        for s in segments[..<last] { prompt += ids(s) }
        let (question, answer) = try Self.questionAndAnswer(record.record, format: format)
        return TaskExample(prompt: prompt, answer: answer, question: question, line: record.line)
    }

    static func questionAndAnswer(_ record: DataRecord, format: DataFormat) throws -> (String, String) {
        switch record {
        case .text:
            throw QLoRAError.invalid("text records have no answer to check; a task needs Alpaca, chat or template records")
        case .alpaca(let instruction, let input, let output):
            return (input.isEmpty ? instruction : input, output)
        case .chat(let messages):
            let lastAssistant = messages.lastIndex { $0.role == "assistant" }!
            let question = messages[..<lastAssistant].last { $0.role == "user" }?.content ?? ""
            return (question, messages[lastAssistant].content)
        case .fields(let fields):
            guard case .template(let prompt, let target) = format else {
                throw QLoRAError.invalid("a record of fields needs --template and --target")
            }
            return (prompt.fill(fields), target.fill(fields))
        }
    }
}
