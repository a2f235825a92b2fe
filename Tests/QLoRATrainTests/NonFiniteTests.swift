import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// A non-finite loss or gradient stops training with the step and the first tensor that went
/// non-finite; `skipNonfiniteSteps` tolerates that many bad steps and no more. Faults are injected
/// into an adapter weight between steps (through the progress callback).
@Suite(.serialized) struct NonFiniteTests {
    /// The base weights of the last trainer made (for faults in the data path).
    nonisolated(unsafe) static var lastWeights: LlamaWeights?

    static func trainer(_ dir: TempDir, steps: Int, skip: Int) throws -> Trainer {
        let config = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2, vocab: 300)
        try TinyCheckpoint.write(to: dir.path + "/model", config: config, seed: 11)
        let weights = try LlamaWeights.load(from: HFCheckpoint(directory: dir.path + "/model"), linears: .qlora, embeddings: .f32)
        lastWeights = weights
        let model = try LoRALlama(weights: weights, lora: LoRAConfig(r: 4, loraAlpha: 8), threads: 2,
                                  gradientCheckpointing: false, seed: 3)
        let data = try TrainingData.load(train: DataFiles.write(DataFiles.alpaca(20), in: dir), tokenizer: ByteTokenizer.make())
        var options = TrainOptions()
        options.steps = steps
        options.batch = 2
        options.seq = 32
        options.skipNonfiniteSteps = skip
        try FileManager.default.createDirectory(atPath: dir.path + "/run", withIntermediateDirectories: true)
        return try Trainer(model: model, data: data, options: options, output: dir.path + "/run", padID: ByteTokenizer.imEnd)
    }

    static func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    @Test func aNaNAdapterWeightStopsTrainingAtThatStepNamingTheWeight() throws {
        let dir = TempDir()
        let trainer = try Self.trainer(dir, steps: 5, skip: 0)
        let victim = trainer.model.adapter.parameters[5]  // layer 0 v_proj's B
        let m = Self.message {
            _ = try trainer.run { m in if m.step == 2 { victim.value[7] = .nan } }
        }
        #expect(m == "step 3: non-finite loss (first non-finite tensor: parameter '\(victim.name)'); --skip-nonfinite-steps N tolerates a few")
        #expect(trainer.history.map(\.step) == [1, 2])
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/run/adapter_model.safetensors"))
    }

    /// A NaN in the data path (here: the embedding rows the batch looks up) with every parameter
    /// finite: the loss goes NaN and the tensor named is the first gradient backward produced,
    /// the last layer's down_proj B.
    @Test func aNaNInTheDataPathNamesTheFirstBadGradient() throws {
        let dir = TempDir()
        let trainer = try Self.trainer(dir, steps: 4, skip: 0)
        let embed = try #require(Self.lastWeights?.embed)
        #expect(embed.storage == .f32)
        let m = Self.message {
            _ = try trainer.run { m in
                guard m.step == 1 else { return }
                let values = UnsafeMutableRawPointer(mutating: embed.ref.data).assumingMemoryBound(to: Float.self)
                for i in 0..<(embed.rows * embed.cols) { values[i] = .nan }
            }
        }
        let last = trainer.model.adapter.parameters.last!
        #expect(last.name == "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")
        #expect(m == "step 2: non-finite loss (first non-finite tensor: gradient of '\(last.name)'); --skip-nonfinite-steps N tolerates a few")
    }

    @Test func anInfiniteWeightIsNamedToo() throws {
        let dir = TempDir()
        let trainer = try Self.trainer(dir, steps: 3, skip: 0)
        let victim = trainer.model.adapter.parameters.last!  // the last layer's down_proj B
        let m = Self.message {
            _ = try trainer.run { m in if m.step == 1 { victim.value[0] = -.infinity } }
        }
        #expect(m?.hasPrefix("step 2: non-finite ") == true, "\(m ?? "finished")")
        #expect(m?.contains("(first non-finite tensor: parameter '\(victim.name)')") == true, "\(m ?? "finished")")
    }

    @Test func badStepsAreSkippedUpToTheLimit() throws {
        // One bad step (3) with a tolerance of 1: skipped, the run finishes, the weights stay finite.
        let dir = TempDir()
        let trainer = try Self.trainer(dir, steps: 5, skip: 1)
        let victim = trainer.model.adapter.parameters[5]
        var saved: Float = 0
        let summary = try trainer.run { m in
            if m.step == 2 { saved = victim.value[7]; victim.value[7] = .nan }
            if m.step == 3 { victim.value[7] = saved }
        }
        #expect(summary.steps == 5)
        #expect(trainer.history[2].loss.isNaN)
        #expect(trainer.history.enumerated().allSatisfy { $0.offset == 2 || $0.element.loss.isFinite })
        #expect(trainer.model.adapter.parameters.allSatisfy { p in (0..<p.count).allSatisfy { p.value[$0].isFinite } })
        // A second bad step (5) exceeds it.
        let dir2 = TempDir()
        let strict = try Self.trainer(dir2, steps: 6, skip: 1)
        let v2 = strict.model.adapter.parameters[5]
        var kept: Float = 0
        let m = Self.message {
            _ = try strict.run { m in
                if m.step == 2 || m.step == 4 { kept = v2.value[7]; v2.value[7] = .nan }
                if m.step == 3 { v2.value[7] = kept }
            }
        }
        #expect(m?.hasPrefix("step 5: non-finite loss (first non-finite tensor: parameter '\(v2.name)')") == true, "\(m ?? "finished")")
    }
}
