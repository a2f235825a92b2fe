import QLoRACore

/// A model checkpoint that yields its tensors by Hugging Face name, in HF orientation, one at a time
/// as Float32 (never the whole model at once). Implemented by HF safetensors checkpoints and GGUF files.
public protocol CheckpointSource: AnyObject {
    /// The file or directory the tensors come from (for messages).
    var path: String { get }
    var config: LlamaConfig { get }
    /// Every tensor name, in a stable order.
    var tensorNames: [String] { get }
    func shape(of name: String) throws -> [Int]
    /// Stored bytes of the tensor in the source (for throughput and size reports).
    func storedBytes(of name: String) throws -> Int
    /// The source dtype's torch name ("bfloat16", "float32", …; GGUF quant types report "float32").
    func dtypeName(of name: String) throws -> String
    func floats(_ name: String) throws -> [Float]
    /// True when `floats` and `raw` may run on several threads at once (a plain file: yes).
    var concurrentReads: Bool { get }
    /// The tensor's stored bytes and their dtype, straight from the file, or nil where values are
    /// computed (merged, dequantized) or the stored layout is not the tensor's.
    func raw(_ name: String) throws -> (dtype: TensorDType, bytes: UnsafeRawBufferPointer)?
    /// Says the tensor will not be read again soon: a mapped source drops its pages from memory.
    func release(_ name: String)
}

extension CheckpointSource {
    public var concurrentReads: Bool { false }
    public func raw(_ name: String) throws -> (dtype: TensorDType, bytes: UnsafeRawBufferPointer)? { nil }
    public func release(_ name: String) {}
}

/// Which checkpoint tensors `qlora quantize` turns into 4-bit: the 2-D linear weights of the transformer
/// blocks (q/k/v/o and gate/up/down projections). Embeddings, norms, biases and lm_head stay 16-bit,
/// as transformers does.
public enum QuantizationTargets {
    static let linearSuffixes = [
        "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
        "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
        "self_attn.qkv_proj.weight", "mlp.gate_up_proj.weight",   // Phi-3's fused layout
    ]

    /// True for a block linear weight that is not excluded by `skipModules` (substring match on the
    /// module name, as `llm_int8_skip_modules`).
    /// Where decoder layers live: a causal LM's, and the Gemma 3 wrapper's text model (transformers 5
    /// and 4 layouts); a vision tower's linears are not block linears and stay 16-bit.
    static let layerPrefixes = ["model.layers.", "model.language_model.layers.", "language_model.model.layers."]

    public static func isQuantized(_ name: String, shape: [Int], skipModules: [String]) -> Bool {
        guard shape.count == 2, layerPrefixes.contains(where: { name.hasPrefix($0) }),
              linearSuffixes.contains(where: { name.hasSuffix($0) }) else { return false }
        let module = String(name.dropLast(".weight".count))
        return !skipModules.contains { module.contains($0) }
    }
}
