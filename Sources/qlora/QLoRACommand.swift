import ArgumentParser
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
}
