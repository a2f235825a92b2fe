import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// PEFT LoRA adapter files: PEFT's text and key names, round trip, and every refusal.
@Suite struct PEFTAdapterFileTests {
    /// 2 layers, hidden 64, 4 heads of 16 with 2 KV heads (k/v out 32), intermediate 96.
    static let model = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2)

    static func adapter(r: Int = 4, targets: [LlamaLinear] = [.q, .v, .down]) throws -> PEFTLoRAAdapter {
        let config = try LoRAConfig(r: r, loraAlpha: 8, loraDropout: 0.05, targets: targets,
                                    baseModelNameOrPath: "HuggingFaceTB/SmolLM2-135M")
        var rng = SeededRNG(seed: 3)
        var modules: [String: LoRAModuleWeights] = [:]
        for layer in 0..<2 {
            for t in targets {
                let (i, o) = t.features(model)
                modules[t.modulePath(layer: layer)] = LoRAModuleWeights(
                    inFeatures: i, outFeatures: o, a: (0..<(r * i)).map { _ in rng.nextNormal() },
                    b: (0..<(o * r)).map { _ in rng.nextNormal() })
            }
        }
        return PEFTLoRAAdapter(config: config, modules: modules)
    }

    @Test func configIsWrittenAsPEFTWritesIt() throws {
        let config = try LoRAConfig(r: 8, loraAlpha: 16, loraDropout: 0.05, targets: [.v, .q],
                                    baseModelNameOrPath: "HuggingFaceTB/SmolLM2-135M")
        #expect(config.json() == """
        {
          "alpha_pattern": {},
          "auto_mapping": null,
          "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M",
          "bias": "none",
          "fan_in_fan_out": false,
          "inference_mode": true,
          "init_lora_weights": true,
          "layers_pattern": null,
          "layers_to_transform": null,
          "lora_alpha": 16,
          "lora_dropout": 0.05,
          "modules_to_save": null,
          "peft_type": "LORA",
          "r": 8,
          "rank_pattern": {},
          "revision": null,
          "target_modules": [
            "q_proj",
            "v_proj"
          ],
          "task_type": "CAUSAL_LM",
          "use_dora": false,
          "use_rslora": false
        }
        """)
        #expect(config.scaling == 2)
        var rs = config
        rs.useRSLoRA = true
        #expect(abs(rs.scaling - 16 / 8.0.squareRoot()) < 1e-12)
    }

    @Test func keyNamesAndShapesAreExactlyPEFTs() throws {
        let dir = TempDir("qlora-peft")
        try Self.adapter().write(to: dir.path)
        #expect(dir.listing() == ["adapter_config.json", "adapter_model.safetensors"])
        let file = try SafetensorsFile(path: dir.path + "/adapter_model.safetensors")
        #expect(file.metadata == ["format": "pt"])
        let got = file.names.sorted().map { "\($0) \(file.tensors[$0]!.dtype.rawValue) \(file.tensors[$0]!.shape)" }
        #expect(got == [
            "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight F32 [4, 96]",
            "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight F32 [64, 4]",
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight F32 [4, 64]",
            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight F32 [64, 4]",
            "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight F32 [4, 64]",
            "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight F32 [32, 4]",
            "base_model.model.model.layers.1.mlp.down_proj.lora_A.weight F32 [4, 96]",
            "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight F32 [64, 4]",
            "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight F32 [4, 64]",
            "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight F32 [64, 4]",
            "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight F32 [4, 64]",
            "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight F32 [32, 4]",
        ])
    }

    @Test func roundTripIsExact() throws {
        let dir = TempDir("qlora-peft")
        let adapter = try Self.adapter()
        try adapter.write(to: dir.path)
        #expect(try PEFTLoRAAdapter.read(from: dir.path, model: Self.model) == adapter)
    }

    /// DoRA: `use_dora: true` in the config and one `….lora_magnitude_vector` of shape [out] per module
    /// (PEFT saves it without `.weight`), read back exactly.
    @Test func doraMagnitudesAreSavedAsPEFTSavesThem() throws {
        let dir = TempDir("qlora-peft")
        var adapter = try Self.adapter(targets: [.v])
        adapter.config.useDoRA = true
        for (path, m) in adapter.modules { adapter.modules[path]!.magnitude = (0..<m.outFeatures).map { Float($0) + 0.5 } }
        try adapter.write(to: dir.path)
        let cfg = try String(contentsOfFile: dir.path + "/adapter_config.json", encoding: .utf8)
        #expect(cfg.contains("\"use_dora\": true"))
        let file = try SafetensorsFile(path: dir.path + "/adapter_model.safetensors")
        let got = file.names.sorted().filter { $0.contains("magnitude") }.map { "\($0) \(file.tensors[$0]!.shape)" }
        #expect(got == ["base_model.model.model.layers.0.self_attn.v_proj.lora_magnitude_vector [32]",
                        "base_model.model.model.layers.1.self_attn.v_proj.lora_magnitude_vector [32]"])
        #expect(try PEFTLoRAAdapter.read(from: dir.path, model: Self.model) == adapter)
        // A magnitude missing, or present while use_dora is false: one-line errors.
        try FileManager.default.removeItem(atPath: dir.path + "/adapter_model.safetensors")
        var w = SafetensorsWriter()
        for n in file.names where !n.contains("layers.1.self_attn.v_proj.lora_magnitude") {
            w.add(n, shape: file.tensors[n]!.shape, floats: try file.floats(n))
        }
        try w.write(to: dir.path + "/adapter_model.safetensors")
        #expect(throws: QLoRAError.self) { try PEFTLoRAAdapter.read(from: dir.path, model: Self.model) }
        do { _ = try PEFTLoRAAdapter.read(from: dir.path, model: Self.model) } catch {
            #expect("\(error)".hasSuffix("module 'model.layers.1.self_attn.v_proj' has no lora_magnitude_vector (use_dora is true)"))
        }
        adapter.config.useDoRA = false
        try AtomicOutput.write(adapter.config.json() + "\n", to: dir.path + "/adapter_config.json")
        do { _ = try PEFTLoRAAdapter.read(from: dir.path, model: Self.model); Issue.record("accepted") } catch {
            #expect("\(error)".contains("is a DoRA magnitude but adapter_config.json has use_dora false"))
        }
    }

    @Test func readsConfigsWrittenByPEFT() throws {
        // An adapter_config.json as PEFT 0.13 writes it (extra keys, lora_alpha an int).
        let text = """
        {"alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M",
         "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
         "layer_replication": null, "layers_pattern": null, "layers_to_transform": null, "loftq_config": {},
         "lora_alpha": 32, "lora_dropout": 0.1, "megatron_config": null, "megatron_core": "megatron.core",
         "modules_to_save": null, "peft_type": "LORA", "r": 16, "rank_pattern": {}, "revision": null,
         "target_modules": ["v_proj", "q_proj"], "task_type": "CAUSAL_LM", "use_dora": false, "use_rslora": true}
        """
        let c = try LoRAConfig.parse(Data(text.utf8), path: "a.json")
        #expect(c.r == 16 && c.loraAlpha == 32 && c.loraDropout == 0.1 && c.useRSLoRA)
        #expect(c.targets(modulePath: "model.layers.7.self_attn.q_proj"))
        #expect(!c.targets(modulePath: "model.layers.7.self_attn.k_proj"))
        let all = try LoRAConfig.parse(Data(#"{"peft_type": "LORA", "r": 2, "target_modules": "all-linear"}"#.utf8), path: "b")
        #expect(LlamaLinear.allCases.allSatisfy { all.targets(modulePath: $0.modulePath(layer: 3)) })
        #expect(!all.targets(modulePath: "lm_head"))
        let re = try LoRAConfig.parse(Data(#"{"peft_type": "LORA", "r": 2, "target_modules": ".*layers\\.1\\..*(q|v)_proj"}"#.utf8), path: "c")
        #expect(re.targets(modulePath: "model.layers.1.self_attn.v_proj"))
        #expect(!re.targets(modulePath: "model.layers.11.self_attn.v_proj"))
    }

    static let badConfigs: [(String, String)] = [
        ("not json", "cfg: not a JSON object (not valid JSON: unexpected 'n', expected a value at line 1, column 1)"),
        ("[1, 2]", "cfg: not a JSON object"),
        (#"{"r": 8, "target_modules": ["q_proj"]}"#, "cfg: no peft_type"),
        (#"{"peft_type": "PREFIX_TUNING", "r": 8}"#, "cfg: peft_type 'PREFIX_TUNING' is not supported (only LORA)"),
        (#"{"peft_type": "LORA", "target_modules": ["q_proj"]}"#, "cfg: r must be a positive integer"),
        (#"{"peft_type": "LORA", "r": 0, "target_modules": ["q_proj"]}"#, "cfg: r must be a positive integer, got 0"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "use_dora": 1}"#, "cfg: use_dora must be true or false"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "fan_in_fan_out": true}"#, "cfg: fan_in_fan_out (fan_in_fan_out: true) is not supported"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "bias": "all"}"#, "cfg: bias 'all' is not supported (only none)"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "rank_pattern": {"q": 4}}"#, "cfg: rank_pattern is not supported"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "task_type": "SEQ_CLS"}"#, "cfg: task_type 'SEQ_CLS' is not supported (only CAUSAL_LM)"),
        (#"{"peft_type": "LORA", "r": 8}"#, "cfg: target_modules must be a list of module names or a pattern"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": "(q"}"#, "cfg: target_modules '(q' is not a valid Python regular expression: missing ), unterminated subpattern at position 0"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "lora_dropout": 1.5}"#, "cfg: lora_dropout must be in [0, 1), got 1.5"),
        (#"{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "use_rslora": "yes"}"#, "cfg: use_rslora must be true or false"),
    ]

    @Test(arguments: badConfigs)
    func badConfigsAreOneLineErrors(_ text: String, _ message: String) {
        do {
            _ = try LoRAConfig.parse(Data(text.utf8), path: "cfg")
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)" == message)
        }
    }

    /// Writes a good adapter, lets `edit` break it, and returns the error reading it gives.
    static func readError(_ edit: (String, inout [String: (shape: [Int], floats: [Float])]) throws -> Void) throws -> String {
        let dir = TempDir("qlora-peft")
        let good = try adapter()
        try good.write(to: dir.path)
        let file = try SafetensorsFile(path: dir.path + "/adapter_model.safetensors")
        var tensors: [String: (shape: [Int], floats: [Float])] = [:]
        for n in file.names { tensors[n] = (file.tensors[n]!.shape, try file.floats(n)) }
        try edit(dir.path, &tensors)
        var w = SafetensorsWriter()
        for (n, t) in tensors.sorted(by: { $0.key < $1.key }) { w.add(n, shape: t.shape, floats: t.floats) }
        try w.write(to: dir.path + "/adapter_model.safetensors")
        do {
            _ = try PEFTLoRAAdapter.read(from: dir.path, model: model)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    static let q0 = "base_model.model.model.layers.0.self_attn.q_proj"

    @Test func badTensorsAreOneLineErrors() throws {
        let e1 = try Self.readError { _, t in t[Self.q0 + ".lora_A.weight"] = ([4, 63], [Float](repeating: 0, count: 252)) }
        #expect(e1.hasSuffix("adapter_model.safetensors: tensor '\(Self.q0).lora_A.weight' has shape [4, 63], expected [4, 64] (r = 4)"))
        let e2 = try Self.readError { _, t in t.removeValue(forKey: Self.q0 + ".lora_B.weight") }
        #expect(e2.hasSuffix("module 'model.layers.0.self_attn.q_proj' has lora_A but no lora_B"))
        let e3 = try Self.readError { _, t in
            t["base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight"] = ([4, 64], [Float](repeating: 0, count: 256))
        }
        #expect(e3.hasSuffix("tensor 'base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight' is for layer 2; the model has 2 layers"))
        let e4 = try Self.readError { _, t in
            t["base_model.model.model.embed_tokens.lora_embedding_A"] = ([4, 128], [Float](repeating: 0, count: 512))
        }
        #expect(e4.contains("unexpected tensor 'base_model.model.model.embed_tokens.lora_embedding_A'"))
        let e5 = try Self.readError { _, t in
            t["base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"] = ([4, 64], [Float](repeating: 0, count: 256))
            t["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"] = ([32, 4], [Float](repeating: 0, count: 128))
        }
        #expect(e5.hasSuffix("tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight' is for a module target_modules does not name"))
        let e6 = try Self.readError { _, t in
            t["base_model.model.model.layers.0/../../x.lora_A.weight"] = ([1], [0])
        }
        #expect(e6.contains("unexpected tensor 'base_model.model.model.layers.0/../../x.lora_A.weight'"))
        let e7 = try Self.readError { _, t in t = [:] }
        #expect(e7.hasSuffix("adapter_model.safetensors: no LoRA tensors"))
        for e in [e1, e2, e3, e4, e5, e6, e7] { #expect(!e.contains("\n")) }
    }

    @Test func filesOutsideTheDirectoryOrMissingAreRefused() throws {
        let outside = TempDir("qlora-peft-out")
        let e1 = try Self.readError { dir, _ in
            try FileManager.default.moveItem(atPath: dir + "/adapter_config.json", toPath: outside.path + "/adapter_config.json")
            try FileManager.default.createSymbolicLink(atPath: dir + "/adapter_config.json",
                                                       withDestinationPath: outside.path + "/adapter_config.json")
        }
        #expect(e1.hasSuffix("/adapter_config.json: resolves outside the adapter directory"))
        let e2 = try Self.readError { dir, _ in try FileManager.default.removeItem(atPath: dir + "/adapter_config.json") }
        #expect(e2.hasSuffix("/adapter_config.json: missing"))
        let e3 = try Self.readError { dir, _ in try Data("{".utf8).write(to: URL(fileURLWithPath: dir + "/adapter_config.json")) }
        #expect(e3.hasSuffix("/adapter_config.json: not a JSON object (not valid JSON: unexpected end of input in an object, expected a string key at line 1, column 2)"))
        #expect(throws: QLoRAError.io("/nonexistent-qlora-adapter", "no such adapter directory")) {
            try PEFTLoRAAdapter.read(from: "/nonexistent-qlora-adapter", model: Self.model)
        }
        let dir = TempDir("qlora-peft")
        try Self.adapter().config.json().write(toFile: dir.path + "/adapter_config.json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: dir.path + "/adapter_model.bin", contents: Data([0x80]))
        #expect(throws: QLoRAError.unsupported(dir.path + "/adapter_model.bin",
                                               "PyTorch pickle adapters are not read; save it with safe_serialization=True")) {
            try PEFTLoRAAdapter.read(from: dir.path, model: Self.model)
        }
    }
}
