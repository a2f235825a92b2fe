import Foundation
import QLoRACore

/// A prompt-tuning or prefix-tuning adapter in PEFT's on-disk form: `adapter_config.json` and
/// `adapter_model.safetensors` holding one tensor, `prompt_embeddings` (PEFT's
/// `get_prompt_embedding_to_save`): the virtual token embeddings (N, token_dim) for prompt tuning,
/// the prefix encoder's output (N, layers·2·token_dim) for prefix tuning — viewed as
/// (N, layers·2, kv_heads, head_dim), index 2l holds layer l's keys and 2l+1 its values.
public struct PEFTPromptAdapter: Equatable, Sendable {
    public static let tensorName = "prompt_embeddings"

    public var config: PromptLearningConfig
    /// `prompt_embeddings`, row-major, `config.savedShape`.
    public var embeddings: [Float]

    public init(config: PromptLearningConfig, embeddings: [Float]) {
        precondition(embeddings.count == config.savedShape.reduce(1, *), "prompt_embeddings do not match the config")
        self.config = config
        self.embeddings = embeddings
    }

    /// Writes both files into `dir` (created if needed), each atomically.
    public func write(to dir: String) throws {
        try PEFTFiles.write(to: dir, configJSON: config.json()) { writer in
            writer.add(Self.tensorName, shape: config.savedShape, floats: embeddings)
        }
    }

    /// Reads the adapter in `dir` and checks it against the base model `model`.
    public static func read(from dir: String, model: LlamaConfig) throws -> PEFTPromptAdapter {
        let (configPath, data) = try PEFTFiles.readConfig(in: dir)
        let weightsPath = try PEFTLoRAAdapter.fileInside(dir, PEFTFiles.weightsFileName)
        let config = try PromptLearningConfig.parse(data, path: configPath)
        try config.check(against: model, path: configPath)
        let file = try SafetensorsFile(path: weightsPath)
        for name in file.names where name != tensorName {
            throw QLoRAError.format(weightsPath, "unexpected tensor '\(name)' (a \(config.method.rawValue) adapter holds only '\(tensorName)')")
        }
        guard file.names.contains(tensorName) else { throw QLoRAError.format(weightsPath, "no '\(tensorName)' tensor") }
        let info = try file.info(tensorName)
        guard info.shape == config.savedShape else {
            throw QLoRAError.format(weightsPath, "'\(tensorName)' has shape \(info.shape), expected \(config.savedShape) from adapter_config.json")
        }
        guard [.f32, .f16, .bf16].contains(info.dtype) else {
            throw QLoRAError.unsupported(weightsPath, "'\(tensorName)' is \(info.dtype.rawValue); it must be F32, F16 or BF16")
        }
        return PEFTPromptAdapter(config: config, embeddings: try file.floats(tensorName))
    }
}

/// Which PEFT method an adapter directory holds.
public enum PEFTAdapterType {
    /// `peft_type` of `dir/adapter_config.json` (LORA, PROMPT_TUNING, …), as written.
    public static func peftType(directory dir: String) throws -> String {
        let (path, data) = try PEFTFiles.readConfig(in: dir)
        guard let type = try PEFTFiles.configObject(data, path: path)["peft_type"]?.string else { throw QLoRAError.format(path, "no peft_type") }
        return type
    }
}
