import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// PEFT PROMPT_TUNING and PREFIX_TUNING adapter files: PEFT's config fields, file and tensor names
/// and shapes, round trip, and refusals (another base model, another peft_type, wrong shapes).
@Suite struct PEFTPromptAdapterFileTests {
    /// 2 layers, hidden 64, 4 heads of 16 with 2 KV heads (key/value width 32).
    static let model = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2)

    static func json(_ dir: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func promptTuningConfigIsWrittenAsPEFTWritesIt() throws {
        let c = PromptLearningConfig.promptTuning(model: Self.model, virtualTokens: 8, initialization: .text,
                                                  initText: "Classify:", tokenizer: "tok", baseModelNameOrPath: "base")
        #expect(c.json() == """
        {
          "auto_mapping": null,
          "base_model_name_or_path": "base",
          "inference_mode": true,
          "num_attention_heads": 4,
          "num_layers": 2,
          "num_transformer_submodules": 1,
          "num_virtual_tokens": 8,
          "peft_type": "PROMPT_TUNING",
          "prompt_tuning_init": "TEXT",
          "prompt_tuning_init_text": "Classify:",
          "revision": null,
          "task_type": "CAUSAL_LM",
          "token_dim": 64,
          "tokenizer_kwargs": null,
          "tokenizer_name_or_path": "tok"
        }
        """)
        #expect(c.savedShape == [8, 64])
    }

    @Test func prefixTuningIsSizedToTheKeyValueHeads() throws {
        let c = PromptLearningConfig.prefixTuning(model: Self.model, virtualTokens: 5, projection: true,
                                                  encoderHiddenSize: 48, baseModelNameOrPath: "base")
        #expect(c.json() == """
        {
          "auto_mapping": null,
          "base_model_name_or_path": "base",
          "encoder_hidden_size": 48,
          "inference_mode": true,
          "num_attention_heads": 2,
          "num_layers": 2,
          "num_transformer_submodules": 1,
          "num_virtual_tokens": 5,
          "peft_type": "PREFIX_TUNING",
          "prefix_projection": true,
          "revision": null,
          "task_type": "CAUSAL_LM",
          "token_dim": 32
        }
        """)
        #expect(c.savedShape == [5, 2 * 2 * 32])  // (N, layers·2·token_dim)
        // Without projection encoder_hidden_size defaults to token_dim, as PEFT fills it.
        #expect(PromptLearningConfig.prefixTuning(model: Self.model, virtualTokens: 5).encoderHiddenSize == 32)
    }

    @Test(arguments: [PromptLearningConfig.Method.promptTuning, .prefixTuning])
    func filesRoundTrip(_ method: PromptLearningConfig.Method) throws {
        let dir = TempDir()
        let c = method == .promptTuning ? PromptLearningConfig.promptTuning(model: Self.model, virtualTokens: 3)
            : PromptLearningConfig.prefixTuning(model: Self.model, virtualTokens: 3)
        var rng = SeededRNG(seed: 4)
        let adapter = PEFTPromptAdapter(config: c, embeddings: (0..<c.savedShape.reduce(1, *)).map { _ in rng.nextNormal() })
        try adapter.write(to: dir.path)
        #expect(dir.listing() == ["adapter_config.json", "adapter_model.safetensors"])
        let file = try SafetensorsFile(path: dir.path + "/adapter_model.safetensors")
        #expect(file.names == ["prompt_embeddings"])
        #expect(try file.info("prompt_embeddings").shape == c.savedShape)
        #expect(try file.info("prompt_embeddings").dtype == .f32)
        #expect(try Self.json(dir.path)["peft_type"] as? String == method.rawValue)
        #expect(try PEFTAdapterType.peftType(directory: dir.path) == method.rawValue)
        #expect(try PEFTPromptAdapter.read(from: dir.path, model: Self.model) == adapter)
    }

    /// A config edit, and a fragment of the error reading it against `model` gives.
    static let refusals: [(String, String, String)] = [
        ("\"token_dim\": 64", "\"token_dim\": 96", "token_dim 96 does not match the model's hidden size 64"),
        ("\"num_layers\": 2", "\"num_layers\": 3", "num_layers 3 does not match the model's 2 layers"),
        ("\"num_attention_heads\": 4", "\"num_attention_heads\": 8", "num_attention_heads 8 does not match"),
        ("\"peft_type\": \"PROMPT_TUNING\"", "\"peft_type\": \"P_TUNING\"", "peft_type 'P_TUNING' is not a prompt-learning method"),
        ("\"num_virtual_tokens\": 3", "\"num_virtual_tokens\": 4", "has shape [3, 64], expected [4, 64]"),
        ("\"num_virtual_tokens\": 3", "\"num_virtual_tokens\": 0", "num_virtual_tokens must be a positive integer, got 0"),
        ("\"task_type\": \"CAUSAL_LM\"", "\"task_type\": \"SEQ_2_SEQ_LM\"", "task_type 'SEQ_2_SEQ_LM' is not supported"),
        ("\"prompt_tuning_init\": \"RANDOM\"", "\"prompt_tuning_init\": \"FOO\"", "prompt_tuning_init 'FOO'"),
    ]

    @Test(arguments: 0..<8)
    func refusesAnAdapterItCannotUse(_ index: Int) throws {
        let (old, new, message) = Self.refusals[index]
        let dir = TempDir()
        let c = PromptLearningConfig.promptTuning(model: Self.model, virtualTokens: 3)
        try PEFTPromptAdapter(config: c, embeddings: [Float](repeating: 0.5, count: 3 * 64)).write(to: dir.path)
        let path = dir.path + "/adapter_config.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains(old))
        try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: QLoRAError.self) { try PEFTPromptAdapter.read(from: dir.path, model: Self.model) }
        do { _ = try PEFTPromptAdapter.read(from: dir.path, model: Self.model) } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test func refusesAPrefixForAnotherBaseAndStrayTensors() throws {
        let dir = TempDir()
        let c = PromptLearningConfig.prefixTuning(model: Self.model, virtualTokens: 2)
        try PEFTPromptAdapter(config: c, embeddings: [Float](repeating: 1, count: 2 * 128)).write(to: dir.path)
        // Same hidden size, 4 KV heads instead of 2: the prefix width differs.
        let other = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 4)
        do { _ = try PEFTPromptAdapter.read(from: dir.path, model: other); Issue.record("accepted") } catch {
            #expect("\(error)".contains("token_dim 32 does not match the model's key/value width"), "\(error)")
        }
        let deeper = TinyCheckpoint.config(layers: 3, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2)
        do { _ = try PEFTPromptAdapter.read(from: dir.path, model: deeper); Issue.record("accepted") } catch {
            #expect("\(error)".contains("num_layers 2 does not match the model's 3 layers"), "\(error)")
        }
        var w = SafetensorsWriter()
        w.add("prompt_embeddings", shape: [2, 128], floats: [Float](repeating: 1, count: 256))
        w.add("extra", shape: [1], floats: [0])
        try w.write(to: dir.path + "/adapter_model.safetensors")
        do { _ = try PEFTPromptAdapter.read(from: dir.path, model: Self.model); Issue.record("accepted") } catch {
            #expect("\(error)".contains("unexpected tensor 'extra'"), "\(error)")
        }
    }
}
