import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora generate` and `qlora eval` as a user runs them.
@Suite(.serialized) struct ModelCommandsTests {
    static var smol: String { TestPaths.smolLM2GGUF }
    static var haveModel: Bool { FileManager.default.fileExists(atPath: smol) }
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func quantizedSmolLM2AnswersInEnglish() throws {
        let dir = TempDir()
        let q = try CLIRunner.run(["quantize", Self.smol, "-o", dir.path + "/nf4"])
        #expect(q.status == 0, "\(q.stderr)")
        let r = try CLIRunner.run(["generate", "--model", dir.path + "/nf4", "--chat", "--prompt",
                                   "What is the capital of France?", "--max-tokens", "24"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Paris"), "\(r.stdout)")
        #expect(r.stderr.contains("tokens/s"))
        #expect(r.stderr.contains("peak RSS"))
    }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func evalReproducesTheReferenceWholeFileFigure() throws {
        let r = try CLIRunner.run(["eval", "--model", Self.smol, "--base", "f32", "--data",
                                   "/usr/share/common-licenses/Apache-2.0", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(obj["tokens"] as? Int == 2224)
        #expect(obj["predictions"] as? Int == 2215)
        let loss = try #require(obj["mean_loss"] as? Double)
        // ../shared/golden/smollm2/README.md: whole file, 9 windows of ≤ 256 tokens, CE 3.1012875454343805.
        #expect(abs(loss - 3.1012875454343805) < 1e-4, "\(loss)")
        #expect(abs((obj["perplexity"] as? Double ?? 0) - exp(loss)) < 1e-9)
    }

    @Test func evalReadsJSONLAndReportsBadLines() throws {
        let dir = TempDir()
        let good = dir.path + "/good.jsonl", bad = dir.path + "/bad.jsonl"
        try "{\"text\": \"hello world\"}\n{\"text\": \"more words here\"}\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "{\"text\": \"fine\"}\n{\"txt\": 1}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try CLIRunner.run(["eval", "--model", Self.tiny, "--data", good, "--json", "--context", "4"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((obj["mean_loss"] as? Double).map { $0.isFinite && $0 > 0 } == true)
        let e = try CLIRunner.run(["eval", "--model", Self.tiny, "--data", bad])
        #expect(e.status != 0)
        #expect(e.stderr.contains("line 2"), "\(e.stderr)")
    }

    /// Each bad input: arguments, and a fragment of the one-line error.
    static let badInputs: [([String], String)] = [
        (["generate", "--model", "MISSING_DIR", "--prompt", "hi"], "no such file"),
        (["generate", "--model", "TINY", "--prompt", "hi", "--max-tokens", "100000"], "exceed the model's context"),
        (["generate", "--model", "TINY", "--prompt-ids", "1,2,999999"], "outside the model's vocabulary"),
        (["generate", "--model", "TINY", "--prompt-ids", "1,x"], "is not a token id"),
        (["generate", "--model", "NOTOKENIZER", "--prompt", "hi"], "tokenizer"),
        (["generate", "--model", "GPT2", "--prompt", "hi"], "unsupported model_type 'gpt2'"),
        (["eval", "--model", "TINY", "--data", "MISSING_DIR/x.txt"], "cannot read"),
    ]

    @Test(arguments: 0..<badInputs.count) func badInputGivesOneLineError(_ i: Int) throws {
        let dir = TempDir()
        try TinyCheckpoint.write(to: dir.path + "/notok")
        try TinyCheckpoint.write(to: dir.path + "/gpt2")
        let cfg = dir.path + "/gpt2/config.json"
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "\"llama\"", with: "\"gpt2\"")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let args = Self.badInputs[i].0.map {
            $0.replacingOccurrences(of: "MISSING_DIR", with: dir.path + "/missing")
                .replacingOccurrences(of: "NOTOKENIZER", with: dir.path + "/notok")
                .replacingOccurrences(of: "GPT2", with: dir.path + "/gpt2")
                .replacingOccurrences(of: "TINY", with: Self.tiny)
        }
        let r = try CLIRunner.run(args)
        #expect(r.status != 0, "\(args)")
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning:") }
        #expect(lines.count == 1, "\(args): \(r.stderr)")
        #expect(r.stderr.contains(Self.badInputs[i].1), "\(args): \(r.stderr)")
    }
}
