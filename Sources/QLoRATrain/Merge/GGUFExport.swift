import Foundation
import QLoRACore
import QLoRAFormats

/// Writes a merged model as a GGUF file that llama.cpp-based tools run: tensors under llama.cpp's
/// names, Q/K rows permuted into llama.cpp's RoPE layout (LLaMA architecture), 2-D weights in F16 or
/// Q8_0 and vectors in F32 (as `convert_hf_to_gguf.py --outtype f16|q8_0` does), and the source
/// GGUF's metadata — architecture, hyperparameters and tokenizer — copied, with `general.file_type`
/// set to the new type. Tensors of the base that are not weights of the model — `rope_freqs.weight`,
/// where llama.cpp keeps Llama 3.1's RoPE scaling (without it every position gets the wrong rotary
/// frequencies) — are copied unchanged in F32.
public enum GGUFExport {
    /// Base tensors the export copies as they are (the merged checkpoint does not carry them).
    public static let copiedTensors = ["rope_freqs.weight"]

    public enum WeightType: String, CaseIterable, Sendable {
        case f16, q8_0
        var ggml: GGMLType { self == .f16 ? .f16 : .q8_0 }
        /// llama.cpp's `LLAMA_FTYPE_MOSTLY_F16` / `LLAMA_FTYPE_MOSTLY_Q8_0`.
        var fileType: UInt32 { self == .f16 ? 1 : 7 }
    }

    /// Writes `source` to `output` (atomically) with the metadata of `base`, the GGUF the base came from.
    public static func write(_ source: CheckpointSource, base: GGUFFile, to output: String, type: WeightType) throws {
        var writer = GGUFWriter()
        for key in base.metadataKeys where key != "general.alignment" {
            writer.metadata.append((key, key == "general.file_type" ? .uint32(type.fileType) : base.metadata[key]!))
        }
        if base.metadata["general.file_type"] == nil { writer.metadata.append(("general.file_type", .uint32(type.fileType))) }
        let permutes = base.architecture == "llama"
        let config = source.config
        var plan: [(hf: String, heads: Int?)] = []
        for name in source.tensorNames {
            guard let gguf = GGUFTensorNames.ggufName(name) else {
                throw QLoRAError.unsupported(output, "tensor '\(name)' has no llama.cpp name")
            }
            let shape = try source.shape(of: name)
            let dims = Array(shape.reversed())
            let ggml: GGMLType = shape.count == 2 && dims[0] % type.ggml.blockSize == 0 ? type.ggml : (shape.count == 2 ? .f16 : .f32)
            writer.tensors.append(GGUFWriter.Tensor(name: gguf, dims: dims, type: ggml))
            plan.append((name, permutes ? GGUFTensorNames.ropePermutationHeads(gguf, config: config) : nil))
        }
        var copied: [String] = []
        for name in copiedTensors where base.hasTensor(name) {
            let info = try base.tensor(name)
            writer.tensors.append(GGUFWriter.Tensor(name: name, dims: info.dims, type: .f32))
            copied.append(name)
        }
        try writer.write(to: output) { i in
            if i >= plan.count { return GGMLEncode.f32(try base.floats(copied[i - plan.count])) }
            var values = try source.floats(plan[i].hf)
            if !values.allSatisfy(\.isFinite) {
                throw QLoRAError(.numeric, "merged tensor '\(plan[i].hf)' has a non-finite value")
            }
            let t = writer.tensors[i]
            if let heads = plan[i].heads {
                let rows = t.dims.last!
                GGUFTensorNames.permuteRoPERows(&values, rows: rows, columns: values.count / rows, heads: heads)
            }
            switch t.type.id {
            case GGMLType.q8_0.id: return GGMLEncode.q8_0(values)
            case GGMLType.f16.id: return GGMLEncode.f16(values)
            default: return GGMLEncode.f32(values)
            }
        }
    }
}
