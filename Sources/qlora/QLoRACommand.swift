import ArgumentParser
import Foundation
import QLoRA

@main
struct QLoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qlora",
        abstract: "Quantization-first QLoRA fine-tuning on the CPU.",
        version: "0.1.0",
        subcommands: [
            QuantizeCommand.self, TrainCommand.self, BoardCommand.self, MergeCommand.self, CompareCommand.self, GenerateCommand.self, EvalCommand.self, TokenizeCommand.self, MemplanCommand.self, BenchCommand.self,
        ]
    )

    /// ArgumentParser's `main`, after refusing a `QLORA_ISA` this CPU cannot run (one line, exit 2)
    /// so no command starts on kernels that would crash deep inside.
    static func main() {
        if let e = KernelISA.overrideError {
            FileHandle.standardError.write(Data("Error: \(e.message)\n".utf8))
            Foundation.exit(2)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
