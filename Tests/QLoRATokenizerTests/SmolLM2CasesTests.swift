import Foundation
import QLoRA
import Testing

/// SmolLM2's tokenizer on strings chosen to reach every branch (contractions, digits, whitespace
/// runs, Unicode letters, digits and spaces, emoji, added tokens inside text) and on random ones,
/// against the ids the `tokenizers` library gives with transformers' tokenizer.json
/// (Tests/Fixtures/tokenizer/smollm2_cases.json, made by tools/make_tokenizer_fixtures.py).
@Suite struct SmolLM2CasesTests {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var idsWithSpecial: [Int]
        enum CodingKeys: String, CodingKey { case text, ids, idsWithSpecial = "ids_with_special" }
    }

    static let cases = try! TokenizerFixtures.decode([Case].self, "smollm2_cases.json")

    @Test(.enabled(if: TokenizerFixtures.hasSmolLM2, TokenizerFixtures.smolLM2Missing))
    func idsEqualTheReference() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        #expect(Self.cases.count > 100)
        var failures = 0
        for c in Self.cases {
            let ids = tokenizer.encode(c.text, addSpecialTokens: false)
            let withSpecial = tokenizer.encode(c.text)
            if ids != c.ids || withSpecial != c.idsWithSpecial {
                failures += 1
                if failures <= 5 { Issue.record("\(c.text.debugDescription): \(ids) vs \(c.ids)") }
            }
            // Every case decodes back to its exact bytes.
            #expect(Array(try tokenizer.decode(ids).utf8) == Array(c.text.utf8), "\(c.text.debugDescription)")
        }
        #expect(failures == 0)
    }
}
