import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora merge`: the merged checkpoint computes what base + adapter computes.
@Suite(.serialized) struct MergeCommandTests {
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }

    static func logits(_ model: LlamaModel) -> [Float] {
        model.logits(tokens: [1, 5, 9, 3, 7, 2, 11, 4], B: 1, T: 8)
    }

    @Test(arguments: [("f32", Float(1e-4)), ("f16", Float(1e-2))])
    func mergedModelMatchesBasePlusAdapter(_ c: (String, Float)) throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let t = try TrainCommandTests.train(dir.path + "/run", data, ["--steps", "4"])
        #expect(t.status == 0, "\(t.stderr)")
        let m = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path + "/run", "-o", dir.path + "/merged",
                                   "--dtype", c.0])
        #expect(m.status == 0, "\(m.stderr)")
        // Base + adapter, as generate/eval run it.
        let base = try LlamaWeights.load(from: GGUFCheckpoint(path: Self.tiny), linears: .qlora, embeddings: .bf16)
        let withAdapter = try LlamaModel(weights: base, threads: 2)
        try AdapterAttachment.attach(dir.path + "/run", to: withAdapter)
        let merged = try LlamaModel(weights: LlamaWeights.load(from: HFCheckpoint(directory: dir.path + "/merged"),
                                                               linears: .float32, embeddings: .f32), threads: 2)
        let a = Self.logits(withAdapter), b = Self.logits(merged)
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        #expect(worst <= c.1, "\(c.0): max |Δ logits| \(worst)")
        // The adapter did something: without it the logits differ more than the tolerance.
        let plain = Self.logits(try LlamaModel(weights: base, threads: 2))
        #expect(zip(plain, a).map { abs($0 - $1) }.max()! > 10 * c.1 || c.0 == "f16")
    }

    @Test func mergeRefusesUnsupportedDTypeAndLeavesNothing() throws {
        let dir = TempDir()
        let r = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path, "-o", dir.path + "/m", "--dtype", "nf4"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--dtype") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let r2 = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path + "/none", "-o", dir.path + "/m"])
        #expect(r2.status != 0)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/m"))
    }
}
