import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora train --dora` on the tiny GGUF fixture: PEFT's DoRA files, the loss goes down, the
/// magnitudes train, and a resumed run (checkpoints carry m and its optimizer state) is bit-identical.
@Suite(.serialized) struct DoRATrainCommandTests {
    @Test func trainsSavesAndResumesBitIdentically() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let whole = try TrainCommandTests.train(dir.path + "/whole", data, ["--dora", "--lora-dropout", "0.1"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let cfg = try String(contentsOfFile: dir.path + "/whole/adapter_config.json", encoding: .utf8)
        #expect(cfg.contains("\"use_dora\": true") && cfg.contains("\"peft_type\": \"LORA\""))
        let file = try SafetensorsFile(path: dir.path + "/whole/adapter_model.safetensors")
        let magnitudes = file.names.filter { $0.hasSuffix(".lora_magnitude_vector") }
        #expect(magnitudes.count == 14)   // 2 layers × 7 linears
        #expect(file.tensors["base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector"]?.shape == [96])
        // m started at ‖W‖_row and trained: it no longer equals the base's row norms.
        let base = try LlamaWeights.load(from: GGUFCheckpoint(path: TrainCommandTests.tiny), linears: .qlora, embeddings: .bf16)
        let norms = LoRALinear.baseRowNormsSquared(base.layers[0].up, threads: 1).map { Float($0.squareRoot()) }
        let m = try file.floats("base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector")
        let moved = zip(m, norms).map { abs($0 - $1) / $1 }.max()!
        #expect(moved > 1e-4 && moved < 0.5, "largest relative change of m \(moved)")
        let rows = try String(contentsOfFile: dir.path + "/whole/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let first = try #require(rows.first?["loss"] as? Double), last = try #require(rows.last?["loss"] as? Double)
        #expect(last < first, "loss \(first) → \(last)")
        // Half the run, then --resume to the end: the same adapter, byte for byte.
        let half = try TrainCommandTests.train(dir.path + "/half", data, ["--dora", "--lora-dropout", "0.1", "--steps", "6",
                                                                          "--checkpoint-every", "3"])
        #expect(half.status == 0, "\(half.stderr)")
        let ckpt = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/half/checkpoints").filter { $0.hasPrefix("checkpoint-") }
        let params = try SafetensorsFile(path: dir.path + "/half/checkpoints/" + ckpt.sorted().last! + "/parameters.safetensors")
        #expect(params.names.filter { $0.hasSuffix("lora_magnitude_vector") }.count == 14)
        let resumed = try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, "--resume", dir.path + "/half",
                                         "--steps", "12", "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8",
                                         "--lr", "1e-2", "--seed", "3", "--threads", "2", "--dora", "--lora-dropout", "0.1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try TrainCommandTests.adapterBytes(dir.path + "/half") == (try TrainCommandTests.adapterBytes(dir.path + "/whole")))
    }
}
