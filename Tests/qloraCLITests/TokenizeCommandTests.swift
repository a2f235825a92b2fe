import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora tokenize` as a user runs it: the golden ids for the reference text, the same ids from
/// a checkpoint directory, the chat template applied with --chat, and one-line errors.
@Suite struct TokenizeCommandTests {
    static var model: String { TestPaths.smolLM2GGUF }
    static var haveModel: Bool { FileManager.default.fileExists(atPath: model) }

    static func ids(_ stdout: String) throws -> [Int] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        return try #require(object["ids"] as? [Int])
    }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func goldenTextGivesTheReferenceIDs() throws {
        let text = try String(contentsOfFile: "/usr/share/common-licenses/Apache-2.0", encoding: .utf8)
        let r = try CLIRunner.run(["tokenize", "--model", Self.model, "--json", text])
        #expect(r.status == 0, "\(r.stderr)")
        let ids = try Self.ids(r.stdout)
        let golden = try SafetensorsFile(path: TestPaths.golden + "/smollm2/forward_ref.safetensors").ints("input_ids")
        #expect(ids.count == 2224)
        #expect(Array(ids.prefix(256)) == golden)
        #expect(r.stdout.hasPrefix("{\"ids\": [3299, 16797, 6966, 16299, 13867, 216, 34, 30, 32, 28, 4450,"))
    }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func checkpointDirectoryAndPlainOutput() throws {
        let dir = TempDir("qlora-tokenize")
        for (name, bytes) in try GGUFTokenizerFiles(gguf: GGUFFile(path: Self.model)).files {
            try Data(bytes).write(to: URL(fileURLWithPath: dir.path + "/" + name))
        }
        for model in [Self.model, dir.path] {
            let r = try CLIRunner.run(["tokenize", "--model", model, "Hello world"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "19556 905\n")
        }
    }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func chatAppliesTheModelsTemplate() throws {
        let r = try CLIRunner.run(["tokenize", "--model", Self.model, "--chat", "--json", "What is the capital of France?"])
        #expect(r.status == 0, "\(r.stderr)")
        let tokenizer = try Tokenizer(model: Self.model)
        let expected = tokenizer.encode("""
            <|im_start|>system
            You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
            <|im_start|>user
            What is the capital of France?<|im_end|>
            <|im_start|>assistant

            """, addSpecialTokens: false)
        #expect(try Self.ids(r.stdout) == expected)
        #expect(expected.first == 1 && expected.suffix(4) == [1, 520, 9531, 198])
    }

    @Test func badModelsGiveOneLineErrors() throws {
        let dir = TempDir("qlora-tokenize")
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir.path + "/notes.txt"))
        let cases = [
            (dir.path + "/missing.gguf", "\(dir.path)/missing.gguf: no such file or directory"),
            (dir.path, "\(dir.path): no tokenizer.json in this checkpoint directory (the model's tokenizer is needed)"),
            (dir.path + "/notes.txt", "\(dir.path)/notes.txt: not a checkpoint directory or a .gguf file"),
        ]
        for (model, message) in cases {
            let r = try CLIRunner.run(["tokenize", "--model", model, "x"])
            #expect(r.status != 0)
            #expect(r.stderr == "Error: \(message)\n")
        }
    }
}
