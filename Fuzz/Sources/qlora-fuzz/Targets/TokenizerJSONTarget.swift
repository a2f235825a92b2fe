import Foundation
import QLoRA

/// A Hugging Face `tokenizer.json`, optionally followed (after a NUL) by a `tokenizer_config.json`;
/// the tokenizer built from them then encodes and decodes a fixed text.
enum TokenizerJSONTarget {
    static let text = "Hello, world! <|im_start|>user\n  1234 héllo 日本語\t<|im_end|> end"

    static func run(_ data: UnsafeRawBufferPointer) {
        let (json, config) = splitAtFirstNUL(data)
        expectingCleanErrors("tokenizer-json") {
            let tokenizer = try Tokenizer(tokenizerJSON: json, tokenizerConfigJSON: config.isEmpty ? nil : config,
                                          source: "tokenizer.json")
            exercise(tokenizer)
        }
    }

    /// Encodes and decodes `text`: every id must decode.
    static func exercise(_ tokenizer: Tokenizer) {
        let ids = tokenizer.encode(text)
        precondition(ids.allSatisfy { (0..<tokenizer.vocabularySize).contains($0) }, "encode gave an id outside the vocabulary")
        _ = try! tokenizer.decode(ids)
    }
}
