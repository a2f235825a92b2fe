import Foundation
import QLoRACore

extension Tokenizer {
    /// The tokenizer of a Hugging Face checkpoint directory: `tokenizer.json`, with
    /// `tokenizer_config.json` and `chat_template.jinja` when present.
    public init(directory: String) throws {
        let path = directory + "/tokenizer.json"
        guard let json = FileManager.default.contents(atPath: path) else {
            throw QLoRAError.io(path, "missing: the model has no tokenizer.json (only byte-level BPE tokenizers are supported)")
        }
        let configPath = directory + "/tokenizer_config.json"
        let config = FileManager.default.contents(atPath: configPath)
        let templatePath = directory + "/chat_template.jinja"
        let template = FileManager.default.contents(atPath: templatePath).map { String(decoding: $0, as: UTF8.self) }
        try self.init(tokenizerJSON: json, tokenizerConfigJSON: config, chatTemplate: template, source: path)
    }

    /// A tokenizer from the bytes of a `tokenizer.json` (a `BPE` model over a byte-level
    /// pre-tokenizer) and, optionally, a `tokenizer_config.json` and a chat template file (which
    /// wins over the config's `chat_template`), read as transformers 5 reads them: the config's
    /// bos/eos/unk/pad tokens become special added tokens, and when it states `add_bos_token` or
    /// `add_eos_token` (or `tokenizer.json` has no post-processor) those flags alone decide BOS/EOS.
    public init(tokenizerJSON: Data, tokenizerConfigJSON: Data? = nil, chatTemplate: String? = nil, source: String) throws {
        let doc = try HFJSON(data: tokenizerJSON, source: source)
        let config = try tokenizerConfigJSON.map { try HFJSON(data: $0, source: source.replacingLastPathComponent("tokenizer_config.json")) }
        let model = try doc.object(doc.root, "model")
        guard (model["type"] as? String ?? "BPE") == "BPE" else {
            throw QLoRAError.unsupported(source, "model type '\(model["type"]!)' is not supported (only byte-level BPE)")
        }
        try doc.require(model["byte_fallback"] as? Bool != true, "byte_fallback BPE (sentencepiece-style) is not supported")
        try doc.require(((model["dropout"] as? NSNumber)?.doubleValue ?? 0) == 0, "BPE dropout is not supported")
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            try doc.require((model[key] as? String ?? "").isEmpty, "BPE '\(key)' is not supported")
        }
        guard let vocabulary = model["vocab"] as? [String: Int] else { throw doc.error("model.vocab is not an object of ids") }
        let merges = try doc.merges(model["merges"])

        var added = try doc.addedTokens()
        let preTokenizer = try doc.preTokenizer()
        let normalization = try doc.normalization()
        var (prefixIDs, suffixIDs, hasPostProcessor) = try doc.postProcessorIDs()

        // tokenizer_config.json: named special tokens, BOS/EOS flags, chat template.
        var idOf: [String: Int] = vocabulary
        for token in added { idOf[token.content] = token.id }
        var named: [String: Int] = [:]
        for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            guard let content = config?.tokenContent(key) else { continue }
            let id = idOf[content] ?? max(vocabulary.values.max() ?? -1, added.map(\.id).max() ?? -1) + 1
            if !added.contains(where: { $0.content == content }) {
                added.append(AddedToken(id: id, content: content, special: true))
                idOf[content] = id
            }
            named[key] = id
        }
        let addBOS = config?.root["add_bos_token"] as? Bool
        let addEOS = config?.root["add_eos_token"] as? Bool
        if addBOS != nil || addEOS != nil || !hasPostProcessor {
            prefixIDs = (addBOS ?? false) ? named["bos_token"].map { [$0] } ?? [] : []
            suffixIDs = (addEOS ?? false) ? named["eos_token"].map { [$0] } ?? [] : []
        }
        try self.init(
            source: source, vocabulary: vocabulary, merges: merges, addedTokens: added,
            normalization: normalization, preTokenizer: preTokenizer,
            ignoreMerges: model["ignore_merges"] as? Bool ?? false,
            prefixIDs: prefixIDs, suffixIDs: suffixIDs,
            bosTokenID: named["bos_token"], eosTokenID: named["eos_token"],
            chatTemplate: chatTemplate ?? config?.chatTemplate())
    }
}

/// A parsed `tokenizer.json` or `tokenizer_config.json`, with readers for its parts; every
/// problem is a one-line error naming the file.
struct HFJSON {
    let root: [String: Any]
    let source: String

    init(data: Data, source: String) throws {
        self.source = source
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw QLoRAError.format(source, "not a JSON object")
        }
        self.root = root
    }

    func error(_ problem: String) -> QLoRAError { QLoRAError.unsupported(source, problem) }

    func require(_ condition: Bool, _ problem: @autoclosure () -> String) throws {
        if !condition { throw error(problem()) }
    }

    func object(_ parent: [String: Any], _ key: String) throws -> [String: Any] {
        guard let value = parent[key] as? [String: Any] else { throw QLoRAError.format(source, "'\(key)' is missing or not an object") }
        return value
    }

    /// Merges as "left right" strings or ["left", "right"] pairs.
    func merges(_ value: Any?) throws -> [(String, String)] {
        guard let list = value as? [Any] else { throw QLoRAError.format(source, "model.merges is missing or not a list") }
        return try list.enumerated().map { i, item in
            if let pair = item as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            if let text = item as? String {
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2 { return (String(parts[0]), String(parts[1])) }
            }
            throw QLoRAError.format(source, "model.merges[\(i)] is not a pair of tokens")
        }
    }

    func addedTokens() throws -> [AddedToken] {
        try (root["added_tokens"] as? [[String: Any]] ?? []).map { entry in
            guard let id = entry["id"] as? Int, let content = entry["content"] as? String, !content.isEmpty else {
                throw QLoRAError.format(source, "an added_tokens entry lacks an id or content")
            }
            try require(entry["single_word"] as? Bool != true, "added token '\(content)' has single_word, which is not supported")
            return AddedToken(id: id, content: content, special: entry["special"] as? Bool ?? false,
                              lstrip: entry["lstrip"] as? Bool ?? false, rstrip: entry["rstrip"] as? Bool ?? false)
        }
    }

    func normalization() throws -> Tokenizer.Normalization {
        guard let normalizer = root["normalizer"] as? [String: Any] else { return .none }
        switch normalizer["type"] as? String {
        case "NFC": return .nfc
        case "Sequence" where (normalizer["normalizers"] as? [Any])?.isEmpty == true: return .none
        default: throw error("normalizer '\(normalizer["type"] ?? "?")' is not supported (none or NFC)")
        }
    }

    /// The pre-tokenizer steps; the last must be `ByteLevel` (a byte-level BPE).
    func preTokenizer() throws -> PreTokenizer {
        guard let node = root["pre_tokenizer"] as? [String: Any] else { throw error("no pre_tokenizer: not a byte-level BPE tokenizer") }
        let nodes = node["type"] as? String == "Sequence" ? node["pretokenizers"] as? [[String: Any]] ?? [] : [node]
        let steps = try nodes.map(preTokenizerStep)
        guard case .byteLevel = steps.last else { throw error("the pre_tokenizer does not end with ByteLevel: not a byte-level BPE tokenizer") }
        return PreTokenizer(steps: steps)
    }

    func preTokenizerStep(_ node: [String: Any]) throws -> PreTokenizer.Step {
        switch node["type"] as? String {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: node["add_prefix_space"] as? Bool ?? false, useRegex: node["use_regex"] as? Bool ?? true)
        case "Digits":
            return .digits(individual: node["individual_digits"] as? Bool ?? false)
        case "Split":
            let regex = (node["pattern"] as? [String: Any])?["Regex"] as? String
            guard let regex, let pattern = SplitPattern.matching(regex: regex) else {
                throw error("Split pattern \(node["pattern"].map { "\($0)" } ?? "?") is not one this tokenizer implements (\(SplitPattern.all.map(\.name).joined(separator: ", ")))")
            }
            try require(node["behavior"] as? String == "Isolated" && node["invert"] as? Bool != true, "Split behavior other than Isolated is not supported")
            return .split(pattern)
        default:
            throw error("pre_tokenizer '\(node["type"] ?? "?")' is not supported (Sequence, Split, Digits, ByteLevel)")
        }
    }

    /// The ids a `TemplateProcessing` post-processor puts before and after a single sequence, and
    /// whether there is a post-processor at all (`ByteLevel` alone adds nothing).
    func postProcessorIDs() throws -> (prefix: [Int], suffix: [Int], present: Bool) {
        guard let node = root["post_processor"] as? [String: Any] else { return ([], [], false) }
        let nodes = node["type"] as? String == "Sequence" ? node["processors"] as? [[String: Any]] ?? [] : [node]
        var prefix: [Int] = [], suffix: [Int] = []
        for processor in nodes {
            switch processor["type"] as? String {
            case "ByteLevel": continue
            case "TemplateProcessing":
                let specials = processor["special_tokens"] as? [String: [String: Any]] ?? [:]
                var seenSequence = false
                for item in processor["single"] as? [[String: Any]] ?? [] {
                    if item["Sequence"] != nil { seenSequence = true; continue }
                    guard let name = (item["SpecialToken"] as? [String: Any])?["id"] as? String,
                          let ids = specials[name]?["ids"] as? [Int] else {
                        throw QLoRAError.format(source, "post_processor.single names an unknown special token")
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            default:
                throw error("post_processor '\(processor["type"] ?? "?")' is not supported (TemplateProcessing, ByteLevel)")
            }
        }
        return (prefix, suffix, true)
    }

    /// A named special token of `tokenizer_config.json`: a string or an AddedToken object.
    func tokenContent(_ key: String) -> String? {
        if let text = root[key] as? String { return text }
        return (root[key] as? [String: Any])?["content"] as? String
    }

    /// `chat_template`: a string, or a list of named templates (the "default" one).
    func chatTemplate() -> String? {
        if let text = root["chat_template"] as? String { return text }
        let named = root["chat_template"] as? [[String: Any]] ?? []
        return named.first { $0["name"] as? String == "default" }?["template"] as? String
    }
}

extension String {
    /// This path with its last component replaced.
    func replacingLastPathComponent(_ name: String) -> String {
        guard let slash = lastIndex(of: "/") else { return name }
        return String(self[...slash]) + name
    }
}
