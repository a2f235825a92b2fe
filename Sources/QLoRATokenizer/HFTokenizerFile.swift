import Foundation
import QLoRACore

/// A parsed `tokenizer.json` (the `tokenizers` library's format), with readers for the parts a
/// byte-level BPE tokenizer uses; anything else is refused with a one-line error naming the file.
struct HFTokenizerFile {
    struct Document: Decodable {
        var model: Model
        var addedTokens: [AddedTokenEntry]?
        var normalizer: JSONValue?
        var preTokenizer: JSONValue?
        var postProcessor: JSONValue?

        enum CodingKeys: String, CodingKey {
            case model, normalizer
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

        enum CodingKeys: String, CodingKey {
            case type, vocab, merges, dropout
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
        try require((model.type ?? "BPE") == "BPE", "model type '\(model.type ?? "")' is not supported (only byte-level BPE)")
        try require(model.byteFallback != true, "byte_fallback BPE (sentencepiece-style) is not supported")
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

    func normalization() throws -> Tokenizer.Normalization {
        guard let normalizer = json.normalizer, normalizer != .null else { return .none }
        switch normalizer["type"]?.string {
        case "NFC": return .nfc
        case "Sequence" where normalizer["normalizers"]?.array?.isEmpty == true: return .none
        default: throw error("normalizer '\(normalizer["type"]?.string ?? "?")' is not supported (none or NFC)")
        }
    }

    /// The pre-tokenizer steps; the last must be `ByteLevel` (a byte-level BPE).
    func preTokenizer() throws -> PreTokenizer {
        guard let node = json.preTokenizer, node != .null else { throw error("no pre_tokenizer: not a byte-level BPE tokenizer") }
        let nodes = node["type"]?.string == "Sequence" ? node["pretokenizers"]?.array ?? [] : [node]
        let steps = try nodes.map(preTokenizerStep)
        guard case .byteLevel = steps.last else {
            throw error("the pre_tokenizer does not end with ByteLevel: not a byte-level BPE tokenizer")
        }
        return PreTokenizer(steps: steps)
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
