import ArgumentParser
import Dispatch
import Foundation
import QLoRA

enum GradCheckpointMode: String, ExpressibleByArgument, CaseIterable { case auto, on, off }

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune LoRA, prompt-tuning or prefix-tuning adapters on a frozen NF4 (QLoRA) or Float32 base.",
        discussion: """
            OUT receives adapter_config.json + adapter_model.safetensors (PEFT's LORA, PROMPT_TUNING or
            PREFIX_TUNING format; with --dora also each module's lora_magnitude_vector),
            metrics.jsonl, summary.json, loss.svg and checkpoints/. Ctrl-C saves a checkpoint and stops;
            --resume OUT continues from the newest checkpoint exactly where the run stopped.
            """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var dataInput: DataInputOptions
    @OptionGroup(title: "Adapter method") var methodOptions: AdapterMethodOptions
    @OptionGroup(title: "Watching the run") var watchOptions: WatchOptions

    @Option(help: "Training data (JSONL).") var data: String
    @Option(help: "Held-out data (JSONL) for the eval loss.") var evalData: String?
    @Option(help: "Hold out this fraction of --data instead (e.g. 0.05).") var evalSplit: Double?
    @Option(name: .shortAndLong, help: "The run directory.") var output: String?
    @Option(help: "Continue the run in this directory from its newest checkpoint.") var resume: String?
    @Flag(help: "Replace an existing run directory.") var overwrite = false

    @Option(help: "Optimizer steps.") var steps: Int = 100
    @Option(help: "Rows per micro-batch.") var batch: Int = 4
    @Option(help: "Tokens per row.") var seq: Int = 256
    @Option(help: "Micro-batches per optimizer step.") var gradAccum: Int = 1
    @Option(help: "Rows: packing (examples concatenated) or padding (one example per row).") var layout: String = "packing"
    @Flag(help: "Take the loss on prompt tokens too.") var trainOnPrompt = false

    @Option(help: "LoRA rank.") var rank: Int = 16
    @Option(help: "LoRA alpha (scale alpha/r).") var alpha: Double = 32
    @Flag(help: "Scale alpha/√r (rsLoRA).") var rslora = false
    @Flag(help: "DoRA: also train a per-output magnitude on the normalized W + s·B·A (PEFT's use_dora).") var dora = false
    @Option(help: "Dropout on the adapters' input.") var loraDropout: Double = 0.05
    @Option(help: "Targets: all-linear or a list of q,k,v,o,gate,up,down.") var targets: String = "all-linear"
    @Option(help: "LoRA+: B matrices learn this many times faster.") var loraplusRatio: Double?

    @Option(help: "Optimizer: adamw or lion.") var optimizer: String = "adamw"
    @Option(help: "Peak learning rate.") var lr: Double = 2e-4
    @Option(help: "Decoupled weight decay.") var weightDecay: Double = 0
    @Option(help: "Schedule: constant, linear or cosine.") var schedule: String = "constant"
    @Option(help: "Warm-up steps.") var warmup: Int = 0
    @Option(help: "Clip the global gradient norm (0 = off).") var maxGradNorm: Double = 1.0
    @Option(help: "Random seed (data order, dropout, initialization).") var seed: UInt64 = 0
    @Option(help: "Keep at most this much optimizer state resident (MB); the rest is spilled, zstd-compressed.")
    var optimizerMemory: Int?
    @Option(help: "Gradient checkpointing: auto (on when the activations would exceed a quarter of RAM), on, off.")
    var gradCkpt: GradCheckpointMode = .auto
    @Option(help: "Eval loss every N steps (0 = only at the end).") var evalEvery: Int = 0
    @Option(help: "Checkpoint every N steps (0 = only at the end).") var checkpointEvery: Int = 0
    @Flag(help: "Train even when the memory plan exceeds the memory available.") var force = false
    @Option(help: "Tolerate this many steps with a non-finite loss or gradient (skipped).") var skipNonfiniteSteps: Int = 0
    @Flag(help: "Print the summary as JSON.") var json = false

    func validate() throws {
        guard output != nil || resume != nil else { throw QLoRAError.invalid("give -o OUT (or --resume OUT)") }
        for (v, name) in [(steps, "--steps"), (batch, "--batch"), (seq, "--seq"), (gradAccum, "--grad-accum"), (rank, "--rank")]
            where v < 1 { throw QLoRAError.invalid("\(name) must be ≥ 1") }
        guard lr.isFinite && lr > 0 else { throw QLoRAError.invalid("--lr must be positive") }
        guard (0..<1).contains(loraDropout) else { throw QLoRAError.invalid("--lora-dropout must be in [0, 1)") }
        if let r = loraplusRatio, !(r > 0) { throw QLoRAError.invalid("--loraplus-ratio must be positive") }
        if let f = evalSplit, !(f > 0 && f < 1) { throw QLoRAError.invalid("--eval-split must be in (0, 1)") }
        if evalSplit != nil && evalData != nil { throw QLoRAError.invalid("give --eval-data or --eval-split, not both") }
        guard BatchLayout(rawValue: layout) != nil else { throw QLoRAError.invalid("--layout must be packing or padding") }
        guard LRSchedule.Kind(rawValue: schedule) != nil else { throw QLoRAError.invalid("--schedule must be constant, linear or cosine") }
        if let m = optimizerMemory, m < 1 { throw QLoRAError.invalid("--optimizer-memory must be ≥ 1 (MB)") }
        if methodOptions.isPromptLearning {
            if loraplusRatio != nil { throw QLoRAError.invalid("--loraplus-ratio is for --method lora") }
            if dora { throw QLoRAError.invalid("--dora is for --method lora") }
            guard methodOptions.tokens < seq else {
                throw QLoRAError.invalid("--virtual-tokens \(methodOptions.tokens) must be fewer than --seq \(seq)")
            }
        }
    }

    func run() throws {
        try modelOptions.refuseInt8()
        // Under mpirun every rank runs this command; rank 0 owns the run directory.
        let comm = try Communicator.fromEnvironment()
        let writer = comm.rank == 0
        let out = writer ? resume ?? output! : try DataParallelLaunch.scratchDirectory(rank: comm.rank)
        defer { if !writer { try? FileManager.default.removeItem(atPath: out) } }
        if let w = DataParallelLaunch.confinementWarning(threads: modelOptions.threads, rank: comm.usesMPI ? comm.rank : nil) {
            FileHandle.standardError.write(Data((w + "\n").utf8))
        }
        if !writer {
            // Ranks other than 0 neither check nor write the run directory.
        } else if resume == nil {
            if FileManager.default.fileExists(atPath: out) && !overwrite {
                throw QLoRAError.io(out, "already exists (use --resume to continue it or --overwrite)")
            }
        } else if !FileManager.default.fileExists(atPath: out + "/checkpoints") {
            throw QLoRAError.io(out, "has no checkpoints to resume from")
        }
        let planned = try ModelSource.resolve(modelOptions.model)
        let virtual = methodOptions.isPromptLearning ? methodOptions.tokens : 0
        guard seq + virtual <= planned.config.maxPositionEmbeddings else {
            throw QLoRAError.invalid("--seq \(seq)\(virtual > 0 ? " + --virtual-tokens \(virtual)" : "") exceeds the model's context of \(planned.config.maxPositionEmbeddings)")
        }
        let checkpointing = gradCkpt == .on || (gradCkpt == .auto && activationsNeedCheckpointing(planned.config))
        let planBytes = try checkMemory(planned, gradientCheckpointing: checkpointing)
        let loaded = try LoadedModel.load(modelOptions)
        let tok = loaded.tokenizer
        let evalSource: EvalSource = evalData.map { .file($0) } ?? evalSplit.map { .split($0) } ?? .none
        let trainingData = try TrainingData.load(train: data, eval: evalSource, tokenizer: tok,
                                                 options: try dataInput.dataOptions(trainOnPrompt: trainOnPrompt), seed: seed)
        let modelLinears = LlamaLinear.modules(of: loaded.model.weights.config)
        let targetList: [LlamaLinear] = targets == "all-linear" ? modelLinears : try targets.split(separator: ",").map {
            guard let t = LlamaLinear(rawValue: $0.replacingOccurrences(of: "_proj", with: "")), modelLinears.contains(t) else {
                let names = modelLinears.map { $0.rawValue }.joined(separator: ",")
                throw QLoRAError.invalid("--targets: unknown module '\($0)' for this model (use \(names) or all-linear)")
            }
            return t
        }
        var lora = try LoRAConfig(r: rank, loraAlpha: alpha, loraDropout: loraDropout, targets: targetList,
                                  useRSLoRA: rslora, useDoRA: dora, baseModelNameOrPath: modelOptions.model)
        try lora.scope(to: loaded.model.weights.config)  // a wrapper's vision tower is not a target
        var options = TrainOptions()
        options.steps = steps; options.batch = batch; options.seq = seq; options.gradAccumulation = gradAccum
        options.learningRate = lr; options.weightDecay = weightDecay; options.warmupSteps = warmup
        options.schedule = LRSchedule.Kind(rawValue: schedule)!; options.optimizer = optimizer
        options.loraPlusRatio = loraplusRatio; options.maxGradNorm = maxGradNorm > 0 ? maxGradNorm : nil
        options.seed = seed; options.layout = BatchLayout(rawValue: layout)!; options.evalEvery = evalEvery
        options.checkpointEvery = checkpointEvery; options.optimizerMemoryMB = optimizerMemory
        options.skipNonfiniteSteps = skipNonfiniteSteps
        options.gradientCheckpointing = checkpointing
        let model: LoRALlama
        if methodOptions.isPromptLearning {
            let adapter = try methodOptions.makeAdapter(weights: loaded.model.weights, tokenizer: tok, modelPath: modelOptions.model,
                                                        seed: seed, threads: modelOptions.threads)
            model = try LoRALlama(weights: loaded.model.weights, adapter: adapter, threads: modelOptions.threads,
                                  gradientCheckpointing: options.gradientCheckpointing)
        } else {
            model = try LoRALlama(weights: loaded.model.weights, lora: lora, threads: modelOptions.threads,
                                  gradientCheckpointing: options.gradientCheckpointing, seed: seed)
        }
        let parallel = DataParallel(comm)
        if comm.usesMPI {
            let identity = try DataParallelLaunch.identity(options: options, lora: lora, base: modelOptions.base.rawValue,
                                                           model: model, data: trainingData, modelPath: modelOptions.model)
            if let refusal = try parallel.startupRefusal(identity: identity) {
                // One line from rank 0, written before any rank exits (mpirun then ends the job).
                if writer { FileHandle.standardError.write(Data("Error: \(refusal)\n".utf8)) }
                try? comm.barrier(what: "the start-up refusal")
                Foundation.exit(EXIT_FAILURE)
            }
        }
        // The run directory only once the model and data loaded: bad input leaves nothing behind.
        if writer {
            AtomicOutput.removeStaleTemporaries(of: out)
            if resume == nil && overwrite {
                try AtomicOutput.remove(out)  // renamed aside first: never seen half-deleted
            }
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                throw QLoRAError.io(out, "cannot create the run directory")
            }
        }
        let trainer = try Trainer(model: model, data: trainingData, options: options, output: out,
                                  padID: Int32(tok.eosTokenID ?? 0))
        trainer.parallel = parallel
        if resume != nil, let s = try trainer.resumeIfPossible(), writer {
            for w in trainer.resumeWarnings { FileHandle.standardError.write("warning: \(w)\n".data(using: .utf8)!) }
            FileHandle.standardError.write("resuming at step \(s)\n".data(using: .utf8)!)
        }
        if !json { print(LayoutStats(trainingData.train, T: seq, layout: options.layout).summary) }
        // Ctrl-C: finish the step, checkpoint, stop.
        signal(SIGINT, SIG_IGN)
        let interrupted = InterruptFlag()
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            // A second Ctrl-C stops at once: the last checkpoint (written atomically) is kept.
            if interrupted.isSet { _exit(130) }
            interrupted.set()
            FileHandle.standardError.write("\ninterrupted: finishing this step, then saving a checkpoint (Ctrl-C again stops at once)\n".data(using: .utf8)!)
        }
        source.resume()
        trainer.stopRequested = { interrupted.isSet }
        // Only rank 0 watches the run (progress line, TensorBoard events): the other ranks write nothing.
        let watch = writer
            ? try TrainWatch(watchOptions, out: out,
                             info: RunInfo(arguments: Array(CommandLine.arguments.dropFirst()), options: options, memoryPlanBytes: planBytes),
                             resumedAt: resume != nil ? trainer.step : nil, history: trainer.history)
            : nil
        let summary = try trainer.run { watch?.step($0) }
        watch?.finish()
        if writer && comm.size > 1 {
            FileHandle.standardError.write(Data((parallel.report() + "\n").utf8))
        }
        comm.finalize()
        guard writer else { return }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(summary), as: UTF8.self))
        } else {
            print(String(format: """
                %@
                final train loss %.4f%@
                adapter: %@
                """, summary.headline, summary.finalTrainLoss,
                summary.finalEvalLoss.map { final in
                    String(format: ", eval loss %@%.4f (best %.4f)",
                           summary.initialEvalLoss.map { String(format: "%.4f → ", $0) } ?? "", final, summary.bestEvalLoss ?? final)
                } ?? "",
                out))
        }
        if interrupted.isSet && summary.steps < steps {
            FileHandle.standardError.write("stopped at step \(summary.steps) of \(steps); checkpoint saved in \(out)/checkpoints: continue with --resume \(out)\n".data(using: .utf8)!)
            throw ExitCode(130)   // as a shell reports an interrupted command
        }
    }

    /// Plans this run with the CPU planner (the trainer's own buffers) and refuses, before anything
    /// is allocated, when the plan exceeds the memory available, unless --force.
    /// Returns the plan's total bytes.
    @discardableResult
    func checkMemory(_ planned: PlannedModel, gradientCheckpointing: Bool) throws -> Int {
        var request = PlanRequest(model: planned)
        request.device = .cpu
        switch methodOptions.method {
        case .lora: request.method = modelOptions.base == .f32 ? .lora : .qlora
        case .promptTuning: request.method = .promptTuning
        case .prefixTuning: request.method = .prefixTuning
        }
        request.virtualTokens = methodOptions.tokens
        request.nf4BasePromptLearning = modelOptions.base == .nf4
        request.dora = dora
        request.prefixProjectionHidden = methodOptions.prefixProjection
            ? (methodOptions.encoderHidden ?? planned.config.kvDim) : nil
        request.rank = rank
        request.targets = try LoRATargets.parse(targets)
        request.sequenceLength = seq
        request.batchSize = batch
        request.gradientCheckpointing = gradientCheckpointing
        request.optimizer = optimizer == "lion" ? .lion : .adamw
        request.paged = optimizerMemory != nil
        request.computeDType = modelOptions.resolvedComputeDType
        request.loraDropout = loraDropout > 0
        request.threads = modelOptions.threads
        let plan = try Planner.plan(request)
        guard let available = try AvailableMemory.read(), let refusal = MemoryCheck.refusal(plan, available: available) else {
            return plan.deviceBytes
        }
        if force {
            FileHandle.standardError.write("warning: \(refusal.components(separatedBy: "; lower")[0]); --force given, training anyway\n".data(using: .utf8)!)
            return plan.deviceBytes
        }
        throw QLoRAError(.invalidArgument, refusal)
    }

    /// auto: checkpoint when the saved activations of every layer would exceed a quarter of RAM.
    func activationsNeedCheckpointing(_ c: LlamaConfig) -> Bool {
        let M = batch * (seq + (methodOptions.isPromptLearning ? methodOptions.tokens : 0))
        let perLayer = 4 * (3 * M * c.hiddenSize + 2 * M * c.qDim + 2 * M * c.kvDim + batch * c.numAttentionHeads * seq * seq
            + 2 * M * c.intermediateSize)
        return Double(perLayer * c.numHiddenLayers) > Double(ProcessInfo.processInfo.physicalMemory) / 4
    }
}

final class InterruptFlag: @unchecked Sendable {
    private var flag = false
    private let lock = NSLock()
    func set() { lock.lock(); flag = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
