import QLoRACore

/// llama.cpp's tensor names mapped to Hugging Face's, and the Q/K row order llama.cpp changes.
///
/// | GGUF | Hugging Face |
/// | --- | --- |
/// | `token_embd.weight` | `model.embed_tokens.weight` |
/// | `output_norm.weight` | `model.norm.weight` |
/// | `output.weight` | `lm_head.weight` |
/// | `blk.N.attn_norm.weight` | `model.layers.N.input_layernorm.weight` |
/// | `blk.N.attn_{q,k,v}.{weight,bias}` | `model.layers.N.self_attn.{q,k,v}_proj.{weight,bias}` |
/// | `blk.N.attn_output.{weight,bias}` | `model.layers.N.self_attn.o_proj.{weight,bias}` |
/// | `blk.N.ffn_norm.weight` | `model.layers.N.post_attention_layernorm.weight` |
/// | `blk.N.ffn_{gate,up,down}.{weight,bias}` | `model.layers.N.mlp.{gate,up,down}_proj.{weight,bias}` |
public enum GGUFTensorNames {
    /// Per-layer GGUF stems and their Hugging Face module paths.
    public static let layerModules: [String: String] = [
        "attn_norm": "input_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_norm": "post_attention_layernorm",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    ]

    /// Whole-model tensors.
    public static let modelTensors: [String: String] = [
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    ]

    /// The Hugging Face name of a GGUF tensor, or nil when it has none (e.g. llama.cpp's
    /// precomputed `rope_freqs.weight`).
    public static func huggingFaceName(_ gguf: String) -> String? {
        if let whole = modelTensors[gguf] { return whole }
        let parts = gguf.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
              String(layer) == parts[1], parts[3] == "weight" || parts[3] == "bias",
              let module = layerModules[String(parts[2])] else { return nil }
        return "model.layers.\(layer).\(module).\(parts[3])"
    }

    /// The GGUF name of a Hugging Face tensor (the inverse of `huggingFaceName`), or nil.
    public static func ggufName(_ hf: String) -> String? {
        if let whole = modelTensors.first(where: { $0.value == hf }) { return whole.key }
        let parts = hf.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]),
              let kind = parts.last, kind == "weight" || kind == "bias" else { return nil }
        let module = parts[3..<(parts.count - 1)].joined(separator: ".")
        guard let stem = layerModules.first(where: { $0.value == module })?.key else { return nil }
        return "blk.\(layer).\(stem).\(kind)"
    }

    /// Applies llama.cpp's Q/K row permutation (what `convert_hf_to_gguf.py` does for LLaMA): HF row
    /// `h*d + i*(d/2) + j` moves to GGUF row `h*d + 2j + i`; `unpermuteRoPERows` undoes it.
    public static func permuteRoPERows(_ values: inout [Float], rows: Int, columns: Int, heads: Int) {
        precondition(heads > 0 && rows % (2 * heads) == 0 && values.count == rows * columns)
        let headDim = rows / heads, half = headDim / 2
        let source = values
        for h in 0..<heads {
            for i in 0..<2 {
                for j in 0..<half {
                    let from = (h * headDim + i * half + j) * columns
                    let to = (h * headDim + 2 * j + i) * columns
                    for c in 0..<columns { values[to + c] = source[from + c] }
                }
            }
        }
    }

    /// For a LLaMA-architecture file, the head count whose RoPE row permutation llama.cpp applied to
    /// this tensor: `numAttentionHeads` for q, `numKeyValueHeads` for k (weights and biases), nil
    /// for every other tensor.
    public static func ropePermutationHeads(_ gguf: String, config: LlamaConfig) -> Int? {
        let parts = gguf.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk" else { return nil }
        switch parts[2] {
        case "attn_q": return config.numAttentionHeads
        case "attn_k": return config.numKeyValueHeads
        default: return nil
        }
    }

    /// Undoes llama.cpp's Q/K permutation of rows, in place.
    ///
    /// Hugging Face's rotary embedding pairs element i of a head with element i + d/2 (d = head
    /// dim); llama.cpp's pairs adjacent elements, so `convert_hf_to_gguf.py` reorders each head's
    /// rows: GGUF row `h*d + 2j + i` holds HF row `h*d + i*(d/2) + j` (i ∈ {0, 1}, j < d/2). This
    /// moves them back (transformers' `_reverse_permute_weights`). `values` is row-major with
    /// `rows` rows of `columns` elements (`columns` = 1 for a bias).
    public static func unpermuteRoPERows(
        _ values: inout [Float], rows: Int, columns: Int, heads: Int, tensor: String, path: String
    ) throws {
        guard heads > 0, rows % (2 * heads) == 0, values.count == rows * columns else {
            throw QLoRAError.format(path, "tensor '\(tensor)' has \(rows) rows, not a whole number of \(heads) heads of even size; cannot undo the RoPE permutation")
        }
        let headDim = rows / heads, half = headDim / 2
        let source = values
        source.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads {
                    for i in 0..<2 {
                        for j in 0..<half {
                            let from = (h * headDim + 2 * j + i) * columns
                            let to = (h * headDim + i * half + j) * columns
                            for c in 0..<columns { dst[to + c] = src[from + c] }
                        }
                    }
                }
            }
        }
    }
}
