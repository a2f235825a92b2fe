import Foundation
import QLoRA
import Testing

/// Reading `tokenizer.json` files as Llama 3, Qwen2 and older GPT-2-style models write them:
/// `Split` + `ByteLevel` sequences, `Digits`, prefix spaces, NFC, `ignore_merges`, merges in both
/// spellings, post-processor BOS, added tokens with lstrip/rstrip; and one-line refusals of what
/// is not byte-level BPE. Expected ids are what the `tokenizers` library gives for the same files.
@Suite struct HFTokenizerJSONTests {
    /// A small byte-level vocabulary: the 256 bytes (ids in byte order), a few merges, a token
    /// only `ignore_merges` can reach, and two added tokens.
    static func tokenizerJSON(
        preTokenizer: String = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#,
        normalizer: String = "null", postProcessor: String = "null", ignoreMerges: Bool = false,
        mergesAsPairs: Bool = true, modelExtra: String = "", addedExtra: String = ""
    ) -> Data {
        var vocab = ByteLevelBPE.byteToScalar.enumerated().map { (String($0.element), $0.offset) }
        vocab += [("Ġa", 256), ("he", 257), ("ll", 258), ("hell", 259), ("hello", 260), ("Ġworld", 261),
                  ("<|bos|>", 262), ("<mask>", 263)]
        let merges = [("Ġ", "a"), ("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o")]
        func quoted(_ s: String) -> String {
            String(data: try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]), encoding: .utf8)!.dropFirst().dropLast().description
        }
        let vocabJSON = vocab.map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ")
        let mergesJSON = merges.map { mergesAsPairs ? "[\(quoted($0.0)), \(quoted($0.1))]" : quoted("\($0.0) \($0.1)") }.joined(separator: ", ")
        return Data("""
            {"version": "1.0", "added_tokens": [
              {"id": 262, "content": "<|bos|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
              {"id": 263, "content": "<mask>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": true}\(addedExtra)],
             "normalizer": \(normalizer), "pre_tokenizer": \(preTokenizer), "post_processor": \(postProcessor),
             "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                       "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                       "ignore_merges": \(ignoreMerges)\(modelExtra), "vocab": {\(vocabJSON)}, "merges": [\(mergesJSON)]}}
            """.utf8)
    }

    static let llama3PreTokenizer = """
        {"type": "Sequence", "pretokenizers": [
          {"type": "Split", "pattern": {"Regex": \(String(data: try! JSONSerialization.data(withJSONObject: [SplitPattern.llama3.regex]), encoding: .utf8)!.dropFirst().dropLast())}, "behavior": "Isolated", "invert": false},
          {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
        """
    static let bosPostProcessor = """
        {"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
          {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
           "pair": [], "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [262], "tokens": ["<|bos|>"]}}}]}
        """

    static func tokenizer(_ json: Data) throws -> Tokenizer { try Tokenizer(tokenizerJSON: json, source: "t/tokenizer.json") }

    static func byteIDs(_ text: String) -> [Int] { text.utf8.map(Int.init) }

    @Test(arguments: [true, false])
    func llama3StyleFileWithIgnoreMergesAndBOS(mergesAsPairs: Bool) throws {
        let json = Self.tokenizerJSON(preTokenizer: Self.llama3PreTokenizer, postProcessor: Self.bosPostProcessor,
                                      ignoreMerges: true, mergesAsPairs: mergesAsPairs)
        let t = try Self.tokenizer(json)
        #expect(t.encode("hello world") == [262, 260, 261])
        #expect(t.encode("hello world", addSpecialTokens: false) == [260, 261])
        #expect(t.prefixIDs == [262] && t.suffixIDs.isEmpty)
    }

    @Test func withoutIgnoreMergesAWordIsOnlyWhatMergesMake() throws {
        let t = try Self.tokenizer(Self.tokenizerJSON(preTokenizer: Self.llama3PreTokenizer))
        #expect(t.encode(" world a") == [ByteLevelBPE.byteToScalar.firstIndex(of: "Ġ")!] + Self.byteIDs("world") + [256])
    }

    @Test func nfcNormalizerComposesBeforeSplitting() throws {
        let t = try Self.tokenizer(Self.tokenizerJSON(normalizer: #"{"type": "NFC"}"#))
        #expect(t.encode("he\u{301}") == t.encode("hé"))
        #expect(t.encode("hé") == Self.byteIDs("hé"))
        let plain = try Self.tokenizer(Self.tokenizerJSON())
        #expect(plain.encode("he\u{301}") == [257] + Self.byteIDs("\u{301}"))
    }

    @Test func addedTokenTakesTheWhitespaceAroundItWhenAsked() throws {
        let t = try Self.tokenizer(Self.tokenizerJSON())
        #expect(t.encode("a  <mask>  a") == Self.byteIDs("a") + [263] + Self.byteIDs("a"))
        #expect(t.encode("a <|bos|> a") == Self.byteIDs("a") + [ByteLevelBPE.byteToScalar.firstIndex(of: "Ġ")!, 262, 256])
    }

    @Test func digitsAndPrefixSpaces() throws {
        let pre = #"{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}]}"#
        let t = try Self.tokenizer(Self.tokenizerJSON(preTokenizer: pre))
        let space = ByteLevelBPE.byteToScalar.firstIndex(of: "Ġ")!
        #expect(t.preTokenizer.pieces(of: "a12") == [" a", " 1", " 2"])
        #expect(t.preTokenizer.pieces(of: "ab 12x") == [" ab", " ", " 1", " 2", " x"])
        #expect(t.encode("a12") == [256, space] + Self.byteIDs("1") + [space] + Self.byteIDs("2"))
    }

    @Test(arguments: [
        (tokenizerJSON(modelExtra: #", "byte_fallback_x": 1"#).replacing("\"type\": \"BPE\"", with: "\"type\": \"WordPiece\""),
         "t/tokenizer.json: model type 'WordPiece' is not supported (only BPE)"),
        (tokenizerJSON(preTokenizer: #"{"type": "Metaspace", "replacement": "▁"}"#),
         "t/tokenizer.json: pre_tokenizer 'Metaspace' is not supported (Sequence, Split, Digits, ByteLevel)"),
        (tokenizerJSON(preTokenizer: #"{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel"}]}"#),
         "t/tokenizer.json: Split pattern \\p{N} is not one this tokenizer implements (gpt2, llama3, qwen2)"),
        (tokenizerJSON(preTokenizer: #"{"type": "Digits", "individual_digits": true}"#),
         "t/tokenizer.json: the pre_tokenizer does not end with ByteLevel: not a byte-level BPE tokenizer"),
        (tokenizerJSON().replacing("\"byte_fallback\": false", with: "\"byte_fallback\": true"),
         "t/tokenizer.json: pre_tokenizer 'ByteLevel' is not supported with byte_fallback (none, Metaspace, Split on a string, Sequence)"),
        (tokenizerJSON(normalizer: #"{"type": "Lowercase"}"#),
         "t/tokenizer.json: normalizer 'Lowercase' is not supported (none or NFC)"),
        (tokenizerJSON(addedExtra: #", {"id": 9, "content": "x", "single_word": true, "special": false}"#),
         "t/tokenizer.json: added token 'x' has single_word, which is not supported"),
        (tokenizerJSON(mergesAsPairs: true).replacing("[\"Ġ\", \"a\"]", with: "[\"Ġ\", \"zz\"]"),
         "t/tokenizer.json: merge 0 'Ġ zz' needs 'zz', which is not in the vocabulary"),
        (Data("{\"model\": ".utf8), "t/tokenizer.json: not valid JSON: unexpected end of input, expected a value at line 1, column 11"),
        (Data("{\"version\": \"1.0\"}".utf8), "t/tokenizer.json: not a tokenizers BPE file: 'model' is missing"),
    ] as [(Data, String)])
    func unsupportedFilesAreRefusedInOneLine(json: Data, message: String) {
        #expect(throws: (any Error).self) { try Self.tokenizer(json) }
        do { _ = try Self.tokenizer(json) } catch { #expect("\(error)" == message) }
    }

    /// A file that names token id 9·10^12 would make the id-indexed tables that large: refused first.
    @Test func aTokenIDAboveTheVocabularyLimitIsRefusedBeforeAllocating() throws {
        let huge = #", {"id": 9000000000000, "content": "<huge>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}"#
        #expect(throws: QLoRAError.self) { try Self.tokenizer(Self.tokenizerJSON(addedExtra: huge)) }
        do { _ = try Self.tokenizer(Self.tokenizerJSON(addedExtra: huge)) } catch {
            #expect("\(error)" == "t/tokenizer.json: token id 9000000000000 is too large (at most 4194303)")
        }
        let inVocab = Self.tokenizerJSON().replacing(#""<mask>": 263"#, with: #""<mask>": 263, "far": 4194304"#)
        #expect(throws: QLoRAError.self) { try Self.tokenizer(inVocab) }
    }
}

extension Data {
    func replacing(_ old: String, with new: String) -> Data {
        Data(String(decoding: self, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
    }
}
