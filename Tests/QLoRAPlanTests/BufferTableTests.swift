import QLoRA
import Testing

/// The CPU buffer table is the trainer's allocation plan: names, shapes and arena layout.
@Suite struct BufferTableTests {
    static func cpuPlan(_ change: (inout PlanRequest) -> Void = { _ in }) throws -> MemoryPlan {
        var r = PlanRequest(model: try ModelSource.resolve("smollm2-135m"))
        r.device = .cpu
        r.computeDType = .f32
        r.rank = 8
        r.sequenceLength = 256
        r.batchSize = 4
        r.budget = PlanBudget(bytes: 8 << 30, label: "test")
        change(&r)
        return try Planner.plan(r)
    }

    @Test func nf4BuffersPackTwoCodesPerByte() {
        let b = PlannedBuffer("x", .quantizedWeights, shape: [3, 5], axes: ["a", "b"], .nf4, note: "")
        #expect(b.bytes == 8)  // 15 codes → 7.5 bytes → 8
        let sharded = PlannedBuffer("y", .quantizedWeights, shape: [10], axes: ["a"], .f32, shards: 3, note: "")
        #expect(sharded.bytes == 14)  // 40 bytes over 3 ranks, rounded up
    }

    @Test func cpuTableHasTheTrainersNamedBuffersWithTheirShapes() throws {
        let p = try Self.cpuPlan()
        let t = p.table
        // f32 logits of one 256-row chunk, overwritten by their gradient (LoRALlama.logitsChunk).
        #expect(t.buffer(named: "act.logits")?.shape == [256, 49152])
        #expect(t.buffer(named: "act.logits")?.dtype == .f32)
        #expect(t.buffer(named: "act.dlogits") == nil)
        // LoRA A (L, r, in) and B (L, out, r) in f32, with grads and AdamW m+v in the same layout.
        #expect(t.buffer(named: "lora.k.A")?.shape == [30, 8, 576])
        #expect(t.buffer(named: "lora.k.B")?.shape == [30, 192, 8])
        #expect(t.buffer(named: "lora.k.B")?.dtype == .f32)
        let adapterBytes = t.bytes(of: .trainableParameters)
        #expect(t.bytes(of: .gradients) == adapterBytes)
        #expect(t.bytes(of: .optimizerResident) == 2 * adapterBytes)
        // NF4 + double quant linears, bf16 tied embeddings (as `qlora quantize` stores them), the
        // residual stream at every layer boundary.
        #expect(t.buffer(named: "base.down.nf4")?.shape == [30, 576, 1536])
        #expect(t.buffer(named: "base.down.qabsmax")?.shape == [30, 576 * 1536 / 64])
        #expect(t.buffer(named: "embed.tokens")?.dtype == .bf16)
        #expect(t.buffer(named: "lm_head") == nil)
        #expect(t.buffer(named: "act.residual")?.shape == [31, 4, 256, 576])
        #expect(t.buffer(named: "act.residual")?.component == .activationCheckpoints)
        #expect(t.buffer(named: "act.att_probs")?.shape == [1, 4, 9, 256, 256])
    }

    /// Attention's per-thread scratch follows the plan's thread count (`qlora train --threads`), and the bf16 row
    /// is what the op allocates per thread: `BF16Products.scratchFloats` of its widest product, also where T < HS.
    @Test(arguments: [256, 16]) func attentionScratchFollowsTheThreadCount(_ seq: Int) throws {
        let HS = 64  // SmolLM2-135M: 9 heads of 64
        // dV, dK and dQ (T × HS, K = T without a prefix) and dP (T × T, K = HS).
        let perThread = max(BF16Products.scratchFloats(M: seq, N: HS, K: seq), BF16Products.scratchFloats(M: seq, N: seq, K: HS))
        var bytes: [Int] = []
        for threads in [1, 4] {
            let p = try Self.cpuPlan { $0.computeDType = .bf16; $0.threads = threads; $0.sequenceLength = seq }
            let pairs = try #require(p.table.buffer(named: "attention.bf16_pairs"))
            #expect(pairs.shape == [threads, perThread])
            #expect(p.table.buffer(named: "grad.att_probs")?.shape == [threads, seq, seq])
            bytes.append(pairs.bytes)
        }
        #expect(bytes[1] == 4 * bytes[0])
    }

    @Test func withoutCheckpointingEveryLayerKeepsItsActivations() throws {
        let p = try Self.cpuPlan { $0.gradientCheckpointing = false }
        #expect(p.table.buffer(named: "act.residual")?.component == .layerActivations)
        #expect(p.table.buffer(named: "act.swiglu") == nil)  // recomputed in backward, not stored
        #expect(p.table.buffer(named: "act.gate")?.shape.first == 30)
    }

    @Test func arenaLayoutIsAlignedNonOverlappingAndCoversEveryDeviceBuffer() throws {
        let p = try Self.cpuPlan()
        let layout = p.table.arenaLayout(alignment: 64)
        var end = 0
        for entry in layout.entries {
            #expect(entry.offset % 64 == 0, "\(entry.name)")
            #expect(entry.offset >= end, "\(entry.name) overlaps")
            end = entry.offset + entry.bytes
        }
        #expect(layout.totalBytes == end)
        let trainerBytes = p.table.buffers.filter { $0.placement == .device && $0.component.isTrainerBuffer }
            .reduce(0) { $0 + $1.bytes }
        #expect(layout.totalBytes >= trainerBytes)
        #expect(layout.totalBytes < trainerBytes + 64 * layout.entries.count)
        #expect(layout.offset(of: "runtime.process") == nil, "the process baseline is not in the arena")
    }

    @Test func pagedStateOnCPUIsFileBackedAndOutsideTheArena() throws {
        let p = try Self.cpuPlan { $0.rank = 64; $0.paged = true; $0.model = try! ModelSource.resolve("smollm2-1.7b") }
        #expect(p.table.placement(of: .optimizerPaged) == .file)
        #expect(p.offDeviceBytes > 0)
        #expect(p.table.arenaLayout().offset(of: "optim.state.paged") == nil)
    }

    @Test func totalIsTheSumOfDeviceComponentsAtThePeak() throws {
        for p in [try Self.cpuPlan(), try IssueAcceptanceTests.paperSettings("llama-1-33b", gpu: "rtx3090",
                                                                            paged: true).planned()] {
            let sum = Component.allCases.filter { p.table.placement(of: $0) == .device }
                .reduce(0) { $0 + p.peakBytes(of: $1) }
            #expect(sum == p.deviceBytes)
            #expect(p.deviceBytes <= p.table.bytes(at: .device))
        }
    }
}

extension PlanRequest {
    func planned() throws -> MemoryPlan { try Planner.plan(self) }
}
