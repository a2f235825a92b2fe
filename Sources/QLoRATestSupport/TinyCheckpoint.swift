import Foundation
import QLoRA

/// Temporary directories for tests, removed by `cleanup()`.
public final class TempDir {
    public let path: String

    public init(_ label: String = "qlora-test") {
        let base = Environment.get("TMPDIR") ?? "/tmp"
        path = base + "/\(label)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func cleanup() { try? FileManager.default.removeItem(atPath: path) }

    deinit { cleanup() }

    /// Names in the directory (hidden temporaries included), sorted.
    public func listing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }
}

/// Builds small synthetic LLaMA checkpoints (random weights, fixed seed) for tests: PEFT's tiny test
/// models are the precedent; nothing is downloaded.
public enum TinyCheckpoint {
    public static func config(layers: Int = 2, hidden: Int = 64, intermediate: Int = 96, heads: Int = 4,
                              kvHeads: Int = 2, vocab: Int = 128, tied: Bool = true) -> LlamaConfig {
        try! LlamaConfig(vocabSize: vocab, hiddenSize: hidden, intermediateSize: intermediate,
                         numHiddenLayers: layers, numAttentionHeads: heads, numKeyValueHeads: kvHeads,
                         maxPositionEmbeddings: 256, rmsNormEps: 1e-5, ropeTheta: 10000,
                         tieWordEmbeddings: tied, torchDtype: "float32")
    }

    public static func randomTensor(_ count: Int, scale: Float, rng: inout SeededRNG) -> [Float] {
        (0..<count).map { _ in rng.nextNormal() * scale }
    }

    /// Every tensor of a LLaMA model with `config`, HF names, random N(0, 0.02²) weights, norms ≈ 1.
    public static func tensors(_ c: LlamaConfig, seed: UInt64 = 7) -> [(String, [Int], [Float])] {
        var rng = SeededRNG(seed: seed)
        var out: [(String, [Int], [Float])] = []
        out.append(("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize],
                    randomTensor(c.vocabSize * c.hiddenSize, scale: 0.02, rng: &rng)))
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            out.append((p + "input_layernorm.weight", [c.hiddenSize], (0..<c.hiddenSize).map { _ in 1 + 0.1 * rng.nextNormal() }))
            out.append((p + "post_attention_layernorm.weight", [c.hiddenSize], (0..<c.hiddenSize).map { _ in 1 + 0.1 * rng.nextNormal() }))
            for lin in c.layerLinears {
                let group = ["q_proj", "k_proj", "v_proj", "qkv_proj", "o_proj"].contains(lin.name) ? "self_attn" : "mlp"
                out.append((p + "\(group).\(lin.name).weight", [lin.out, lin.in],
                            randomTensor(lin.out * lin.in, scale: 0.02, rng: &rng)))
            }
            if c.family.sandwichNorms {  // Gemma's post-attention / pre- and post-feedforward norms
                for n in ["pre_feedforward_layernorm", "post_feedforward_layernorm"] {
                    out.append((p + n + ".weight", [c.hiddenSize], (0..<c.hiddenSize).map { _ in 0.1 * rng.nextNormal() }))
                }
            }
            if c.hasQKNorm {  // Qwen3's per-head norms (Gemma 3's)
                for n in ["q_norm", "k_norm"] {
                    out.append((p + "self_attn.\(n).weight", [c.headDim], (0..<c.headDim).map { _ in 1 + 0.1 * rng.nextNormal() }))
                }
            }
        }
        out.append(("model.norm.weight", [c.hiddenSize], (0..<c.hiddenSize).map { _ in 1 + 0.1 * rng.nextNormal() }))
        if !c.tieWordEmbeddings {
            out.append(("lm_head.weight", [c.vocabSize, c.hiddenSize], randomTensor(c.vocabSize * c.hiddenSize, scale: 0.02, rng: &rng)))
        }
        return out
    }

    /// Writes config.json + model.safetensors (dtype f32, or bf16/f16) into `dir`.
    @discardableResult
    public static func write(to dir: String, config c: LlamaConfig = config(), dtype: TensorDType = .f32,
                             seed: UInt64 = 7) throws -> [(String, [Int], [Float])] {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ts = tensors(c, seed: seed)
        var w = SafetensorsWriter()
        for (name, shape, values) in ts { w.add(name, shape: shape, floats: values, as: dtype) }
        try w.write(to: dir + "/model.safetensors")
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try enc.encode(c).write(to: URL(fileURLWithPath: dir + "/config.json"))
        return ts
    }
}
