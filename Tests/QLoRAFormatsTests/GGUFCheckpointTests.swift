import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// GGUF → Hugging Face: names, shapes, values (dequantized, Q/K un-permuted), config, tokenizer.
@Suite struct GGUFCheckpointTests {
    @Test func tinyLlamaEqualsTransformersLoaderBitForBit() throws {
        let checkpoint = try GGUFCheckpoint(path: GGUFFixtures.tinyLlama)
        let expected = try SafetensorsFile(path: GGUFFixtures.tinyLlamaExpected)
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(expected.names))
        #expect(checkpoint.tensors.count == 26)
        for tensor in checkpoint.tensors {
            #expect(tensor.shape == (try expected.info(tensor.name)).shape, "\(tensor.name)")
            let got = bitPatterns(try checkpoint.floats(tensor))
            let want = try expectedBits(expected, tensor.name)
            #expect(firstMismatch(got, want) == "none", "\(tensor.name) (\(tensor.source.type.name))")
        }
    }

    @Test func permutationIsUndoneOnlyForQueryAndKey() throws {
        let checkpoint = try GGUFCheckpoint(path: GGUFFixtures.tinyLlama)
        let heads = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, $0.ropePermutationHeads) })
        #expect(heads["model.layers.0.self_attn.q_proj.weight"] == 4)
        #expect(heads["model.layers.0.self_attn.q_proj.bias"] == 4)
        #expect(heads["model.layers.1.self_attn.k_proj.weight"] == 2)
        #expect(heads["model.layers.1.self_attn.k_proj.bias"] == 2)
        #expect(heads["model.layers.0.self_attn.v_proj.weight"] == .some(nil))
        #expect(heads["model.embed_tokens.weight"] == .some(nil))
        // Reading the stored q without the un-permutation gives different rows: the step matters.
        let stored = try checkpoint.gguf.floats("blk.0.attn_q.weight")
        #expect(stored != (try checkpoint.floats("model.layers.0.self_attn.q_proj.weight")))
    }

    @Test func isACheckpointSource() throws {
        let source: CheckpointSource = try GGUFCheckpoint(path: GGUFFixtures.tinyLlama)
        #expect(source.path == GGUFFixtures.tinyLlama)
        #expect(source.tensorNames.first == "model.embed_tokens.weight" && source.tensorNames.count == 26)
        #expect(try source.shape(of: "model.layers.0.mlp.down_proj.weight") == [64, 96])
        #expect(try source.storedBytes(of: "model.embed_tokens.weight") == 40 * 64 / 32 * 34)
        #expect(try source.dtypeName(of: "model.layers.0.self_attn.k_proj.weight") == "float16")
        #expect(try source.dtypeName(of: "model.layers.1.self_attn.v_proj.weight") == "bfloat16")
        #expect(try source.dtypeName(of: "model.layers.1.mlp.up_proj.weight") == "float32")
        #expect(try source.floats("model.norm.weight").count == 64)
    }

    @Test func unpermuteRowsByHand() throws {
        // One head of dim 4, one column: GGUF rows [a0 b0 a1 b1] hold HF rows [a0 a1 b0 b1].
        var values: [Float] = [0, 2, 1, 3]
        try GGUFTensorNames.unpermuteRoPERows(&values, rows: 4, columns: 1, heads: 1, tensor: "t", path: "p")
        #expect(values == [0, 1, 2, 3])
        var two: [Float] = [10, 11, 30, 31, 20, 21, 40, 41]  // 4 rows × 2 columns
        try GGUFTensorNames.unpermuteRoPERows(&two, rows: 4, columns: 2, heads: 1, tensor: "t", path: "p")
        #expect(two == [10, 11, 20, 21, 30, 31, 40, 41])
        #expect(throws: QLoRAError.format("p", "tensor 't' has 6 rows, not a whole number of 2 heads of even size; cannot undo the RoPE permutation")) {
            var v = [Float](repeating: 0, count: 6)
            try GGUFTensorNames.unpermuteRoPERows(&v, rows: 6, columns: 1, heads: 2, tensor: "t", path: "p")
        }
    }

    @Test(arguments: [
        ("token_embd.weight", "model.embed_tokens.weight"), ("output.weight", "lm_head.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
        ("blk.12.attn_k.bias", "model.layers.12.self_attn.k_proj.bias"),
        ("blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight"),
        ("blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"),
        ("blk.29.ffn_gate.weight", "model.layers.29.mlp.gate_proj.weight"),
        ("blk.1.ffn_up.weight", "model.layers.1.mlp.up_proj.weight"),
        ("blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"),
        ("blk.1.attn_norm.weight", "model.layers.1.input_layernorm.weight"),
        ("blk.1.ffn_norm.weight", "model.layers.1.post_attention_layernorm.weight"),
    ])
    func namesMapToHuggingFace(gguf: String, hf: String) {
        #expect(GGUFTensorNames.huggingFaceName(gguf) == hf)
    }

    @Test func unknownNamesHaveNoHuggingFaceName() {
        for name in ["rope_freqs.weight", "blk.0.ffn_gate_exps.weight", "blk.x.attn_q.weight", "blk.01.attn_q.weight",
                     "blk.0.attn_q.scale", "blk.0.attn_q", "token_embd"] {
            #expect(GGUFTensorNames.huggingFaceName(name) == nil, "\(name)")
        }
    }

    @Test func tinyLlamaConfig() throws {
        let config = try LlamaConfig(gguf: GGUFFile(path: GGUFFixtures.tinyLlama))
        #expect(config.modelType == "llama" && config.architectures == ["LlamaForCausalLM"])
        #expect(config.hiddenSize == 64 && config.numHiddenLayers == 2 && config.intermediateSize == 96)
        #expect(config.numAttentionHeads == 4 && config.numKeyValueHeads == 2 && config.headDim == 16)
        #expect(config.vocabSize == 40 && config.maxPositionEmbeddings == 256)
        #expect(config.ropeTheta == 500000 && config.rmsNormEps == Double(Float(1e-6)))
        #expect(config.ropeScaling == LlamaConfig.RopeScaling(ropeType: "linear", factor: 2))
        #expect(config.tieWordEmbeddings && config.attentionBias)
        #expect(config.bosTokenId == 1 && config.eosTokenIds == [2])
    }

    @Test func tinyLlamaTokenizerMetadata() throws {
        let tokenizer = try GGUFTokenizerMetadata(gguf: GGUFFile(path: GGUFFixtures.tinyLlama))
        #expect(tokenizer.model == "gpt2" && tokenizer.preTokenizer == "llama-bpe")
        #expect(tokenizer.tokens.count == 40 && tokenizer.tokens[3] == "<repo_name>")
        #expect(tokenizer.merges?.first == "a b" && tokenizer.merges?.count == 17)
        #expect(tokenizer.ids(ofType: .control) == [0, 1, 2])
        #expect(tokenizer.ids(ofType: .userDefined) == [37])
        #expect(tokenizer.bosToken == "<|im_start|>" && tokenizer.eosToken == "<|im_end|>")
        #expect(tokenizer.paddingToken == "<|endoftext|>" && tokenizer.unknownToken == "<|endoftext|>")
        #expect(tokenizer.addBOSToken == true && tokenizer.addEOSToken == false && tokenizer.addSpacePrefix == nil)
        #expect(tokenizer.chatTemplate?.hasPrefix("{% for m in messages %}") == true)
        #expect(tokenizer.scores == nil)
    }

    @Test func checkpointRefusesWhatItCannotConvert() throws {
        let scratch = try ScratchDirectory()
        func metadata(_ arch: String) -> [[UInt8]] {
            [GGUFBuilder.stringKV("general.architecture", arch)]
                + [("embedding_length", 64), ("attention.head_count", 4), ("feed_forward_length", 96),
                   ("block_count", 1), ("context_length", 128), ("vocab_size", 2)].map { GGUFBuilder.u32KV("\(arch).\($0.0)", $0.1) }
        }
        func tensor(_ name: String, _ dims: [UInt64], type: UInt32 = 0) -> GGUFBuilder.Tensor {
            let elements = Int(dims.reduce(1, *))
            let bytes = GGMLType.lookup(type)!.byteCount(elements: elements)!
            return .init(name: name, dims: dims, type: type, data: [UInt8](repeating: 0, count: bytes))
        }
        var b = GGUFBuilder()
        b.metadata = metadata("llama")
        b.tensors = [tensor("token_embd.weight", [64, 2]), tensor("output_norm.weight", [64])]
        let ok = try GGUFCheckpoint(path: try scratch.write(b.bytes(), name: "ok.gguf"))
        #expect(ok.tensors.map(\.name) == ["model.embed_tokens.weight", "model.norm.weight"])

        var q2 = b
        q2.tensors.append(tensor("blk.0.attn_q.weight", [256, 64], type: 10))
        let q2Path = try scratch.write(q2.bytes(), name: "q2k.gguf")
        #expect(throws: QLoRAError.unsupported(q2Path, "unsupported GGUF tensor type 10 (Q2_K) for tensor 'blk.0.attn_q.weight'")) {
            try GGUFCheckpoint(path: q2Path)
        }
        var shape = b
        shape.tensors.append(tensor("blk.0.attn_q.weight", [64, 32]))
        let shapePath = try scratch.write(shape.bytes(), name: "shape.gguf")
        #expect(throws: QLoRAError.format(shapePath, "tensor 'blk.0.attn_q.weight' has shape [32, 64], the config needs [64, 64]")) {
            try GGUFCheckpoint(path: shapePath)
        }
        var layer = b
        layer.tensors.append(tensor("blk.1.attn_norm.weight", [64]))
        let layerPath = try scratch.write(layer.bytes(), name: "layer.gguf")
        #expect(throws: QLoRAError.format(layerPath, "tensor 'blk.1.attn_norm.weight' is in layer 1, but the model has 1 layers")) {
            try GGUFCheckpoint(path: layerPath)
        }
        var experts = b
        experts.tensors.append(tensor("blk.0.ffn_gate_exps.weight", [64, 96, 2]))
        let expertsPath = try scratch.write(experts.bytes(), name: "experts.gguf")
        #expect(throws: QLoRAError.unsupported(expertsPath, "tensor 'blk.0.ffn_gate_exps.weight' has no Hugging Face name (not a llama tensor this reader maps)")) {
            try GGUFCheckpoint(path: expertsPath)
        }
        var arch = b
        arch.metadata = metadata("phi3")
        let archPath = try scratch.write(arch.bytes(), name: "phi3.gguf")
        #expect(throws: QLoRAError.unsupported(archPath, "GGUF architecture 'phi3' is not supported (supported: llama, qwen2)")) {
            try GGUFCheckpoint(path: archPath)
        }
        var missing = b
        missing.metadata.remove(at: 2)
        let missingPath = try scratch.write(missing.bytes(), name: "missing.gguf")
        #expect(throws: QLoRAError.format(missingPath, "metadata key 'llama.attention.head_count' is missing")) {
            try GGUFCheckpoint(path: missingPath)
        }
        var kvHeads = b
        kvHeads.metadata.append(GGUFBuilder.u32KV("llama.attention.head_count_kv", 3))
        let kvPath = try scratch.write(kvHeads.bytes(), name: "kv.gguf")
        #expect(throws: QLoRAError.format(kvPath, "GGUF metadata gives an invalid config: num_attention_heads 4 is not a multiple of num_key_value_heads 3")) {
            try GGUFCheckpoint(path: kvPath)
        }
    }

    // MARK: SmolLM2 (the real model; skipped when it has not been fetched)

    @Test(.enabled(if: GGUFFixtures.hasSmolLM2, GGUFFixtures.smolLM2Missing))
    func smolLM2ConfigMatchesTheReference() throws {
        let file = try GGUFFile(path: GGUFFixtures.smolLM2)
        let config = try LlamaConfig(gguf: file)
        #expect(config.hiddenSize == 576 && config.numHiddenLayers == 30 && config.numAttentionHeads == 9)
        #expect(config.numKeyValueHeads == 3 && config.intermediateSize == 1536 && config.vocabSize == 49152)
        #expect(config.headDim == 64 && config.tieWordEmbeddings && config.ropeTheta == 100000)
        #expect(config.rmsNormEps == 9.999999747378752e-06 && config.ropeScaling == nil)
        #expect(config.maxPositionEmbeddings == 8192 && !config.attentionBias)
        #expect(config.bosTokenId == 1 && config.eosTokenIds == [2])
        let tokenizer = try GGUFTokenizerMetadata(gguf: file)
        #expect(tokenizer.tokens.count == 49152 && tokenizer.merges?.count == 48900)
        #expect(tokenizer.preTokenizer == "smollm" && tokenizer.addBOSToken == false)
        #expect(tokenizer.eosToken == "<|im_end|>" && tokenizer.paddingToken == "<|im_end|>")
    }

    /// Q/K are the permuted ones: the golden k_proj is what transformers made of this file.
    @Test(.enabled(if: GGUFFixtures.hasSmolLM2, GGUFFixtures.smolLM2Missing))
    func smolLM2KProjEqualsTransformers() throws {
        let checkpoint = try GGUFCheckpoint(path: GGUFFixtures.smolLM2)
        let golden = try SafetensorsFile(path: TestPaths.golden + "/nf4/nf4_smollm2_l0_k_proj_192x576.safetensors")
        let tensor = try checkpoint.tensor("model.layers.0.self_attn.k_proj.weight")
        #expect(tensor.shape == [192, 576] && tensor.source.type == .q4_1 && tensor.ropePermutationHeads == 3)
        let got = bitPatterns(try checkpoint.floats(tensor))
        let want = try expectedBits(golden, "weight")
        #expect(firstMismatch(got, want) == "none")
    }

    @Test(.enabled(if: GGUFFixtures.hasSmolLM2, GGUFFixtures.smolLM2Missing))
    func smolLM2EmbeddingRowsEqualTransformers() throws {
        let checkpoint = try GGUFCheckpoint(path: GGUFFixtures.smolLM2)
        let reference = try SafetensorsFile(path: TestPaths.golden + "/smollm2/forward_ref.safetensors")
        let ids = try reference.ints("input_ids")
        let embedding = try checkpoint.floats("model.embed_tokens.weight")
        #expect(embedding.count == 49152 * 576)
        let rows = ids[0..<16].flatMap { Array(embedding[($0 * 576)..<(($0 + 1) * 576)]) }
        let want = try expectedBits(reference, "embed_out_first16")
        #expect(firstMismatch(bitPatterns(rows), want) == "none")
        #expect(checkpoint.tensors.count == 272 && checkpoint.skippedTensorNames.isEmpty)
        #expect(!checkpoint.tensors.contains { $0.name == "lm_head.weight" })
    }
}
