import Foundation
import QLoRACore

/// A parsed `tokenizer.json` (the `tokenizers` library's format), with readers for the parts a
/// byte-level BPE tokenizer uses; anything else is refused with a one-line error naming the file.
struct HFTokenizerFile {
    struct Document {
        var model: Model
        var addedTokens: [AddedTokenEntry]?
        var normalizer: JSONValue?
        var preTokenizer: JSONValue?
        var postProcessor: JSONValue?
    }

    struct Model {
        var type: String?
        var vocab: [String: Int]
        var merges: [Merge]
        var dropout: Double?
        var byteFallback: Bool?
        var ignoreMerges: Bool?
        var continuingSubwordPrefix: String?
        var endOfWordSuffix: String?
    }

    /// A merge, written "left right" (older files) or ["left", "right"].
    struct Merge {
        var left: String
        var right: String
    }

    struct AddedTokenEntry {
        var id: Int
        var content: String
        var special: Bool?
        var lstrip: Bool?
        var rstrip: Bool?
        var singleWord: Bool?
    }

    let json: Document
    let source: String

    init(data: Data, source: String) throws {
        self.source = source
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw QLoRAError.format(source, "not valid JSON: \(error)")
        }
        json = try Fields(source: source).document(root)
        let model = json.model
        try require((model.type ?? "BPE") == "BPE", "model type '\(model.type ?? "")' is not supported (only byte-level BPE)")
        try require(model.byteFallback != true, "byte_fallback BPE (sentencepiece-style) is not supported")
        try require((model.dropout ?? 0) == 0, "BPE dropout is not supported")
        try require((model.continuingSubwordPrefix ?? "").isEmpty && (model.endOfWordSuffix ?? "").isEmpty,
                    "BPE subword prefixes and suffixes are not supported")
    }

    /// Typed members of the document; a missing or mistyped one is a one-line error that names
    /// where it is ("'model.vocab' is missing", "at 'model.merges.3': a merge is not two tokens").
    struct Fields {
        let source: String

        func fail(_ problem: String) -> QLoRAError { QLoRAError.format(source, "not a tokenizers BPE file: \(problem)") }

        func mistyped(_ value: JSONValue, _ path: String, _ expected: String) -> QLoRAError {
            fail("\(path.isEmpty ? "at the top level" : "at '\(path)'"): expected \(expected), found \(value.typeName)")
        }

        /// The members of the object at `path`.
        func object(_ value: JSONValue, _ path: String) throws -> [(String, JSONValue)] {
            try typed(value, path, "an object", \.members)
        }

        func required(_ object: JSONValue, _ key: String, _ path: String) throws -> JSONValue {
            guard let value = object[key] else { throw fail("'\(path.isEmpty ? key : path + "." + key)' is missing") }
            return value
        }

        /// An optional member: nil when absent or null, else `read` of it.
        func optional<T>(_ object: JSONValue, _ key: String, _ path: String, _ read: (JSONValue, String) throws -> T) throws -> T? {
            guard let value = object[key], !value.isNull else { return nil }
            return try read(value, path.isEmpty ? key : path + "." + key)
        }

        /// `get` of the value, or a mistyped error naming `expected`.
        func typed<T>(_ value: JSONValue, _ path: String, _ expected: String, _ get: (JSONValue) -> T?) throws -> T {
            guard let v = get(value) else { throw mistyped(value, path, expected) }
            return v
        }

        func string(_ value: JSONValue, _ path: String) throws -> String { try typed(value, path, "a string", \.string) }
        func bool(_ value: JSONValue, _ path: String) throws -> Bool { try typed(value, path, "a boolean", \.bool) }
        func int(_ value: JSONValue, _ path: String) throws -> Int { try typed(value, path, "an integer", \.int) }
        func number(_ value: JSONValue, _ path: String) throws -> Double { try typed(value, path, "a number", \.double) }
        func array(_ value: JSONValue, _ path: String) throws -> [JSONValue] { try typed(value, path, "an array", \.array) }

        func document(_ root: JSONValue) throws -> Document {
            _ = try object(root, "")
            func raw(_ key: String) -> JSONValue? { root[key] }
            return Document(
                model: try model(try required(root, "model", ""), "model"),
                addedTokens: try optional(root, "added_tokens", "") { list, path in
                    try array(list, path).enumerated().map { try addedToken($1, "\(path).\($0)") }
                },
                normalizer: raw("normalizer"), preTokenizer: raw("pre_tokenizer"), postProcessor: raw("post_processor"))
        }

        func model(_ node: JSONValue, _ path: String) throws -> Model {
            var vocab: [String: Int] = [:]
            let entries = try object(try required(node, "vocab", path), path + ".vocab")
            vocab.reserveCapacity(entries.count)
            for (token, id) in entries { vocab[token] = try int(id, "\(path).vocab.\(token)") }
            let merges = try array(try required(node, "merges", path), path + ".merges").enumerated().map { i, merge in
                try self.merge(merge, "\(path).merges.\(i)")
            }
            return Model(
                type: try optional(node, "type", path, string), vocab: vocab, merges: merges,
                dropout: try optional(node, "dropout", path, number),
                byteFallback: try optional(node, "byte_fallback", path, bool),
                ignoreMerges: try optional(node, "ignore_merges", path, bool),
                continuingSubwordPrefix: try optional(node, "continuing_subword_prefix", path, string),
                endOfWordSuffix: try optional(node, "end_of_word_suffix", path, string))
        }

        func merge(_ value: JSONValue, _ path: String) throws -> Merge {
            if let pair = value.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
                return Merge(left: left, right: right)
            }
            guard let text = value.string else { throw mistyped(value, path, "a merge (\"left right\" or [\"left\", \"right\"])") }
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw fail("at '\(path)': a merge is not two tokens") }
            return Merge(left: String(parts[0]), right: String(parts[1]))
        }

        func addedToken(_ node: JSONValue, _ path: String) throws -> AddedTokenEntry {
            _ = try object(node, path)
            return AddedTokenEntry(
                id: try int(try required(node, "id", path), path + ".id"),
                content: try string(try required(node, "content", path), path + ".content"),
                special: try optional(node, "special", path, bool), lstrip: try optional(node, "lstrip", path, bool),
                rstrip: try optional(node, "rstrip", path, bool), singleWord: try optional(node, "single_word", path, bool))
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
