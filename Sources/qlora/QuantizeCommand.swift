import ArgumentParser
import QLoRA

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize an HF checkpoint or a GGUF file to a bitsandbytes-compatible NF4 checkpoint."
    )

    @Argument(help: "An HF checkpoint directory or a .gguf file.")
    var input: String

    @Option(name: .shortAndLong, help: "The output checkpoint directory.")
    var output: String

    func run() throws {
        throw ValidationError("not implemented yet")
    }
}
