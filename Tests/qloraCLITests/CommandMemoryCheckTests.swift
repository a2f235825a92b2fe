import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `generate`, `eval` and `merge` check their memory plan before loading the model (issue 16, item
/// 5), as `train` does: refused in one line with the plan's numbers, `--force` overrides, and
/// enough memory runs silently. Available memory is injected with QLORA_AVAILABLE_MEMORY.
@Suite(.serialized) struct CommandMemoryCheckTests {
    static var tiny: String { TrainCommandTests.tiny }

    static func commands(_ dir: TempDir) throws -> [(String, [String])] {
        let text = dir.path + "/eval.txt"
        try String(repeating: "hello world ", count: 40).write(toFile: text, atomically: true, encoding: .utf8)
        let data = try TrainCommandTests.data(dir)
        #expect(try TrainCommandTests.train(dir.path + "/run", data, ["--steps", "2"]).status == 0)
        return [
            ("generate", ["generate", "--model", tiny, "--prompt", "hello", "--max-tokens", "4"]),
            ("eval", ["eval", "--model", tiny, "--data", text, "--context", "16"]),
            ("merge", ["merge", "--model", tiny, "--adapter", dir.path + "/run", "-o", dir.path + "/merged"]),
        ]
    }

    @Test func refusedWithThePlansNumbersForcedWithAWarningOrRunSilently() throws {
        let dir = TempDir()
        for (name, args) in try Self.commands(dir) {
            let short = try CLIRunner.run(args, environment: [AvailableMemory.variable: "1MB"])
            #expect(short.status != 0, "\(name)")
            #expect(short.stderr.split(separator: "\n").count == 1, "\(name): \(short.stderr)")
            #expect(short.stderr.contains("\(name): the memory plan needs "), "\(name): \(short.stderr)")
            #expect(short.stderr.contains("quantized base weights (NF4)"), "\(name): \(short.stderr)")
            #expect(short.stderr.contains("but \(ByteCount.format(1 << 20)) is available (QLORA_AVAILABLE_MEMORY); pass --force"),
                    "\(name): \(short.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/merged"))
            let forced = try CLIRunner.run(args + ["--force"], environment: [AvailableMemory.variable: "1MB"])
            #expect(forced.status == 0, "\(name): \(forced.stderr)")
            #expect(forced.stderr.contains("--force given, running anyway"), "\(name): \(forced.stderr)")
            try? FileManager.default.removeItem(atPath: dir.path + "/merged")
            let roomy = try CLIRunner.run(args, environment: [AvailableMemory.variable: "16GiB"])
            #expect(roomy.status == 0, "\(name): \(roomy.stderr)")
            #expect(!roomy.stderr.contains("memory plan"), "\(name): \(roomy.stderr)")
            try? FileManager.default.removeItem(atPath: dir.path + "/merged")
        }
    }
}
