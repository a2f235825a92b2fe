import Foundation
import QLoRACore
import QLoRAFormats

/// Writes a merged model as a GGUF file that llama.cpp-based tools run: tensors under llama.cpp's
/// names, Q/K rows permuted into llama.cpp's RoPE layout (LLaMA architecture), 2-D weights in F16 or
/// Q8_0 and vectors in F32 (as `convert_hf_to_gguf.py --outtype f16|q8_0` does), and the metadata:
///
/// - from a GGUF base: its metadata — architecture, hyperparameters and tokenizer — copied, with
///   `general.file_type` set to the new type;
/// - from a Hugging Face base: the architecture's hyperparameters from the config
///   (`LlamaConfig.ggufModelMetadata`) and the tokenizer metadata built from `tokenizer.json` as
///   llama.cpp's converter builds it (`GGUFTokenizerMetadata(huggingFace:…)`).
///
/// Per-frequency RoPE factors (Llama 3 scaling, or the `rope_freqs.weight` a GGUF base had) are
/// written as llama.cpp's `rope_freqs.weight` F32 tensor: without it llama.cpp rotates every
/// position with the unscaled frequencies.
public enum GGUFExport {
    public static let ropeFrequenciesTensor = "rope_freqs.weight"

    public enum WeightType: String, CaseIterable, Sendable {
        case f16, q8_0
        var ggml: GGMLType { self == .f16 ? .f16 : .q8_0 }
        /// llama.cpp's `LLAMA_FTYPE_MOSTLY_F16` / `LLAMA_FTYPE_MOSTLY_Q8_0`.
        var fileType: UInt32 { self == .f16 ? 1 : 7 }
    }

    /// Writes `source` to `output` (atomically) with the metadata of `base`, the GGUF the base came from.
    public static func write(_ source: CheckpointSource, base: GGUFFile, to output: String, type: WeightType) throws {
        var metadata: [(String, GGUFValue)] = []
        for key in base.metadataKeys where key != "general.alignment" {
            metadata.append((key, key == "general.file_type" ? .uint32(type.fileType) : base.metadata[key]!))
        }
        if base.metadata["general.file_type"] == nil { metadata.append(("general.file_type", .uint32(type.fileType))) }
        // The base's scaling metadata stays, and so does its rope_freqs tensor, unchanged (the
        // config holds their product; writing that beside the metadata would apply linear twice).
        let factors = base.hasTensor(ropeFrequenciesTensor) ? try base.floats(ropeFrequenciesTensor) : nil
        try writeFile(source, metadata: metadata, permutesRoPE: base.architecture == "llama",
                      ropeFrequencies: factors, to: output, type: type)
    }

    /// Writes `source` to `output` (atomically) as llama.cpp's converter would write the Hugging
    /// Face checkpoint: `name` is `general.name`, `tokenizer` the tokenizer metadata.
    public static func write(_ source: CheckpointSource, name: String, tokenizer: GGUFTokenizerMetadata,
                             to output: String, type: WeightType) throws {
        let config = source.config
        var metadata = try config.ggufModelMetadata(output)
        metadata.insert(("general.type", .string("model")), at: 1)
        metadata.insert(("general.name", .string(name)), at: 2)
        metadata.append(("general.file_type", .uint32(type.fileType)))
        metadata += tokenizer.ggufMetadata
        metadata.append(("general.quantization_version", .uint32(2)))
        let arch = try config.ggufExportArchitecture(output)
        try writeFile(source, metadata: metadata, permutesRoPE: arch == "llama",
                      ropeFrequencies: try config.ggufRopeFrequencyFactors(output), to: output, type: type)
    }

    static func writeFile(_ source: CheckpointSource, metadata: [(String, GGUFValue)], permutesRoPE: Bool,
                          ropeFrequencies: [Float]?, to output: String, type: WeightType) throws {
        var writer = GGUFWriter()
        writer.metadata = metadata
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
            plan.append((name, permutesRoPE ? GGUFTensorNames.ropePermutationHeads(gguf, config: config) : nil))
        }
        if let ropeFrequencies {
            writer.tensors.append(GGUFWriter.Tensor(name: ropeFrequenciesTensor, dims: [ropeFrequencies.count], type: .f32))
        }
        try writer.write(to: output) { i in
            if i >= plan.count { return GGMLEncode.f32(ropeFrequencies!) }
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
