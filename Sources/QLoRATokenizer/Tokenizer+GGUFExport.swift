import Foundation
import QLoRACore
import QLoRAFormats

extension GGUFTokenizerMetadata {
    /// The GGUF tokenizer metadata llama.cpp's converter writes for a byte-level BPE tokenizer
    /// (`TextModel._set_vocab_gpt2` → `get_vocab_base`, `get_vocab_base_pre`, `SpecialVocab`):
    ///
    /// - `tokens`: one per id up to the model's `vocabularySize`, as `tokenizer.vocab` spells them
    ///   (normal tokens in the byte-level alphabet, added tokens as written); ids no token has are
    ///   `[PAD<id>]` of type unused;
    /// - `token_type`: added tokens control when `special` or when they look special (`<|…|>`,
    ///   `<｜…｜>`, `<unused…>`, `<pad>`, `<mask>`, `<2mass>`, `[@BOS@]`), else user-defined (with `▁`
    ///   written as a space); every other token normal;
    /// - `pre`: the name llama.cpp gives the pre-tokenizer, found by hashing the ids of a fixed text
    ///   (`LlamaCppPreTokenizer`); an unknown hash is refused with one line naming it;
    /// - `merges` "left right" in rank order; bos/eos/unknown/padding ids (`HFSpecialTokenIDs`);
    ///   `add_bos_token`/`add_eos_token` as this tokenizer adds them; the chat template.
    ///
    /// `source` names the tokenizer in errors; `preTokenizer`, when given, is written instead of
    /// the detected name (for tokenizers the hash table cannot know, e.g. small test vocabularies).
    public init(huggingFace tokenizer: Tokenizer, vocabularySize: Int, specialIDs: HFSpecialTokenIDs,
                source: String, preTokenizer: String? = nil) throws {
        guard tokenizer.vocabularySize <= vocabularySize else {
            throw QLoRAError.format(source, "the tokenizer has \(tokenizer.vocabularySize) ids, the model's vocab_size is \(vocabularySize)")
        }
        let hash = LlamaCppPreTokenizer.checkHash(tokenizer.encode(LlamaCppPreTokenizer.checkText))
        guard let pre = preTokenizer ?? LlamaCppPreTokenizer.name(forHash: hash) else {
            throw QLoRAError.unsupported(source, "llama.cpp does not know this tokenizer's pre-tokenizer (converter check hash \(hash)); it cannot be exported to GGUF")
        }
        var added: [Int: AddedToken] = [:]
        for token in tokenizer.addedTokens { added[token.id] = token }
        var tokens: [String] = []
        var types: [Int] = []
        tokens.reserveCapacity(vocabularySize)
        types.reserveCapacity(vocabularySize)
        for id in 0..<vocabularySize {
            let text = id < tokenizer.vocabularySize ? tokenizer.vocabulary[id] : ""
            if let token = added[id] {
                if token.special || Self.looksSpecial(token.content) {
                    tokens.append(token.content)
                    types.append(TokenType.control.rawValue)
                } else {
                    tokens.append(token.content.replacingOccurrences(of: "\u{2581}", with: " "))
                    types.append(TokenType.userDefined.rawValue)
                }
            } else if text.isEmpty {
                tokens.append("[PAD\(id)]")
                types.append(TokenType.unused.rawValue)
            } else {
                tokens.append(text)
                types.append(TokenType.normal.rawValue)
            }
        }
        let bos = specialIDs.bos
        let eos = specialIDs.eos
        self.init(
            model: "gpt2", preTokenizer: pre, tokens: tokens, tokenTypes: types,
            merges: tokenizer.mergesInRankOrder.map { $0.0 + " " + $0.1 },
            bosTokenID: bos, eosTokenID: eos, unknownTokenID: specialIDs.unknown,
            paddingTokenID: specialIDs.padding,
            addBOSToken: !tokenizer.prefixIDs.isEmpty, addEOSToken: !tokenizer.suffixIDs.isEmpty,
            chatTemplate: tokenizer.chatTemplate)
    }

    /// The converter's `does_token_look_special`.
    static func looksSpecial(_ t: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(t)
            || (t.hasPrefix("<|") && t.hasSuffix("|>"))
            || (t.hasPrefix("<\u{FF5C}") && t.hasSuffix("\u{FF5C}>"))
            || (t.hasPrefix("<unused") && t.hasSuffix(">"))
    }
}

extension Tokenizer {
    /// The BPE merges as (left, right) vocabulary spellings, highest priority first.
    public var mergesInRankOrder: [(String, String)] {
        model.merges.sorted { $0.value.rank < $1.value.rank }.map { key, _ in
            (vocabulary[Int(key >> 32)], vocabulary[Int(key & 0xFFFF_FFFF)])
        }
    }
}
