import QLoRA

/// A tokenizer whose tokens are single bytes (id = byte value), so expected ids can be written from
/// strings: 256 `<|im_start|>`, 257 `<|im_end|>` (EOS), 258 `<s>` (BOS), and a ChatML template.
enum ByteTokenizer {
    static let imStart: Int32 = 256, imEnd: Int32 = 257, bos: Int32 = 258

    static let chatML = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    /// With `bosPrefix`, plain text is encoded with a leading BOS (as LLaMA tokenizers do).
    static func make(chatTemplate: String? = chatML, bosPrefix: Bool = false) throws -> Tokenizer {
        var vocabulary: [String: Int] = [:]
        for (byte, scalar) in ByteLevelBPE.byteToScalar.enumerated() { vocabulary[String(scalar)] = byte }
        let added = [AddedToken(id: Int(imStart), content: "<|im_start|>", special: true),
                     AddedToken(id: Int(imEnd), content: "<|im_end|>", special: true),
                     AddedToken(id: Int(bos), content: "<s>", special: true)]
        return try Tokenizer(source: "bytes", vocabulary: vocabulary, merges: [], addedTokens: added,
                             preTokenizer: PreTokenizer(steps: [.byteLevel(addPrefixSpace: false, useRegex: true)]),
                             prefixIDs: bosPrefix ? [Int(bos)] : [], bosTokenID: Int(bos), eosTokenID: Int(imEnd),
                             chatTemplate: chatTemplate)
    }

    static func ids(_ s: String) -> [Int32] { s.utf8.map { Int32($0) } }
}
