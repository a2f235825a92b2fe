import QLoRACore

/// Hugging Face tokenizer files built from a GGUF file's tokenizer metadata, as transformers' GGUF
/// loader builds them (transformers 5.x `integrations/gguf/gguf_tokenizer_mapping.py`:
/// `byte_level_tokenizer`, `add_gguf_special_tokens`, `set_split_regex`, then the special tokens and
/// `update_post_processor` of `TokenizersBackend`), so that `AutoTokenizer.from_pretrained(OUT)`
/// tokenizes exactly as `from_pretrained(..., gguf_file=)` does.
///
/// - `tokenizer.json`: a byte-level BPE model (vocab in id order; tokens llama.cpp stored raw are
///   respelled in the byte alphabet; merges in rank order), the `ByteLevel` pre-tokenizer (preceded
///   by an isolating `Split` on the regex `tokenizer.ggml.pre` declares, for the names transformers
///   knows), the `ByteLevel` decoder, a `TemplateProcessing` post-processor that adds BOS/EOS as
///   `add_bos_token`/`add_eos_token` say, and as added tokens: control tokens (type 3, special),
///   user-defined tokens (type 4, not special) and the bos/eos/unk/pad tokens (special). Printed
///   as `tokenizers` prints it.
/// - `tokenizer_config.json`: `add_bos_token`/`add_eos_token` (when the GGUF states them), bos/eos/
///   pad/unk tokens (null when absent), `chat_template`, `tokenizer_class` "PreTrainedTokenizerFast"
///   (a name transformers 4 and 5 both load), transformers' "no limit" `model_max_length`.
/// - `generation_config.json`: bos/eos/pad token ids, as transformers derives it from the config.
///
/// Only byte-level BPE (`tokenizer.ggml.model` = "gpt2": Llama 3, SmolLM, Qwen2, …) is built;
/// other tokenizer models are refused with a one-line error.
public struct GGUFTokenizerFiles: Sendable, Equatable {
    public static let tokenizerFileName = "tokenizer.json"
    public static let tokenizerConfigFileName = "tokenizer_config.json"
    public static let generationConfigFileName = "generation_config.json"

    /// transformers' `VERY_LARGE_INTEGER` (int(1e30)), the `model_max_length` it writes when the
    /// source states none.
    static let unlimitedModelMaxLength = "1000000000000000019884624838656"

    public let tokenizerJSON: String
    public let tokenizerConfigJSON: String
    public let generationConfigJSON: String

    /// The three files, name → UTF-8 bytes.
    public var files: [String: [UInt8]] {
        [Self.tokenizerFileName: Array(tokenizerJSON.utf8),
         Self.tokenizerConfigFileName: Array(tokenizerConfigJSON.utf8),
         Self.generationConfigFileName: Array(generationConfigJSON.utf8)]
    }

    public init(gguf: GGUFFile) throws {
        try self.init(tokenizer: GGUFTokenizerMetadata(gguf: gguf), path: gguf.path)
    }

    /// Builds the files; `path` names the source in errors.
    public init(tokenizer t: GGUFTokenizerMetadata, path: String) throws {
        guard t.model == "gpt2" else {
            throw QLoRAError.unsupported(path, "tokenizer.ggml.model '\(t.model)' is not supported for building tokenizer files (only byte-level BPE, 'gpt2')")
        }
        // Vocabulary keyed by byte-level spelling; a later duplicate wins, as in a Python dict.
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(t.tokens.count)
        for (id, token) in t.tokens.enumerated() { vocab[ByteLevelBPE.spelling(token)] = id }
        func vocabID(_ token: String) -> Int? {
            ByteLevelBPE.isSpelledByteLevel(token) ? vocab[token] : nil
        }
        let merges = try Self.mergePairs(t.merges ?? [], vocabID: vocabID, path: path)

        // Added tokens, by id: control and user-defined from token_type, then the named specials.
        var added: [Int: (content: String, special: Bool)] = [:]
        for (id, type) in (t.tokenTypes ?? []).enumerated() {
            let token = t.tokens[id]
            if type == GGUFTokenizerMetadata.TokenType.control.rawValue, ByteLevelBPE.isSpelledByteLevel(token) {
                added[vocabID(token)!] = (token, true)
            } else if type == GGUFTokenizerMetadata.TokenType.userDefined.rawValue, let id = vocabID(token), added[id] == nil {
                added[id] = (token, false)
            }
        }
        for (key, token) in [("bos", t.bosToken), ("eos", t.eosToken), ("unknown", t.unknownToken), ("padding", t.paddingToken)] {
            guard let token else { continue }
            guard let id = vocabID(token) else {
                throw QLoRAError.unsupported(path, "tokenizer.ggml.\(key)_token_id names '\(token)', which is not spelled in the byte-level alphabet; transformers would append it as a new token")
            }
            added[id] = (token, true)
        }

        let addBOS = (t.addBOSToken ?? false) && t.bosToken != nil
        let addEOS = (t.addEOSToken ?? false) && t.eosToken != nil
        let tokenizer: JSONValue = .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(added.keys.sorted().map { id in Self.addedToken(id, added[id]!.content, special: added[id]!.special) })),
            ("normalizer", .null),
            ("pre_tokenizer", Self.preTokenizer(t.preTokenizer)),
            ("post_processor", Self.templateProcessing(bos: addBOS ? (t.bosToken!, t.bosTokenID!) : nil,
                                                       eos: addEOS ? (t.eosToken!, t.eosTokenID!) : nil)),
            ("decoder", Self.byteLevel(addPrefixSpace: true, useRegex: true)),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null),
                ("continuing_subword_prefix", .string("")), ("end_of_word_suffix", .string("")),
                ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)), ("ignore_merges", .bool(false)),
                ("vocab", .object(vocab.sorted { $0.value < $1.value }.map { ($0.key, .int($0.value)) })),
                ("merges", .array(merges.map { .array([.string($0.0), .string($0.1)]) })),
            ])),
        ])
        tokenizerJSON = tokenizer.serialized()

        // The config files as transformers writes them: json.dumps(indent=2, sort_keys=True) + "\n".
        var config: [(String, JSONValue)] = [
            ("backend", .string("tokenizers")),
            ("bos_token", .optional(t.bosToken)),
            ("eos_token", .optional(t.eosToken)),
            ("model_max_length", .bigInt(Self.unlimitedModelMaxLength)),
            ("pad_token", .optional(t.paddingToken)),
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ("unk_token", .optional(t.unknownToken)),
        ]
        if let b = t.addBOSToken { config.append(("add_bos_token", .bool(b))) }
        if let e = t.addEOSToken { config.append(("add_eos_token", .bool(e))) }
        if let template = t.chatTemplate { config.append(("chat_template", .string(template))) }
        tokenizerConfigJSON = JSONValue.object(config).serialized(Self.sortedKeys) + "\n"

        var generation: [(String, JSONValue)] = [("_from_model_config", .bool(true))]
        if let id = t.bosTokenID { generation.append(("bos_token_id", .int(id))) }
        if let id = t.eosTokenID { generation.append(("eos_token_id", .int(id))) }
        if let id = t.paddingTokenID { generation.append(("pad_token_id", .int(id))) }
        generationConfigJSON = JSONValue.object(generation).serialized(Self.sortedKeys) + "\n"
    }

    /// "left right" merges as pairs, each part and their concatenation a vocabulary token (the
    /// `tokenizers` BPE refuses a vocabulary otherwise, so the error is raised here, naming the file).
    static func mergePairs(_ merges: [String], vocabID: (String) -> Int?, path: String) throws -> [(String, String)] {
        try merges.enumerated().map { i, merge in
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else {
                throw QLoRAError.format(path, "tokenizer.ggml.merges[\(i)] '\(merge)' is not two tokens separated by one space")
            }
            for token in [parts[0], parts[1], parts[0] + parts[1]] where vocabID(token) == nil {
                throw QLoRAError.format(path, "tokenizer.ggml.merges[\(i)] '\(merge)' needs '\(token)', which is not in the vocabulary")
            }
            return (parts[0], parts[1])
        }
    }

    static func addedToken(_ id: Int, _ content: String, special: Bool) -> JSONValue {
        .object([("id", .int(id)), ("content", .string(content)), ("single_word", .bool(false)),
                 ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                 ("special", .bool(special))])
    }

    static func byteLevel(addPrefixSpace: Bool, useRegex: Bool) -> JSONValue {
        .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)),
                 ("trim_offsets", .bool(true)), ("use_regex", .bool(useRegex))])
    }

    /// `ByteLevel` with GPT-2's own split, or an isolating `Split` on the declared regex first.
    static func preTokenizer(_ name: String?) -> JSONValue {
        guard let regex = ByteLevelBPE.splitRegex(forPreTokenizer: name) else {
            return byteLevel(addPrefixSpace: false, useRegex: true)
        }
        let split: JSONValue = .object([
            ("type", .string("Split")), ("pattern", .object([("Regex", .string(regex))])),
            ("behavior", .string("Isolated")), ("invert", .bool(false)),
        ])
        return .object([("type", .string("Sequence")),
                        ("pretokenizers", .array([split, byteLevel(addPrefixSpace: false, useRegex: false)]))])
    }

    /// `TemplateProcessing` as `TokenizersBackend.update_post_processor` builds it: single
    /// `[bos:0] $A:0 [eos:0]`, pair `single [bos:1] $B:1 [eos:1]`; special tokens keyed in byte order.
    static func templateProcessing(bos: (String, Int)?, eos: (String, Int)?) -> JSONValue {
        func special(_ token: String, _ typeID: Int) -> JSONValue {
            .object([("SpecialToken", .object([("id", .string(token)), ("type_id", .int(typeID))]))])
        }
        func sequence(_ name: String, _ typeID: Int) -> JSONValue {
            .object([("Sequence", .object([("id", .string(name)), ("type_id", .int(typeID))]))])
        }
        var single: [JSONValue] = []
        if let bos { single.append(special(bos.0, 0)) }
        single.append(sequence("A", 0))
        if let eos { single.append(special(eos.0, 0)) }
        var pair = single
        if let bos { pair.append(special(bos.0, 1)) }
        pair.append(sequence("B", 1))
        if let eos { pair.append(special(eos.0, 1)) }
        var specials: [String: Int] = [:]
        for (token, id) in [bos, eos].compactMap({ $0 }) { specials[token] = id }
        let entries = specials.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.map { token in
            (token, JSONValue.object([("id", .string(token)), ("ids", .array([.int(specials[token]!)])),
                                        ("tokens", .array([.string(token)]))]))
        }
        return .object([("type", .string("TemplateProcessing")), ("single", .array(single)),
                         ("pair", .array(pair)), ("special_tokens", .object(entries))])
    }

    /// `json.dumps(indent=2, sort_keys=True)`: keys in code point order, as transformers writes configs.
    static let sortedKeys = JSONStyle(indent: 2, sortKeys: true)
}
