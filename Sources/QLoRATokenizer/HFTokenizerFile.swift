import Foundation
import QLoRACore

/// A parsed `tokenizer.json` (the `tokenizers` library's format), with readers for the parts a
/// byte-level BPE tokenizer or a SentencePiece-converted one (`byte_fallback`) uses; anything else is refused with a one-line error naming the file.
struct HFTokenizerFile {
    struct Document {
        var model: Model
        var addedTokens: [AddedTokenEntry]?
        var normalizer: JSONValue?
        var preTokenizer: JSONValue?
        var postProcessor: JSONValue?
        var decoder: JSONValue?
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
        var unkToken: String?
        var fuseUnk: Bool?
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
        try require((model.type ?? "BPE") == "BPE", "model type '\(model.type ?? "")' is not supported (only BPE)")
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
                normalizer: raw("normalizer"), preTokenizer: raw("pre_tokenizer"), postProcessor: raw("post_processor"),
                decoder: raw("decoder"))
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
                endOfWordSuffix: try optional(node, "end_of_word_suffix", path, string),
                unkToken: try optional(node, "unk_token", path, string),
                fuseUnk: try optional(node, "fuse_unk", path, bool))
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
