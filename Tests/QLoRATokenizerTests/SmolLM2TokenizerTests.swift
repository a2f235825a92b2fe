import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// SmolLM2's tokenizer (from the GGUF's metadata, and from the `tokenizer.json` built from it)
/// against the reference: the ids transformers gave for the golden text, and the ids it gives for
/// strings chosen to reach every branch of the split pattern and of BPE.
@Suite struct SmolLM2TokenizerTests {
    /// The golden text: Debian's Apache-2.0 licence, as the reference README describes it.
    static let licensePath = "/usr/share/common-licenses/Apache-2.0"
    /// Tokens in the whole licence file (README of ../shared/golden/smollm2).
    static let licenseTokenCount = 2224

    @Test(.enabled(if: TokenizerFixtures.hasSmolLM2, TokenizerFixtures.smolLM2Missing))
    func goldenIDsFromGGUFMetadata() throws {
        try expectGoldenIDs(TokenizerFixtures.smolLM2())
    }

    @Test(.enabled(if: TokenizerFixtures.hasSmolLM2, TokenizerFixtures.smolLM2Missing))
    func goldenIDsFromBuiltTokenizerJSON() throws {
        let tokenizer = try TokenizerFixtures.smolLM2FromTokenizerJSON()
        try expectGoldenIDs(tokenizer)
        #expect(tokenizer.chatTemplate == (try TokenizerFixtures.smolLM2()).chatTemplate)
        #expect(tokenizer.bosTokenID == 1 && tokenizer.eosTokenID == 2)
    }

    func expectGoldenIDs(_ tokenizer: Tokenizer, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let text = try String(contentsOfFile: Self.licensePath, encoding: .utf8)
        let golden = try SafetensorsFile(path: TestPaths.golden + "/smollm2/forward_ref.safetensors").ints("input_ids")
        #expect(golden.count == 256, sourceLocation: sourceLocation)
        let ids = tokenizer.encode(text)
        #expect(ids.count == Self.licenseTokenCount, sourceLocation: sourceLocation)
        #expect(Array(ids.prefix(golden.count)) == golden, sourceLocation: sourceLocation)
        #expect(try tokenizer.decode(ids) == text, sourceLocation: sourceLocation)
    }
}
