import ArgumentParser
import Foundation
import QLoRA

struct MemplanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memplan",
        abstract: "Plan the memory of a fine-tune: will it fit, and if not, what will?",
        discussion: """
            Reasons from the model's config alone (no weights are loaded). GPU plans model \
            PyTorch + bitsandbytes + PEFT on CUDA; --device cpu plans this project's f32 trainer from \
            the buffer table it allocates. Sizes: GB = 10^9 bytes, GiB = 2^30. See docs/memplan.md.
            """
    )

    @Option(help: "Preset (llama-2-70b), size alias (70b), config.json, checkpoint directory or .gguf.")
    var model: String?

    @Flag(help: "List the model and GPU presets.")
    var list = false

    @Option(help: "GPU preset whose usable memory is the budget (see --list).")
    var gpu: String?

    @Option(parsing: .unconditional, help: "Budget per device with a unit: 24GB (10^9 bytes) or 24GiB (2^30 bytes).")
    var budget: String?

    @Option(help: "gpu (PyTorch/bitsandbytes on CUDA) or cpu (this project's trainer; budget = RAM).")
    var device: DeviceKind = .gpu

    @Option(help: "Fine-tuning method.")
    var method: TuningMethod = .qlora

    @Option(parsing: .unconditional, help: "LoRA rank r.")
    var rank: Int = 64

    @Option(help: "LoRA targets: all, attn, mlp, qv, or a list such as q_proj,v_proj.")
    var targets: String = "all"

    @Option(parsing: .unconditional, help: "Sequence length in tokens.")
    var seq: Int = 512

    @Option(parsing: .unconditional, help: "Micro-batch size per device.")
    var batch: Int = 1

    @Option(name: .customLong("grad-ckpt"), help: "Gradient checkpointing (default on; off for prefix-tuning).")
    var gradCkpt: OnOff?

    @Option(help: "Optimizer.")
    var optimizer: OptimizerKind = .adamw

    @Option(name: .customLong("optimizer-state"), help: "AdamW/Lion state dtype (GPU plans): f32 (bitsandbytes' 32-bit optimizers, the QLoRA recipe) or param (torch.optim.AdamW keeps m and v in the parameter's dtype: bf16 adapters, bf16 state).")
    var optimizerState: OptimizerStateDType = .f32

    @Flag(help: "Paged optimizer: state of large tensors is kept off the device.")
    var paged = false

    @Flag(inversion: .prefixedNo, help: "Double quantization of the NF4 constants (QLoRA).")
    var doubleQuant = true

    @Option(name: .customLong("compute-dtype"),
            help: "Compute dtype (default bf16 on GPU, f32 on CPU; --device cpu also takes bf16 and auto, resolved on this machine as `qlora train` would).")
    var computeDType: ComputeDType?

    @Option(parsing: .unconditional, help: "GPUs with FSDP sharding of weights and optimizer state.")
    var gpus: Int = 1

    @Option(parsing: .unconditional, help: "CPU data-parallel ranks (mpirun -np N qlora train): plan one rank's memory.")
    var ranks: Int = 1

    @Option(parsing: .unconditional, help: "--device cpu: the trainer's worker threads per rank, as `qlora train --threads` (default: this machine's cores); attention's per-thread scratch follows it.")
    var threads: Int?

    @Option(name: .customLong("virtual-tokens"), parsing: .unconditional, help: "Virtual tokens for prompt-/prefix-tuning (default 20).")
    var virtualTokens: Int?

    @Flag(help: "DoRA on the LoRA adapters (a magnitude vector per adapted linear).")
    var dora = false

    @Option(name: .customLong("prefix-projection"), parsing: .unconditional,
            help: "Prefix tuning with PEFT's reparameterization MLP of this hidden width.")
    var prefixProjection: Int?

    @Option(help: "GPU training stack: hf (transformers + PEFT + bitsandbytes), torchtune (chunked cross-entropy, only LoRA-targeted linears in NF4, no LoRA dropout) or litgpt (chunked cross-entropy).")
    var stack: TrainingStack = .hf

    @Option(name: .customLong("base"), help: "Prompt/prefix tuning: the frozen base's linears, nf4 or dense (default dense on GPU; nf4 on CPU, as qlora train runs over a quantized checkpoint).")
    var base: String?

    @Flag(name: .customLong("offload-base"), help: "FSDP CPU offload: the NF4 base, adapters, gradients and optimizer state in host RAM; 2 layers at a time on the GPU.")
    var offloadBase = false

    @Flag(help: "Print the plan as JSON (schema in docs/memplan.md).")
    var json = false

    @Flag(help: "Plan every method side by side for the same model and budget.")
    var compare = false

    /// The library request these options describe.
    func planRequest() throws -> PlanRequest {
        guard let model else { throw QLoRAError.invalid("--model is required (or use --list)") }
        if virtualTokens != nil && !method.usesVirtualTokens && !compare {
            throw QLoRAError.invalid("--virtual-tokens applies to prompt-tuning and prefix-tuning only")
        }
        var request = PlanRequest(model: try ModelSource.resolve(model))
        request.device = device
        request.budget = try BudgetChoice.resolve(gpu: gpu, budget: budget, device: device)
        request.method = method
        request.rank = rank
        request.targets = try LoRATargets.parse(targets)
        request.sequenceLength = seq
        request.batchSize = batch
        request.gradientCheckpointing = gradCkpt?.isOn ?? (method != .prefixTuning || device == .cpu)
        request.optimizer = optimizer
        request.optimizerState = optimizerState
        request.paged = paged
        request.doubleQuant = doubleQuant
        request.computeDType = computeDType ?? (device == .cpu ? .f32 : .bf16)
        if device == .cpu && request.computeDType == .auto { request.computeDType = ComputeDTypeReport.resolve(.auto) }
        request.gpuCount = gpus
        request.ranks = ranks
        if threads != nil && device != .cpu { throw QLoRAError.invalid("--threads applies to --device cpu (the CPU trainer's threads)") }
        request.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        request.virtualTokens = virtualTokens ?? 20
        request.dora = dora
        request.prefixProjectionHidden = prefixProjection
        if stack != .hf && device == .cpu { throw QLoRAError.invalid("--stack applies to GPU plans, not --device cpu") }
        request.stack = stack
        request.offloadBase = offloadBase
        request.loraDropout = stack != .torchtune
        switch base {
        case nil: request.nf4BasePromptLearning = device == .cpu
        case "nf4": request.nf4BasePromptLearning = true
        case "dense": request.nf4BasePromptLearning = false
        case let other?: throw QLoRAError.invalid("--base \(other): must be nf4 or dense")
        }
        if base != nil && !method.usesVirtualTokens {
            throw QLoRAError.invalid("--base applies to prompt-tuning and prefix-tuning (qlora is always nf4, lora dense)")
        }
        return request
    }

    func run() throws {
        if list {
            print(CatalogListing.text(), terminator: "")
            return
        }
        let request = try planRequest()
        if compare {
            let comparison = try MethodComparison(request)
            print(json ? comparison.json() : comparison.text(), terminator: "")
            return
        }
        let plan = try Planner.plan(request)
        let recommendations = Recommender.recommend(for: plan)
        print(json ? PlanJSON(plan, recommendations: recommendations).encoded()
                   : Report.text(plan, recommendations: recommendations), terminator: "")
    }
}
