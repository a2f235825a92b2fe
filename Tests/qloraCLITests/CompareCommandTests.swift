import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora compare` on the tiny GGUF fixture with the bundled task: every method runs in its own
/// process, the table and compare.json hold one row per method with measured values, and bad
/// options are refused in one line.
@Suite(.serialized) struct CompareCommandTests {
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }
    static var datasets: String { TestPaths.repoRoot + "/datasets" }

    /// Issue 16, item 5: the largest method's plan is checked before any run starts; short memory
    /// is one line with the plan's numbers and no OUT; `--force` warns and passes itself to every run.
    @Test func memoryIsCheckedBeforeAnyRunAndForceIsPassedOn() throws {
        let dir = TempDir()
        let out = dir.path + "/cmp"
        let args = ["compare", "--model", Self.tiny, "--data", Self.datasets + "/train.jsonl",
                    "--eval-data", Self.datasets + "/eval.jsonl", "--task", Self.datasets, "--task-limit", "1",
                    "-o", out, "--steps", "1", "--batch", "1", "--seq", "16", "--rank", "2", "--threads", "1",
                    "--methods", "qlora", "--plan-models", "llama-2-7b"]
        let short = try CLIRunner.run(args, environment: [AvailableMemory.variable: "1MB"])
        #expect(short.status != 0)
        #expect(short.stderr.split(separator: "\n").count == 1, "\(short.stderr)")
        #expect(short.stderr.contains("compare: qlora: the memory plan needs "), "\(short.stderr)")
        #expect(short.stderr.contains("but \(ByteCount.format(1 << 20)) is available (QLORA_AVAILABLE_MEMORY)"), "\(short.stderr)")
        #expect(short.stderr.contains("--force"), "\(short.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let forced = try CLIRunner.run(args + ["--force"], environment: [AvailableMemory.variable: "1MB"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("warning: compare: qlora: the memory plan needs"), "\(forced.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/qlora/adapter_config.json"))
    }

    @Test func everyMethodGetsARowWithMeasuredValues() throws {
        let dir = TempDir()
        let out = dir.path + "/cmp"
        let r = try CLIRunner.run(["compare", "--model", Self.tiny, "--data", Self.datasets + "/train.jsonl",
                                   "--eval-data", Self.datasets + "/eval.jsonl", "--task", Self.datasets, "--task-limit", "2",
                                   "-o", out, "--steps", "2", "--batch", "1", "--seq", "32", "--rank", "2",
                                   "--virtual-tokens", "3", "--threads", "2", "--plan-models", "llama-2-7b",
                                   "--report-to", "tensorboard"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/compare.json"))) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["method"] as? String } == ["prompt-tuning", "prefix-tuning", "lora", "lora-plus", "qlora", "qlora-dora"])
        var trainable: [String: Int] = [:]
        for row in rows {
            let id = row["method"] as? String ?? "?"
            trainable[id] = row["trainable_parameters"] as? Int
            #expect((row["peak_rss_bytes"] as? Int ?? 0) > 1 << 20, "\(id)")
            #expect((row["tokens_per_second"] as? Double ?? 0) > 0, "\(id)")
            #expect((row["initial_eval_loss"] as? Double ?? .nan).isFinite, "\(id)")
            #expect((row["final_eval_loss"] as? Double ?? .nan).isFinite, "\(id)")
            let plans = try #require(row["gpu_plans"] as? [[String: Any]])
            #expect((plans.first?["bytes"] as? Int ?? 0) > 1 << 30, "\(id): a 7B model's plan is gigabytes")
            #expect(FileManager.default.fileExists(atPath: out + "/" + id + "/adapter_config.json"), "\(id)")
            // --report-to tensorboard: one event file per method under OUT/runs, with both steps and
            // the task's exact match at the last step.
            let files = TensorBoardWriter.eventFiles(in: out + "/runs/" + id)
            #expect(files.count == 1, "\(id)")
            let events = try files.first.map(TensorBoardWriter.read) ?? []
            #expect(events.filter { $0.values.contains { $0.tag == "train/loss" } }.map(\.step) == [1, 2], "\(id)")
            let exact = events.flatMap { e in e.values.filter { $0.tag == "eval/exact_match" }.map { (e.step, $0.value) } }
            #expect(exact.count == 1 && exact.first?.0 == 2, "\(id)")
            if case .scalar(let a)? = exact.first?.1 { #expect(Double(a) == Double(Float(row["accuracy"] as? Double ?? -1)), "\(id)") }
        }
        // tiny_llama: hidden 64, so 3 virtual tokens train 3·64 prompt parameters.
        #expect(trainable["prompt-tuning"] == 3 * 64)
        #expect(trainable["lora"] == trainable["qlora"])
        #expect(trainable["lora"] == trainable["lora-plus"])
        #expect((trainable["qlora-dora"] ?? 0) > (trainable["qlora"] ?? 0))
        let table = try String(contentsOfFile: out + "/table.md", encoding: .utf8)
        #expect(table == r.stdout)
        for title in ["Prompt tuning", "Prefix tuning", "| LoRA |", "LoRA+", "| QLoRA |", "QLoRA + DoRA", "GPU plan llama-2-7b"] {
            #expect(table.contains(title), "\(title)")
        }
    }

    @Test(arguments: [
        (["--methods", "lora,nonsense"], "unknown method 'nonsense'"),
        (["--steps", "0"], "--steps must be ≥ 1"),
        (["--prompt-lr", "0"], "--prompt-lr must be positive"),
        (["--plan-models", "no-such-model"], "no-such-model"),
    ])
    func badOptionsAreOneLine(_ extra: [String], _ message: String) throws {
        let dir = TempDir()
        let r = try CLIRunner.run(["compare", "--model", Self.tiny, "--data", "d", "--eval-data", "e", "--task", "t",
                                   "-o", dir.path + "/cmp"] + extra)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/cmp"))
    }

    /// Ctrl-C at the terminal while a method trains: the terminal signals compare's process group, and
    /// the train child (in a group of its own) gets it only through compare. Compare must pass it on, wait
    /// for train to checkpoint and stop, and stop itself in one line; before, compare died and the child
    /// trained on, orphaned.
    @Test func sigintReachesTheRunningChildAndNothingOutlivesCompare() throws {
        let dir = TempDir()
        let out = dir.path + "/cmp"
        let p = try CLIRunner.start(["compare", "--model", Self.tiny, "--data", Self.datasets + "/train.jsonl",
                                     "--eval-data", Self.datasets + "/eval.jsonl", "--task", Self.datasets, "--task-limit", "1",
                                     "-o", out, "--steps", "100000", "--batch", "1", "--seq", "16", "--rank", "2",
                                     "--threads", "1", "--methods", "qlora", "--plan-models", "llama-2-7b"], stdout: .discard)
        let metrics = out + "/qlora/metrics.jsonl"
        func lines() -> Int { ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").split(separator: "\n").count }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && lines() < 3 && p.isRunning { usleep(10_000) }
        try #require(p.isRunning && lines() >= 3, "compare's train child did not start training")
        let child = try #require(Self.processes(mentioning: out + "/qlora").first, "no train child found")
        let childGroup = Self.processGroup(child)
        p.signalGroup(SIGINT)
        let stopped = p.finish(timeout: 120)
        try #require(!stopped.timedOut, "compare did not stop within 120 s of SIGINT: \(stopped.stderr)")
        #expect(stopped.status != 0)
        let last = stopped.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("interrupted by SIGINT: qlora train was stopped"), "\(stopped.stderr)")
        #expect(kill(child, 0) != 0 && errno == ESRCH, "train child \(child) (group \(childGroup)) outlived compare")
        #expect(Self.processes(mentioning: out).isEmpty)
        // The child stopped the way train does on Ctrl-C: at a step, with a checkpoint.
        let checkpoints = (try? FileManager.default.contentsOfDirectory(atPath: out + "/qlora/checkpoints")) ?? []
        #expect(checkpoints.contains { $0.hasPrefix("checkpoint-") }, "\(checkpoints)")
        #expect(!FileManager.default.fileExists(atPath: out + "/compare.json"))
    }

    /// Pids of live processes whose command line mentions `text`.
    static func processes(mentioning text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: ")").last ?? ""
            return !state.hasPrefix(" Z") && String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
        }
    }

    static func processGroup(_ pid: Int32) -> Int32 { getpgid(pid) }
}
