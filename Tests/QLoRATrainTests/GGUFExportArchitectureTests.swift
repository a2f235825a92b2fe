import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// GGUF export of each exported architecture straight from an HF checkpoint (no adapter): our GGUF
/// reader gives back the logits of the HF model. qwen2 keeps its q/k/v biases and is not permuted.
@Suite struct GGUFExportArchitectureTests {
    static let tinyGGUF = TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf"

    static func roundTrip(_ config: LlamaConfig, biases: Bool) throws -> (gap: Float, gguf: GGUFFile) {
        let dir = TempDir("qlora-gguf-arch")
        var tensors = TinyCheckpoint.tensors(config)
        if biases {
            var rng = SeededRNG(seed: 11)
            for l in 0..<config.numHiddenLayers {
                for (p, n) in [("q_proj", config.qDim), ("k_proj", config.kvDim), ("v_proj", config.kvDim)] {
                    tensors.append(("model.layers.\(l).self_attn.\(p).bias", [n], TinyCheckpoint.randomTensor(n, scale: 0.5, rng: &rng)))
                }
            }
        }
        var w = SafetensorsWriter()
        for (name, shape, values) in tensors { w.add(name, shape: shape, floats: values) }
        try w.write(to: dir.path + "/model.safetensors")
        let enc = JSONEncoder()
        try enc.encode(config).write(to: URL(fileURLWithPath: dir.path + "/config.json"))
        let hf = try HFCheckpoint(directory: dir.path)
        let out = dir.path + "/model.gguf"
        try GGUFExport.write(hf, name: "tiny", tokenizer: GGUFTokenizerMetadata(gguf: GGUFFile(path: tinyGGUF)),
                             to: out, type: .f16)
        let tokens = (0..<32).map { Int32(($0 * 5 + 1) % 40) }
        let a = try LlamaModel(weights: LlamaWeights.load(from: hf, linears: .float32, embeddings: .f32), threads: 2)
            .logits(tokens: tokens, B: 1, T: 32)
        let b = try LlamaModel(weights: LlamaWeights.load(from: GGUFCheckpoint(path: out), linears: .float32, embeddings: .f32),
                               threads: 2).logits(tokens: tokens, B: 1, T: 32)
        return (zip(a, b).map { abs($0 - $1) }.max()!, try GGUFFile(path: out))
    }

    @Test func qwen2KeepsItsBiases() throws {
        var c = try LlamaConfig(modelType: "qwen2", vocabSize: 40, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2,
                                numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 128, rmsNormEps: 1e-6,
                                ropeTheta: 1_000_000, tieWordEmbeddings: true, attentionBias: true)
        c.architectures = ["Qwen2ForCausalLM"]
        let (gap, gguf) = try Self.roundTrip(c, biases: true)
        #expect(gguf.metadata["general.architecture"] == .string("qwen2"))
        #expect(gguf.metadata["qwen2.rope.freq_base"] == .float32(1_000_000))
        #expect(gguf.hasTensor("blk.0.attn_q.bias") && !gguf.hasTensor("output.weight"))
        #expect(gap <= 1e-2, "qwen2: max |Δ logits| \(gap)")
    }

    @Test func mistralExportsAsLlama() throws {
        let c = try LlamaConfig(modelType: "mistral", vocabSize: 40, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2,
                                numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 128, ropeTheta: 1_000_000)
        let (gap, gguf) = try Self.roundTrip(c, biases: false)
        #expect(gguf.metadata["general.architecture"] == .string("llama"))
        #expect(gguf.hasTensor("output.weight"))
        #expect(gap <= 1e-2, "mistral: max |Δ logits| \(gap)")
    }
}
