import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The tiny GGUF fixtures' tokenizers, read from the GGUF metadata and from the tokenizer.json
/// transformers wrote for them, against the `tokenizers` library's ids
/// (Tests/Fixtures/tokenizer/tiny_cases.json): tiny_llama uses Llama 3's split and adds BOS;
/// tokenizer_variant uses GPT-2's, has an ordinary letter ("b") as its BOS and adds EOS.
@Suite struct TinyTokenizerTests {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var idsWithSpecial: [Int]
        enum CodingKeys: String, CodingKey { case text, ids, idsWithSpecial = "ids_with_special" }
    }

    static let cases = try! TokenizerFixtures.decode([String: [Case]].self, "tiny_cases.json")
    static let ggufDirectory = TestPaths.repoRoot + "/Tests/Fixtures/gguf"

    static func tokenizers(_ name: String) throws -> [(String, Tokenizer)] {
        [("gguf", try Tokenizer(gguf: GGUFFile(path: ggufDirectory + "/\(name).gguf"))),
         ("tokenizer.json", try Tokenizer(directory: ggufDirectory + "/tokenizer_reference/\(name)"))]
    }

    @Test(arguments: ["tiny_llama", "tokenizer_variant"])
    func idsEqualTheReferenceFromBothSources(name: String) throws {
        let cases = try #require(Self.cases[name])
        #expect(cases.count == 150)
        for (source, tokenizer) in try Self.tokenizers(name) {
            var failures = 0
            for c in cases {
                let ids = tokenizer.encode(c.text, addSpecialTokens: false)
                let withSpecial = tokenizer.encode(c.text)
                if ids != c.ids || withSpecial != c.idsWithSpecial {
                    failures += 1
                    if failures <= 3 { Issue.record("\(name) from \(source): \(c.text.debugDescription): \(withSpecial) vs \(c.idsWithSpecial)") }
                }
            }
            #expect(failures == 0, "\(name) from \(source)")
        }
    }

    @Test func declaredBOSAndEOSAreAddedAndNamed() throws {
        for (_, tokenizer) in try Self.tokenizers("tiny_llama") {
            #expect(tokenizer.prefixIDs == [1] && tokenizer.suffixIDs == [])
            #expect(tokenizer.bosToken == "<|im_start|>" && tokenizer.eosToken == "<|im_end|>")
        }
        for (_, tokenizer) in try Self.tokenizers("tokenizer_variant") {
            #expect(tokenizer.prefixIDs == [5] && tokenizer.suffixIDs == [2])
            #expect(tokenizer.isSpecialToken(5) && !tokenizer.isSpecialToken(37))
        }
    }
}
