import QLoRACore
import QLoRATokenizer

/// Turns records into the token ids the model trains on, and into the prompts it is evaluated on:
/// both come from the same segments, so an evaluation prompt is exactly the training prompt.
///
/// - text: the model's prefix tokens (BOS, if it adds one), the text, EOS; all but the prefix learned.
/// - Alpaca: with a chat template, one user turn (instruction, a blank line, input) and one
///   assistant turn (output), as chat below; without one, the Stanford Alpaca prompt
///   ("Below is an instruction…### Response:\n") then output and EOS as the response.
/// - chat: the model's chat template, rendered turn by turn; each assistant turn (its content and the
///   template's end-of-turn marker) is a response, everything else is prompt.
/// - template: prefix tokens, the filled prompt template, then the filled target and EOS as response.
///
/// Each segment is tokenized on its own (`addSpecialTokens: false`), so a prompt/response boundary is
/// always a token boundary.
public struct ExampleRenderer: Sendable {
    public let tokenizer: Tokenizer
    /// Learn every token, not only the responses.
    public let trainOnPrompt: Bool
    /// The records' form; a template form carries the prompt and target templates.
    public let format: DataFormat
    /// The model's chat template, compiled once; nil when the model ships none.
    let chatTemplate: ChatTemplate?

    public init(tokenizer: Tokenizer, format: DataFormat, trainOnPrompt: Bool = false) throws {
        self.tokenizer = tokenizer
        self.format = format
        self.trainOnPrompt = trainOnPrompt
        chatTemplate = tokenizer.chatTemplate == nil ? nil : try tokenizer.chatTemplateProgram()
    }

    // MARK: Segments

    /// The record as prompt and response pieces, in order.
    public func segments(_ record: DataRecord) throws -> [ExampleSegment] {
        switch record {
        case .text(let text):
            return [.response(text), .responseEnd]
        case .alpaca(let instruction, let input, let output):
            if chatTemplate != nil {
                let user = input.isEmpty ? instruction : instruction + "\n\n" + input
                return try chatSegments([.user(user), .assistant(output)])
            }
            return [.prompt(Self.alpacaPrompt(instruction: instruction, input: input)), .response(output), .responseEnd]
        case .chat(let messages):
            return try chatSegments(messages)
        case .fields(let fields):
            guard case .template(let prompt, let target) = format else {
                throw QLoRAError.invalid("a record of fields needs --template and --target")
            }
            return [.prompt(prompt.fill(fields)), .response(target.fill(fields)), .responseEnd]
        }
    }

    /// The Stanford Alpaca prompt (tatsu-lab/stanford_alpaca, train.py PROMPT_DICT).
    static func alpacaPrompt(instruction: String, input: String) -> String {
        input.isEmpty
            ? "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n\(instruction)\n\n### Response:\n"
            : "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n\(instruction)\n\n### Input:\n\(input)\n\n### Response:\n"
    }

    /// A conversation rendered with the chat template up to its last assistant turn. For each
    /// assistant turn, the text the template adds for the turn (rendering through it minus
    /// rendering before it with the generation prompt) is the response, less trailing whitespace.
    func chatSegments(_ messages: [ChatMessage]) throws -> [ExampleSegment] {
        guard let template = chatTemplate else {
            throw QLoRAError.format(tokenizer.source, "chat records need a chat template, and the model ships none")
        }
        func render(_ m: ArraySlice<ChatMessage>, _ generationPrompt: Bool) throws -> String {
            try template.render(messages: Array(m), addGenerationPrompt: generationPrompt,
                                bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
        }
        var out: [ExampleSegment] = []
        var done = ""  // the text already in `out`
        for i in messages.indices where messages[i].role == "assistant" {
            let before = try render(messages[..<i], true)
            let through = try render(messages[...i], false)
            guard let prompt = before.droppingPrefix(done), let turn = through.droppingPrefix(before) else {
                throw QLoRAError.format(tokenizer.source, "the chat template does not render a conversation turn by turn (a rendering is not a prefix of the next)")
            }
            let response = turn.droppingTrailingWhitespace
            if !prompt.isEmpty { out.append(.prompt(prompt)) }
            out.append(.response(response))
            if let rest = turn.droppingPrefix(response), !rest.isEmpty { out.append(.prompt(rest)) }
            done = through
        }
        return out
    }

    // MARK: Tokens

    /// The ids of one segment.
    func ids(_ segment: ExampleSegment) -> [Int] {
        switch segment.content {
        case .text(let text): return tokenizer.encode(text, addSpecialTokens: false)
        case .endOfSequence: return tokenizer.eosTokenID.map { [$0] } ?? []
        }
    }

    /// Prefix tokens the model adds to plain text (BOS for LLaMA-style tokenizers); chat templates
    /// write their own.
    func prefixIDs(_ record: DataRecord) -> [Int] {
        switch record {
        case .chat: return []
        case .alpaca: return chatTemplate == nil ? tokenizer.prefixIDs : []
        case .text, .fields: return tokenizer.prefixIDs
        }
    }

    /// Token ids and learned flags of segments.
    public func tokenize(_ segments: [ExampleSegment], prefix: [Int] = [], line: Int) -> TokenizedExample {
        var ids = prefix.map(Int32.init)
        var trained = [Bool](repeating: trainOnPrompt, count: prefix.count)
        for s in segments {
            let piece = self.ids(s)
            ids += piece.map(Int32.init)
            trained += [Bool](repeating: trainOnPrompt || s.isResponse, count: piece.count)
        }
        if !trained.isEmpty { trained[0] = false }
        return TokenizedExample(ids: ids, trained: trained, line: line)
    }

    /// The training example of a record.
    public func example(_ record: LineRecord) throws -> TokenizedExample {
        tokenize(try segments(record.record), prefix: prefixIDs(record.record), line: record.line)
    }
}

extension String {
    /// The rest of the string after `prefix`, compared byte for byte; nil when it does not start so.
    func droppingPrefix(_ prefix: String) -> String? {
        guard utf8.starts(with: prefix.utf8) else { return nil }
        return String(decoding: Array(utf8.dropFirst(prefix.utf8.count)), as: UTF8.self)
    }

    var droppingTrailingWhitespace: String {
        var s = Substring(self)
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
