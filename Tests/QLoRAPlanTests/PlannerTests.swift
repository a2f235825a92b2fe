import QLoRA
import Testing

/// Properties of the planner that hold for any model: bits per parameter, monotonicity, what each
/// option moves, sharding, and refusals.
@Suite struct PlannerTests {
    static func plan(_ model: String = "llama-2-7b", _ change: (inout PlanRequest) -> Void = { _ in })
        throws -> MemoryPlan {
        var r = PlanRequest(model: try ModelSource.resolve(model))
        r.budget = PlanBudget(bytes: 24 << 30, label: "test")
        change(&r)
        return try Planner.plan(r)
    }

    @Test func nf4CostsFourPointOneTwoSevenBitsWithDoubleQuantAndFourPointFiveWithout() throws {
        let linear = Double(try ModelSource.resolve("llama-1-65b").config.linearParameters)
        let dq = try Self.plan("llama-1-65b")
        let plain = try Self.plan("llama-1-65b") { $0.doubleQuant = false }
        #expect(abs(Double(dq.quantizedLinearBytes) * 8 / linear - 4.127) < 0.001)
        #expect(abs(Double(plain.quantizedLinearBytes) * 8 / linear - 4.5) < 0.001)
        // The paper: double quantization saves "approximately 3 GB for a 65B model".
        let saved = Double(plain.quantizedLinearBytes - dq.quantizedLinearBytes) / 1e9
        #expect(saved > 2.8 && saved < 3.2)
    }

    @Test func qloraQuantizesEveryLinearEvenWhenOnlySomeCarryAdapters() throws {
        let all = try Self.plan()
        let qv = try Self.plan { $0.targets = try! LoRATargets.parse("q_proj,v_proj") }
        #expect(all.table.bytes(of: .quantizedWeights) == qv.table.bytes(of: .quantizedWeights))
        #expect(qv.table.bytes(of: .trainableParameters) < all.table.bytes(of: .trainableParameters))
    }

    @Test func pagingMovesOnlyTensorsOfAtLeast1e5ElementsAndKeepsAPrefetchOnDevice() throws {
        let big = try Self.plan { $0.paged = true }
        #expect(big.table.bytes(of: .optimizerPaged) > 0)
        #expect(big.table.placement(of: .optimizerPaged) == .host)
        // Largest LoRA tensor of Llama-2-7B: gate/up B or down A = 11008 × 64, AdamW 8 B each.
        #expect(big.table.buffer(named: "optim.prefetch")?.bytes == 11008 * 64 * 8)
        let tiny = try Self.plan("smollm2-135m") { $0.paged = true; $0.rank = 8 }
        #expect(tiny.offDeviceBytes == 0, "576×8 LoRA tensors are below bitsandbytes' paging threshold")
    }

    @Test func eightBitAdamCostsAbout2Point03BytesPerParameter() throws {
        let p = try Self.plan { $0.optimizer = .adamw8bit }
        let params = Double(p.table.bytes(of: .trainableParameters) / 2)
        let perParam = Double(p.table.bytes(of: .optimizerResident)) / params
        #expect(abs(perParam - 2.03) < 0.01)
        let lion = try Self.plan { $0.optimizer = .lion }
        #expect(Double(lion.table.bytes(of: .optimizerResident)) / params == 4)
    }

    @Test func checkpointingKeepsOneHiddenStatePerLayerInsteadOfEveryLayersActivations() throws {
        let on = try Self.plan()
        let off = try Self.plan { $0.gradientCheckpointing = false }
        let c = on.request.model.config
        #expect(on.table.bytes(of: .activationCheckpoints) == 2 * c.numHiddenLayers * 512 * c.hiddenSize)
        #expect(off.table.bytes(of: .activationCheckpoints) == 0)
        let perLayerOn = on.table.bytes(of: .layerActivations)
        let perLayerOff = off.table.bytes(of: .layerActivations)
        // Without checkpointing every layer's set is kept (+ the final norm, the same in both).
        let finalNorm = 4 * 512 * c.hiddenSize
        #expect(perLayerOff - finalNorm == c.numHiddenLayers * (perLayerOn - finalNorm))
    }

    @Test(arguments: ["llama-2-7b", "llama-3.1-8b", "qwen2.5-0.5b", "mixtral-8x7b"])
    func totalGrowsWithSequenceAndBatch(_ model: String) throws {
        var last = 0
        for seq in [128, 512, 2048] {
            let p = try Self.plan(model) { $0.sequenceLength = seq }
            // The peak may be the optimizer step, which no sequence length changes: the end of the
            // forward (checkpoints + logits) is the phase that must grow.
            let forwardEnd = p.table.deviceBytes(in: .forwardEnd)
            #expect(forwardEnd > last)
            #expect(p.deviceBytes >= forwardEnd)
            last = forwardEnd
        }
        let b1 = try Self.plan(model) { $0.batchSize = 1 }
        let b4 = try Self.plan(model) { $0.batchSize = 4 }
        #expect(b4.table.deviceBytes(in: .forwardEnd) > b1.table.deviceBytes(in: .forwardEnd))
    }

    @Test func logitsScaleWithVocabTimesTokens() throws {
        let p = try Self.plan("llama-3.1-8b") { $0.sequenceLength = 2048; $0.batchSize = 2 }
        // bf16 logits + three f32 (B, T, V) tensors = 14 bytes per token per vocab entry.
        #expect(p.table.bytes(of: .logitsAndLoss) == 14 * 2 * 2048 * 128256)
    }

    @Test func shardingDividesWeightsAndStateButNotActivations() throws {
        let one = try Self.plan("llama-2-70b")
        let two = try Self.plan("llama-2-70b") { $0.gpuCount = 2 }
        let w1 = one.table.bytes(of: .quantizedWeights)
        // Each of the 7 NF4 buffers is halved and rounded up on its own.
        #expect(abs(2 * two.table.bytes(of: .quantizedWeights) - w1) <= 7)
        #expect(two.table.bytes(of: .layerActivations) == one.table.bytes(of: .layerActivations))
        #expect(two.table.bytes(of: .gatheredWeights) > 0)
        #expect(one.table.bytes(of: .gatheredWeights) == 0)
    }

    @Test func fullFineTuningOf65BNeedsTheTwelveBytesPerParameterThePaperQuotes() throws {
        // QLoRA §1: regular 16-bit fine-tuning of LLaMA 65B needs "more than 780 GB".
        let p = try Self.plan("llama-1-65b") { $0.method = .full }
        let stateBytes = p.table.bytes(of: .unquantizedWeights) + p.table.bytes(of: .gradients)
            + p.table.bytes(of: .optimizerResident)
            - (p.table.buffer(named: "optim.step_temporaries")?.bytes ?? 0)   // alive only during the step
        #expect(Double(stateBytes) / 1e9 > 780)
        #expect(Double(stateBytes) / 1e9 < 790)
    }

    @Test func prefixTuningTrainsLayersTimesTwoTimesKVWidthPerVirtualToken() throws {
        let p = try Self.plan("llama-3.1-8b") {
            $0.method = .prefixTuning; $0.gradientCheckpointing = false; $0.virtualTokens = 30
        }
        #expect(p.table.buffer(named: "prefix.kv")?.elements == 30 * 32 * 2 * 1024)
        #expect(p.table.buffer(named: "prefix.kv")?.dtype == .f32)
    }

    @Test func prefixProjectionTrainsTheEmbeddingAndTheTwoLayerMLPInsteadOfTheTable() throws {
        let p = try Self.plan("llama-3.1-8b") {
            $0.method = .prefixTuning; $0.gradientCheckpointing = false; $0.virtualTokens = 30
            $0.prefixProjectionHidden = 512
        }
        #expect(p.table.buffer(named: "prefix.kv") == nil)
        let kvd = 1024, width = 32 * 2 * kvd
        #expect(p.table.bytes(of: .trainableParameters) == 4 * (30 * kvd + 512 * kvd + 512 + width * 512 + width))
    }

    @Test func doraAddsOneMagnitudePerOutputFeatureAndTheWeightNormScratch() throws {
        let lora = try Self.plan { $0.rank = 16 }
        let dora = try Self.plan { $0.rank = 16; $0.dora = true }
        // LLaMA-2-7B: per layer Σout = 4·4096 (q, k, v, o) + 2·11008 (gate, up) + 4096 (down).
        let outs = 32 * (4 * 4096 + 2 * 11008 + 4096)
        #expect(dora.table.bytes(of: .trainableParameters) - lora.table.bytes(of: .trainableParameters) == 2 * outs)
        #expect(dora.table.bytes(of: .dequantScratch) == 4 * lora.table.bytes(of: .dequantScratch))
        #expect(dora.deviceBytes > lora.deviceBytes)
    }

    @Test func cpuPlansAllowPrefixTuningWithCheckpointingButGPUPlansDoNot() throws {
        #expect(throws: QLoRAError.self) {
            try Self.plan { $0.method = .prefixTuning; $0.gradientCheckpointing = true }
        }
        _ = try Self.plan("smollm2-135m") {
            $0.method = .prefixTuning; $0.gradientCheckpointing = true; $0.device = .cpu; $0.computeDType = .f32
        }
    }

    @Test func promptTuningLengthensTheSequenceByTheVirtualTokens() throws {
        let p = try Self.plan { $0.method = .promptTuning; $0.virtualTokens = 20 }
        #expect(p.table.buffer(named: "logits")?.shape == [1, 532, 32000])
    }

    @Test func impossibleRequestsAreRefusedWithOneLine() throws {
        let cases: [(inout PlanRequest) -> Void] = [
            { $0.sequenceLength = -5 }, { $0.batchSize = 0 }, { $0.rank = 5000 }, { $0.rank = 0 },
            { $0.gpuCount = 0 }, { $0.method = .prefixTuning; $0.gradientCheckpointing = true },
            { $0.device = .cpu; $0.computeDType = .auto }, { $0.method = .promptTuning; $0.virtualTokens = -1 },
            { $0.method = .promptTuning; $0.dora = true }, { $0.prefixProjectionHidden = 64 },
        ]
        for change in cases {
            do {
                _ = try Self.plan("llama-2-7b", change)
                Issue.record("expected a refusal")
            } catch let error as QLoRAError {
                #expect(!error.message.isEmpty && !error.message.contains("\n"))
            }
        }
    }

    @Test func rankAboveTheSmallestTargetedDimensionNamesThatModule() throws {
        // SmolLM2-135M k_proj is 192 × 576.
        do {
            _ = try Self.plan("smollm2-135m") { $0.rank = 200 }
            Issue.record("expected a refusal")
        } catch let error as QLoRAError {
            #expect(error.message.contains("k_proj") && error.message.contains("192"))
        }
        #expect(try Self.plan("smollm2-135m") { $0.rank = 200; $0.targets = .init(projections: [.gate]) }
            .deviceBytes > 0)
    }
}
