import QLoRACore
import QLoRAFormats

extension Tokenizer {
    /// The tokenizer of a GGUF file, from its `tokenizer.*` metadata.
    public init(gguf: GGUFFile) throws {
        try self.init(metadata: GGUFTokenizerMetadata(gguf: gguf), source: gguf.path)
    }

    /// The tokenizer GGUF metadata describes, built exactly as transformers' GGUF loader builds
    /// its `tokenizer.json` (and as `GGUFTokenizerFiles` writes it), so both give the same ids:
    ///
    /// - vocabulary: tokens by id, respelled in the byte alphabet when llama.cpp stored them raw
    ///   (a later duplicate spelling wins); merges "left right" in rank order;
    /// - added tokens: control tokens (special), user-defined tokens (not special), both only when
    ///   spelled in the byte alphabet, then the bos/eos/unknown/padding tokens (special);
    /// - pre-tokenizer: the split `tokenizer.ggml.pre` names (transformers' table; GPT-2's for
    ///   every other name) followed by `ByteLevel`;
    /// - BOS/EOS added when `add_bos_token`/`add_eos_token` say so (absent = no).
    ///
    /// Only byte-level BPE (`tokenizer.ggml.model` "gpt2") is supported.
    public init(metadata t: GGUFTokenizerMetadata, source: String) throws {
        guard t.model == "gpt2" else {
            throw QLoRAError.unsupported(source, "tokenizer.ggml.model '\(t.model)' is not supported (only byte-level BPE, 'gpt2')")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(t.tokens.count)
        for (id, token) in t.tokens.enumerated() { vocabulary[ByteLevelBPE.spelling(token)] = id }
        func vocabularyID(_ token: String) -> Int? {
            ByteLevelBPE.isSpelledByteLevel(token) ? vocabulary[token] : nil
        }
        let merges = try (t.merges ?? []).enumerated().map { i, merge -> (String, String) in
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw QLoRAError.format(source, "tokenizer.ggml.merges[\(i)] '\(merge)' is not two tokens separated by one space")
            }
            return (String(parts[0]), String(parts[1]))
        }

        var added: [Int: AddedToken] = [:]
        for (id, type) in (t.tokenTypes ?? []).enumerated() {
            guard let vocabID = vocabularyID(t.tokens[id]) else { continue }
            if type == GGUFTokenizerMetadata.TokenType.control.rawValue {
                added[vocabID] = AddedToken(id: vocabID, content: t.tokens[id], special: true)
            } else if type == GGUFTokenizerMetadata.TokenType.userDefined.rawValue, added[vocabID] == nil {
                added[vocabID] = AddedToken(id: vocabID, content: t.tokens[id], special: false)
            }
        }
        for (key, token) in [("bos", t.bosToken), ("eos", t.eosToken), ("unknown", t.unknownToken), ("padding", t.paddingToken)] {
            guard let token else { continue }
            guard let id = vocabularyID(token) else {
                throw QLoRAError.unsupported(source, "tokenizer.ggml.\(key)_token_id names '\(token)', which is not spelled in the byte-level alphabet")
            }
            added[id] = AddedToken(id: id, content: token, special: true)
        }

        let preTokenizer: PreTokenizer
        if let regex = ByteLevelBPE.splitRegex(forPreTokenizer: t.preTokenizer) {
            guard let pattern = SplitPattern.matching(regex: regex) else {
                throw QLoRAError.unsupported(source, "tokenizer.ggml.pre '\(t.preTokenizer ?? "")' declares a split regex this tokenizer does not implement (known: \(SplitPattern.all.map(\.name).joined(separator: ", ")))")
            }
            preTokenizer = PreTokenizer(steps: [.split(pattern), .byteLevel(addPrefixSpace: false, useRegex: false)])
        } else {
            preTokenizer = PreTokenizer(steps: [.byteLevel(addPrefixSpace: false, useRegex: true)])
        }
        let addBOS = (t.addBOSToken ?? false) && t.bosTokenID != nil
        let addEOS = (t.addEOSToken ?? false) && t.eosTokenID != nil
        try self.init(
            source: source, vocabulary: vocabulary, merges: merges,
            addedTokens: added.keys.sorted().map { added[$0]! }, preTokenizer: preTokenizer,
            prefixIDs: addBOS ? [vocabularyID(t.bosToken!)!] : [],
            suffixIDs: addEOS ? [vocabularyID(t.eosToken!)!] : [],
            bosTokenID: t.bosToken.flatMap(vocabularyID), eosTokenID: t.eosToken.flatMap(vocabularyID),
            chatTemplate: t.chatTemplate)
    }
}
