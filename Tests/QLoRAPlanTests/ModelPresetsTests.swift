import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Presets against the derived counts in memory-anchors.md §4 (independent arithmetic):
/// total parameters, linear parameters, and LoRA r=64 on all seven linears.
@Suite struct ModelPresetsTests {
    /// The names the issue lists, spelled family-version-size.
    static let issueNames = [
        "llama-1-7b", "llama-1-13b", "llama-1-33b", "llama-1-65b", "llama-2-7b", "llama-2-13b", "llama-2-70b",
        "llama-3-8b", "llama-3-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mistral-7b",
        "mixtral-8x7b", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b",
        "qwen2.5-32b", "qwen2.5-72b", "smollm2-135m", "smollm2-360m", "smollm2-1.7b", "phi-3-mini",
    ]

    @Test(arguments: issueNames)
    func everyIssuePresetResolvesAndValidates(_ name: String) throws {
        let model = try ModelSource.resolve(name)
        #expect(model.name == name)
        #expect(model.family != nil)
        try model.config.validate()
    }

    /// (preset, total params in billions, linear params in billions, LoRA r64 params in millions),
    /// from the anchors' "Derived parameter counts" table.
    static let anchorCounts: [(String, Double, Double, Double)] = [
        ("llama-2-7b", 6.738, 6.476, 159.9), ("llama-2-13b", 13.016, 12.688, 250.3),
        ("llama-1-33b", 32.529, 32.102, 487.6), ("llama-1-65b", 65.286, 64.760, 799.5),
        ("llama-2-70b", 68.977, 68.451, 828.4), ("llama-3.1-8b", 8.030, 6.979, 167.8),
        ("llama-3.1-70b", 70.554, 68.451, 828.4), ("llama-3.1-405b", 405.853, 401.647, 2493.8),
        ("mistral-7b", 7.242, 6.979, 167.8), ("qwen2.5-0.5b", 0.494, 0.358, 35.2),
        ("qwen2.5-7b", 7.616, 6.525, 161.5), ("qwen2.5-14b", 14.770, 13.212, 275.3),
        ("qwen2.5-32b", 32.764, 31.206, 536.9), ("qwen2.5-72b", 72.706, 70.213, 842.1),
        ("smollm2-135m", 0.135, 0.106, 19.5), ("smollm2-360m", 0.362, 0.315, 34.7),
        ("smollm2-1.7b", 1.711, 1.611, 72.4),
        // The anchors' column counts r·(in+out) over seven separate linears (119.5M); Phi-3 stores q/k/v and
        // gate/up fused and PEFT (like `qlora train`) adapts each fused module with one A and one B:
        // 32·64·((3072 + 9216) + (3072 + 3072) + (3072 + 16384) + (8192 + 3072)) = 100.66M.
        ("phi-3-mini", 3.821, 3.624, 100.66),
    ]

    /// Phi-3's fused module names parse as the projections they hold, and the plan has one adapter per fused module.
    @Test func phi3FusedTargetsParseAndPlanOneAdapterPerFusedModule() throws {
        #expect(try LoRATargets.parse("qkv_proj,o_proj,gate_up_proj,down_proj") == .all)
        var request = PlanRequest(model: try ModelSource.resolve("phi-3-mini"))
        request.rank = 64
        request.targets = try LoRATargets.parse("qkv,gate_up")
        let names = try Planner.plan(request).table.buffers.map(\.name)
        #expect(names.contains { $0.hasPrefix("lora.qkv.") } && names.contains { $0.hasPrefix("lora.gate_up.") })
        #expect(!names.contains { $0.hasPrefix("lora.q.") || $0.hasPrefix("lora.up.") })
    }

    @Test(arguments: anchorCounts)
    func countsMatchTheAnchors(_ row: (String, Double, Double, Double)) throws {
        let (name, total, linear, lora) = row
        var request = PlanRequest(model: try ModelSource.resolve(name))
        request.rank = 64
        let plan = try Planner.plan(request)
        let config = request.model.config
        #expect(abs(Double(config.totalParameters) / 1e9 - total) < 0.0015 * max(1, total / 10))
        #expect(abs(Double(config.linearParameters) / 1e9 - linear) < 0.0015 * max(1, linear / 10))
        let trainable = plan.table.bytes(of: .trainableParameters) / 2  // bf16 adapters
        #expect(abs(Double(trainable) / 1e6 - lora) < 0.1, "\(name): \(trainable) LoRA params")
    }

    @Test(arguments: [("70b", "llama-2-70b"), ("7b", "llama-2-7b"), ("33b", "llama-1-33b"),
                      ("30b", "llama-1-33b"), ("8b", "llama-3.1-8b"), ("135m", "smollm2-135m")])
    func aliasesSayWhatTheyResolvedTo(_ alias: String, _ preset: String) throws {
        let model = try ModelSource.resolve(alias)
        #expect(model.name == preset)
        #expect(model.resolution?.contains("'\(alias)' resolved to \(preset)") == true)
    }

    @Test func aliasNamesTheOtherPresetsOfTheSameSize() throws {
        let note = try ModelSource.resolve("70b").resolution ?? ""
        #expect(note.contains("llama-3-70b") && note.contains("llama-3.1-70b"))
    }

    @Test func everyAliasPointsAtAPreset() {
        for alias in ModelPresets.aliases {
            #expect(ModelPresets.preset(named: alias.preset) != nil, "\(alias.alias)")
        }
    }

    @Test func unknownModelIsOneLineError() {
        #expect(throws: QLoRAError.self) { try ModelSource.resolve("llama-9-1b") }
    }

    @Test func truncatedGGUFIsAOneLineError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("memplan-test-\(getpid()).gguf").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("GGUF".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ModelSource.resolve(path)
            Issue.record("expected a truncated GGUF to be refused")
        } catch let error as QLoRAError {
            #expect(error.message.contains(path))
            #expect(!error.message.contains("\n"))
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: TestPaths.smolLM2GGUF)))
    func ggufHeaderGivesTheSmolLM2Shape() throws {
        let planned = try ModelSource.resolve(TestPaths.smolLM2GGUF)
        #expect(planned.config.hiddenSize == 576)
        #expect(planned.config.numHiddenLayers == 30)
        #expect(planned.config.numKeyValueHeads == 3)
        #expect(planned.config.tieWordEmbeddings)
    }

    @Test func checkpointDirectoryIsReadThroughItsConfig() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("memplan-ckpt-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = """
            {"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
             "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
             "tie_word_embeddings": true, "max_position_embeddings": 8192}
            """
        try Data(json.utf8).write(to: dir.appendingPathComponent("config.json"))
        let model = try ModelSource.resolve(dir.path)
        #expect(model.config.hiddenSize == 576)
        #expect(model.family == "smollm2")
        #expect(model.resolution?.contains("smollm2-135m") == true)
    }
}

/// The presets added for the families of issue 12 give the parameter counts their model cards
/// publish (Qwen3: non-embedding counts; the others: totals), within 1%.
@Suite struct FamilyPresetTests {
    @Test(arguments: [
        ("qwen3-0.6b", 0.44e9, false), ("qwen3-1.7b", 1.4e9, false), ("qwen3-4b", 3.6e9, false),
        ("qwen3-8b", 6.95e9, false), ("qwen3-14b", 13.2e9, false), ("qwen3-32b", 31.2e9, false),
        ("phi-4", 14.7e9, true), ("phi-4-mini", 3.84e9, true), ("mistral-nemo-12b", 12.2e9, true),
        ("gemma-3-1b", 1.0e9, true), ("gemma-3-27b", 27.0e9, true), ("llama-3.2-1b", 1.24e9, true),
        ("llama-3.2-3b", 3.21e9, true),
    ])
    func presetMatchesThePublishedCount(_ row: (String, Double, Bool)) throws {
        let preset = try #require(ModelPresets.preset(named: row.0))
        let c = preset.config
        try c.validate()
        let embeddings = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2)
        let count = Double(row.2 ? c.totalParameters : c.totalParameters - embeddings)
        #expect(abs(count - row.1) / row.1 < 0.01, "\(row.0): \(count) vs published \(row.1)")
    }
}
