import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora train` on the tiny GGUF fixture: outputs, determinism, resume after SIGKILL, paging and
/// evaluation not changing the result, and bad input.
@Suite(.serialized) struct TrainCommandTests {
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }

    static func data(_ dir: TempDir) throws -> String {
        let words = ["hello", "world", "hello world", "world hello", "hello hello world"]
        var rng = SeededRNG(seed: 1)
        let lines = (0..<60).map { _ in
            "{\"text\": \"" + (0..<6).map { _ in words[Int(rng.next() % 5)] }.joined(separator: " ") + "\"}"
        }
        let path = dir.path + "/train.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func train(_ out: String, _ data: String, _ extra: [String] = []) throws -> CLIRunner.Result {
        try CLIRunner.run(["train", "--model", tiny, "--data", data, "-o", out, "--steps", "12", "--batch", "2", "--seq", "16",
                           "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3", "--threads", "2", "--json"] + extra)
    }

    static func adapterBytes(_ dir: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
    }

    @Test func writesEveryOutputAndLowersTheLoss() throws {
        let dir = TempDir()
        let data = try Self.data(dir)
        let r = try Self.train(dir.path + "/run", data, ["--eval-split", "0.2", "--eval-every", "4"])
        #expect(r.status == 0, "\(r.stderr)")
        for f in ["adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "summary.json", "loss.svg", "checkpoints"] {
            #expect(FileManager.default.fileExists(atPath: dir.path + "/run/" + f), "\(f) missing")
        }
        let lines = try String(contentsOfFile: dir.path + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 12)
        let rows = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        for key in ["step", "loss", "lr", "tokens_per_second", "rss_bytes"] { #expect(rows[0][key] != nil, "\(key)") }
        #expect(rows.compactMap { $0["eval_loss"] as? Double }.count == 3)
        let first = try #require(rows.first?["loss"] as? Double), last = try #require(rows.last?["loss"] as? Double)
        #expect(last < first, "loss \(first) → \(last)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path + "/run/summary.json"))) as? [String: Any])
        for key in ["steps", "trainable_parameters", "tokens_per_second", "peak_rss_bytes", "final_eval_loss"] {
            #expect(summary[key] != nil, "\(key)")
        }
        let cfg = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path + "/run/adapter_config.json"))) as? [String: Any])
        #expect(cfg["peft_type"] as? String == "LORA")
        #expect(cfg["r"] as? Int == 4)
    }

    @Test func runsRepeatAndEvalOrPagingChangeNothing() throws {
        let dir = TempDir()
        let data = try Self.data(dir)
        #expect(try Self.train(dir.path + "/a", data).status == 0)
        #expect(try Self.train(dir.path + "/b", data).status == 0)
        #expect(try Self.train(dir.path + "/eval", data, ["--eval-split", "0.2", "--eval-every", "1"]).status == 0)
        #expect(try Self.train(dir.path + "/noeval", data, ["--eval-split", "0.2"]).status == 0)
        #expect(try Self.train(dir.path + "/paged", data, ["--optimizer-memory", "4"]).status == 0)
        let a = try Self.adapterBytes(dir.path + "/a")
        #expect(a == (try Self.adapterBytes(dir.path + "/b")), "same seed, same adapter")
        #expect(try Self.adapterBytes(dir.path + "/eval") == (try Self.adapterBytes(dir.path + "/noeval")),
                "evaluating between steps must not change training")
        #expect(a == (try Self.adapterBytes(dir.path + "/paged")), "paged optimizer state must not change training")
    }

    @Test func resumeAfterSIGKILLIsBitIdentical() throws {
        let dir = TempDir()
        let data = try Self.data(dir)
        #expect(try Self.train(dir.path + "/whole", data, ["--steps", "40", "--checkpoint-every", "1"]).status == 0)
        // Start the same run, kill it once it has written a few checkpoints, resume it.
        let p = try CLIRunner.start(["train", "--model", Self.tiny, "--data", data, "-o", dir.path + "/killed", "--steps", "40",
                                     "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                     "--threads", "2", "--checkpoint-every", "1"], stdout: .discard, stderr: .discard)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let ck = (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/killed/checkpoints")) ?? []
            if ck.filter({ $0.hasPrefix("checkpoint-") }).count >= 2 { break }
            usleep(2000)
        }
        p.signal(SIGKILL)
        p.wait(timeout: 60)
        let r = try CLIRunner.run(["train", "--model", Self.tiny, "--data", data, "--resume", dir.path + "/killed", "--steps", "40",
                                   "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                   "--threads", "2", "--checkpoint-every", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.adapterBytes(dir.path + "/killed") == (try Self.adapterBytes(dir.path + "/whole")))
    }

    static let badInputs: [([String], String)] = [
        (["--data", "MISSING"], "cannot"),
        (["--rank", "0"], "--rank"),
        (["--lr=-1"], "--lr"),
        (["--targets", "q,zz"], "unknown module"),
        (["--seq", "100000"], "exceeds the model's context"),
        (["--eval-split", "2"], "--eval-split"),
    ]

    @Test(arguments: 0..<badInputs.count) func badInputIsOneLine(_ i: Int) throws {
        let dir = TempDir()
        let data = try Self.data(dir)
        var args = ["train", "--model", Self.tiny, "--data", data, "-o", dir.path + "/run", "--steps", "2", "--seq", "16"]
        let extra = Self.badInputs[i].0.map { $0 == "MISSING" ? dir.path + "/missing.jsonl" : $0 }
        if extra.count == 2, let at = args.firstIndex(of: extra[0]) { args[at + 1] = extra[1] } else { args += extra }
        let r = try CLIRunner.run(args)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning:") }
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(Self.badInputs[i].1), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/run/adapter_model.safetensors"))
    }
}
