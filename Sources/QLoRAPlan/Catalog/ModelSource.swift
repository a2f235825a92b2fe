import Foundation
import QLoRACore
import QLoRAFormats

/// The model a plan is for, after `--model` was resolved.
public struct PlannedModel: Sendable {
    /// Preset name, or the path that was read.
    public let name: String
    /// Preset family (`llama-2`); for a file, the family of the preset with the same shape, if any.
    public let family: String?
    public let config: LlamaConfig
    /// How `--model` was resolved, when that is not obvious ("alias '70b' → llama-2-70b …").
    public let resolution: String?

    public init(name: String, family: String?, config: LlamaConfig, resolution: String? = nil) {
        self.name = name
        self.family = family
        self.config = config
        self.resolution = resolution
    }
}

/// Turns the text of `--model` into a `PlannedModel`: a preset name, a size alias, a `config.json`,
/// a checkpoint directory (its `config.json`) or a GGUF file (header only, once wired).
public enum ModelSource {
    public static func resolve(_ text: String) throws -> PlannedModel {
        let key = text.lowercased()
        if let preset = ModelPresets.preset(named: key) {
            return PlannedModel(name: preset.name, family: preset.family, config: preset.config)
        }
        if let alias = ModelPresets.aliases.first(where: { $0.alias == key }),
           let preset = ModelPresets.preset(named: alias.preset) {
            let others = ModelPresets.all.filter { $0.size == preset.size && $0.name != preset.name }
            var note = "size alias '\(text)' resolved to \(preset.name)"
            if !others.isEmpty {
                note += " (other \(preset.size) presets: \(others.map(\.name).joined(separator: ", ")))"
            }
            return PlannedModel(name: preset.name, family: preset.family, config: preset.config,
                                resolution: note)
        }
        if looksLikePath(text) { return try fromPath(text) }
        throw QLoRAError(.notFound,
            "unknown model '\(text)': not a preset, a size alias, a config.json, a checkpoint directory " +
            "or a .gguf file (see `qlora memplan --list`)")
    }

    /// Reads the architecture of a GGUF file from its header only (`llama.embedding_length`,
    /// `llama.block_count`, …; the file is memory-mapped and no tensor data is touched).
    public static func planConfig(fromGGUF path: String) throws -> LlamaConfig {
        try LlamaConfig(gguf: GGUFFile(path: path))
    }

    private static func looksLikePath(_ text: String) -> Bool {
        text.contains("/") || text.hasSuffix(".json") || text.hasSuffix(".gguf")
            || FileManager.default.fileExists(atPath: text)
    }

    private static func fromPath(_ path: String) throws -> PlannedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw QLoRAError.io(path, "no such file or directory")
        }
        let config: LlamaConfig
        if isDirectory.boolValue {
            let json = (path as NSString).appendingPathComponent("config.json")
            guard FileManager.default.fileExists(atPath: json) else {
                throw QLoRAError.io(path, "checkpoint directory has no config.json")
            }
            config = try LlamaConfig.load(path: json)
        } else if path.lowercased().hasSuffix(".gguf") {
            config = try planConfig(fromGGUF: path)
        } else {
            try PickleRefusal.checkFile(path)
            config = try LlamaConfig.load(path: path)
        }
        let twin = ModelPresets.all.first { sameShape($0.config, config) }
        let note = twin.map { "read from \(path) (same shape as preset \($0.name))" } ?? "read from \(path)"
        return PlannedModel(name: path, family: twin?.family, config: config, resolution: note)
    }

    /// True when two configs have the same sizes, i.e. the same memory footprint.
    static func sameShape(_ a: LlamaConfig, _ b: LlamaConfig) -> Bool {
        a.hiddenSize == b.hiddenSize && a.intermediateSize == b.intermediateSize
            && a.numHiddenLayers == b.numHiddenLayers && a.numAttentionHeads == b.numAttentionHeads
            && a.numKeyValueHeads == b.numKeyValueHeads && a.vocabSize == b.vocabSize
            && a.tieWordEmbeddings == b.tieWordEmbeddings && a.numLocalExperts == b.numLocalExperts
    }
}
