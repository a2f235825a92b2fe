import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Microbenchmarks of the engine's kernels on this machine.",
        subcommands: [BenchKernelsCommand.self, BenchModelCommand.self, BenchTrainStepCommand.self]
    )
}
