import QLoRACore
import QLoRAFormats
import QLoRAModel

/// The adapter methods an inference model takes, keyed by the `peft_type` of their
/// `adapter_config.json` (PEFT's `register_peft_method`): one line per method.
public enum AdapterRegistry {
    public typealias Attach = (_ directory: String, _ model: LlamaModel) throws -> Void

    public static let methods: [(peftType: String, attach: Attach)] = [
        ("LORA", AdapterAttachment.attach),
        ("PROMPT_TUNING", { dir, model in
            model.inputPrefix = PromptEmbedding(try PEFTPromptAdapter.read(from: dir, model: model.config))
        }),
        ("PREFIX_TUNING", { dir, model in
            model.kvPrefix = try PrefixEncoder.load(try PEFTPromptAdapter.read(from: dir, model: model.config))
        }),
    ]

    /// Attaches the adapter in `directory` (any registered method) to `model`.
    public static func attach(_ directory: String, to model: LlamaModel) throws {
        let type = try PEFTAdapterType.peftType(directory: directory)
        guard let method = methods.first(where: { $0.peftType == type }) else {
            throw QLoRAError.unsupported(directory + "/" + LoRAConfig.fileName,
                                         "peft_type '\(type)' is not supported (\(methods.map(\.peftType).joined(separator: ", ")))")
        }
        try method.attach(directory, model)
    }
}
