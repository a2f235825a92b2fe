import QLoRACore

extension GGUFTokenizerMetadata {
    /// The `tokenizer.*` key/values of this tokenizer, in the order llama.cpp's converter writes
    /// them (`gguf.GGUFWriter.add_tokenizer_model`, `_pre`, `add_token_list`, `add_token_types`,
    /// `SpecialVocab.add_to_gguf`): absent fields are left out. Ids are uint32, types int32.
    public var ggufMetadata: [(String, GGUFValue)] {
        var m: [(String, GGUFValue)] = [("tokenizer.ggml.model", .string(model))]
        if let preTokenizer { m.append(("tokenizer.ggml.pre", .string(preTokenizer))) }
        m.append(("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })))
        if let scores { m.append(("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) }))) }
        if let tokenTypes { m.append(("tokenizer.ggml.token_type", .array(.int32, tokenTypes.map { .int32(Int32($0)) }))) }
        if let merges { m.append(("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) }))) }
        for (key, id) in [("bos", bosTokenID), ("eos", eosTokenID), ("unknown", unknownTokenID), ("padding", paddingTokenID)] {
            if let id { m.append(("tokenizer.ggml.\(key)_token_id", .uint32(UInt32(id)))) }
        }
        if let addBOSToken { m.append(("tokenizer.ggml.add_bos_token", .bool(addBOSToken))) }
        if let addEOSToken { m.append(("tokenizer.ggml.add_eos_token", .bool(addEOSToken))) }
        if let addSpacePrefix { m.append(("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix))) }
        if let chatTemplate { m.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return m
    }
}
