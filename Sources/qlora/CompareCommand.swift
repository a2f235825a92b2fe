import ArgumentParser
import Foundation
import QLoRA

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train every method on one task with one budget and seed, and compare them in one table.",
        discussion: """
            Runs `qlora train` once per method (prompt tuning, prefix tuning, LoRA, LoRA+, QLoRA, QLoRA + \
            DoRA), each in its own process so its peak RSS is its own, then `qlora eval --task` on its \
            adapter. The table gives trainable parameters, peak RSS, training tokens/s, held-out loss \
            before → after, exact-match accuracy, this trainer's CPU memory plan for the run, and the GPU \
            memory plan of the same configuration on 7B and 70B models. OUT keeps every run, \
            compare.json and table.md. See docs/methods.md.
            """
    )

    @Option(help: "The base model: a .gguf file or an unquantized checkpoint (LoRA and LoRA+ train over its f32 linears, the others over NF4).")
    var model: String
    @Option(help: "Training data (JSONL).") var data: String
    @Option(help: "Held-out data (JSONL) for the eval loss.") var evalData: String
    @Option(help: "Task for exact-match accuracy (a directory with eval.jsonl or a JSONL file).") var task: String
    @Option(help: "Questions of the task to evaluate.") var taskLimit: Int = 100
    @Option(name: .shortAndLong, help: "The comparison directory.") var output: String
    @Flag(help: "Replace an existing OUT.") var overwrite = false
    @Option(help: "Methods to run, comma-separated (default all): prompt-tuning, prefix-tuning, lora, lora-plus, qlora, qlora-dora.")
    var methods: String?

    @Option(help: "Optimizer steps per method.") var steps: Int = 80
    @Option(help: "Rows per micro-batch.") var batch: Int = 4
    @Option(help: "Tokens per row.") var seq: Int = 256
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Learning-rate schedule of every run: constant, linear or cosine.") var schedule: String = "cosine"
    @Option(help: "Warm-up steps of every run (default: 8, or --steps if fewer).") var warmup: Int?
    var warmupSteps: Int { warmup ?? min(8, steps) }
    @Option(help: "LoRA rank (alpha = 2r).") var rank: Int = 16
    @Option(help: "Learning rate of the LoRA methods.") var lr: Double = 3e-4
    @Option(help: "LoRA+ ratio of B's learning rate to A's.") var loraplusRatio: Double = 16
    @Option(help: "Virtual tokens of prompt and prefix tuning.") var virtualTokens: Int = 20
    @Option(help: "Learning rate of prompt tuning.") var promptLr: Double = 3e-2
    @Option(help: "Learning rate of prefix tuning.") var prefixLr: Double = 1e-2
    @Option(help: "Initialize prompt and prefix tuning from this text (default: vocabulary samples / random).")
    var initText: String?
    @Option(help: "Worker threads per run.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("compute-dtype"), help: "Compute dtype of every run (f32, bf16, auto; see `qlora train --help`).")
    var computeDType: ComputeDType = .f32
    @Option(help: "Models to plan the same configurations for on a GPU, comma-separated.")
    var planModels: String = "llama-2-7b,llama-2-70b"
    @Option(help: "Also report to: tensorboard (one event-file directory per method under OUT/runs, with eval/exact_match), or none.")
    var reportTo: ReportTarget = .none
    @Flag(help: "Run even when a method's memory plan exceeds the memory available (passed on to every run).")
    var force = false

    var settings: ComparisonSettings {
        ComparisonSettings(steps: steps, batch: batch, seq: seq, seed: seed, schedule: schedule, warmup: warmupSteps, rank: rank, loraLR: lr,
                           loraPlusRatio: loraplusRatio, virtualTokens: virtualTokens, promptLR: promptLr,
                           prefixLR: prefixLr, initText: initText, threads: threads)
    }

    func selected() throws -> [ComparedMethod] {
        let all = ComparedMethod.all(settings)
        guard let methods else { return all }
        return try methods.split(separator: ",").map { name in
            guard let m = all.first(where: { $0.id == name }) else {
                throw QLoRAError.invalid("--methods: unknown method '\(name)' (\(all.map(\.id).joined(separator: ", ")))")
            }
            return m
        }
    }

    func validate() throws {
        for (v, name) in [(steps, "--steps"), (batch, "--batch"), (seq, "--seq"), (rank, "--rank"),
                          (virtualTokens, "--virtual-tokens"), (taskLimit, "--task-limit")] where v < 1 {
            throw QLoRAError.invalid("\(name) must be ≥ 1")
        }
        for (v, name) in [(lr, "--lr"), (loraplusRatio, "--loraplus-ratio"), (promptLr, "--prompt-lr"), (prefixLr, "--prefix-lr")]
            where !(v.isFinite && v > 0) { throw QLoRAError.invalid("\(name) must be positive") }
        guard (1...256).contains(threads) else { throw QLoRAError.invalid("--threads must be in 1…256") }
        guard LRSchedule.Kind(rawValue: schedule) != nil else { throw QLoRAError.invalid("--schedule must be constant, linear or cosine") }
        guard warmupSteps >= 0 && warmupSteps <= steps else { throw QLoRAError.invalid("--warmup must be in 0…--steps") }
        _ = try selected()
        for m in planModels.split(separator: ",") { _ = try ModelSource.resolve(String(m)) }
    }

    func run() throws {
        if computeDType == .int8 { throw QLoRAError.invalid(ComputeDType.int8TrainingRefusal) }
        try checkMemory()
        if FileManager.default.fileExists(atPath: output) {
            guard overwrite else { throw QLoRAError.io(output, "already exists (pass --overwrite to replace it)") }
            AtomicOutput.removeTree(output)
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let s = settings
        let shared = ["--model", model, "--threads", "\(threads)", "--compute-dtype", computeDType.rawValue] + (force ? ["--force"] : [])
        // The base model, once: held-out loss and accuracy with no adapter.
        FileHandle.standardError.write(Data("compare: base model\n".utf8))
        let baseAccuracy = try taskAccuracy(shared + ["--base", "nf4"], log: output + "/base-eval")
        var rows: [ComparisonRow] = []
        for m in try selected() {
            FileHandle.standardError.write(Data("compare: \(m.title)\n".utf8))
            let dir = output + "/" + m.id
            let train = ["train"] + shared + ["--base", m.base.rawValue, "--data", data, "--eval-data", evalData, "-o", dir,
                                              "--steps", "\(steps)", "--batch", "\(batch)", "--seq", "\(seq)",
                                              "--seed", "\(seed)", "--schedule", schedule, "--warmup", "\(warmupSteps)",
                                              "--grad-ckpt", "off", "--json"] + m.trainArguments
                + (reportTo == .tensorboard ? ["--report-to", "tensorboard", "--report-dir", output + "/runs/" + m.id] : [])
            let started = Date()
            let summary = try JSONDecoder().decode(TrainSummary.self, from: ChildRun.run(train, log: output + "/" + m.id + "-train"))
            let seconds = Date().timeIntervalSince(started)
            let accuracy = try taskAccuracy(shared + ["--base", m.base.rawValue, "--adapter", dir], log: output + "/" + m.id + "-eval")
            if reportTo == .tensorboard {
                let events = try TensorBoardWriter(directory: output + "/runs/" + m.id, resumingAt: summary.steps)
                events.write(step: summary.steps, [("eval/exact_match", .scalar(Float(accuracy)))])
            }
            let plans = try planModels.split(separator: ",").map { name in
                PlannedFootprint(model: String(name), bytes: try m.gpuPlan(model: String(name), s).deviceBytes)
            }
            let cpu = try? m.cpuPlan(model: model, s, gradientCheckpointing: false).deviceBytes
            rows.append(ComparisonRow(
                method: m.id, title: m.title, base: m.base.rawValue, trainableParameters: summary.trainableParameters,
                totalParameters: summary.totalParameters, peakRSSBytes: summary.peakRSSBytes,
                tokensPerSecond: summary.tokensPerSecond, initialEvalLoss: summary.initialEvalLoss,
                finalEvalLoss: summary.finalEvalLoss, accuracy: accuracy, cpuPlanBytes: cpu, gpuPlans: plans,
                seconds: seconds, arguments: m.trainArguments))
        }
        let result = ComparisonResult(settings: s, model: model, data: data, evalData: evalData, task: task,
                                      taskLimit: taskLimit, baseAccuracy: baseAccuracy, rows: rows)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicOutput.write([UInt8](try enc.encode(result)), to: output + "/compare.json")
        let table = ComparisonTable.markdown(result)
        try AtomicOutput.write(Array(table.utf8), to: output + "/table.md")
        print(table, terminator: "")
    }

    /// Plans every selected method's run with the CPU planner before anything runs, and refuses in
    /// one line with the largest plan's numbers when it exceeds the memory available (rather than
    /// failing at that method after the others ran); `--force` makes it a warning.
    func checkMemory() throws {
        guard let available = try AvailableMemory.read() else { return }
        var largest: (ComparedMethod, MemoryPlan)?
        for m in try selected() {
            let plan = try m.cpuPlan(model: model, settings, gradientCheckpointing: false)
            if plan.deviceBytes > largest?.1.deviceBytes ?? -1 { largest = (m, plan) }
        }
        guard let (m, plan) = largest, let refusal = MemoryCheck.refusal(plan, available: available) else { return }
        let line = "compare: \(m.id): " + refusal.components(separatedBy: "; lower")[0]
        if force {
            FileHandle.standardError.write(Data("warning: \(line); --force given, running anyway\n".utf8))
            return
        }
        throw QLoRAError(.invalidArgument, line + "; lower --batch or --seq, or pass --force to try anyway")
    }

    /// Exact-match accuracy on the task (`qlora eval --task … --json`).
    func taskAccuracy(_ modelArguments: [String], log: String) throws -> Double {
        let out = try ChildRun.run(["eval"] + modelArguments + ["--task", task, "--limit", "\(taskLimit)", "--show", "0", "--json"],
                                   log: log)
        struct Accuracy: Decodable { var accuracy: Double }
        return try JSONDecoder().decode(Accuracy.self, from: out).accuracy
    }
}
