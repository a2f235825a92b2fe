import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora eval --task`: greedy answers scored by exact match, on the tiny fixture model and on
/// SmolLM2 with the bundled task.
@Suite(.serialized) struct EvalTaskCommandTests {
    static var smol: String { TestPaths.smolLM2GGUF }
    static var haveModel: Bool { FileManager.default.fileExists(atPath: smol) }
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }
    static var datasets: String { TestPaths.repoRoot + "/datasets" }

    static func json(_ r: CLIRunner.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
    }

    @Test func tinyModelRunsTheBundledTaskAndReportsAccuracy() throws {
        let r = try CLIRunner.run(["eval", "--model", Self.tiny, "--task", Self.datasets, "--limit", "5", "--json",
                                   "--max-tokens", "8", "--show", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try Self.json(r)
        #expect(obj["total"] as? Int == 5)
        #expect(obj["correct"] as? Int == 0, "a random tiny model cannot write dates")
        #expect(obj["accuracy"] as? Double == 0)
        #expect(obj["format"] as? String == "alpaca")
        let examples = try #require(obj["examples"] as? [[String: Any]])
        #expect(examples.count == 2)
        #expect(examples.first?["expected"] as? String == "1979-12-24")
        let text = try CLIRunner.run(["eval", "--model", Self.tiny, "--task", Self.datasets + "/eval.jsonl", "--limit", "3",
                                      "--max-tokens", "4"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("accuracy 0.0% (0/3)"), "\(text.stdout)")
        #expect(text.stdout.contains("expected \"1979-12-24\""), "\(text.stdout)")
    }

    @Test func templateTaskWithTheChineseExample() throws {
        let dir = TempDir()
        let path = dir.path + "/cls.jsonl"
        try """
            {"text": "这部电影很好看", "label": "正面"}
            {"text": "太无聊了", "label": "负面"}
            bad line
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let args = ["eval", "--model", Self.tiny, "--task", path, "--template", "分类任务:{text},请给出类别标签:",
                    "--target", "{label}", "--max-tokens", "4", "--json"]
        let failed = try CLIRunner.run(args)
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("line 3: not a JSON object"), "\(failed.stderr)")
        let r = try CLIRunner.run(args + ["--skip-bad-lines"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try Self.json(r)
        #expect(obj["total"] as? Int == 2 && obj["skipped_lines"] as? Int == 1)
        let examples = try #require(obj["examples"] as? [[String: Any]])
        #expect(examples.first?["question"] as? String == "分类任务:这部电影很好看,请给出类别标签:")
    }

    /// Each bad input: arguments, and a fragment of the one-line error.
    static let badInputs: [([String], String)] = [
        (["eval", "--model", "TINY"], "exactly one of --data and --task"),
        (["eval", "--model", "TINY", "--task", "DATASETS", "--data", "x.txt"], "exactly one of --data and --task"),
        (["eval", "--model", "TINY", "--task", "MISSING"], "no such file"),
        (["eval", "--model", "TINY", "--task", "TEXTFILE"], "text records have no answer"),
        (["eval", "--model", "TINY", "--task", "DATASETS", "--limit", "0"], "--limit must be ≥ 1"),
        (["eval", "--model", "TINY", "--task", "DATASETS", "--template", "{x}"], "--template and --target go together"),
        (["eval", "--model", "TINY", "--task", "DATASETS", "--max-tokens", "100000"], "exceed the model's context"),
    ]

    @Test(arguments: 0..<badInputs.count) func badInputGivesOneLineError(_ i: Int) throws {
        let dir = TempDir()
        let textFile = dir.path + "/t.jsonl"
        try "{\"text\": \"hello\"}\n".write(toFile: textFile, atomically: true, encoding: .utf8)
        let args = Self.badInputs[i].0.map {
            $0.replacingOccurrences(of: "TINY", with: Self.tiny).replacingOccurrences(of: "DATASETS", with: Self.datasets)
                .replacingOccurrences(of: "MISSING", with: dir.path + "/missing").replacingOccurrences(of: "TEXTFILE", with: textFile)
        }
        let r = try CLIRunner.run(args)
        #expect(r.status != 0, "\(args)")
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning:") && !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See") }
        #expect(lines.count == 1, "\(args): \(r.stderr)")
        #expect(r.stderr.contains(Self.badInputs[i].1), "\(args): \(r.stderr)")
    }

    /// The base model's accuracy on the held-out split, measured when the task was made: 14/300
    /// (4.7%) with NF4 linears and 40/300 (13.3%) with Float32 ones (datasets/README.md).
    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func baseSmolLM2IsPoorAtTheBundledTask() throws {
        for (base, range) in [("nf4", 0.02...0.10), ("f32", 0.08...0.20)] {
            let r = try CLIRunner.run(["eval", "--model", Self.smol, "--base", base, "--task", Self.datasets, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let obj = try Self.json(r)
            #expect(obj["total"] as? Int == 300)
            let accuracy = try #require(obj["accuracy"] as? Double)
            #expect(range.contains(accuracy), "\(base): \(accuracy)")
            #expect(abs(accuracy - Double(obj["correct"] as? Int ?? -1) / 300) < 1e-12)
        }
        // Stopping an answer once it can no longer match never changes a score.
        var correct: [Int] = []
        for extra in [[], ["--full-answers"]] {
            let r = try CLIRunner.run(["eval", "--model", Self.smol, "--base", "f32", "--task", Self.datasets, "--limit", "60",
                                       "--json"] + extra)
            correct.append(try Self.json(r)["correct"] as? Int ?? -1)
        }
        #expect(correct[0] == correct[1] && correct[0] > 0, "\(correct)")
    }
}
