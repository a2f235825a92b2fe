import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Nothing executes from a model file: every command that takes a model refuses a PyTorch pickle
/// (as a file or as the only weights of a checkpoint directory) in one line that says why and
/// suggests safetensors, before reading it.
@Suite struct PickleRefusalCommandTests {
    static let hint = "PyTorch pickle files are never read (unpickling can run arbitrary code); convert it to safetensors"

    @Test func everyModelTakingCommandRefusesPickle() throws {
        let dir = TempDir()
        // A pickle whose unpickling would run a command, were it ever unpickled.
        let payload = Data("cos\nsystem\n(S'touch \(dir.path)/pwned'\ntR.".utf8)
        FileManager.default.createFile(atPath: dir.path + "/model.pt", contents: payload)
        try TinyCheckpoint.write(to: dir.path + "/hf")
        try FileManager.default.removeItem(atPath: dir.path + "/hf/model.safetensors")
        FileManager.default.createFile(atPath: dir.path + "/hf/pytorch_model.bin", contents: payload)
        FileManager.default.createFile(atPath: dir.path + "/data.jsonl", contents: Data("{\"text\": \"hi\"}\n".utf8))
        for (model, named) in [(dir.path + "/model.pt", dir.path + "/model.pt"), (dir.path + "/hf", dir.path + "/hf/pytorch_model.bin")] {
            var commands = [["quantize", model, "-o", dir.path + "/out"],
                            ["generate", "--model", model, "--prompt", "hi"],
                            ["train", "--model", model, "--data", dir.path + "/data.jsonl", "-o", dir.path + "/run"]]
            if model.hasSuffix(".pt") { commands.append(["memplan", "--model", model]) }
            for args in commands {
                let r = try CLIRunner.run(args)
                #expect(r.status != 0, "\(args)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
                #expect(r.stderr.contains("\(named): \(Self.hint)"), "\(args): \(r.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/pwned"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out") && !FileManager.default.fileExists(atPath: dir.path + "/run"))
    }
}
