import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAQuant

/// Every weight of a LLaMA-family decoder, frozen: block linears as `FrozenLinear` (NF4 or dense
/// Float32), embeddings (also the lm_head when tied) as a dense Float32 or bf16 matrix, norms in
/// Float32. Shapes: C = hidden, F = intermediate, V = vocab, L = layers.
public final class LlamaWeights: @unchecked Sendable {
    public struct Layer {
        public var attnNorm: [Float]      // (C) input_layernorm
        public var mlpNorm: [Float]       // (C) the MLP's input norm (Gemma: pre_feedforward_layernorm)
        /// The block linears by HF module name, in HF order (`LlamaLinear.modules(of:)`): q_proj (NH·HS, C),
        /// k_proj, v_proj (NKV·HS, C), o_proj (C, NH·HS), gate_proj, up_proj (F, C), down_proj (C, F); or
        /// Phi-3's fused qkv_proj ((NH + 2·NKV)·HS, C: q, k, v rows stacked), o_proj, gate_up_proj
        /// (2F, C: gate rows, then up rows), down_proj.
        public var linears: [(String, FrozenLinear)]
        /// Qwen3's per-head RMSNorm weights on q and k (HS each), or nil.
        public var qNorm: [Float]? = nil
        public var kNorm: [Float]? = nil
        /// Gemma's norms on the attention output and the MLP output, before each residual add (C each), or nil.
        public var postAttnNorm: [Float]? = nil
        public var postMlpNorm: [Float]? = nil

        public init(attnNorm: [Float], mlpNorm: [Float], linears: [(String, FrozenLinear)]) {
            self.attnNorm = attnNorm
            self.mlpNorm = mlpNorm
            self.linears = linears
        }

        /// The seven separate projections.
        public init(attnNorm: [Float], mlpNorm: [Float], q: FrozenLinear, k: FrozenLinear, v: FrozenLinear,
                    o: FrozenLinear, gate: FrozenLinear, up: FrozenLinear, down: FrozenLinear) {
            self.init(attnNorm: attnNorm, mlpNorm: mlpNorm,
                      linears: [("q_proj", q), ("k_proj", k), ("v_proj", v), ("o_proj", o), ("gate_proj", gate),
                                ("up_proj", up), ("down_proj", down)])
        }

        /// The projection with HF module name `name`, if the layer has it.
        public func linearIfPresent(_ name: String) -> FrozenLinear? { linears.first { $0.0 == name }?.1 }

        /// The projection with HF module name `name` (`q_proj` … `down_proj`, `qkv_proj`, `gate_up_proj`).
        public func linear(named name: String) -> FrozenLinear {
            guard let found = linearIfPresent(name) else { preconditionFailure("no linear \(name)") }
            return found
        }

        /// Phi-3's fused projections, or nil when the layer has them separate.
        public var qkv: FrozenLinear? { linearIfPresent("qkv_proj") }
        public var gateUp: FrozenLinear? { linearIfPresent("gate_up_proj") }
        public var q: FrozenLinear { linear(named: "q_proj") }
        public var k: FrozenLinear { linear(named: "k_proj") }
        public var v: FrozenLinear { linear(named: "v_proj") }
        public var o: FrozenLinear { linear(named: "o_proj") }
        public var gate: FrozenLinear { linear(named: "gate_proj") }
        public var up: FrozenLinear { linear(named: "up_proj") }
        public var down: FrozenLinear { linear(named: "down_proj") }
    }

    public let config: LlamaConfig
    public let embed: DenseMatrix          // (V, C)
    public let lmHead: DenseMatrix?        // (V, C); nil when tied to `embed`
    public let finalNorm: [Float]          // (C)
    public let layers: [Layer]

    public init(config: LlamaConfig, embed: DenseMatrix, lmHead: DenseMatrix?, finalNorm: [Float], layers: [Layer]) {
        self.config = config
        self.embed = embed
        self.lmHead = lmHead
        self.finalNorm = finalNorm
        self.layers = layers
    }

    /// The output projection (the embeddings when tied).
    public var outputMatrix: DenseMatrix { lmHead ?? embed }

    /// The arithmetic of every frozen product: the block linears and the output matrix (lm_head).
    /// Resolve `.auto` first (`ComputeDTypeChoice`); `.f32` is the reference path.
    public var computeDType: ComputeDType = .f32 {
        didSet { for l in layers { for (_, lin) in l.linears { lin.computeDType = computeDType } } }
    }

    /// How block linears are held after loading.
    public enum LinearStorage: Sendable {
        /// NF4 (or FP4) blocks, quantized on load unless the source already is.
        case quantized(type: FourBitType, blockSize: Int, doubleQuant: Bool)
        /// Dense Float32, as the source has them (the unquantized reference).
        case float32

        public static let qlora = LinearStorage.quantized(type: .nf4, blockSize: 64, doubleQuant: true)
    }

    /// Bytes held by the block linears / by the embeddings and lm_head / by the norms.
    public var linearBytes: Int { layers.reduce(0) { $0 + $1.linears.reduce(0) { $0 + $1.1.storedBytes } } }
    public var embeddingBytes: Int { embed.storedBytes + (lmHead?.storedBytes ?? 0) }
}

// MARK: Loading

extension LlamaWeights {
    /// Loads from a checkpoint source (HF safetensors or GGUF), quantizing block linears on load when
    /// asked. Tensors are read one at a time; a quantized layer never exists in Float32 after load.
    public static func load(from source: CheckpointSource, linears: LinearStorage,
                            embeddings: DenseMatrixRef.Storage, threads: Int = 1) throws -> LlamaWeights {
        let c = source.config
        try c.checkRunnable(source.path)
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            let got = try source.shape(of: name)
            guard got == shape else {
                throw QLoRAError.format(source.path, "tensor '\(name)' has shape \(got), expected \(shape)")
            }
            let values = try source.floats(name)
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw QLoRAError(.numeric, "\(source.path): tensor '\(name)' has a non-finite value at element \(bad)")
            }
            return values
        }
        func linear(_ name: String, _ out: Int, _ inn: Int, bias: Bool) throws -> FrozenLinear {
            let w = try tensor(name + ".weight", [out, inn])
            let b = bias ? try tensor(name + ".bias", [out]) : nil
            switch linears {
            case .float32:
                return FrozenLinear(.dense(DenseMatrix(rows: out, cols: inn, values: w, storage: .f32)), bias: b)
            case .quantized(let type, let blockSize, let dq):
                let q = FourBitCodec.quantize(w, shape: [out, inn], type: type, blockSize: blockSize, doubleQuant: dq,
                                              threads: threads)
                return FrozenLinear(.nf4(NF4Matrix.make(q)), bias: b)
            }
        }
        let names = Set(source.tensorNames)
        let naming = try TensorNaming(config: c, names: names, path: source.path)
        var layers: [Layer] = []
        for l in 0..<c.numHiddenLayers {
            let p = naming.layer(l)
            let qkvBias = c.attentionBias && names.contains(p + "self_attn.q_proj.bias")
            var layer = Layer(attnNorm: try tensor(p + "input_layernorm.weight", [c.hiddenSize]),
                              mlpNorm: try tensor(p + naming.mlpNorm, [c.hiddenSize]),
                              linears: try LlamaLinear.modules(of: c).map { m in
                                  let (inF, outF) = m.features(c)
                                  return (m.moduleName, try linear(p + m.parentName + "." + m.moduleName, outF, inF,
                                                                   bias: qkvBias && [.q, .k, .v].contains(m)))
                              })
            if c.hasQKNorm {
                layer.qNorm = try tensor(p + "self_attn.q_norm.weight", [c.headDim])
                layer.kNorm = try tensor(p + "self_attn.k_norm.weight", [c.headDim])
            }
            if c.family.sandwichNorms {
                layer.postAttnNorm = try tensor(p + "post_attention_layernorm.weight", [c.hiddenSize])
                layer.postMlpNorm = try tensor(p + "post_feedforward_layernorm.weight", [c.hiddenSize])
            }
            layers.append(layer)
        }
        let embed = DenseMatrix(rows: c.vocabSize, cols: c.hiddenSize,
                                values: try tensor(naming.embed, [c.vocabSize, c.hiddenSize]),
                                storage: embeddings)
        var head: DenseMatrix?
        if !c.tieWordEmbeddings || names.contains(naming.lmHead) {
            if names.contains(naming.lmHead) {
                head = DenseMatrix(rows: c.vocabSize, cols: c.hiddenSize,
                                   values: try tensor(naming.lmHead, [c.vocabSize, c.hiddenSize]), storage: embeddings)
            } else if !c.tieWordEmbeddings {
                throw QLoRAError.format(source.path, "missing \(naming.lmHead) (embeddings are not tied)")
            }
        }
        return LlamaWeights(config: c, embed: embed, lmHead: head,
                            finalNorm: try tensor(naming.finalNorm, [c.hiddenSize]), layers: layers)
    }

    /// Loads a directory written by `qlora quantize` (or any bitsandbytes 4-bit HF checkpoint): the
    /// 4-bit linears are repacked for the kernels straight from the memory map, never dequantized.
    public static func loadQuantized(directory: String) throws -> LlamaWeights {
        let ckpt = try HFCheckpoint(directory: directory)
        let c = ckpt.config
        try c.checkRunnable(directory)
        func dense(_ name: String, _ shape: [Int]) throws -> [Float] {
            let got = try ckpt.shape(of: name)
            guard got == shape else {
                throw QLoRAError.format(directory, "tensor '\(name)' has shape \(got), expected \(shape)")
            }
            return try ckpt.floats(name)
        }
        /// Embeddings / lm_head: bf16 bytes are taken as they are; other dtypes become Float32.
        func matrix(_ name: String) throws -> DenseMatrix {
            let shape = [c.vocabSize, c.hiddenSize]
            let file = try ckpt.safetensors(for: name)
            let info = try file.info(name)
            guard info.shape == shape else {
                throw QLoRAError.format(directory, "tensor '\(name)' has shape \(info.shape), expected \(shape)")
            }
            defer { file.dropPages(name) }
            if info.dtype == .bf16 {
                return DenseMatrix(rows: shape[0], cols: shape[1], bf16From: file, tensor: info)
            }
            return DenseMatrix(rows: shape[0], cols: shape[1], values: try file.floats(name), storage: .f32)
        }
        let names = Set(ckpt.tensorNames)
        let naming = try TensorNaming(config: c, names: names, path: directory)
        func linear(_ prefix: String, _ out: Int, _ inn: Int, bias: Bool) throws -> FrozenLinear {
            let b = bias ? try dense(prefix + ".bias", [out]) : nil
            let file = try ckpt.safetensors(for: prefix + ".weight")
            if Bnb4bitFormat.quantizedPrefixes(in: file).contains(prefix) {
                let (packed, state) = try Bnb4bitFormat.read(prefix: prefix, from: file)
                guard state.shape == [out, inn] else {
                    throw QLoRAError.format(directory, "'\(prefix)' has shape \(state.shape), expected [\(out), \(inn)]")
                }
                let matrix = NF4Matrix(bnbPacked: packed, state: state)
                file.dropPages(prefix + ".weight")
                return FrozenLinear(.nf4(matrix), bias: b)
            }
            let w = try dense(prefix + ".weight", [out, inn])
            return FrozenLinear(.dense(DenseMatrix(rows: out, cols: inn, values: w, storage: .f32)), bias: b)
        }
        var layers: [Layer] = []
        for l in 0..<c.numHiddenLayers {
            let p = naming.layer(l)
            let qkvBias = names.contains(p + "self_attn.q_proj.bias")
            var layer = Layer(attnNorm: try dense(p + "input_layernorm.weight", [c.hiddenSize]),
                              mlpNorm: try dense(p + naming.mlpNorm, [c.hiddenSize]),
                              linears: try LlamaLinear.modules(of: c).map { m in
                                  let (inF, outF) = m.features(c)
                                  return (m.moduleName, try linear(p + m.parentName + "." + m.moduleName, outF, inF,
                                                                   bias: qkvBias && [.q, .k, .v].contains(m)))
                              })
            if c.hasQKNorm {
                layer.qNorm = try dense(p + "self_attn.q_norm.weight", [c.headDim])
                layer.kNorm = try dense(p + "self_attn.k_norm.weight", [c.headDim])
            }
            if c.family.sandwichNorms {
                layer.postAttnNorm = try dense(p + "post_attention_layernorm.weight", [c.hiddenSize])
                layer.postMlpNorm = try dense(p + "post_feedforward_layernorm.weight", [c.hiddenSize])
            }
            layers.append(layer)
        }
        let embed = try matrix(naming.embed)
        var head: DenseMatrix?
        if names.contains(naming.lmHead) {
            head = try matrix(naming.lmHead)
        } else if !c.tieWordEmbeddings {
            throw QLoRAError.format(directory, "missing \(naming.lmHead) (embeddings are not tied)")
        }
        return LlamaWeights(config: c, embed: embed, lmHead: head,
                            finalNorm: try dense(naming.finalNorm, [c.hiddenSize]), layers: layers)
    }
}
