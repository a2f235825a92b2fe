import Foundation
import QLoRA
import Testing

/// The tokenizer files built from GGUF metadata against what transformers' GGUF loader writes
/// (references made by tools/make_gguf_fixtures.py with transformers 5.23).
@Suite struct GGUFTokenizerFilesTests {
    static let references = GGUFFixtures.directory + "/tokenizer_reference"

    func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    func jsonFile(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    /// 64-bit FNV-1a, the digest the reference records for SmolLM2's 3.5 MB tokenizer.json.
    func fnv1a64(_ bytes: some Sequence<UInt8>) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Our tokenizer_config.json holds what transformers writes, except the class name (a name
    /// transformers 4 also knows), plus the chat template and add_bos/add_eos flags it keeps elsewhere.
    func expectConfigMatches(_ ours: [String: Any], _ reference: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) {
        for (key, value) in reference where key != "tokenizer_class" {
            #expect(ours[key].map { "\($0)" } == "\(value)", "\(key)", sourceLocation: sourceLocation)
        }
        #expect(ours["tokenizer_class"] as? String == "PreTrainedTokenizerFast", sourceLocation: sourceLocation)
    }

    @Test(arguments: ["tiny_llama", "tokenizer_variant"])
    func tokenizerJSONEqualsTransformersByteForByte(name: String) throws {
        let files = try GGUFTokenizerFiles(gguf: GGUFFile(path: GGUFFixtures.directory + "/\(name).gguf"))
        let reference = try String(contentsOfFile: Self.references + "/\(name)/tokenizer.json", encoding: .utf8)
        #expect(files.tokenizerJSON == reference)
        expectConfigMatches(try json(files.tokenizerConfigJSON), try jsonFile(Self.references + "/\(name)/tokenizer_config.json"))
    }

    @Test func tinyLlamaConfigFiles() throws {
        let files = try GGUFTokenizerFiles(gguf: GGUFFile(path: GGUFFixtures.tinyLlama))
        let config = try json(files.tokenizerConfigJSON)
        let template = try String(contentsOfFile: Self.references + "/tiny_llama/chat_template.jinja", encoding: .utf8)
        #expect(config["chat_template"] as? String == template)
        #expect(config["add_bos_token"] as? Bool == true && config["add_eos_token"] as? Bool == false)
        #expect(files.tokenizerConfigJSON.hasSuffix("}\n") && files.tokenizerConfigJSON.hasPrefix("{\n  \"add_bos_token\": true,\n"))
        #expect(files.generationConfigJSON == """
            {
              "_from_model_config": true,
              "bos_token_id": 1,
              "eos_token_id": 2,
              "pad_token_id": 0
            }

            """)
        #expect(Set(files.files.keys) == ["tokenizer.json", "tokenizer_config.json", "generation_config.json"])
    }

    @Test(.enabled(if: GGUFFixtures.hasSmolLM2, GGUFFixtures.smolLM2Missing))
    func smolLM2TokenizerEqualsTransformers() throws {
        let files = try GGUFTokenizerFiles(gguf: GGUFFile(path: GGUFFixtures.smolLM2))
        let reference = try jsonFile(Self.references + "/smollm2.json")
        let digest = reference["tokenizer.json"] as! [String: Any]
        let bytes = Array(files.tokenizerJSON.utf8)
        #expect(bytes.count == digest["bytes"] as? Int)
        #expect(fnv1a64(bytes) == digest["fnv1a64"] as? String)
        let config = try json(files.tokenizerConfigJSON)
        expectConfigMatches(config, reference["tokenizer_config.json"] as! [String: Any])
        #expect(config["add_bos_token"] as? Bool == false)
        #expect((config["chat_template"] as? String)?.hasPrefix("{% for message in messages %}") == true)
        #expect(try json(files.generationConfigJSON).mapValues { "\($0)" } ==
                ["_from_model_config": "1", "bos_token_id": "1", "eos_token_id": "2", "pad_token_id": "2"])
    }

    @Test func refusesWhatTransformersWouldNotLoad() throws {
        let path = "model.gguf"
        let base = GGUFTokenizerMetadata(model: "gpt2", tokens: ["a", "b", "ab"], merges: ["a b"])
        #expect(throws: Never.self) { try GGUFTokenizerFiles(tokenizer: base, path: path) }
        var sentencepiece = base
        sentencepiece.model = "llama"
        #expect(throws: QLoRAError.unsupported(path, "tokenizer.ggml.model 'llama' is not supported for building tokenizer files (only byte-level BPE, 'gpt2')")) {
            try GGUFTokenizerFiles(tokenizer: sentencepiece, path: path)
        }
        var badMerge = base
        badMerge.merges = ["a c"]
        #expect(throws: QLoRAError.format(path, "tokenizer.ggml.merges[0] 'a c' needs 'c', which is not in the vocabulary")) {
            try GGUFTokenizerFiles(tokenizer: badMerge, path: path)
        }
        badMerge.merges = ["b a"]
        #expect(throws: QLoRAError.format(path, "tokenizer.ggml.merges[0] 'b a' needs 'ba', which is not in the vocabulary")) {
            try GGUFTokenizerFiles(tokenizer: badMerge, path: path)
        }
        badMerge.merges = ["a  b"]
        #expect(throws: QLoRAError.format(path, "tokenizer.ggml.merges[0] 'a  b' is not two tokens separated by one space")) {
            try GGUFTokenizerFiles(tokenizer: badMerge, path: path)
        }
        var rawBOS = base
        rawBOS.tokens.append("<s> x")
        rawBOS.bosTokenID = 3
        #expect(throws: QLoRAError.unsupported(path, "tokenizer.ggml.bos_token_id names '<s> x', which is not spelled in the byte-level alphabet; transformers would append it as a new token")) {
            try GGUFTokenizerFiles(tokenizer: rawBOS, path: path)
        }
    }

    @Test func byteLevelAlphabetIsGPT2s() {
        #expect(ByteLevelBPE.byteToScalar.count == 256 && ByteLevelBPE.alphabet.count == 256)
        #expect(ByteLevelBPE.byteToScalar[0x20] == "Ġ" && ByteLevelBPE.byteToScalar[0x0A] == "Ċ")
        #expect(ByteLevelBPE.byteToScalar[0x00] == "\u{100}" && ByteLevelBPE.byteToScalar[0xAD] == "\u{143}")
        #expect(ByteLevelBPE.byteToScalar[Int(UInt8(ascii: "a"))] == "a" && ByteLevelBPE.byteToScalar[0xE9] == "é")
        #expect(ByteLevelBPE.spelling("a b") == "aĠb")
        #expect(ByteLevelBPE.spelling("\u{FFFD}") == "ï¿½")
        #expect(ByteLevelBPE.spelling("Ġthe") == "Ġthe")
        #expect(!ByteLevelBPE.isSpelledByteLevel("e\u{301}") && ByteLevelBPE.isSpelledByteLevel("é"))
    }

    @Test func jsonValuePrintsLikeSerdeAndPython() {
        let value: JSONValue = .object([
            ("s", .string("q\"b\\n\n\t\u{1}\u{7F}é")), ("a", .array([])), ("o", .object([])),
            ("n", .array([.int(-1), .null, .bool(false), .bigInt("1000000000000000019884624838656")])),
        ])
        #expect(value.serialized() == """
            {
              "s": "q\\"b\\\\n\\n\\t\\u0001\u{7F}é",
              "a": [],
              "o": {},
              "n": [
                -1,
                null,
                false,
                1000000000000000019884624838656
              ]
            }
            """)
    }
}
