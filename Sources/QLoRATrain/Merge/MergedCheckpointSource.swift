import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel

/// A base model with an adapter folded in, seen as a checkpoint: each tensor by its Hugging Face
/// name, computed when asked for, one at a time (never the whole model in Float32).
///
/// Adapted linears: W' = W + s·B·A (LoRA), or W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖_row (DoRA, PEFT's
/// `DoraLinearVariant.merge_safe`), W the dequantized NF4 weight — what training saw. Products are
/// accumulated in Double. Everything else is the base's own value.
public final class MergedCheckpointSource: CheckpointSource, @unchecked Sendable {
    public let weights: LlamaWeights
    public let adapter: LoRAAdapterWeights
    public let path: String
    public var config: LlamaConfig { weights.config }
    public let tensorNames: [String]
    private let shapes: [String: [Int]]
    /// RMS of every tensor produced so far, by name (for relative error reports).
    public private(set) var rms: [String: Double] = [:]
    /// RMS of W' − W (what the adapter changed) of every adapted linear produced so far, by name.
    public private(set) var deltaRMS: [String: Double] = [:]

    /// Checks that every adapted module fits its base linear before anything is computed.
    public init(weights: LlamaWeights, adapter: LoRAAdapterWeights, path: String) throws {
        self.weights = weights
        self.adapter = adapter
        self.path = path
        let c = weights.config
        for m in adapter.orderedModules {
            guard m.layer < weights.layers.count else {
                throw QLoRAError.invalid("adapter module \(m.path) is for layer \(m.layer); the base has \(weights.layers.count) layers (an adapter for another base model?)")
            }
            let lin = weights.layers[m.layer].linear(named: m.linear.moduleName)
            guard m.a.shape[1] == lin.inFeatures, m.b.shape[0] == lin.outFeatures else {
                throw QLoRAError.invalid("adapter module \(m.path) is \(m.b.shape[0])×\(m.a.shape[1]); the base linear is \(lin.outFeatures)×\(lin.inFeatures) (an adapter for another base model?)")
            }
        }
        var names: [String] = [], shapes: [String: [Int]] = [:]
        func add(_ n: String, _ s: [Int]) { names.append(n); shapes[n] = s }
        add("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])
        for (l, layer) in weights.layers.enumerated() {
            let p = "model.layers.\(l)."
            add(p + "input_layernorm.weight", [c.hiddenSize])
            add(p + "post_attention_layernorm.weight", [c.hiddenSize])
            if layer.postMlpNorm != nil {  // Gemma: the MLP's input norm is pre_feedforward_layernorm
                add(p + "pre_feedforward_layernorm.weight", [c.hiddenSize])
                add(p + "post_feedforward_layernorm.weight", [c.hiddenSize])
            }
            if layer.qNorm != nil { add(p + "self_attn.q_norm.weight", [c.headDim]) }
            if layer.kNorm != nil { add(p + "self_attn.k_norm.weight", [c.headDim]) }
            for (name, lin) in layer.linears {
                let module = p + (["q_proj", "k_proj", "v_proj", "qkv_proj", "o_proj"].contains(name) ? "self_attn." : "mlp.") + name
                add(module + ".weight", [lin.outFeatures, lin.inFeatures])
                if lin.bias != nil { add(module + ".bias", [lin.outFeatures]) }
            }
        }
        add("model.norm.weight", [c.hiddenSize])
        if weights.lmHead != nil { add("lm_head.weight", [c.vocabSize, c.hiddenSize]) }
        tensorNames = names
        self.shapes = shapes
    }

    public func shape(of name: String) throws -> [Int] {
        guard let s = shapes[name] else { throw QLoRAError(.notFound, "merged model: no tensor named '\(name)'") }
        return s
    }

    public func storedBytes(of name: String) throws -> Int { 4 * (try shape(of: name)).reduce(1, *) }
    public func dtypeName(of name: String) throws -> String { "float32" }

    public func floats(_ name: String) throws -> [Float] {
        let values = try compute(name)
        rms[name] = (values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(values.count, 1))).squareRoot()
        return values
    }

    private func compute(_ name: String) throws -> [Float] {
        switch name {
        case "model.embed_tokens.weight": return Self.dense(weights.embed)
        case "model.norm.weight": return weights.finalNorm
        case "lm_head.weight": return Self.dense(weights.lmHead!)
        default: break
        }
        let parts = name.split(separator: ".").map(String.init)
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let l = Int(parts[2]), l < weights.layers.count
        else { throw QLoRAError(.notFound, "merged model: no tensor named '\(name)'") }
        let layer = weights.layers[l]
        switch parts[3] {
        case "input_layernorm": return layer.attnNorm
        case "post_attention_layernorm": return layer.postAttnNorm ?? layer.mlpNorm
        case "pre_feedforward_layernorm" where layer.postMlpNorm != nil: return layer.mlpNorm
        case "post_feedforward_layernorm": if let w = layer.postMlpNorm { return w }
        default: break
        }
        if parts[4] == "q_norm", let w = layer.qNorm { return w }
        if parts[4] == "k_norm", let w = layer.kNorm { return w }
        let lin = layer.linear(named: parts[4])
        if parts.last == "bias" { return lin.bias ?? [] }
        let module = LlamaLinear(rawValue: String(parts[4].dropLast("_proj".count))).flatMap {
            adapter.module(layer: l, $0)
        }
        let (values, delta) = merged(lin, module)
        if module != nil { deltaRMS[name] = delta }
        return values
    }

    static func dense(_ m: DenseMatrix) -> [Float] {
        var v = [Float](repeating: 0, count: m.rows * m.cols)
        v.withUnsafeMutableBufferPointer { p in for r in 0..<m.rows { m.row(r, into: p.baseAddress! + r * m.cols) } }
        return v
    }

    /// The base linear dequantized, with the adapter module (if any) folded in, and the RMS of the change.
    func merged(_ lin: FrozenLinear, _ module: LoRAAdapterWeights.Module?) -> ([Float], Double) {
        let O = lin.outFeatures, I = lin.inFeatures
        var w = [Float](repeating: 0, count: O * I)
        w.withUnsafeMutableBufferPointer { buf in
            switch lin.storage {
            case .nf4(let m): NF4Kernels.dequantize(m.ref, into: buf.baseAddress!)
            case .dense(let m): for r in 0..<O { m.row(r, into: buf.baseAddress! + r * I) }
            }
        }
        guard let module else { return (w, 0) }
        let r = adapter.config.r, s = adapter.config.scaling
        let a = module.a.value, b = module.b.value
        var row = [Double](repeating: 0, count: I)
        var changed = 0.0
        for o in 0..<O {
            for i in 0..<I { row[i] = 0 }
            for k in 0..<r {
                let bk = Double(b[o * r + k])
                if bk == 0 { continue }
                let ak = a + k * I
                for i in 0..<I { row[i] += bk * Double(ak[i]) }
            }
            for i in 0..<I { row[i] = Double(w[o * I + i]) + s * row[i] }        // W + s·B·A
            var factor = 1.0
            if let m = module.magnitude {                                       // DoRA: m / ‖row‖
                let norm = row.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
                factor = Double(m.value[o]) / norm
            }
            for i in 0..<I {
                let new = Float(factor * row[i])
                let d = Double(new) - Double(w[o * I + i])
                changed += d * d
                w[o * I + i] = new
            }
        }
        return (w, (changed / Double(max(O * I, 1))).squareRoot())
    }
}
