import QLoRA

/// One row of `qlora compare`: a fine-tuning method as `qlora train` runs it, and the same
/// configuration as `qlora memplan` plans it on a GPU.
struct ComparedMethod {
    /// Short id, also the run's directory name: `qlora-dora`.
    let id: String
    /// As people name it: `QLoRA + DoRA`.
    let title: String
    /// The base linears the method trains over.
    let base: BaseWeights
    /// `qlora train` arguments beyond the shared ones (model, data, steps, batch, seq, seed, threads).
    let trainArguments: [String]
    /// The memory planner's method.
    let planMethod: TuningMethod
    let dora: Bool
    let loraPlus: Bool

    /// Every method the comparison knows, in the order of the table.
    static func all(_ s: ComparisonSettings) -> [ComparedMethod] {
        let lora = ["--rank", "\(s.rank)", "--alpha", "\(2 * s.rank)", "--lr", "\(s.loraLR)"]
        let virtual = ["--virtual-tokens", "\(s.virtualTokens)"]
        return [
            ComparedMethod(id: "prompt-tuning", title: "Prompt tuning", base: .nf4,
                           trainArguments: ["--method", "prompt-tuning", "--init", s.initText.map { "text:" + $0 } ?? "vocab",
                                            "--lr", "\(s.promptLR)"] + virtual,
                           planMethod: .promptTuning, dora: false, loraPlus: false),
            ComparedMethod(id: "prefix-tuning", title: "Prefix tuning", base: .nf4,
                           trainArguments: ["--method", "prefix-tuning", "--init", s.initText.map { "text:" + $0 } ?? "random",
                                            "--lr", "\(s.prefixLR)"] + virtual,
                           planMethod: .prefixTuning, dora: false, loraPlus: false),
            ComparedMethod(id: "lora", title: "LoRA", base: .f32, trainArguments: lora,
                           planMethod: .lora, dora: false, loraPlus: false),
            ComparedMethod(id: "lora-plus", title: "LoRA+", base: .f32,
                           trainArguments: lora + ["--loraplus-ratio", "\(s.loraPlusRatio)"],
                           planMethod: .lora, dora: false, loraPlus: true),
            ComparedMethod(id: "qlora", title: "QLoRA", base: .nf4, trainArguments: lora,
                           planMethod: .qlora, dora: false, loraPlus: false),
            ComparedMethod(id: "qlora-dora", title: "QLoRA + DoRA", base: .nf4, trainArguments: lora + ["--dora"],
                           planMethod: .qlora, dora: true, loraPlus: false),
        ]
    }

    /// The memory plan of this method's configuration for another model on a GPU (bf16 compute,
    /// checkpointing on except for prefix tuning, which PEFT refuses to checkpoint).
    func gpuPlan(model: String, _ s: ComparisonSettings) throws -> MemoryPlan {
        var r = PlanRequest(model: try ModelSource.resolve(model))
        r.method = planMethod
        r.rank = s.rank
        r.sequenceLength = s.seq
        r.batchSize = s.batch
        r.virtualTokens = s.virtualTokens
        r.dora = dora
        r.gradientCheckpointing = planMethod != .prefixTuning
        r.loraDropout = true
        return try Planner.plan(r)
    }

    /// The plan of this run itself: this project's CPU trainer on the compared model.
    func cpuPlan(model: String, _ s: ComparisonSettings, gradientCheckpointing: Bool) throws -> MemoryPlan {
        var r = PlanRequest(model: try ModelSource.resolve(model))
        r.device = .cpu
        r.computeDType = .f32
        r.method = planMethod
        r.nf4BasePromptLearning = base == .nf4
        r.rank = s.rank
        r.sequenceLength = s.seq
        r.batchSize = s.batch
        r.virtualTokens = s.virtualTokens
        r.dora = dora
        r.gradientCheckpointing = gradientCheckpointing
        r.loraDropout = true
        r.threads = s.threads
        return try Planner.plan(r)
    }
}

/// What every compared run shares.
struct ComparisonSettings: Codable {
    var steps: Int
    var batch: Int
    var seq: Int
    var seed: UInt64
    var schedule: String
    var warmup: Int
    var rank: Int
    var loraLR: Double
    var loraPlusRatio: Double
    var virtualTokens: Int
    var promptLR: Double
    var prefixLR: Double
    var initText: String?
    var threads: Int

    enum CodingKeys: String, CodingKey {
        case steps, batch, seq, seed, schedule, warmup, rank, loraLR = "lora_lr", loraPlusRatio = "loraplus_ratio"
        case virtualTokens = "virtual_tokens", promptLR = "prompt_lr", prefixLR = "prefix_lr", initText = "init_text"
        case threads
    }
}
