import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora merge`: the merged checkpoint computes what base + adapter computes (LoRA and DoRA), the
/// re-quantized NF4 checkpoint and its report, GGUF export read back by our own engine, and bad input.
@Suite(.serialized) struct MergeCommandTests {
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }

    static func logits(_ model: LlamaModel) -> [Float] {
        model.logits(tokens: [1, 5, 9, 3, 7, 2, 11, 4], B: 1, T: 8)
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max()! }

    /// A short training run on the tiny model (LoRA or DoRA) in `dir`/run.
    static func trainedAdapter(_ dir: TempDir, dora: Bool) throws -> String {
        let data = try TrainCommandTests.data(dir)
        let t = try TrainCommandTests.train(dir.path + "/run", data, ["--steps", "4"] + (dora ? ["--dora"] : []))
        #expect(t.status == 0, "\(t.stderr)")
        return dir.path + "/run"
    }

    /// Base + adapter, as generate/eval run it.
    static func basePlusAdapter(_ adapter: String) throws -> LlamaModel {
        let base = try LlamaWeights.load(from: GGUFCheckpoint(path: tiny), linears: .qlora, embeddings: .bf16)
        let model = try LlamaModel(weights: base, threads: 2)
        try AdapterAttachment.attach(adapter, to: model)
        return model
    }

    static func tempLeftovers(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(".tmp-") }
    }

    @Test(arguments: [("f32", Float(1e-4), false), ("f16", Float(1e-2), false), ("f32", Float(1e-4), true),
                      ("f16", Float(1e-2), true)])
    func mergedModelMatchesBasePlusAdapter(_ c: (String, Float, Bool)) throws {
        let dir = TempDir()
        let run = try Self.trainedAdapter(dir, dora: c.2)
        if c.2 {
            let cfg = try String(contentsOfFile: run + "/adapter_config.json", encoding: .utf8)
            #expect(cfg.contains("\"use_dora\": true"))
        }
        let m = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", run, "-o", dir.path + "/merged", "--dtype", c.0])
        #expect(m.status == 0, "\(m.stderr)")
        let withAdapter = try Self.basePlusAdapter(run)
        let merged = try LlamaModel(weights: LlamaWeights.load(from: HFCheckpoint(directory: dir.path + "/merged"),
                                                               linears: .float32, embeddings: .f32), threads: 2)
        let a = Self.logits(withAdapter), b = Self.logits(merged)
        let worst = Self.maxAbsDiff(a, b)
        #expect(worst <= c.1, "\(c.0) dora=\(c.2): max |Δ logits| \(worst)")
        // The adapter did something: without it the logits differ more than the tolerance.
        let base = try LlamaWeights.load(from: GGUFCheckpoint(path: Self.tiny), linears: .qlora, embeddings: .bf16)
        let plain = Self.logits(try LlamaModel(weights: base, threads: 2))
        #expect(Self.maxAbsDiff(plain, a) > 10 * c.1 || c.0 == "f16")
    }

    /// nf4: OUT is our 4-bit checkpoint (loads as one), the report names every quantized tensor with
    /// an error that is real and within NF4's range, and the held-out losses are both measured.
    @Test func nf4MergeReQuantizesAndReportsTheError() throws {
        let dir = TempDir()
        let run = try Self.trainedAdapter(dir, dora: true)
        let eval = try TrainCommandTests.data(dir)
        let out = dir.path + "/merged-nf4"
        let m = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", run, "-o", out, "--dtype", "nf4",
                                   "--eval-data", eval, "--seq", "16", "--threads", "2"])
        #expect(m.status == 0, "\(m.stderr)")
        #expect(m.stdout.contains("held-out loss"), "\(m.stdout)")
        let weights = try LlamaWeights.loadQuantized(directory: out)
        let config = weights.config
        let reportData = try Data(contentsOf: URL(fileURLWithPath: out + ".merge.json"))
        let report = try JSONDecoder().decode(MergeReport.self, from: reportData)
        #expect(report.useDoRA && report.quantType == "nf4" && report.blockSize == 64 && report.doubleQuant)
        #expect(report.tensors.count == 7 * config.numHiddenLayers)
        for t in report.tensors {
            // NF4 on these weights: a few percent of the RMS, never zero, never above ~20%.
            #expect(t.relativeRMSError > 1e-3 && t.relativeRMSError < 0.2, "\(t.name): \(t.relativeRMSError)")
            #expect(t.maxError >= t.rmsError)
            #expect((t.adapterDeltaRMS ?? 0) > 0 && (t.errorToDelta ?? 0) > 0, "\(t.name)")
        }
        #expect(report.meanErrorToDelta != nil)
        let e = try #require(report.evaluation)
        #expect(e.predictions > 100 && e.lossBasePlusAdapter.isFinite && e.lossMerged.isFinite)
        #expect(abs(e.delta - (e.lossMerged - e.lossBasePlusAdapter)) < 1e-12)
        // The merged 4-bit model still computes roughly what base + adapter computes.
        let a = Self.logits(try Self.basePlusAdapter(run)), b = Self.logits(try LlamaModel(weights: weights, threads: 2))
        let spread = a.max()! - a.min()!
        #expect(Self.maxAbsDiff(a, b) < 0.2 * spread, "max |Δ| \(Self.maxAbsDiff(a, b)), logit spread \(spread)")
    }

    /// GGUF export read back by our own GGUF reader (which undoes the Q/K permutation): f16 within 1e-2
    /// of the merged Float32 model. Q8_0 stores each block of 32 weights as round(w/d)·d with
    /// d = max|w|/127, so each weight moves by at most max|w|/254 (0.4% of its block's largest); the
    /// bound below is 5% of the logits' spread, and the measured gap is printed.
    @Test(arguments: [("f16", Float(1e-2)), ("q8_0", Float(-1))])
    func ggufExportLoadsBackWithMatchingLogits(_ c: (String, Float)) throws {
        let dir = TempDir()
        let run = try Self.trainedAdapter(dir, dora: true)
        let out = dir.path + "/merged.gguf"
        let m = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", run, "-o", out, "--format", "gguf", "--dtype", c.0])
        #expect(m.status == 0, "\(m.stderr)")
        let gguf = try GGUFFile(path: out)
        let source = try GGUFFile(path: Self.tiny)
        #expect(gguf.version == 3)
        #expect(gguf.metadata["general.architecture"] == .string("llama"))
        #expect(gguf.metadata["general.file_type"] == .uint32(c.0 == "f16" ? 1 : 7))
        #expect(gguf.metadata["tokenizer.ggml.tokens"] == source.metadata["tokenizer.ggml.tokens"])
        #expect(gguf.metadata["tokenizer.ggml.merges"] == source.metadata["tokenizer.ggml.merges"])
        let q = try gguf.tensor("blk.0.attn_q.weight")
        #expect(q.type.name == (c.0 == "f16" ? "F16" : "Q8_0"))
        #expect(try gguf.tensor("blk.0.attn_norm.weight").type.name == "F32")
        #expect(try gguf.tensor("token_embd.weight").shape == source.tensor("token_embd.weight").shape)

        _ = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", run, "-o", dir.path + "/f32"])
        let reference = Self.logits(try LlamaModel(weights: LlamaWeights.load(
            from: HFCheckpoint(directory: dir.path + "/f32"), linears: .float32, embeddings: .f32), threads: 2))
        let back = Self.logits(try LlamaModel(weights: LlamaWeights.load(
            from: GGUFCheckpoint(path: out), linears: .float32, embeddings: .f32), threads: 2))
        let gap = Self.maxAbsDiff(reference, back)
        let spread = reference.max()! - reference.min()!
        let bound = c.1 > 0 ? c.1 : 0.01 * spread
        print("gguf \(c.0): max |Δ logits| \(gap) vs the merged f32 model (logit spread \(spread), bound \(bound))")
        #expect(gap <= bound, "\(c.0): max |Δ logits| \(gap) > \(bound)")
        #expect(gap > 0 || c.0 == "f16")
    }

    static func writeConfig(_ dir: String, _ json: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try json.write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
    }

    @Test func badAdaptersAreOneLineErrorsAndLeaveNothing() throws {
        let dir = TempDir()
        try Self.writeConfig(dir.path + "/prompt", #"{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 8}"#)
        try Self.writeConfig(dir.path + "/prefix", #"{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 8}"#)
        try Self.writeConfig(dir.path + "/ia3", #"{"peft_type": "IA3", "target_modules": ["q_proj"]}"#)
        // Adapters for another base: hidden 48 where the tiny model has 64; a layer the tiny model
        // (2 layers) does not have.
        let lora = try LoRAConfig(r: 2, loraAlpha: 4, targets: [.q])
        let wrong = PEFTLoRAAdapter(config: lora, modules: ["model.layers.0.self_attn.q_proj": LoRAModuleWeights(
            inFeatures: 48, outFeatures: 48, a: [Float](repeating: 0.1, count: 96), b: [Float](repeating: 0.1, count: 96))])
        try wrong.write(to: dir.path + "/other-base")
        let deep = PEFTLoRAAdapter(config: lora, modules: ["model.layers.40.self_attn.q_proj": LoRAModuleWeights(
            inFeatures: 64, outFeatures: 64, a: [Float](repeating: 0.1, count: 128), b: [Float](repeating: 0.1, count: 128))])
        try deep.write(to: dir.path + "/other-depth")
        let cases: [(String, [String], String)] = [
            ("prompt", [], "nothing to merge"),
            ("prefix", ["--dtype", "nf4"], "nothing to merge"),
            ("ia3", [], "unknown peft_type 'IA3'"),
            ("other-base", [], "has shape"),
            ("other-depth", ["--format", "gguf", "--dtype", "q8_0"], "is for layer 40"),
        ]
        for (name, extra, message) in cases {
            let out = dir.path + "/out-" + name + (extra.contains("gguf") ? ".gguf" : "")
            let r = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path + "/" + name, "-o", out] + extra)
            #expect(r.status != 0, "\(name) accepted")
            #expect(r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(name): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(name) left \(out)")
        }
        #expect(Self.tempLeftovers(dir.path).isEmpty)
    }

    /// A merge that fails while writing (a non-finite merged weight) leaves no OUT and no temporary
    /// file, in every output form.
    @Test(arguments: [["--dtype", "f16"], ["--dtype", "nf4", "--no-eval"], ["--format", "gguf", "--dtype", "q8_0"]])
    func failedMergeLeavesNoPartialOutput(_ extra: [String]) throws {
        let dir = TempDir()
        let run = try Self.trainedAdapter(dir, dora: false)
        var adapter = try PEFTLoRAAdapter.read(from: run, model: try GGUFCheckpoint(path: Self.tiny).config)
        let last = adapter.modules.keys.sorted().last!
        adapter.modules[last]!.b[0] = .nan
        try adapter.write(to: run)
        let out = dir.path + "/bad" + (extra.contains("gguf") ? ".gguf" : "")
        let r = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", run, "-o", out] + extra)
        #expect(r.status != 0)
        #expect(r.stderr.contains("non-finite") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: MergeReport.path(for: out)))
        #expect(Self.tempLeftovers(dir.path).isEmpty, "\(Self.tempLeftovers(dir.path))")
    }

    @Test func badOptionsAreRefused() throws {
        let dir = TempDir()
        let r = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path, "-o", dir.path + "/m", "--dtype", "q8_0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--dtype") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let g = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path, "-o", dir.path + "/m.gguf",
                                   "--format", "gguf", "--dtype", "bf16"])
        #expect(g.status != 0 && g.stderr.contains("f16 or q8_0"), "\(g.stderr)")
        let r2 = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path + "/none", "-o", dir.path + "/m"])
        #expect(r2.status != 0)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/m"))
    }
}
