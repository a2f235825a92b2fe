import Foundation
import QLoRACore
import QLoRAFormats

extension Tokenizer {
    /// The tokenizer of what a user passes as a model: a `.gguf` file (its metadata) or a
    /// checkpoint directory (its `tokenizer.json`). Anything else is a one-line error.
    public init(model path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw QLoRAError.io(path, "no such file or directory")
        }
        if isDirectory.boolValue {
            try self.init(directory: path)
        } else if path.hasSuffix(".gguf") {
            try self.init(gguf: GGUFFile(path: path))
        } else {
            throw QLoRAError.unsupported(path, "not a checkpoint directory or a .gguf file")
        }
    }
}
