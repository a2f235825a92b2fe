import Foundation
import QLoRACore
import QLoRAFormats

/// A byte-level BPE tokenizer (GPT-2 family: SmolLM, Llama 3, Qwen2), built from a Hugging Face
/// `tokenizer.json` (`Tokenizer(directory:)`, `Tokenizer(tokenizerJSON:…)`) or from GGUF
/// metadata (`Tokenizer(gguf:)`), encoding as the `tokenizers` library does:
///
/// 1. added tokens (`<|im_start|>`, …) are cut out of the raw text first, longest match first;
/// 2. the text between them is normalized (none, or NFC) and cut into pieces (`PreTokenizer`);
/// 3. each piece's UTF-8 bytes are merged by BPE (`BPEModel`);
/// 4. with `addSpecialTokens`, the declared BOS/EOS ids are put around the result.
///
/// `decode` maps ids back to bytes, so any text round-trips; `StreamingDecoder` emits text as
/// ids arrive, at UTF-8 boundaries. `applyChatTemplate` renders the model's own chat template.
public struct Tokenizer: Sendable {
    public enum Normalization: Sendable, Equatable {
        case none
        /// Unicode NFC, as Qwen2 declares.
        case nfc
        /// Every occurrence of `pattern` replaced by `content` (`Replace` with a string pattern:
        /// " " → "▁" in Llama 2 and Gemma).
        case replace(pattern: String, content: String)
        /// `prefix` put before non-empty text (`Prepend`: "▁" in Llama 2).
        case prepend(String)
        /// Each in turn (`Sequence`).
        case sequence([Normalization])
    }

    /// How a SentencePiece-converted BPE (`byte_fallback`: Llama 2, Gemma, early Mistral) differs
    /// from a byte-level one: tokens are spelled in UTF-8 (with "▁" for a space), a piece starts as
    /// one symbol per character, a character missing from the vocabulary becomes the `<0xNN>`
    /// tokens of its UTF-8 bytes, or the unknown token when one of those is missing too (runs of
    /// unknowns fused into one with `fuseUnknown`); decoding goes through `decoder`.
    public struct ByteFallback: Sendable, Equatable {
        public var unknownTokenID: Int?
        public var fuseUnknown: Bool
        public var decoder: TokenDecoder

        public init(unknownTokenID: Int?, fuseUnknown: Bool, decoder: TokenDecoder) {
            self.unknownTokenID = unknownTokenID
            self.fuseUnknown = fuseUnknown
            self.decoder = decoder
        }
    }

    /// Where the tokenizer came from (a path), for messages.
    public let source: String
    /// Token text by id, as the vocabulary spells it (byte-level alphabet; added tokens as
    /// written); empty for ids no token has.
    public let vocabulary: [String]
    public let normalization: Normalization
    public let preTokenizer: PreTokenizer
    public let addedTokens: [AddedToken]
    /// Ids put before / after the text when encoding with `addSpecialTokens` (BOS / EOS as the
    /// model declares: `add_bos_token`, or the `TemplateProcessing` post-processor).
    public let prefixIDs: [Int]
    public let suffixIDs: [Int]
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    /// The model's chat template (Jinja source), if it ships one.
    public let chatTemplate: String?
    /// Set for a SentencePiece-converted BPE; nil for byte-level BPE.
    public let byteFallback: ByteFallback?

    let model: BPEModel
    let matcher: AddedTokenMatcher
    let isSpecial: [Bool]  // (V)
    /// Decoded bytes of every token, flattened: token `i` is `tokenBytes[tokenOffsets[i]..<tokenOffsets[i+1]]`.
    let tokenBytes: [UInt8]
    let tokenOffsets: [Int]  // (V + 1)

    /// Number of ids (the largest id + 1).
    public var vocabularySize: Int { vocabulary.count }
    public var bosToken: String? { bosTokenID.map { vocabulary[$0] } }
    public var eosToken: String? { eosTokenID.map { vocabulary[$0] } }

    /// The largest vocabulary (ids 0..<this) a tokenizer may have: 4 Mi, as `LlamaConfig` allows.
    public static let maxVocabularySize = 1 << 22

    /// Builds a tokenizer from its parts. `vocabulary` maps byte-level spellings to ids; `merges`
    /// are byte-level spelled pairs, highest priority first. Every merge's parts and result must
    /// be vocabulary tokens; ids must be non-negative.
    public init(
        source: String, vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken],
        normalization: Normalization = .none, preTokenizer: PreTokenizer, ignoreMerges: Bool = false,
        prefixIDs: [Int] = [], suffixIDs: [Int] = [], bosTokenID: Int? = nil, eosTokenID: Int? = nil,
        chatTemplate: String? = nil, byteFallback: ByteFallback? = nil
    ) throws {
        let size = max(vocabulary.values.max() ?? -1, addedTokens.map(\.id).max() ?? -1) + 1
        guard (vocabulary.values.min() ?? 0) >= 0, (addedTokens.map(\.id).min() ?? 0) >= 0 else {
            throw QLoRAError.format(source, "a token id is negative")
        }
        // Ids index arrays of `size` entries: a file naming id 10^15 must not allocate for it.
        guard size <= Self.maxVocabularySize else {
            throw QLoRAError.format(source, "token id \(size - 1) is too large (at most \(Self.maxVocabularySize - 1))")
        }
        var spellings = [String](repeating: "", count: size)
        var byBytes: [[UInt8]: Int32] = [:]
        byBytes.reserveCapacity(vocabulary.count)
        for (token, id) in vocabulary {
            spellings[id] = token
            if byteFallback != nil {
                byBytes[Array(token.utf8)] = Int32(id)
            } else if let bytes = ByteLevelBytes.bytes(ofSpelling: token) {
                byBytes[bytes] = Int32(id)
            }
        }
        var special = [Bool](repeating: false, count: size)
        for token in addedTokens {
            spellings[token.id] = token.content
            special[token.id] = token.special
        }
        for id in prefixIDs + suffixIDs + [bosTokenID, eosTokenID, byteFallback?.unknownTokenID].compactMap({ $0 }) where !spellings.indices.contains(id) {
            throw QLoRAError.format(source, "special token id \(id) is not a token id (vocabulary of \(size))")
        }
        self.source = source
        self.vocabulary = spellings
        self.normalization = normalization
        self.preTokenizer = preTokenizer
        self.addedTokens = addedTokens
        self.prefixIDs = prefixIDs
        self.suffixIDs = suffixIDs
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.chatTemplate = chatTemplate
        self.byteFallback = byteFallback
        self.isSpecial = special
        self.matcher = AddedTokenMatcher(addedTokens)
        let byteTokenID: [Int32] = byteFallback == nil
            ? ByteLevelBytes.byteSpellings.map { byBytes[[$0.byte]] ?? -1 }
            : (0..<256).map { b in vocabulary[Self.byteTokenSpelling(UInt8(b))].map(Int32.init) ?? -1 }
        self.model = BPEModel(
            byteTokenID: byteTokenID,
            merges: try Self.rankedMerges(merges, vocabulary: vocabulary, source: source),
            vocabularyByBytes: byBytes, ignoreMerges: ignoreMerges,
            characterSymbols: byteFallback.map {
                BPEModel.CharacterSymbols(unknownID: $0.unknownTokenID.map(Int32.init), fuseUnknown: $0.fuseUnknown)
            })
        (tokenBytes, tokenOffsets) = byteFallback == nil
            ? ByteLevelBytes.flatten(spellings) : ByteLevelBytes.flattenUTF8(spellings)
    }

    /// The `<0xNN>` token a byte falls back to (`tokenizers`' `format!("<{b:#04X}>")`).
    static func byteTokenSpelling(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    /// The merge table: pair of ids → (rank, merged id); a repeated pair keeps its last rank.
    static func rankedMerges(
        _ merges: [(String, String)], vocabulary: [String: Int], source: String
    ) throws -> [UInt64: BPEModel.Merge] {
        var table: [UInt64: BPEModel.Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let l = vocabulary[left], let r = vocabulary[right], let m = vocabulary[left + right] else {
                let missing = [left, right, left + right].first { vocabulary[$0] == nil }!
                throw QLoRAError.format(source, "merge \(rank) '\(left) \(right)' needs '\(missing)', which is not in the vocabulary")
            }
            table[BPEModel.pairKey(Int32(l), Int32(r))] = .init(rank: Int32(rank), id: Int32(m))
        }
        return table
    }

    /// Bytes the vocabulary has no single-byte token for. BPE cannot spell them, so `encode`
    /// drops them, as the `tokenizers` library does for a model without an unknown token
    /// (SmolLM2 lacks 21 of the 256, e.g. 0x14 and the UTF-8 lead bytes 0xF1, 0xF2, 0xF5…0xFF).
    /// Text made of other bytes round-trips exactly through `encode` and `decode`.
    /// A SentencePiece-converted BPE (`byteFallback`) with an unknown token drops nothing (a
    /// character with neither a token nor byte tokens becomes the unknown token): none.
    public var unencodableBytes: [UInt8] {
        if byteFallback?.unknownTokenID != nil { return [] }
        return (0...255).filter { model.byteTokenID[$0] < 0 }.map(UInt8.init)
    }

    /// The id of a token as the vocabulary spells it (added tokens as written).
    public func id(of token: String) -> Int? {
        let scalars = Array(token.unicodeScalars)
        if let added = addedTokens.first(where: { Array($0.content.unicodeScalars) == scalars }) { return added.id }
        if let bytes = byteFallback == nil ? ByteLevelBytes.bytes(ofSpelling: token) : Array(token.utf8),
           let id = model.vocabularyByBytes[bytes] { return Int(id) }
        return vocabulary.firstIndex { Array($0.unicodeScalars) == scalars }
    }

    /// True for special added tokens (control tokens such as `<|im_end|>`).
    public func isSpecialToken(_ id: Int) -> Bool {
        isSpecial.indices.contains(id) && isSpecial[id]
    }

    /// The ids of `text`. `addSpecialTokens` adds the BOS/EOS the model declares;
    /// `parseSpecialTokens: false` treats special tokens' text as plain text (non-special added
    /// tokens are still matched).
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecialTokens: Bool = true) -> [Int] {
        var ids = addSpecialTokens ? prefixIDs : []
        ids.reserveCapacity(text.utf8.count / 3 + 8)
        let scalars = Array(text.unicodeScalars)
        var segmentStart = 0
        for match in matcher.matches(in: scalars, includeSpecial: parseSpecialTokens) {
            encodeOrdinary(scalars[segmentStart..<match.range.lowerBound], into: &ids)
            ids.append(match.token.id)
            segmentStart = match.range.upperBound
        }
        encodeOrdinary(scalars[segmentStart...], into: &ids)
        if addSpecialTokens { ids += suffixIDs }
        return ids
    }

    /// Normalizes, pre-tokenizes and BPE-encodes text that holds no added token.
    func encodeOrdinary(_ segment: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
        guard !segment.isEmpty else { return }
        var text = ScalarText(normalization == .none ? Array(segment) : normalization.apply(Array(segment)))
        // Metaspace's prepend_scheme "first" prepends only at the start of the original text.
        let pieces = preTokenizer.pieces(of: &text, ranges: [0..<text.scalars.count], atTextStart: segment.startIndex == 0)
        var bytes: [UInt8] = []
        for piece in pieces {
            bytes.removeAll(keepingCapacity: true)
            for scalar in text.scalars[piece] { ByteLevelBytes.appendUTF8(scalar, to: &bytes) }
            model.encode(piece: bytes, into: &ids)
        }
    }

    /// The bytes the ids stand for. Ids must be in `0..<vocabularySize`.
    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> [UInt8] {
        if byteFallback != nil { return Array(try decode(ids, skipSpecialTokens: skipSpecialTokens).utf8) }
        var out: [UInt8] = []
        for id in ids {
            guard tokenOffsets.indices.contains(id + 1), id >= 0 else {
                throw QLoRAError.invalid("token id \(id) is out of range (vocabulary of \(vocabularySize))")
            }
            if skipSpecialTokens && isSpecial[id] { continue }
            out.append(contentsOf: tokenBytes[tokenOffsets[id]..<tokenOffsets[id + 1]])
        }
        return out
    }

    /// The text the ids stand for; byte sequences that are not valid UTF-8 become U+FFFD.
    /// For a SentencePiece-converted BPE, the tokens' spellings through its `decoder`, as
    /// `tokenizers` decodes (ids no token has are skipped).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        guard let byteFallback else {
            return String(decoding: try decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
        }
        var tokens: [String] = []
        for id in ids {
            guard vocabulary.indices.contains(id) else {
                throw QLoRAError.invalid("token id \(id) is out of range (vocabulary of \(vocabularySize))")
            }
            if (skipSpecialTokens && isSpecial[id]) || vocabulary[id].isEmpty { continue }
            tokens.append(vocabulary[id])
        }
        return byteFallback.decoder.decode(tokens)
    }
}
