import Foundation
import QLoRA
import Testing

/// The plan's peak against the measured peaks of `shared/reference/memory-anchors.md` ("measured
/// anchors"): one test per anchor, each configuration as published. GiB = 2^30, GB = 10^9.
/// Anchors the plan does not yet reach within ±10% are recorded as known issues with the reason
/// (docs/memplan.md, "Measured anchors"), so a change that fixes or worsens them shows.
@Suite struct MeasuredAnchorTests {
    static let gib = Double(1 << 30)

    static func request(_ model: String, rank: Int, targets: String, seq: Int, batch: Int, ckpt: Bool,
                        gpus: Int = 1, stack: TrainingStack = .hf, offload: Bool = false) throws -> PlanRequest {
        var r = PlanRequest(model: try ModelSource.resolve(model))
        r.rank = rank
        r.targets = try LoRATargets.parse(targets)
        r.sequenceLength = seq
        r.batchSize = batch
        r.gradientCheckpointing = ckpt
        r.gpuCount = gpus
        r.stack = stack
        r.loraDropout = stack != .torchtune
        r.offloadBase = offload
        return r
    }

    /// Relative deviation of the plan's peak from `measured` bytes.
    static func deviation(_ r: PlanRequest, measured: Double) throws -> Double {
        Double(try Planner.plan(r).deviceBytes) / measured - 1
    }

    /// answer.ai fsdp_qlora: Llama-2-7B, r 64 all linears, batch 8, context 2048, checkpointing, AdamW,
    /// bf16, one GPU: 20.94 GiB. The summed plan said 24.44 GiB (+17%).
    @Test func answerAILlama2_7BBatch8() throws {
        let r = try Self.request("llama-2-7b", rank: 64, targets: "all", seq: 2048, batch: 8, ckpt: true)
        let plan = try Planner.plan(r)
        let dev = Double(plan.deviceBytes) / (20.94 * Self.gib) - 1
        #expect(abs(dev) <= 0.10, "deviation \(dev)")
        #expect(plan.peakPhase == .layerBackward)
        // The peak is a phase, not the sum of every buffer.
        #expect(plan.deviceBytes < plan.table.bytes(at: .device))
    }

    /// answer.ai: Llama-2-7B FSDP over 2 GPUs, batch 1, context 2048: 5.21 GiB per GPU.
    @Test func answerAIFSDP7BContext2048() throws {
        let r = try Self.request("llama-2-7b", rank: 64, targets: "all", seq: 2048, batch: 1, ckpt: true, gpus: 2)
        let dev = try Self.deviation(r, measured: 5.21 * Self.gib)
        #expect(abs(dev) <= 0.10, "deviation \(dev)")
    }

    /// answer.ai: the same at context 512: 4.98 GiB per GPU. The plan's fixed part is lower than the
    /// measured run's (4.04 GiB): the measured peak barely moves from 512 to 2048 tokens (+0.23 GiB
    /// against our +1.2), which points at FSDP buffers the plan does not model.
    @Test func answerAIFSDP7BContext512() throws {
        let r = try Self.request("llama-2-7b", rank: 64, targets: "all", seq: 512, batch: 1, ckpt: true, gpus: 2)
        let dev = try Self.deviation(r, measured: 4.98 * Self.gib)
        #expect(dev < 0 && dev > -0.25, "deviation \(dev)")
        withKnownIssue("FSDP fixed buffers at short context are not modelled (docs/memplan.md)") {
            #expect(abs(dev) <= 0.10, "deviation \(dev)")
        }
    }

    /// answer.ai: Llama-2-70B, FSDP + CPU offload over 2 × 3090, batch 2, context 2048: 14.92 GiB per
    /// GPU. The plan follows PyTorch's documented CPUOffload(offload_params=True) — parameters,
    /// gradients and optimizer state in host RAM — and lands at 11.64 GiB: the measured reserved
    /// memory is higher by what FSDP's gathers and the allocator keep, which the plan does not model.
    @Test func answerAI70BOffloadTwo3090s() throws {
        let r = try Self.request("llama-2-70b", rank: 64, targets: "all", seq: 2048, batch: 2, ckpt: true, gpus: 2,
                                 offload: true)
        let dev = try Self.deviation(r, measured: 14.92 * Self.gib)
        #expect(dev < 0 && dev > -0.25, "deviation \(dev)")
        withKnownIssue("FSDP CPU offload's device-side buffers are under-planned (docs/memplan.md)") {
            #expect(abs(dev) <= 0.10, "deviation \(dev)")
        }
        var fits = r
        fits.budget = .of(try GPUCatalog.named("rtx3090"))
        #expect(try Planner.plan(fits).fits == true)
    }

    /// LitGPT resource tables: LoRA r 8 on q, v over bnb NF4 + DQ, micro-batch 1, the longest Alpaca
    /// sample (1,304 tokens), no checkpointing: Llama-2-7B 13.84 GB, Llama-2-13B 22.55 GB allocated.
    @Test(arguments: [("llama-2-7b", 13.84e9), ("llama-2-13b", 22.55e9)])
    func litGPTLoRAOverNF4(_ model: String, measured: Double) throws {
        let r = try Self.request(model, rank: 8, targets: "q,v", seq: 1304, batch: 1, ckpt: false, stack: .litgpt)
        let dev = try Self.deviation(r, measured: measured)
        #expect(abs(dev) <= 0.10, "\(model): deviation \(dev)")
    }

    /// torchtune README: Llama-3.1-8B QLoRA on one 4090, batch 2, packed 2048, r 8 on q/v/o + MLP,
    /// checkpointing, chunked cross-entropy: 7.4 GiB. The HF-stack plan said 16.8 GiB.
    @Test func torchtuneLlama31_8B() throws {
        let r = try Self.request("llama-3.1-8b", rank: 8, targets: "q,v,o,gate,up,down", seq: 2048, batch: 2, ckpt: true,
                                 stack: .torchtune)
        let dev = try Self.deviation(r, measured: 7.4 * Self.gib)
        var hf = r
        hf.stack = .hf
        hf.loraDropout = true
        // Chunking the loss is what separates the stacks: the HF plan is far above.
        #expect(try Planner.plan(hf).deviceBytes > Planner.plan(r).deviceBytes + (4 << 30))
        #expect(dev > 0 && dev < 0.30, "deviation \(dev)")
        withKnownIssue("torchtune's 7.4 GiB is below the weights + checkpoints + bf16 logits we count (docs/memplan.md)") {
            #expect(abs(dev) <= 0.10, "deviation \(dev)")
        }
    }
}

/// Phases, stacks, NF4 prompt learning and the no-budget matrix.
@Suite struct PlanPhaseTests {
    @Test func everyPhaseIsAtMostThePeakAndThePeakIsOne() throws {
        let r = try MeasuredAnchorTests.request("llama-2-7b", rank: 64, targets: "all", seq: 2048, batch: 8, ckpt: true)
        let plan = try Planner.plan(r)
        #expect(plan.phaseBytes.count == Phase.allCases.count)
        #expect(plan.phaseBytes.allSatisfy { $0.bytes <= plan.deviceBytes })
        #expect(plan.phaseBytes.contains { $0.phase == plan.peakPhase && $0.bytes == plan.deviceBytes })
        // The loss's full-vocabulary tensors and a layer's workspace are never counted together.
        let forward = plan.phaseBytes.first { $0.phase == .forwardEnd }!.bytes
        let backward = plan.phaseBytes.first { $0.phase == .layerBackward }!.bytes
        let sum = plan.table.bytes(at: .device)
        #expect(forward < sum && backward < sum)
    }

    @Test func cpuPlanHoldsEveryBufferInEveryPhase() throws {
        var r = try MeasuredAnchorTests.request("smollm2-135m", rank: 8, targets: "all", seq: 256, batch: 2, ckpt: true)
        r.device = .cpu
        r.computeDType = .f32
        let plan = try Planner.plan(r)
        #expect(plan.deviceBytes == plan.table.bytes(at: .device))
        #expect(plan.phaseBytes.allSatisfy { $0.bytes == plan.deviceBytes })
    }

    /// Prompt and prefix tuning over a quantized checkpoint (what `qlora train` runs by default) plan
    /// NF4 linears, not Float32 ones.
    @Test(arguments: [TuningMethod.promptTuning, .prefixTuning])
    func promptLearningOverNF4PlansNF4Linears(_ method: TuningMethod) throws {
        var r = try MeasuredAnchorTests.request("smollm2-135m", rank: 8, targets: "all", seq: 256, batch: 2, ckpt: true)
        r.device = .cpu
        r.computeDType = .f32
        r.method = method
        r.nf4BasePromptLearning = true
        let nf4 = try Planner.plan(r)
        #expect(nf4.table.bytes(of: .quantizedWeights) > 0)
        #expect(nf4.table.buffer(named: "base.q.weight") == nil)
        r.nf4BasePromptLearning = false
        let dense = try Planner.plan(r)
        #expect(dense.table.bytes(of: .quantizedWeights) == 0)
        // f32 linears are 8× the NF4 codes: the dense plan is the larger one by about 7/8 of them.
        let linearF32 = dense.table.bytes(of: .unquantizedWeights) - nf4.table.bytes(of: .unquantizedWeights)
        #expect(linearF32 > 7 * nf4.table.bytes(of: .quantizedWeights))
        #expect(nf4.deviceBytes < dense.deviceBytes)
    }

    @Test func torchtuneKeepsUntargetedLinearsDense() throws {
        let r = try MeasuredAnchorTests.request("llama-3.1-8b", rank: 8, targets: "q,v,o,gate,up,down", seq: 2048,
                                                batch: 2, ckpt: true, stack: .torchtune)
        let plan = try Planner.plan(r)
        #expect(plan.table.buffer(named: "base.k.weight")?.dtype == .bf16)
        #expect(plan.table.buffer(named: "base.k.nf4") == nil)
        #expect(plan.table.buffer(named: "base.q.nf4") != nil)
        #expect(plan.table.buffer(named: "loss.log_softmax") == nil)
    }

    /// `qlora memplan --model 70b` without a budget: a verdict per common budget, and what makes the
    /// tightest one fit, offloading included.
    @Test func seventyBWithoutBudgetAnswersPerCommonBudget() throws {
        var r = PlanRequest(model: try ModelSource.resolve("70b"))
        r.budget = nil
        let matrix = BudgetMatrix(r)
        let labels = matrix.entries.map(\.label)
        #expect(labels.contains { $0.contains("24 GB") } && labels.contains { $0.contains("48 GB") }
                && labels.contains { $0.contains("80 GB") })
        #expect(matrix.entries.first { $0.label.contains("24 GB") }?.fits == false)
        #expect(matrix.entries.first { $0.label.contains("80 GB") }?.fits == true)
        let tightest = try #require(matrix.tightest)
        #expect(tightest.label.contains("24 GB"))
        let offload = tightest.fixes.filter { $0.kind == .offloadBase }
        #expect(!offload.isEmpty)
        #expect(offload.contains { $0.fits == true })
        let text = Report.text(try Planner.plan(r), recommendations: [])
        #expect(text.contains("against the common budgets") && text.contains("--offload-base"))
        #expect(!text.contains("no budget given (use"))
    }
}
