import Foundation
import QLoRA

/// Opens what a user passes as a model: an HF checkpoint directory or a GGUF file.
struct ModelInput {
    let source: CheckpointSource
    /// Tokenizer and generation files to carry into an output checkpoint (name → bytes).
    let tokenizerFiles: [String: [UInt8]]
    /// The source's own config.json, when it has one.
    let configJSON: [String: Any]?

    static func open(_ path: String) throws -> ModelInput {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw QLoRAError.io(path, "no such file or directory")
        }
        if isDir.boolValue {
            let ckpt = try HFCheckpoint(directory: path)
            var files: [String: [UInt8]] = [:]
            for name in HFCheckpoint.tokenizerFiles {
                if let data = try MetadataFile.read(path + "/" + name) { files[name] = [UInt8](data) }
            }
            let cfg = try MetadataFile.read(path + "/config.json")
                .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            return ModelInput(source: ckpt, tokenizerFiles: files, configJSON: cfg)
        }
        if path.hasSuffix(".gguf") {
            return try openGGUF(path)
        }
        try PickleRefusal.checkFile(path)
        throw QLoRAError.unsupported(path, "not a checkpoint directory or a .gguf file")
    }

    static func openGGUF(_ path: String) throws -> ModelInput {
        let gguf = try GGUFFile(path: path)
        let ckpt = try GGUFCheckpoint(gguf: gguf)
        let tokenizer = try GGUFTokenizerFiles(gguf: gguf)
        return ModelInput(source: ckpt, tokenizerFiles: tokenizer.files, configJSON: nil)
    }
}
