import QLoRACore

/// The tokenizer a GGUF file describes, read from its `tokenizer.*` metadata.
///
/// | key | field |
/// | --- | --- |
/// | `tokenizer.ggml.model` | `model` ("gpt2" = byte-level BPE, "llama" = sentencepiece, …) |
/// | `tokenizer.ggml.pre` | `preTokenizer` (which split regex: "smollm", "llama-bpe", "qwen2", …) |
/// | `tokenizer.ggml.tokens` | `tokens` (index = id) |
/// | `tokenizer.ggml.token_type` | `tokenTypes` (per token; see `TokenType`) |
/// | `tokenizer.ggml.merges` | `merges` ("left right", highest priority first) |
/// | `tokenizer.ggml.scores` | `scores` |
/// | `tokenizer.ggml.{bos,eos,unknown,padding}_token_id` | `bosTokenID`, … |
/// | `tokenizer.ggml.add_{bos,eos}_token`, `add_space_prefix` | `addBOSToken`, … |
/// | `tokenizer.chat_template` | `chatTemplate` |
public struct GGUFTokenizerMetadata: Sendable, Equatable {
    /// llama.cpp's token types (`llama_token_type`).
    public enum TokenType: Int, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public var model: String
    public var preTokenizer: String?
    public var tokens: [String]
    public var tokenTypes: [Int]?
    public var merges: [String]?
    public var scores: [Float]?
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var unknownTokenID: Int?
    public var paddingTokenID: Int?
    public var addBOSToken: Bool?
    public var addEOSToken: Bool?
    public var addSpacePrefix: Bool?
    public var chatTemplate: String?

    public init(
        model: String, preTokenizer: String? = nil, tokens: [String], tokenTypes: [Int]? = nil,
        merges: [String]? = nil, scores: [Float]? = nil, bosTokenID: Int? = nil, eosTokenID: Int? = nil,
        unknownTokenID: Int? = nil, paddingTokenID: Int? = nil, addBOSToken: Bool? = nil,
        addEOSToken: Bool? = nil, addSpacePrefix: Bool? = nil, chatTemplate: String? = nil
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.scores = scores
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOSToken = addBOSToken
        self.addEOSToken = addEOSToken
        self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
    }

    /// Reads and checks the tokenizer metadata: the model and tokens must be present; per-token
    /// arrays must have one entry per token; special token ids must name a token.
    public init(gguf: GGUFFile) throws {
        let path = gguf.path
        guard let model = try gguf.string("tokenizer.ggml.model") else {
            throw QLoRAError.format(path, "metadata key 'tokenizer.ggml.model' is missing (no tokenizer in this GGUF file)")
        }
        guard let tokens = try gguf.strings("tokenizer.ggml.tokens") else {
            throw QLoRAError.format(path, "metadata key 'tokenizer.ggml.tokens' is missing")
        }
        self.init(
            model: model,
            preTokenizer: try gguf.string("tokenizer.ggml.pre"),
            tokens: tokens,
            tokenTypes: try gguf.ints("tokenizer.ggml.token_type"),
            merges: try gguf.strings("tokenizer.ggml.merges"),
            scores: try gguf.floatArray("tokenizer.ggml.scores"),
            bosTokenID: try gguf.int("tokenizer.ggml.bos_token_id"),
            eosTokenID: try gguf.int("tokenizer.ggml.eos_token_id"),
            unknownTokenID: try gguf.int("tokenizer.ggml.unknown_token_id"),
            paddingTokenID: try gguf.int("tokenizer.ggml.padding_token_id"),
            addBOSToken: try gguf.bool("tokenizer.ggml.add_bos_token"),
            addEOSToken: try gguf.bool("tokenizer.ggml.add_eos_token"),
            addSpacePrefix: try gguf.bool("tokenizer.ggml.add_space_prefix"),
            chatTemplate: try gguf.string("tokenizer.chat_template"))
        if let n = tokenTypes?.count, n != tokens.count {
            throw QLoRAError.format(path, "tokenizer.ggml.token_type has \(n) entries for \(tokens.count) tokens")
        }
        if let n = scores?.count, n != tokens.count {
            throw QLoRAError.format(path, "tokenizer.ggml.scores has \(n) entries for \(tokens.count) tokens")
        }
        for (name, id) in [("bos", bosTokenID), ("eos", eosTokenID), ("unknown", unknownTokenID), ("padding", paddingTokenID)] {
            if let id, !tokens.indices.contains(id) {
                throw QLoRAError.format(path, "tokenizer.ggml.\(name)_token_id \(id) is not a token id (vocabulary of \(tokens.count))")
            }
        }
    }

    /// The token text of an id, when the id is present.
    public func token(_ id: Int?) -> String? { id.map { tokens[$0] } }

    public var bosToken: String? { token(bosTokenID) }
    public var eosToken: String? { token(eosTokenID) }
    public var unknownToken: String? { token(unknownTokenID) }
    public var paddingToken: String? { token(paddingTokenID) }

    /// Ids of the tokens of a type (e.g. every control token).
    public func ids(ofType type: TokenType) -> [Int] {
        guard let tokenTypes else { return [] }
        return tokenTypes.indices.filter { tokenTypes[$0] == type.rawValue }
    }
}
