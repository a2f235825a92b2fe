import Foundation
import QLoRA

/// Large made-up checkpoints for memory tests: every tensor of a LLaMA config with random finite
/// bf16 values (magnitudes 2⁻⁷…2⁻⁶, random signs; norms too), written tensor by tensor so making a
/// checkpoint larger than memory takes no more memory than its largest tensor's bytes.
/// (`tools/synth_checkpoint.py` makes the sharded real-size ones for benchmarks.)
public enum SyntheticCheckpoint {
    /// The HF names and shapes of `c`'s tensors, in TinyCheckpoint's order.
    public static func shapes(_ c: LlamaConfig) -> [(String, [Int])] {
        var out: [(String, [Int])] = [("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])]
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            out.append((p + "input_layernorm.weight", [c.hiddenSize]))
            out.append((p + "post_attention_layernorm.weight", [c.hiddenSize]))
            for lin in c.layerLinears {
                let group = ["q_proj", "k_proj", "v_proj", "qkv_proj", "o_proj"].contains(lin.name) ? "self_attn" : "mlp"
                out.append((p + "\(group).\(lin.name).weight", [lin.out, lin.in]))
            }
        }
        out.append(("model.norm.weight", [c.hiddenSize]))
        if !c.tieWordEmbeddings { out.append(("lm_head.weight", [c.vocabSize, c.hiddenSize])) }
        return out
    }

    /// Writes config.json and model.safetensors (bf16) into `dir`; returns the file's size.
    @discardableResult
    public static func write(to dir: String, config c: LlamaConfig, seed: UInt64 = 1) throws -> Int {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tensors = shapes(c)
        let names = tensors.map(\.0)
        let w = try SafetensorsStreamWriter(path: dir + "/model.safetensors",
                                            headerCapacity: names.reduce(64) { $0 + SafetensorsStreamWriter.headerBound(name: $1) })
        var rng = SeededRNG(seed: seed)
        var total = 0
        for (name, shape) in tensors {
            let n = shape.reduce(1, *)
            var bits = [UInt16](repeating: 0, count: n)
            var i = 0
            while i < n {
                var r = rng.next()
                for _ in 0..<4 where i < n {
                    bits[i] = UInt16(truncatingIfNeeded: r) & 0x807F | 0x3C00
                    r >>= 16
                    i += 1
                }
            }
            try bits.withUnsafeBytes { try w.add(name, dtype: .bf16, shape: shape, bytes: $0) }
            total += 2 * n
        }
        try w.finish()
        var cfg = c
        cfg.torchDtype = "bfloat16"
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try enc.encode(cfg).write(to: URL(fileURLWithPath: dir + "/config.json"))
        return total
    }
}
