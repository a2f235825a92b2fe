import Foundation
import QLoRACore

/// The bos/eos/unknown/padding token ids of a Hugging Face checkpoint directory, found as
/// llama.cpp's `gguf.SpecialVocab` finds them: `tokenizer_config.json`'s `<type>_token` (a string
/// or `{"content": …}`) names an added token of `tokenizer.json`; a type it leaves unset takes
/// `config.json`'s `<type>_token_id`. Ids outside the vocabulary are dropped, as SpecialVocab does.
/// (The only JSON this export reads besides what `Tokenizer` reads.)
public struct HFSpecialTokenIDs: Sendable, Equatable {
    public var bos: Int?
    public var eos: Int?
    public var unknown: Int?
    public var padding: Int?

    public init(bos: Int? = nil, eos: Int? = nil, unknown: Int? = nil, padding: Int? = nil) {
        self.bos = bos
        self.eos = eos
        self.unknown = unknown
        self.padding = padding
    }

    /// Reads `directory`'s `tokenizer_config.json` and `config.json` (either may be absent).
    public init(directory: String, tokenizer: Tokenizer, vocabularySize: Int) throws {
        func load(_ name: String) throws -> JSONValue? {
            let path = directory + "/" + name
            guard let data = try MetadataFile.read(path) else { return nil }
            do { return try JSONValue.parse(data) } catch { throw QLoRAError.format(path, "not valid JSON") }
        }
        let tokenizerConfig = try load("tokenizer_config.json")
        let config = try load("config.json")
        var addedID: [String: Int] = [:]
        for token in tokenizer.addedTokens.reversed() { addedID[token.content] = token.id }  // first match wins
        func id(_ type: String) -> Int? {
            let entry = tokenizerConfig?["\(type)_token"]
            if let content = entry?.string ?? entry?["content"]?.string, let id = addedID[content] {
                return (0..<vocabularySize).contains(id) ? id : nil
            }
            guard let id = config?["\(type)_token_id"]?.int else { return nil }
            return (0..<vocabularySize).contains(id) ? id : nil
        }
        self.init(bos: id("bos"), eos: id("eos"), unknown: id("unk"), padding: id("pad"))
    }
}
