import Foundation
import QLoRA

/// A GGUF file's `tokenizer.*` metadata: read as `GGUFTokenizerMetadata`, turned into the Hugging
/// Face tokenizer files `qlora` writes, read back from them, and into the tokenizer `qlora` runs.
enum GGUFTokenizerTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        expectingCleanErrors("gguf-tokenizer") {
            let gguf = try GGUFFile(file: MappedFile(bytes: data, path: "fuzz.gguf"))
            let metadata = try GGUFTokenizerMetadata(gguf: gguf)
            let tokenizer = try Tokenizer(metadata: metadata, source: gguf.path)
            TokenizerJSONTarget.exercise(tokenizer)
            let files = try GGUFTokenizerFiles(tokenizer: metadata, path: gguf.path)
            // The files we write must be files we read.
            let reread = try Tokenizer(tokenizerJSON: Data(files.tokenizerJSON.utf8),
                                       tokenizerConfigJSON: Data(files.tokenizerConfigJSON.utf8), source: "written tokenizer.json")
            TokenizerJSONTarget.exercise(reread)
        }
    }
}
