import Foundation
import QLoRA
import Testing

/// SentencePiece-converted BPE tokenizers (`byte_fallback`) in the styles real checkpoints ship:
/// Gemma 2/3 (Replace " "→"▁", Split " " merged with previous, no Strip), Llama 2 / early Mistral
/// as shipped (Prepend "▁" + Replace, no pre-tokenizer, Strip), transformers 5's LlamaTokenizer
/// (Metaspace prepend "first"), and one with only ASCII byte tokens (fused <unk>, ignore_merges,
/// Metaspace "always" with split) — against the ids and text the `tokenizers` library gives
/// (Tests/Fixtures/tokenizer/sentencepiece_cases.json, made by tools/make_tokenizer_fixtures.py).
@Suite struct ByteFallbackTokenizerTests {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var idsWithSpecial: [Int]
        var decoded: String
        var decodedSkip: String
        enum CodingKeys: String, CodingKey {
            case text, ids, decoded
            case idsWithSpecial = "ids_with_special", decodedSkip = "decoded_skip"
        }
    }

    struct DecodeCase: Decodable {
        var ids: [Int]
        var decoded: String
        var decodedSkip: String
        enum CodingKeys: String, CodingKey { case ids, decoded, decodedSkip = "decoded_skip" }
    }

    struct Style: Decodable {
        var cases: [Case]
        var decodeCases: [DecodeCase]
        enum CodingKeys: String, CodingKey { case cases, decodeCases = "decode_cases" }
    }

    static let names = ["gemma", "llama2_legacy", "llama_metaspace", "partial_bytes_unk"]
    static let styles = try! TokenizerFixtures.decode([String: Style].self, "sentencepiece_cases.json")

    /// The fixture's tokenizer.json, loaded as a checkpoint's would be.
    static func tokenizer(_ name: String) throws -> Tokenizer {
        let url = URL(fileURLWithPath: TokenizerFixtures.directory + "/sentencepiece_cases.json")
        let all = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let style = all[name] as! [String: Any]
        let json = try JSONSerialization.data(withJSONObject: style["tokenizer"]!)
        return try Tokenizer(tokenizerJSON: json, source: "\(name)/tokenizer.json")
    }

    @Test(arguments: names)
    func encodeAndDecodeEqualTheReference(name: String) throws {
        let style = try #require(Self.styles[name])
        let tokenizer = try Self.tokenizer(name)
        #expect(tokenizer.byteFallback != nil)
        #expect(style.cases.count > 90)
        var failures = 0
        for c in style.cases {
            let ids = tokenizer.encode(c.text, addSpecialTokens: false)
            let withSpecial = tokenizer.encode(c.text)
            let decoded = try tokenizer.decode(c.ids)
            let decodedSkip = try tokenizer.decode(c.ids, skipSpecialTokens: true)
            if ids != c.ids || withSpecial != c.idsWithSpecial || decoded != c.decoded || decodedSkip != c.decodedSkip {
                failures += 1
                if failures <= 5 {
                    Issue.record("\(name) \(c.text.debugDescription): \(withSpecial) vs \(c.idsWithSpecial); \(decoded.debugDescription) vs \(c.decoded.debugDescription)")
                }
            }
        }
        #expect(failures == 0, "\(name)")
    }

    /// Random id lists, with broken byte runs (one U+FFFD per byte) and special tokens.
    @Test(arguments: names)
    func decodeOfArbitraryIdsEqualsTheReference(name: String) throws {
        let style = try #require(Self.styles[name])
        let tokenizer = try Self.tokenizer(name)
        #expect(style.decodeCases.count == 40)
        for c in style.decodeCases {
            #expect(try tokenizer.decode(c.ids) == c.decoded, "\(name) \(c.ids)")
            #expect(try tokenizer.decode(c.ids, skipSpecialTokens: true) == c.decodedSkip, "\(name) \(c.ids)")
        }
    }

    /// Streaming the ids one at a time gives the same text as decoding them at once.
    @Test(arguments: names)
    func streamingEqualsDecode(name: String) throws {
        let style = try #require(Self.styles[name])
        let tokenizer = try Self.tokenizer(name)
        for ids in style.cases.map(\.idsWithSpecial) + style.decodeCases.map(\.ids) {
            for skip in [false, true] {
                var stream = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: skip)
                var text = ""
                for id in ids { text += try stream.append(id) }
                text += stream.finish()
                #expect(text == (try tokenizer.decode(ids, skipSpecialTokens: skip)), "\(name) \(ids)")
            }
        }
    }

    /// Byte fallback: a character the vocabulary lacks is its UTF-8 bytes' `<0xNN>` tokens.
    @Test func missingCharactersFallBackToByteTokens() throws {
        let tokenizer = try Self.tokenizer("gemma")
        let ids = tokenizer.encode("中", addSpecialTokens: false)
        #expect(ids.map { tokenizer.vocabulary[$0] } == ["<0xE4>", "<0xB8>", "<0xAD>"])
        #expect(try tokenizer.decode(ids) == "中")
    }

    /// Components the loader does not implement are refused by name, in one line.
    @Test(arguments: [
        ("normalizer", #"{"type": "NFKC"}"#, "normalizer 'NFKC'"),
        ("pre_tokenizer", #"{"type": "Whitespace"}"#, "pre_tokenizer 'Whitespace'"),
        ("pre_tokenizer", #"{"type": "Split", "pattern": {"String": " "}, "behavior": "Contiguous", "invert": false}"#, "behavior 'Contiguous'"),
        ("pre_tokenizer", #"{"type": "ByteLevel", "add_prefix_space": false}"#, "pre_tokenizer 'ByteLevel'"),
        ("decoder", #"{"type": "Metaspace", "replacement": "▁"}"#, "decoder 'Metaspace'"),
        ("decoder", "null", "without a decoder"),
    ])
    func unsupportedComponentsAreRefusedByName(key: String, value: String, expected: String) throws {
        let url = URL(fileURLWithPath: TokenizerFixtures.directory + "/sentencepiece_cases.json")
        let all = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var document = (all["gemma"] as! [String: Any])["tokenizer"] as! [String: Any]
        document[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        let json = try JSONSerialization.data(withJSONObject: document)
        do {
            _ = try Tokenizer(tokenizerJSON: json, source: "t/tokenizer.json")
            Issue.record("\(key) \(value) was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.contains(expected) && !message.contains("\n"), "\(message)")
        }
    }
}
