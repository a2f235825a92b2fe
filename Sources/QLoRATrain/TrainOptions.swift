import QLoRAKernels

/// Everything a training run is configured with (the `qlora train` flags).
public struct TrainOptions: Codable, Sendable {
    public var steps = 100
    public var batch = 4
    public var seq = 256
    public var gradAccumulation = 1
    public var learningRate = 2e-4
    public var weightDecay = 0.0
    public var warmupSteps = 0
    public var schedule: LRSchedule.Kind = .constant
    public var optimizer = "adamw"
    public var loraPlusRatio: Double?
    public var maxGradNorm: Double? = 1.0
    public var seed: UInt64 = 0
    public var layout: BatchLayout = .packing
    public var evalEvery = 0
    public var checkpointEvery = 0
    public var keepCheckpoints = 2
    public var optimizerMemoryMB: Int?
    public var gradientCheckpointing = false
    public var skipNonfiniteSteps = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batch, seq, gradAccumulation = "grad_accumulation", learningRate = "learning_rate"
        case weightDecay = "weight_decay", warmupSteps = "warmup_steps", schedule, optimizer
        case loraPlusRatio = "loraplus_ratio", maxGradNorm = "max_grad_norm", seed, layout
        case evalEvery = "eval_every", checkpointEvery = "checkpoint_every", keepCheckpoints = "keep_checkpoints"
        case optimizerMemoryMB = "optimizer_memory_mb", gradientCheckpointing = "gradient_checkpointing"
        case skipNonfiniteSteps = "skip_nonfinite_steps"
    }
}

/// One line of metrics.jsonl.
public struct StepMetrics: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var lr: Double
    public var gradNorm: Double
    public var tokensPerSecond: Double
    public var rssBytes: Int
    public var evalLoss: Double?
    /// When the step ended (Unix seconds); absent in files of older runs.
    public var time: Double? = nil

    enum CodingKeys: String, CodingKey {
        case step, loss, lr, gradNorm = "grad_norm", tokensPerSecond = "tokens_per_second", rssBytes = "rss_bytes"
        case evalLoss = "eval_loss", time
    }
}

/// summary.json.
public struct TrainSummary: Codable, Sendable {
    public var steps: Int
    public var trainableParameters: Int
    public var totalParameters: Int
    public var tokensPerSecond: Double
    public var peakRSSBytes: Int
    /// Held-out loss before the first step (nil when resumed or without eval data).
    public var initialEvalLoss: Double?
    public var finalEvalLoss: Double?
    public var bestEvalLoss: Double?
    public var finalTrainLoss: Double
    public var adapter: String
    public var seconds: Double
    public var optimizerResidentBytes: Int
    public var optimizerSpilledBytes: Int
    /// The frozen products' compute type the run ended in (`f32`, `bf16`); absent in older summaries.
    public var computeDType: String?
    /// The kernels the products ran on (ISA, bf16 variant, OpenBLAS core); absent in older summaries.
    public var kernelPath: KernelPath?

    enum CodingKeys: String, CodingKey {
        case steps, trainableParameters = "trainable_parameters", totalParameters = "total_parameters"
        case tokensPerSecond = "tokens_per_second", peakRSSBytes = "peak_rss_bytes", finalEvalLoss = "final_eval_loss"
        case initialEvalLoss = "initial_eval_loss"
        case bestEvalLoss = "best_eval_loss", finalTrainLoss = "final_train_loss", adapter, seconds
        case optimizerResidentBytes = "optimizer_resident_bytes", optimizerSpilledBytes = "optimizer_spilled_bytes"
        case computeDType = "compute_dtype", kernelPath = "kernel_path"
    }
}
