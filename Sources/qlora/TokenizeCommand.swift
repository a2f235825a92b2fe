import ArgumentParser
import Foundation
import QLoRA

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids the model's own tokenizer gives for a text.",
        discussion: """
            For debugging prompts and chat templates. BOS/EOS are added as the model declares \
            (SmolLM2 adds none). With --chat, TEXT is a user message and the model's chat template \
            (with the assistant header) is applied first, as transformers' apply_chat_template does.
            """
    )

    @Option(help: "A .gguf file or a checkpoint directory with tokenizer.json.")
    var model: String

    @Flag(help: "Print {\"ids\": [...]}.")
    var json = false

    @Flag(help: "Apply the model's chat template to TEXT as a user message first.")
    var chat = false

    @Argument(help: "The text ('-' reads standard input).")
    var text: String

    func run() throws {
        let tokenizer = try Tokenizer(model: model)
        let input = text == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : text
        let prompt = chat ? try tokenizer.applyChatTemplate([.user(input)]) : input
        let ids = tokenizer.encode(prompt, addSpecialTokens: !chat)
        let dropped = Set(prompt.utf8).intersection(tokenizer.unencodableBytes)
        if !dropped.isEmpty {
            let list = dropped.sorted().map { String(format: "0x%02X", $0) }.joined(separator: ", ")
            FileHandle.standardError.write(Data("warning: bytes \(list) have no token in this vocabulary and were dropped (as the reference tokenizer drops them)\n".utf8))
        }
        let numbers = ids.map(String.init)
        print(json ? "{\"ids\": [\(numbers.joined(separator: ", "))]}" : numbers.joined(separator: " "))
    }
}
