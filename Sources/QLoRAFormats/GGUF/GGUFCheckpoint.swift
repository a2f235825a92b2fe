import QLoRACore

/// A GGUF model read as a Hugging Face checkpoint: every tensor under its Hugging Face name, in
/// Hugging Face shape and orientation, as Float32 — dequantized exactly as `gguf.quants.dequantize`
/// does and, for the LLaMA architecture, with llama.cpp's Q/K RoPE permutation undone. This is what
/// transformers' `from_pretrained(..., gguf_file=)` makes of the same file.
///
/// Opening checks everything a conversion needs before any tensor is read: the config
/// (`LlamaConfig(gguf:)`), a Hugging Face name for every tensor, a dequantizer for every type, and
/// each tensor's shape against the config. Values are produced one tensor at a time, so converting
/// a model never holds more than one dequantized tensor.
public final class GGUFCheckpoint: CheckpointSource, @unchecked Sendable {
    /// One tensor of the checkpoint.
    public struct Tensor: Sendable, Equatable {
        /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
        public let name: String
        /// Hugging Face shape, row-major: `[out, in]` for a linear weight, `[n]` for a vector.
        public let shape: [Int]
        /// Where the data lives in the GGUF file, and its ggml type.
        public let source: GGUFTensorInfo
        /// The head count whose RoPE permutation is undone when reading, or nil.
        public let ropePermutationHeads: Int?

        public var elementCount: Int { source.elementCount }
    }

    public let gguf: GGUFFile
    public let config: LlamaConfig
    /// Tensors in file order.
    public let tensors: [Tensor]
    /// GGUF tensors with no Hugging Face counterpart that were skipped (llama.cpp's
    /// `rope_freqs.weight`, which `LlamaConfig(gguf:)` has already read into the config's RoPE).
    public let skippedTensorNames: [String]
    private let index: [String: Int]

    /// GGUF tensors that carry nothing a Hugging Face checkpoint stores.
    public static let skippableTensors: Set<String> = ["rope_freqs.weight"]

    public convenience init(path: String) throws {
        try self.init(gguf: GGUFFile(path: path))
    }

    public init(gguf: GGUFFile) throws {
        self.gguf = gguf
        let config = try LlamaConfig(gguf: gguf)
        self.config = config
        let path = gguf.path
        let permutes = gguf.architecture == "llama"
        var tensors: [Tensor] = []
        var skipped: [String] = []
        var index: [String: Int] = [:]
        for info in gguf.tensors {
            guard let name = GGUFTensorNames.huggingFaceName(info.name) else {
                if Self.skippableTensors.contains(info.name) {
                    skipped.append(info.name)
                    continue
                }
                throw QLoRAError.unsupported(path, "tensor '\(info.name)' has no Hugging Face name (not a \(config.modelType) tensor this reader maps)")
            }
            guard info.type.canDequantize else {
                throw QLoRAError.unsupported(path, "unsupported GGUF tensor type \(info.type.id) (\(info.type.name)) for tensor '\(info.name)'")
            }
            if info.name.hasPrefix("blk."), let layer = Int(info.name.split(separator: ".")[1]),
               layer >= config.numHiddenLayers {
                throw QLoRAError.format(path, "tensor '\(info.name)' is in layer \(layer), but the model has \(config.numHiddenLayers) layers")
            }
            if let expected = Self.expectedShape(name, config), expected != info.shape {
                throw QLoRAError.format(path, "tensor '\(info.name)' has shape \(info.shape), the config needs \(expected)")
            }
            let heads = permutes ? GGUFTensorNames.ropePermutationHeads(info.name, config: config) : nil
            index[name] = tensors.count
            tensors.append(Tensor(name: name, shape: info.shape, source: info, ropePermutationHeads: heads))
        }
        for required in ["model.embed_tokens.weight", "model.norm.weight"] where index[required] == nil {
            throw QLoRAError.format(path, "no tensor for '\(required)'")
        }
        self.tensors = tensors
        self.index = index
        skippedTensorNames = skipped
    }

    // MARK: CheckpointSource

    public var path: String { gguf.path }
    public var tensorNames: [String] { tensors.map(\.name) }

    public func shape(of name: String) throws -> [Int] { try tensor(name).shape }

    public func storedBytes(of name: String) throws -> Int { try tensor(name).source.byteCount }

    /// "float32" for F32 and every quantized type (they dequantize to float32), "float16" and
    /// "bfloat16" for F16 and BF16.
    public func dtypeName(of name: String) throws -> String {
        switch try tensor(name).source.type {
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        default: return "float32"
        }
    }

    // MARK: Tensors

    public func tensor(_ name: String) throws -> Tensor {
        guard let i = index[name] else { throw QLoRAError(.notFound, "\(gguf.path): no tensor named '\(name)'") }
        return tensors[i]
    }

    /// The tensor's values in Hugging Face orientation (row-major over `tensor.shape`).
    public func floats(_ tensor: Tensor) throws -> [Float] {
        var values = try gguf.floats(tensor.source)
        if let heads = tensor.ropePermutationHeads {
            let rows = tensor.shape.first ?? 1
            try GGUFTensorNames.unpermuteRoPERows(
                &values, rows: rows, columns: tensor.elementCount / max(rows, 1), heads: heads,
                tensor: tensor.source.name, path: gguf.path)
        }
        return values
    }

    public func floats(_ name: String) throws -> [Float] {
        try floats(tensor(name))
    }

    /// Reading and dequantizing a tensor changes nothing shared.
    public var concurrentReads: Bool { true }

    /// Calls `body` with each tensor and its values, one at a time, in file order.
    public func forEachTensor(_ body: (Tensor, [Float]) throws -> Void) throws {
        for t in tensors { try body(t, try floats(t)) }
    }

    /// The shape the config implies for a Hugging Face tensor name, or nil when it implies none.
    static func expectedShape(_ name: String, _ c: LlamaConfig) -> [Int]? {
        switch name {
        case "model.embed_tokens.weight", "lm_head.weight": return [c.vocabSize, c.hiddenSize]
        case "model.norm.weight": return [c.hiddenSize]
        default: break
        }
        let parts = name.split(separator: ".")
        guard parts.count == 5 || parts.count == 6, parts[1] == "layers" else { return nil }
        let module = parts[3...].dropLast().joined(separator: ".")
        let isBias = parts.last == "bias"
        let shapes: [String: [Int]] = [
            "input_layernorm": [c.hiddenSize], "post_attention_layernorm": [c.hiddenSize],
            "self_attn.q_proj": [c.qDim, c.hiddenSize], "self_attn.k_proj": [c.kvDim, c.hiddenSize],
            "self_attn.v_proj": [c.kvDim, c.hiddenSize], "self_attn.o_proj": [c.hiddenSize, c.qDim],
            "mlp.gate_proj": [c.intermediateSize, c.hiddenSize], "mlp.up_proj": [c.intermediateSize, c.hiddenSize],
            "mlp.down_proj": [c.hiddenSize, c.intermediateSize],
        ]
        guard let shape = shapes[module] else { return nil }
        return isBias ? [shape[0]] : shape
    }
}
