import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel
import QLoRAQuant

/// Folds a LoRA or DoRA adapter into its base for deployment (`MergedCheckpointSource` holds the
/// math) and writes it: a plain Hugging Face checkpoint in Float32, float16 or bfloat16; our 4-bit
/// checkpoint (what `qlora quantize` writes) re-quantized with the base's own options; or a GGUF
/// file (`GGUFExport`). Every output appears complete or not at all.
public enum AdapterMerge {
    public static let supportedDTypes: [String: TensorDType] = ["f32": .f32, "f16": .f16, "bf16": .bf16]

    /// Reads the adapter's `peft_type` first, so adapters that hold no weight delta get a clear error.
    public static func checkMergeable(adapterDirectory dir: String) throws {
        let path = dir + "/" + LoRAConfig.fileName
        let type = try PEFTAdapterType.peftType(directory: dir)
        switch type {
        case "LORA": return
        case "PROMPT_TUNING", "PREFIX_TUNING", "P_TUNING", "MULTITASK_PROMPT_TUNING":
            throw QLoRAError.invalid("nothing to merge: \(path) is a \(type) adapter, which adds virtual tokens, not weight deltas (use it with --adapter at inference)")
        default:
            throw QLoRAError.unsupported(path, "unknown peft_type '\(type)': merge folds LORA adapters (with or without use_dora)")
        }
    }

    /// Writes the merged checkpoint into `output` (config.json, model.safetensors, extra files). The
    /// config is the base's own `config.json` when there is one (merging changes no architecture key;
    /// keys this engine does not model, such as Phi-3's `pad_token_id`, stay), less its
    /// `quantization_config`; otherwise the engine's config.
    public static func write(_ source: MergedCheckpointSource, to output: String, dtype: TensorDType,
                             extraFiles: [String: [UInt8]], baseConfigJSON: [String: Any]? = nil) throws {
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt"]
        for name in source.tensorNames {
            let values = try source.floats(name)
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw QLoRAError(.numeric, "merged tensor '\(name)' has a non-finite value at element \(bad)")
            }
            writer.add(name, shape: try source.shape(of: name), floats: values, as: dtype)
        }
        var config: [String: Any]
        // A wrapper's config (Gemma 3's `gemma3` with `text_config`) does not describe the text model written here.
        if let base = baseConfigJSON, base["model_type"] as? String == source.config.modelType {
            config = base
            config["quantization_config"] = nil
            config["dtype"] = nil
        } else {
            config = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(source.config)) as? [String: Any] ?? [:]
            config["hidden_act"] = "silu"
        }
        config["architectures"] = [source.config.causalLMArchitecture]
        config["torch_dtype"] = dtype.torchName
        let configBytes = Array(ConfigJSONFloats.restore(String(decoding: try JSONSerialization.data(
            withJSONObject: config, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)).utf8)
        try AtomicOutput.directory(at: output) { dir in
            try writer.write(to: dir + "/model.safetensors")
            try AtomicOutput.write([UInt8](configBytes) + [0x0A], to: dir + "/config.json")
            for (file, bytes) in extraFiles where file != "config.json" { try AtomicOutput.write(bytes, to: dir + "/" + file) }
        }
    }

    /// The quantization the base's linears use (type, block size, double quant), for re-quantizing
    /// the merged weights the same way; `qlora quantize`'s defaults for a dense base.
    public static func baseQuantOptions(_ weights: LlamaWeights, threads: Int) -> CheckpointQuantizer.Options {
        var options = CheckpointQuantizer.Options()
        options.threads = threads
        if case .nf4(let m) = weights.layers.first?.linears.first?.1.storage {
            options.quantType = m.state.quantType
            options.blockSize = m.state.blockSize
            options.doubleQuant = m.state.nested != nil
        }
        return options
    }

    /// Re-quantizes the merged model into our 4-bit checkpoint at `output`; returns the quantizer's
    /// report (its errors are against the merged Float32 weights).
    public static func writeQuantized(_ source: MergedCheckpointSource, to output: String,
                                      options: CheckpointQuantizer.Options, extraFiles: [String: [UInt8]],
                                      baseConfigJSON: [String: Any]?) throws -> QuantizeReport {
        try CheckpointQuantizer.run(source: source, output: output, options: options, extraFiles: extraFiles,
                                    baseConfigJSON: baseConfigJSON)
    }
}
