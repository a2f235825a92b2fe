import QLoRACore

/// Fine-tuning methods `qlora memplan --method` plans for.
public enum TuningMethod: String, CaseIterable, Sendable, Codable {
    /// Frozen NF4 base (+ double quant) with LoRA adapters (Dettmers et al. 2023, arXiv 2305.14314).
    case qlora
    /// Frozen 16-bit (or f32) base with LoRA adapters (Hu et al. 2021, arXiv 2106.09685).
    case lora
    /// Every weight trained.
    case full
    /// Trainable virtual-token embeddings prepended to the input (Lester et al. 2021).
    case promptTuning = "prompt-tuning"
    /// Trainable per-layer key/value prefixes (Li & Liang 2021); PEFT forbids checkpointing with it.
    case prefixTuning = "prefix-tuning"

    public var usesLoRA: Bool { self == .qlora || self == .lora }
    public var usesVirtualTokens: Bool { self == .promptTuning || self == .prefixTuning }
}

/// Optimizers and the state they keep per trainable parameter.
public enum OptimizerKind: String, CaseIterable, Sendable, Codable {
    /// AdamW with 32-bit m and v: 8 bytes per parameter.
    case adamw
    /// bitsandbytes 8-bit blockwise AdamW: 2 bytes + 2 f32 absmax per 256 (≈2.03 B); tensors under
    /// 4096 elements keep 32-bit state.
    case adamw8bit
    /// Lion: one 32-bit momentum, 4 bytes per parameter.
    case lion
}

/// The dtype AdamW's m and v (Lion's momentum) are kept in.
public enum OptimizerStateDType: String, CaseIterable, Sendable, Codable {
    /// 32-bit state whatever the parameter dtype: bitsandbytes' 32-bit optimizers (the QLoRA recipe's
    /// `paged_adamw_32bit`), or torch.optim over f32 parameters.
    case f32
    /// The parameter's own dtype: `torch.optim.AdamW` creates its state with `zeros_like(param)`, so
    /// bf16 adapters get bf16 m and v (answer.ai's `train.py` and torchtune's recipes train bf16
    /// adapters with torch.optim.AdamW). 2 × the parameter bytes for AdamW, 1 × for Lion.
    case param
}

/// Which GPU training stack the plan models: the stacks differ in what the loss keeps alive.
public enum TrainingStack: String, CaseIterable, Sendable, Codable {
    /// transformers + PEFT + bitsandbytes: full (B, T, V) logits upcast to f32 for the loss; every
    /// linear quantized; LoRA dropout as configured.
    case hf
    /// torchtune: chunked cross-entropy (bf16 logits, one f32 chunk at a time), only LoRA-targeted
    /// linears quantized (the rest stay bf16), no LoRA dropout in its recipes.
    case torchtune
    /// LitGPT: chunked cross-entropy without compile (bf16 logits chunks and each chunk's f32
    /// log-softmax saved), every linear quantized by bitsandbytes, LoRA dropout as configured, q/k/v
    /// in one fused linear; its published resource tables ran PyTorch 2.1.
    case litgpt

    /// Whether the loss is computed in chunks rather than over full f32 (B, T, V) logits.
    public var chunksLoss: Bool { self != .hf }

    /// torchtune compiles its chunked cross-entropy (the README's numbers have compile on): each
    /// chunk's f32 upcast stays inside the fused kernel; only the chunk's c-byte gradient is written.
    public var compilesLoss: Bool { self == .torchtune }

    /// LitGPT's q, k and v are one linear (`attn`) with one LoRA dropout on its input; PEFT and
    /// torchtune wrap q, k and v separately, one dropout each.
    public var fusesQKV: Bool { self == .litgpt }

    /// PyTorch before 2.2 saved `mean()`'s input for its backward (fixed by pytorch#109935, 2.2): the
    /// RMSNorm's f32 x² is kept beside its f32 input. LitGPT's resource tables ran PyTorch 2.1.
    public var normKeepsSquare: Bool { self == .litgpt }

    /// Whether FSDP manages the 4-bit quantization constants. bitsandbytes keeps them in each
    /// `Params4bit.quant_state`, which is not a parameter or buffer, so FSDP neither shards nor
    /// offloads them (every GPU holds all of them); torchao's NF4Tensor carries them inside the
    /// parameter, so torchtune's FSDP shards them with it.
    public var shardsQuantConstants: Bool { self == .torchtune }
}

/// The dtype the forward and backward compute in: the engine's own `ComputeDType` (QLoRACore), so
/// that the planner and the trainer read one enum. A plan needs a resolved value (not `auto`).
extension ComputeDType {
    public var storage: StorageType { self == .bf16 ? .bf16 : .f32 }
    public var bytes: Int { self == .bf16 ? 2 : 4 }
}

/// Which engine the plan is for.
public enum DeviceKind: String, CaseIterable, Sendable, Codable {
    /// PyTorch + bitsandbytes + PEFT on CUDA, as the published measurements ran.
    case gpu
    /// This project's f32 CPU trainer (`qlora train`), planned from its own buffer table.
    case cpu
}

/// The memory the plan must fit into, per device.
public struct PlanBudget: Sendable {
    public var bytes: Int
    /// How the budget was chosen: `rtx3090 (23.70 GiB usable)`, `--budget 24GB`, `this machine's RAM`.
    public var label: String
    /// Set when the budget is a GPU preset (the recommendations then name other presets).
    public var gpu: GPUSpec?

    public init(bytes: Int, label: String, gpu: GPUSpec? = nil) {
        self.bytes = bytes
        self.label = label
        self.gpu = gpu
    }

    public static func of(_ gpu: GPUSpec) -> PlanBudget {
        PlanBudget(bytes: gpu.usableBytes,
                   label: "\(gpu.name) (\(ByteCount.format(gpu.usableBytes)) usable, sold as \(gpu.marketed))",
                   gpu: gpu)
    }
}

/// Everything one plan depends on. Defaults are the QLoRA paper's Guanaco settings:
/// r 64 on all linears, NF4 + double quant, bf16 compute, seq 512, batch 1, checkpointing on.
public struct PlanRequest: Sendable {
    public var model: PlannedModel
    public var device: DeviceKind = .gpu
    /// Per-device budget; nil plans without a verdict.
    public var budget: PlanBudget?
    public var method: TuningMethod = .qlora
    public var rank = 64
    public var targets: LoRATargets = .all
    public var sequenceLength = 512
    public var batchSize = 1
    public var gradientCheckpointing = true
    public var optimizer: OptimizerKind = .adamw
    /// AdamW / Lion state dtype (GPU plans; the CPU trainer keeps f32 state).
    public var optimizerState: OptimizerStateDType = .f32
    public var paged = false
    public var doubleQuant = true
    public var computeDType: ComputeDType = .bf16
    /// Data-parallel ranks with fully sharded weights and optimizer state (FSDP-QLoRA).
    public var gpuCount = 1
    /// CPU data parallelism (`mpirun -np N qlora train`): ranks, each planned here as one process.
    public var ranks = 1
    /// CPU plans: the trainer's worker threads (`qlora train --threads`, per rank). Attention's backward holds
    /// one scratch slice per thread, so those rows scale with it.
    public var threads = 2
    /// Prompt- and prefix-tuning virtual tokens.
    public var virtualTokens = 20
    /// DoRA on the LoRA adapters (Liu et al. 2024, arXiv 2402.09353): a magnitude vector per adapted
    /// linear, and the row norms of W0 + s·B·A recomputed every step.
    public var dora = false
    /// Prefix tuning with PEFT's reparameterization MLP: its hidden width (encoder_hidden_size).
    public var prefixProjectionHidden: Int?
    /// LoRA dropout > 0 (the QLoRA recipes use 0.05–0.1); on GPU each dropped input is a new tensor.
    public var loraDropout = true
    /// GPU plans: the training stack whose loss and quantization the plan follows.
    public var stack: TrainingStack = .hf
    /// Prompt and prefix tuning: the frozen base is NF4 (a quantized checkpoint, as `qlora train`
    /// runs over `qlora quantize` output) rather than 16-/32-bit. Always true for QLoRA.
    public var nf4BasePromptLearning = false
    /// GPU plans: FSDP's CPU offload (`CPUOffload(offload_params=True)`), as answer.ai ran
    /// Llama-2-70B QLoRA on 2 × 3090: every parameter (the NF4 base included), its gradient and the
    /// optimizer state live in host RAM and the optimizer steps there; each layer is brought to the
    /// device for its use, the current and the prefetched next one.
    public var offloadBase = false
    /// Whether the base linears are NF4.
    public var quantizedBase: Bool { method == .qlora || (method.usesVirtualTokens && nf4BasePromptLearning) }
    /// CPU trainer: storage of embeddings / lm_head. `qlora train` keeps them as the checkpoint stores
    /// them: bf16 for a QLoRA base (what `qlora quantize` writes), f32 for a Float32 (LoRA) base.
    public var cpuEmbeddingDType: StorageType { quantizedBase ? .bf16 : .f32 }

    public init(model: PlannedModel) {
        self.model = model
    }

    /// Rejects impossible requests with a one-line reason.
    public func validate() throws {
        func need(_ ok: Bool, _ why: @autoclosure () -> String) throws {
            if !ok { throw QLoRAError.invalid(why()) }
        }
        try need(sequenceLength >= 1, "--seq \(sequenceLength): must be at least 1")
        try need(sequenceLength <= 1 << 24, "--seq \(sequenceLength): too large")
        try need(batchSize >= 1, "--batch \(batchSize): must be at least 1")
        try need(batchSize <= 1 << 20, "--batch \(batchSize): too large")
        try need((1...4096).contains(gpuCount), "--gpus \(gpuCount): must be in 1...4096")
        if let budget { try need(budget.bytes > 0, "budget must be positive") }
        if method.usesLoRA {
            try need(rank >= 1, "--rank \(rank): must be at least 1")
            try need(!targets.projections.isEmpty, "--targets: no module selected")
            let config = model.config
            for p in targets.projections {
                let (out, inp) = ModelDims.projectionShape(p, config)
                try need(rank <= min(out, inp),
                         "--rank \(rank) is larger than \(p.moduleName)'s smaller dimension " +
                         "\(min(out, inp)) (\(out) × \(inp)); LoRA needs r ≤ min(out, in)")
            }
        }
        if method.usesVirtualTokens {
            try need(virtualTokens >= 1, "--virtual-tokens \(virtualTokens): must be at least 1")
            try need(virtualTokens <= 1 << 16, "--virtual-tokens \(virtualTokens): too large")
        }
        try need(!(device == .gpu && method == .prefixTuning && gradientCheckpointing),
                 "prefix tuning does not work with gradient checkpointing in PEFT (it refuses it): " +
                 "use --grad-ckpt off (this project's CPU trainer supports it: --device cpu)")
        try need(!dora || method.usesLoRA, "--dora applies to lora and qlora")
        if let h = prefixProjectionHidden {
            try need(method == .prefixTuning, "--prefix-projection applies to prefix-tuning")
            try need((1...1 << 20).contains(h), "--prefix-projection \(h): must be in 1…1048576")
        }
        try need(!offloadBase || (device == .gpu && quantizedBase), "--offload-base applies to an NF4 base on a GPU")
        try need(optimizerState == .f32 || (optimizer != .adamw8bit && device == .gpu),
                 "--optimizer-state param applies to adamw and lion on GPU plans (8-bit AdamW keeps its own state)")
        if device == .gpu {
            try need(computeDType != .auto, "--compute-dtype auto applies to --device cpu (GPU plans: bf16 or f32)")
        }
        try need(computeDType != .int8, ComputeDType.int8TrainingRefusal)
        if device == .cpu {
            try need(gpuCount == 1, "--gpus applies to GPU plans, not --device cpu")
            try need(computeDType != .auto, "--compute-dtype auto must be resolved before planning")
        }
        try need((1...4096).contains(ranks), "--ranks \(ranks): must be in 1...4096")
        try need((1...4096).contains(threads), "--threads \(threads): must be in 1...4096")
        try need(ranks == 1 || device == .cpu, "--ranks plans CPU data parallelism (--device cpu); GPUs use --gpus")
    }
}
