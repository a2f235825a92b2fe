import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Special tokens and BOS/EOS with SmolLM2's tokenizer: added tokens are matched in text before
/// BPE (longest first), can be treated as plain text, are skipped when decoding if asked; BOS/EOS
/// are added only as the model declares (SmolLM2: never; `add_bos_token` in a config: yes).
@Suite(.enabled(if: TokenizerFixtures.hasSmolLM2, TokenizerFixtures.smolLM2Missing))
struct SpecialTokenTests {
    @Test func specialTokensAreMatchedBeforeBPE() throws {
        let t = try TokenizerFixtures.smolLM2()
        #expect(t.encode("<|im_start|>user\nHi<|im_end|>") == [1, 4093, 198, 26843, 2])
        #expect(t.encode("<|im_start|><|im_start|>") == [1, 1])
        #expect(t.encode("x<jupyter_code>y") == t.encode("x") + [13] + t.encode("y"))
        // As plain text they are ordinary BPE pieces.
        let plain = t.encode("<|im_start|>", parseSpecialTokens: false)
        #expect(!plain.contains(1) && plain.count > 1)
        #expect(try t.decode(plain) == "<|im_start|>")
    }

    @Test func decodingCanSkipSpecialTokens() throws {
        let t = try TokenizerFixtures.smolLM2()
        let ids = t.encode("<|im_start|>assistant\nOK<|im_end|>\n<|endoftext|>")
        #expect(try t.decode(ids) == "<|im_start|>assistant\nOK<|im_end|>\n<|endoftext|>")
        #expect(try t.decode(ids, skipSpecialTokens: true) == "assistant\nOK\n")
        #expect((0...16).allSatisfy(t.isSpecialToken) && !t.isSpecialToken(17) && !t.isSpecialToken(-1))
    }

    @Test func smolLM2AddsNoBOSOrEOS() throws {
        let t = try TokenizerFixtures.smolLM2()
        #expect(t.prefixIDs.isEmpty && t.suffixIDs.isEmpty)
        #expect(t.encode("Hello") == t.encode("Hello", addSpecialTokens: false))
        #expect(t.bosToken == "<|im_start|>" && t.eosToken == "<|im_end|>")
    }

    /// A checkpoint whose tokenizer_config.json says add_bos_token/add_eos_token gets them.
    @Test func configFlagsDecideBOSAndEOS() throws {
        let dir = TempDir("qlora-tokenizer")
        let files = try GGUFTokenizerFiles(gguf: GGUFFile(path: TestPaths.smolLM2GGUF)).files
        try Data(files["tokenizer.json"]!).write(to: URL(fileURLWithPath: dir.path + "/tokenizer.json"))
        var config = try JSONSerialization.jsonObject(with: Data(files["tokenizer_config.json"]!)) as! [String: Any]
        config["add_bos_token"] = true
        config["add_eos_token"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir.path + "/tokenizer_config.json"))
        let t = try Tokenizer(directory: dir.path)
        #expect(t.encode("Hi") == [1, 26843, 2])
        #expect(t.encode("Hi", addSpecialTokens: false) == [26843])
    }
}
