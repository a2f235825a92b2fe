import Foundation
import QLoRACore

extension Tokenizer {
    /// The tokenizer of a Hugging Face checkpoint directory: `tokenizer.json`, with
    /// `tokenizer_config.json` and `chat_template.jinja` when present.
    public init(directory: String) throws {
        let path = directory + "/tokenizer.json"
        guard let json = try MetadataFile.read(path) else {
            let sentencePiece = FileManager.default.fileExists(atPath: directory + "/tokenizer.model")
            throw QLoRAError.io(directory, sentencePiece
                ? "has only a sentencepiece tokenizer.model, which is not supported (byte-level BPE tokenizer.json only)"
                : "no tokenizer.json in this checkpoint directory (the model's tokenizer is needed)")
        }
        let configPath = directory + "/tokenizer_config.json"
        let config = try MetadataFile.read(configPath)
        let templatePath = directory + "/chat_template.jinja"
        let template = try MetadataFile.read(templatePath).map { String(decoding: $0, as: UTF8.self) }
        try self.init(tokenizerJSON: json, tokenizerConfigJSON: config, chatTemplate: template, source: path)
    }

    /// A tokenizer from the bytes of a `tokenizer.json` (a `BPE` model over a byte-level
    /// pre-tokenizer, or a SentencePiece-converted `BPE` with `byte_fallback`) and, optionally, a `tokenizer_config.json` and a chat template file (which
    /// wins over the config's `chat_template`), read as transformers 5 reads them: the config's
    /// bos/eos/unk/pad tokens become special added tokens, and when it states `add_bos_token` or
    /// `add_eos_token` (or `tokenizer.json` has no post-processor) those flags alone decide BOS/EOS.
    public init(tokenizerJSON: Data, tokenizerConfigJSON: Data? = nil, chatTemplate: String? = nil, source: String) throws {
        let file = try HFTokenizerFile(data: tokenizerJSON, source: source)
        let configSource = source.replacingLastPathComponent("tokenizer_config.json")
        let config = try tokenizerConfigJSON.map { data -> JSONValue in
            do { return try JSONValue.parse(data) } catch {
                throw QLoRAError.format(configSource, "not valid JSON: \(error)")
            }
        }
        let model = file.json.model
        let vocabulary = model.vocab
        var added = try file.addedTokens()
        var (prefixIDs, suffixIDs, hasPostProcessor) = try file.postProcessorIDs()

        // tokenizer_config.json: named special tokens, BOS/EOS flags, chat template.
        var idOf: [String: Int] = vocabulary
        for token in added { idOf[token.content] = token.id }
        var named: [String: Int] = [:]
        for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            guard let content = config?[key]?.string ?? config?[key]?["content"]?.string else { continue }
            let id = idOf[content] ?? max(vocabulary.values.max() ?? -1, added.map(\.id).max() ?? -1) + 1
            if !added.contains(where: { $0.content == content }) {
                added.append(AddedToken(id: id, content: content, special: true))
                idOf[content] = id
            }
            named[key] = id
        }
        let addBOS = config?["add_bos_token"]?.bool
        let addEOS = config?["add_eos_token"]?.bool
        if addBOS != nil || addEOS != nil || !hasPostProcessor {
            prefixIDs = (addBOS ?? false) ? named["bos_token"].map { [$0] } ?? [] : []
            suffixIDs = (addEOS ?? false) ? named["eos_token"].map { [$0] } ?? [] : []
        }
        // `chat_template`: a string, or a list of named templates (the "default" one).
        let configTemplate = config?["chat_template"]?.string
            ?? config?["chat_template"]?.array?.first { $0["name"]?.string == "default" }?["template"]?.string
        try self.init(
            source: source, vocabulary: vocabulary, merges: model.merges.map { ($0.left, $0.right) },
            addedTokens: added, normalization: try file.normalization(), preTokenizer: try file.preTokenizer(),
            ignoreMerges: model.ignoreMerges ?? false, prefixIDs: prefixIDs, suffixIDs: suffixIDs,
            bosTokenID: named["bos_token"], eosTokenID: named["eos_token"],
            chatTemplate: chatTemplate ?? configTemplate,
            byteFallback: try file.byteFallback(vocabulary: vocabulary, added: added))
    }
}

extension String {
    /// This path with its last component replaced.
    func replacingLastPathComponent(_ name: String) -> String {
        guard let slash = lastIndex(of: "/") else { return name }
        return String(self[...slash]) + name
    }
}
