import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel

/// The training loop: micro-batches → forward/backward → clip → optimizer step → metrics, with eval
/// loss every N steps and atomic checkpoints every N steps that `resume` continues bit-identically.
public final class Trainer {
    public let model: LoRALlama
    public let options: TrainOptions
    public let output: String
    let optimizer: Optimizer
    let schedule: LRSchedule
    let store: CheckpointStore
    var loader: DataLoader
    let evalBatches: [TrainingBatch]
    public private(set) var step = 0
    public private(set) var history: [StepMetrics] = []
    /// Why `resumeIfPossible` passed over newer checkpoints (one line each).
    public private(set) var resumeWarnings: [String] = []
    /// Set from a signal handler: finish the current step, save a checkpoint, stop.
    public var stopRequested: () -> Bool = { false }
    /// The ranks this run is split over (`mpirun -np N`); one by default. Set before resuming or running.
    public var parallel = DataParallel.single()

    public init(model: LoRALlama, data: TrainingData, options: TrainOptions, output: String, padID: Int32) throws {
        self.model = model
        self.options = options
        self.output = output
        guard !data.train.isEmpty else { throw QLoRAError.invalid("no training examples") }
        let params = model.adapter.parameters
        let groups = options.loraPlusRatio.map { LoRAPlus.groups(params, ratio: $0, weightDecay: options.weightDecay) }
            ?? ParameterGroup.single(params, weightDecay: options.weightDecay)
        optimizer = try Optimizer(groups: groups, algorithm: try OptimizerAlgorithm.named(options.optimizer),
                                  learningRate: options.learningRate,
                                  memory: .budget(megabytes: options.optimizerMemoryMB, runDirectory: output))
        schedule = try LRSchedule(options.schedule, warmupSteps: options.warmupSteps, totalSteps: options.steps)
        store = try CheckpointStore(root: output + "/checkpoints", keepLast: options.keepCheckpoints)
        loader = try DataLoader(examples: data.train, B: options.batch, T: options.seq, layout: options.layout,
                                seed: options.seed, padID: padID)
        evalBatches = data.eval.isEmpty ? [] : DataLoader.evaluationBatches(data.eval, B: options.batch, T: options.seq,
                                                                             layout: options.layout, padID: padID)
    }

    deinit { optimizer.close() }

    /// Continues from the newest checkpoint that verifies against its manifest, if any; returns its
    /// step. Newer checkpoints that fail verification are passed over and named in
    /// `resumeWarnings`. metrics.jsonl is cut back to the steps the checkpoint had done.
    @discardableResult
    public func resumeIfPossible() throws -> Int? {
        // Rank 0 picks the checkpoint; the other ranks restore the copy it sends them.
        var skipped: [(path: String, reason: String)] = []
        let picked = try parallel.shareCheckpoint({
            let found = try store.latestValid()
            skipped = found?.skipped ?? []
            return found?.path
        }, scratch: output + "/received")
        guard let path = picked else { return nil }
        resumeWarnings = skipped.map { "skipped checkpoint \($0.path): \($0.reason)" }
        let r = try Checkpoint.read(from: path, into: optimizer, dataPosition: DataPosition.self)
        // Allowed (like a changed learning rate), but the continuation is no longer the run it was.
        if let w = ResumeArithmetic.warning(step: r.step, checkpointDType: r.computeDType, checkpointPath: r.kernelPath,
                                            dtype: model.weights.computeDType.rawValue, path: kernelPath) {
            resumeWarnings.append(w)
        }
        loader = try DataLoader(examples: loader.examples, B: options.batch, T: options.seq, layout: options.layout,
                                padID: loader.padID, resumingAt: r.dataPosition)
        step = r.step
        let metricsPath = output + "/metrics.jsonl"
        if parallel.isWriter, let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) {
            // Lines of steps after the checkpoint (and a line torn by a kill) are dropped: the
            // resumed run writes those steps again.
            var kept: [String] = []
            for line in text.split(separator: "\n") {
                guard let m = try? JSONDecoder().decode(StepMetrics.self, from: Data(line.utf8)), m.step <= step else { continue }
                history.append(m)
                kept.append(String(line))
            }
            try AtomicOutput.write(kept.map { $0 + "\n" }.joined(), to: metricsPath)
        }
        return step
    }

    /// Mean loss over the eval set with the current adapter (no gradients touched).
    /// Under data parallelism rank r evaluates batches r, r+N, … and the sums are added in rank order
    /// (every rank must call it at the same point).
    public func evalLoss() throws -> Double? {
        guard !evalBatches.isEmpty else { return nil }
        var sum = 0.0, count = 0
        for (i, b) in evalBatches.enumerated() where parallel.owns(i) && b.predictionCount > 0 {
            let r = model.loss(b)
            sum += r.sum
            count += r.count
        }
        sum = try parallel.sum(sum, what: "the eval loss at step \(step)")
        count = try parallel.sum(count, what: "the eval loss at step \(step)")
        return count > 0 ? sum / Double(count) : nil
    }

    /// Runs until `options.steps`; calls `progress` after each step.
    public func run(progress: (StepMetrics) -> Void = { _ in }) throws -> TrainSummary {
        let start = Date()
        var tokens = 0
        var trainSeconds = 0.0
        var skipped = 0
        let metricsPath = output + "/metrics.jsonl"
        let writes = parallel.isWriter
        if step == 0 && writes { try AtomicOutput.write([UInt8](), to: metricsPath) }
        // Appends go through OutputFile (the write-fault hook): a full disk is a one-line error naming the file.
        // Only the writing rank (rank 0) has the file.
        let metricsFile = writes ? try OutputFile(appendingTo: metricsPath) : nil
        defer { metricsFile?.close() }
        var bestEval: Double?
        // The held-out loss before any update (fresh runs only): what the adapter's "after" compares to.
        let initialEval = step == 0 ? try evalLoss() : nil
        while step < options.steps {
            let t0 = Date()
            // Every rank draws the step's N·A micro-batches (so all loaders stay at one position) and
            // computes on its own; the loss is scaled by the global count of predicted tokens.
            let global = (0..<parallel.size * options.gradAccumulation).map { _ in loader.next() }
            let micro = global.indices.filter(parallel.owns).map { global[$0] }
            let predictions = try parallel.sum(micro.reduce(0) { $0 + $1.predictionCount }, what: "the token count of step \(step + 1)")
            guard predictions == global.reduce(0, { $0 + $1.predictionCount }) else {
                throw QLoRAError(.invalidArgument, "step \(step + 1): the ranks drew different batches (is the data the same on every rank?)")
            }
            optimizer.zeroGrad()
            model.setStepSeed(options.seed &+ UInt64(step))
            var lossSum = 0.0
            if predictions > 0 {
                for b in micro { lossSum += model.forwardBackward(b, lossScale: 1 / Float(predictions)).sum }
            }
            try parallel.sumGradients(optimizer.parameters, step: step + 1)
            lossSum = try parallel.sum(lossSum, what: "the loss of step \(step + 1)")
            let norm = options.maxGradNorm.map { GradientClipping.clipGlobalNorm(optimizer.parameters, maxNorm: $0) }
                ?? GradientClipping.globalNorm(optimizer.parameters)
            let loss = predictions > 0 ? lossSum / Double(predictions) : 0
            if !loss.isFinite || !norm.isFinite {
                skipped += 1
                guard skipped <= options.skipNonfiniteSteps else {
                    let bad = NonFiniteScan.firstNonFinite(optimizer.parameters) ?? "the loss"
                    throw QLoRAError(.numeric, "step \(step + 1): non-finite \(loss.isFinite ? "gradient" : "loss") (first non-finite tensor: \(bad)); --skip-nonfinite-steps N tolerates a few")
                }
            } else {
                try optimizer.step(lrFactor: schedule.factor(at: step))
            }
            step += 1
            tokens += global.reduce(0) { $0 + $1.B * $1.T }
            trainSeconds += Date().timeIntervalSince(t0)
            parallel.recordStep(seconds: Date().timeIntervalSince(t0))
            var m = StepMetrics(step: step, loss: loss, lr: options.learningRate * schedule.factor(at: step - 1),
                                gradNorm: norm, tokensPerSecond: Double(global.count * options.batch * options.seq) / Date().timeIntervalSince(t0),
                                rssBytes: ProcessMemory.residentBytes, evalLoss: nil)
            if (options.evalEvery > 0 && step % options.evalEvery == 0) || step == options.steps {
                m.evalLoss = try evalLoss()
                if let e = m.evalLoss { bestEval = min(bestEval ?? e, e) }
            }
            m.time = Date().timeIntervalSince1970
            history.append(m)
            // A skipped non-finite step has no JSON form (NaN): its line is left out, as before.
            if let metricsFile, let line = try? JSONEncoder().encode(m) {
                try metricsFile.write([UInt8](line) + [0x0A])
                try metricsFile.flush()
            }
            if writes { progress(m) }
            let stop = try parallel.any(stopRequested(), what: "the stop check of step \(step)")
            if step % parallel.hashEvery == 0 || step == options.steps || stop {
                try parallel.checkSameWeights(optimizer.parameters, step: step)
            }
            if writes && ((options.checkpointEvery > 0 && step % options.checkpointEvery == 0) || step == options.steps || stop) {
                try saveCheckpoint()
            }
            if stop { break }
        }
        if writes { try model.adapter.save(to: output) }  // each file is written atomically
        let evals = history.compactMap(\.evalLoss)
        let summary = TrainSummary(
            steps: step, trainableParameters: model.trainableParameterCount,
            totalParameters: model.config.totalParameters + model.trainableParameterCount,
            tokensPerSecond: Double(tokens) / max(trainSeconds, 1e-9),
            peakRSSBytes: ProcessMemory.peakResidentBytes, initialEvalLoss: initialEval, finalEvalLoss: evals.last, bestEvalLoss: evals.min() ?? bestEval,
            finalTrainLoss: history.last?.loss ?? 0, adapter: output, seconds: Date().timeIntervalSince(start),
            optimizerResidentBytes: optimizer.memoryStats.peakResidentBytes, optimizerSpilledBytes: optimizer.memoryStats.spilledBytes,
            computeDType: model.weights.computeDType.rawValue, kernelPath: kernelPath)
        guard writes else { return summary }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicOutput.write([UInt8](try enc.encode(summary)), to: output + "/summary.json")
        try AtomicOutput.write(LossCurve.svg(history), to: output + "/loss.svg")
        return summary
    }

    /// The kernels this run's products run on (recorded in checkpoints and summary.json).
    var kernelPath: KernelPath { KernelPath.running(model.weights.computeDType) }

    func saveCheckpoint() throws {
        try store.save(optimizer: optimizer, step: step, schedulerStep: step, rngs: [:], dataPosition: loader.position,
                       computeDType: model.weights.computeDType.rawValue, kernelPath: kernelPath, extraFiles: { dir in try self.model.adapter.save(to: dir) })
    }
}
