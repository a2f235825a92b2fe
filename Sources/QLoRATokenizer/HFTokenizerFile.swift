import Foundation
import QLoRACore

/// A parsed `tokenizer.json` (the `tokenizers` library's format), with readers for the parts a
/// byte-level BPE tokenizer or a SentencePiece-converted one (`byte_fallback`) uses; anything else is refused with a one-line error naming the file.
struct HFTokenizerFile {
    struct Document: Decodable {
        var model: Model
        var addedTokens: [AddedTokenEntry]?
        var normalizer: JSONValue?
        var preTokenizer: JSONValue?
        var postProcessor: JSONValue?
        var decoder: JSONValue?

        enum CodingKeys: String, CodingKey {
            case model, normalizer, decoder
            case addedTokens = "added_tokens"
            case preTokenizer = "pre_tokenizer"
            case postProcessor = "post_processor"
        }
    }

    struct Model: Decodable {
        var type: String?
        var vocab: [String: Int]
        var merges: [Merge]
        var dropout: Double?
        var byteFallback: Bool?
        var ignoreMerges: Bool?
        var continuingSubwordPrefix: String?
        var endOfWordSuffix: String?
        var unkToken: String?
        var fuseUnk: Bool?

        enum CodingKeys: String, CodingKey {
            case type, vocab, merges, dropout
            case unkToken = "unk_token"
            case fuseUnk = "fuse_unk"
            case byteFallback = "byte_fallback"
            case ignoreMerges = "ignore_merges"
            case continuingSubwordPrefix = "continuing_subword_prefix"
            case endOfWordSuffix = "end_of_word_suffix"
        }
    }

    /// A merge, written "left right" (older files) or ["left", "right"].
    struct Merge: Decodable {
        var left: String
        var right: String

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let pair = try? container.decode([String].self), pair.count == 2 {
                (left, right) = (pair[0], pair[1])
                return
            }
            let parts = try container.decode(String.self).split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "a merge is not two tokens")
            }
            (left, right) = (String(parts[0]), String(parts[1]))
        }
    }

    struct AddedTokenEntry: Decodable {
        var id: Int
        var content: String
        var special: Bool?
        var lstrip: Bool?
        var rstrip: Bool?
        var singleWord: Bool?

        enum CodingKeys: String, CodingKey {
            case id, content, special, lstrip, rstrip
            case singleWord = "single_word"
        }
    }

    let json: Document
    let source: String

    init(data: Data, source: String) throws {
        self.source = source
        do {
            json = try JSONDecoder().decode(Document.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw QLoRAError.format(source, "not valid JSON")
        } catch let error as DecodingError {
            throw QLoRAError.format(source, "not a tokenizers BPE file: \(Self.describe(error))")
        } catch {
            throw QLoRAError.format(source, "not valid JSON")
        }
        let model = json.model
        try require((model.type ?? "BPE") == "BPE", "model type '\(model.type ?? "")' is not supported (only BPE)")
        try require((model.dropout ?? 0) == 0, "BPE dropout is not supported")
        try require((model.continuingSubwordPrefix ?? "").isEmpty && (model.endOfWordSuffix ?? "").isEmpty,
                    "BPE subword prefixes and suffixes are not supported")
    }

    /// A decoding error in one line: where in the document, and what.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let context): return "'\(path(context.codingPath + [key]))' is missing"
        case .valueNotFound(_, let context), .typeMismatch(_, let context), .dataCorrupted(let context):
            return "at '\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    func error(_ problem: String) -> QLoRAError { QLoRAError.unsupported(source, problem) }

    func require(_ condition: Bool, _ problem: @autoclosure () -> String) throws {
        if !condition { throw error(problem()) }
    }

    func addedTokens() throws -> [AddedToken] {
        try (json.addedTokens ?? []).map { entry in
            try require(!entry.content.isEmpty, "an added token is empty")
            try require(entry.singleWord != true, "added token '\(entry.content)' has single_word, which is not supported")
            return AddedToken(id: entry.id, content: entry.content, special: entry.special ?? false,
                              lstrip: entry.lstrip ?? false, rstrip: entry.rstrip ?? false)
        }
    }

    var isByteFallback: Bool { json.model.byteFallback == true }

    func normalization() throws -> Tokenizer.Normalization {
        guard let normalizer = json.normalizer, normalizer != .null else { return .none }
        let normalization = try normalization(normalizer)
        return normalization == .sequence([]) ? .none : normalization
    }

    func normalization(_ node: JSONValue) throws -> Tokenizer.Normalization {
        switch node["type"]?.string {
        case "NFC": return .nfc
        case "Sequence": return .sequence(try (node["normalizers"]?.array ?? []).map(normalization))
        case "Replace" where isByteFallback:
            guard let pattern = node["pattern"]?["String"]?.string, !pattern.isEmpty, let content = node["content"]?.string else {
                throw error("normalizer Replace with a pattern other than a non-empty String is not supported")
            }
            return .replace(pattern: pattern, content: content)
        case "Prepend" where isByteFallback:
            guard let prefix = node["prepend"]?.string else { throw QLoRAError.format(source, "normalizer Prepend has no 'prepend'") }
            return .prepend(prefix)
        default:
            throw error("normalizer '\(node["type"]?.string ?? "?")' is not supported (\(isByteFallback ? "NFC, Replace, Prepend, Sequence" : "none or NFC"))")
        }
    }

    /// The unknown token, its fusing, and the decoder of a `byte_fallback` BPE; nil for byte-level BPE.
    func byteFallback(vocabulary: [String: Int], added: [AddedToken]) throws -> Tokenizer.ByteFallback? {
        guard isByteFallback else { return nil }
        var unknownID: Int?
        if let unk = json.model.unkToken {
            guard let id = vocabulary[unk] ?? added.first(where: { $0.content == unk })?.id else {
                throw QLoRAError.format(source, "model.unk_token '\(unk)' is not in the vocabulary")
            }
            unknownID = id
        }
        return .init(unknownTokenID: unknownID, fuseUnknown: json.model.fuseUnk ?? false, decoder: try decoder())
    }

    /// The `decoder` of a `byte_fallback` BPE: `Replace` (a String pattern), `ByteFallback`, `Fuse`,
    /// `Strip`, alone or in a `Sequence`.
    func decoder() throws -> TokenDecoder {
        guard let node = json.decoder, node != .null else { throw error("a byte_fallback BPE without a decoder is not supported") }
        let nodes = node["type"]?.string == "Sequence" ? node["decoders"]?.array ?? [] : [node]
        return TokenDecoder(steps: try nodes.map { step in
            switch step["type"]?.string {
            case "Replace":
                guard let pattern = step["pattern"]?["String"]?.string, !pattern.isEmpty, let content = step["content"]?.string else {
                    throw error("decoder Replace with a pattern other than a non-empty String is not supported")
                }
                return .replace(pattern: pattern, content: content)
            case "ByteFallback": return .byteFallback
            case "Fuse": return .fuse
            case "Strip":
                let content = step["content"]?.string.map { Array($0.unicodeScalars) } ?? []
                guard content.count == 1, let start = step["start"]?.int, let stop = step["stop"]?.int, start >= 0, stop >= 0 else {
                    throw QLoRAError.format(source, "decoder Strip needs one content character and non-negative start and stop")
                }
                return .strip(content: content[0], start: start, stop: stop)
            default:
                throw error("decoder '\(step["type"]?.string ?? "?")' is not supported with byte_fallback (Replace, ByteFallback, Fuse, Strip, Sequence)")
            }
        })
    }

    /// The pre-tokenizer steps; the last must be `ByteLevel` (a byte-level BPE).
    func preTokenizer() throws -> PreTokenizer {
        if isByteFallback { return try byteFallbackPreTokenizer() }
        guard let node = json.preTokenizer, node != .null else { throw error("no pre_tokenizer: not a byte-level BPE tokenizer") }
        let nodes = node["type"]?.string == "Sequence" ? node["pretokenizers"]?.array ?? [] : [node]
        let steps = try nodes.map(preTokenizerStep)
        guard case .byteLevel = steps.last else {
            throw error("the pre_tokenizer does not end with ByteLevel: not a byte-level BPE tokenizer")
        }
        return PreTokenizer(steps: steps)
    }

    /// The pre-tokenizer of a `byte_fallback` BPE: none (the whole text is one piece), `Metaspace`,
    /// or `Split` on a string, alone or in a `Sequence`.
    func byteFallbackPreTokenizer() throws -> PreTokenizer {
        guard let node = json.preTokenizer, node != .null else { return PreTokenizer(steps: []) }
        let nodes = node["type"]?.string == "Sequence" ? node["pretokenizers"]?.array ?? [] : [node]
        return PreTokenizer(steps: try nodes.map { step in
            switch step["type"]?.string {
            case "Metaspace":
                let replacement = (step["replacement"]?.string ?? "▁").unicodeScalars
                guard replacement.count == 1, let scalar = replacement.first else {
                    throw QLoRAError.format(source, "pre_tokenizer Metaspace replacement is not one character")
                }
                let scheme: PreTokenizer.PrependScheme
                if let name = step["prepend_scheme"]?.string {
                    guard let known = PreTokenizer.PrependScheme(rawValue: name) else {
                        throw error("Metaspace prepend_scheme '\(name)' is not supported (always, first, never)")
                    }
                    scheme = known
                } else {
                    scheme = step["add_prefix_space"]?.bool == false ? .never : .always
                }
                return .metaspace(replacement: scalar, prependScheme: scheme, split: step["split"]?.bool ?? true)
            case "Split" where step["pattern"]?["String"]?.string != nil:
                let pattern = step["pattern"]!["String"]!.string!
                guard let behavior = PreTokenizer.SplitBehavior(rawValue: step["behavior"]?.string ?? ""), !pattern.isEmpty,
                      step["invert"]?.bool != true else {
                    throw error("Split on '\(pattern)' with behavior '\(step["behavior"]?.string ?? "?")'\(step["invert"]?.bool == true ? " inverted" : "") is not supported (Removed, Isolated, MergedWithPrevious, MergedWithNext)")
                }
                return .splitString(pattern, behavior)
            default:
                throw error("pre_tokenizer '\(step["type"]?.string ?? "?")' is not supported with byte_fallback (none, Metaspace, Split on a string, Sequence)")
            }
        })
    }

    func preTokenizerStep(_ node: JSONValue) throws -> PreTokenizer.Step {
        switch node["type"]?.string {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: node["add_prefix_space"]?.bool ?? false, useRegex: node["use_regex"]?.bool ?? true)
        case "Digits":
            return .digits(individual: node["individual_digits"]?.bool ?? false)
        case "Split":
            let regex = node["pattern"]?["Regex"]?.string
            guard let regex, let pattern = SplitPattern.matching(regex: regex) else {
                throw error("Split pattern \(regex ?? node["pattern"]?["String"]?.string ?? "?") is not one this tokenizer implements (\(SplitPattern.all.map(\.name).joined(separator: ", ")))")
            }
            try require(node["behavior"]?.string == "Isolated" && node["invert"]?.bool != true,
                        "Split behavior other than Isolated is not supported")
            return .split(pattern)
        default:
            throw error("pre_tokenizer '\(node["type"]?.string ?? "?")' is not supported (Sequence, Split, Digits, ByteLevel)")
        }
    }

    /// The ids a `TemplateProcessing` post-processor puts before and after a single sequence, and
    /// whether there is a post-processor at all (`ByteLevel` alone adds nothing).
    func postProcessorIDs() throws -> (prefix: [Int], suffix: [Int], present: Bool) {
        guard let node = json.postProcessor, node != .null else { return ([], [], false) }
        let nodes = node["type"]?.string == "Sequence" ? node["processors"]?.array ?? [] : [node]
        var prefix: [Int] = [], suffix: [Int] = []
        for processor in nodes {
            switch processor["type"]?.string {
            case "ByteLevel": continue
            case "TemplateProcessing":
                var seenSequence = false
                for item in processor["single"]?.array ?? [] {
                    if item["Sequence"] != nil { seenSequence = true; continue }
                    guard let name = item["SpecialToken"]?["id"]?.string,
                          let ids = processor["special_tokens"]?[name]?["ids"]?.array?.compactMap(\.int) else {
                        throw QLoRAError.format(source, "post_processor.single names an unknown special token")
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            default:
                throw error("post_processor '\(processor["type"]?.string ?? "?")' is not supported (TemplateProcessing, ByteLevel)")
            }
        }
        return (prefix, suffix, true)
    }
}
