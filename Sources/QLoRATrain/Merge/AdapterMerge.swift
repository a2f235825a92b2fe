import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel

/// Folds a LoRA adapter into its base for deployment: W' = dequantize(W) + s · B·A for every adapted
/// linear — the dequantized NF4 weight is what training saw — and writes a plain Hugging Face
/// checkpoint (no quantization_config) in Float32, float16 or bfloat16. The directory appears
/// complete or not at all.
public enum AdapterMerge {
    public static let supportedDTypes: [String: TensorDType] = ["f32": .f32, "f16": .f16, "bf16": .bf16]

    /// Every tensor of the merged model by HF name, Float32, in checkpoint order.
    public static func mergedTensors(_ weights: LlamaWeights, _ adapter: LoRAAdapterWeights) throws
        -> [(String, [Int], [Float])] {
        let c = weights.config
        var out: [(String, [Int], [Float])] = []
        func dense(_ m: DenseMatrix) -> [Float] {
            var v = [Float](repeating: 0, count: m.rows * m.cols)
            v.withUnsafeMutableBufferPointer { p in for r in 0..<m.rows { m.row(r, into: p.baseAddress! + r * m.cols) } }
            return v
        }
        out.append(("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize], dense(weights.embed)))
        for (l, layer) in weights.layers.enumerated() {
            let p = "model.layers.\(l)."
            out.append((p + "input_layernorm.weight", [c.hiddenSize], layer.attnNorm))
            out.append((p + "post_attention_layernorm.weight", [c.hiddenSize], layer.mlpNorm))
            for (name, lin) in layer.linears {
                guard let linear = LlamaLinear(rawValue: String(name.dropLast("_proj".count))) else { continue }
                let module = linear.modulePath(layer: l)
                var w = [Float](repeating: 0, count: lin.outFeatures * lin.inFeatures)
                w.withUnsafeMutableBufferPointer { buf in
                    switch lin.storage {
                    case .nf4(let m): NF4Kernels.dequantize(m.ref, into: buf.baseAddress!)
                    case .dense(let m): for r in 0..<m.rows { m.row(r, into: buf.baseAddress! + r * m.cols) }
                    }
                }
                if let ad = adapter.modules[module] {
                    let r = adapter.config.r, s = Float(adapter.config.scaling)
                    guard ad.a.shape == [r, lin.inFeatures], ad.b.shape == [lin.outFeatures, r] else {
                        throw QLoRAError.invalid("adapter \(module) has shapes \(ad.a.shape)/\(ad.b.shape), the base \(lin.outFeatures)×\(lin.inFeatures)")
                    }
                    // W += s · B (out, r) · A (r, in), accumulated in Double per element.
                    for o in 0..<lin.outFeatures {
                        for i in 0..<lin.inFeatures {
                            var acc = 0.0
                            for k in 0..<r { acc += Double(ad.b.value[o * r + k]) * Double(ad.a.value[k * lin.inFeatures + i]) }
                            w[o * lin.inFeatures + i] += s * Float(acc)
                        }
                    }
                }
                let group = ["q_proj", "k_proj", "v_proj", "o_proj"].contains(name) ? "self_attn" : "mlp"
                out.append((p + "\(group).\(name).weight", [lin.outFeatures, lin.inFeatures], w))
                if let b = lin.bias { out.append((p + "\(group).\(name).bias", [lin.outFeatures], b)) }
            }
        }
        out.append(("model.norm.weight", [c.hiddenSize], weights.finalNorm))
        if let head = weights.lmHead { out.append(("lm_head.weight", [c.vocabSize, c.hiddenSize], dense(head))) }
        return out
    }

    /// Writes the merged checkpoint into `output` (config.json, model.safetensors, extra files).
    public static func write(_ weights: LlamaWeights, _ adapter: LoRAAdapterWeights, to output: String,
                             dtype: TensorDType, extraFiles: [String: [UInt8]]) throws {
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt"]
        for (name, shape, values) in try mergedTensors(weights, adapter) {
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw QLoRAError(.numeric, "merged tensor '\(name)' has a non-finite value at element \(bad)")
            }
            writer.add(name, shape: shape, floats: values, as: dtype)
        }
        var config = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(weights.config)) as? [String: Any] ?? [:]
        config["architectures"] = ["LlamaForCausalLM"]
        config["torch_dtype"] = dtype.torchName
        config["hidden_act"] = "silu"
        let configBytes = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try AtomicOutput.directory(at: output) { dir in
            try writer.write(to: dir + "/model.safetensors")
            try AtomicOutput.write([UInt8](configBytes) + [0x0A], to: dir + "/config.json")
            for (file, bytes) in extraFiles where file != "config.json" { try AtomicOutput.write(bytes, to: dir + "/" + file) }
        }
    }
}
