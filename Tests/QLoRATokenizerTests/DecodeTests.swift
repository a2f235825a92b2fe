import Foundation
import QLoRA
import Testing

/// Decoding with SmolLM2's tokenizer: any text round-trips byte for byte, byte-level tokens that
/// are not UTF-8 by themselves decode to exactly their bytes, and the streaming decoder emits the
/// same text as `decode`, only at character boundaries.
@Suite(.enabled(if: TokenizerFixtures.hasSmolLM2, TokenizerFixtures.smolLM2Missing))
struct DecodeTests {
    /// Pieces random texts are made of: ASCII, whitespace runs, accents (precomposed and
    /// combining), CJK, Arabic, emoji with modifiers and ZWJ sequences, controls, unusual spaces,
    /// and the text of special tokens.
    static let pool: [String] = [
        "a", "Z", "the", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "123", "4", ".", "!?", "--", "é", "e\u{301}",
        "\u{301}\u{302}", "ß", "中文", "日本語", "한", "عربى", "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "\u{0}", "\u{7F}", "\u{85}",
        "\u{A0}", "\u{2028}", "\u{3000}", "\u{FEFF}", "\u{10FFFF}", "\u{E000}", "<|im_start|>", "<|im_end|>", "½", "Ⅻ",
    ]

    static func randomText(_ rng: inout SeededRNG) -> String {
        var text = ""
        for _ in 0..<Int.random(in: 1...30, using: &rng) {
            if Int.random(in: 0..<8, using: &rng) == 0 {
                // Any scalar, from any plane (surrogate code points are not scalars).
                text.unicodeScalars.append(Unicode.Scalar(UInt32.random(in: 0...0xD7FF, using: &rng))!)
            } else {
                text += pool.randomElement(using: &rng)!
            }
        }
        return text
    }

    /// Every text whose bytes the vocabulary can spell round-trips (SmolLM2 has no token for 21
    /// bytes; those are dropped, as the reference drops them — see the next test).
    @Test func randomTextRoundTripsByteForByte() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let unencodable = Set(tokenizer.unencodableBytes)
        var rng = SeededRNG(seed: 11)
        for _ in 0..<500 {
            var text = Self.randomText(&rng)
            text.unicodeScalars.removeAll { String($0).utf8.contains(where: unencodable.contains) }
            let ids = tokenizer.encode(text)
            #expect(Array(try tokenizer.decode(ids).utf8) == Array(text.utf8), "\(text.debugDescription)")
            #expect(try tokenizer.decodeBytes(ids) == Array(text.utf8))
        }
    }

    @Test func bytesWithoutATokenAreDroppedAsTheReferenceDoes() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        #expect(tokenizer.unencodableBytes == [4, 6, 19, 20, 22, 29, 192, 193, 241, 242] + Array(245...255))
        // tokenizers gives [81] for "\u{14}a" with this vocabulary.
        #expect(tokenizer.encode("\u{14}a") == [81])
        // U+40000 is F1 80 80 80: the lead byte is dropped, the three continuation bytes stay
        // (ids from tokenizers), and decode as U+FFFD each.
        #expect(tokenizer.encode("x\u{40000}y") == [104, 218, 218, 218, 105])
        #expect(try tokenizer.decode([104, 218, 218, 218, 105]) == "x\u{FFFD}\u{FFFD}\u{FFFD}y")
    }

    /// Single-byte tokens decode to their byte; lone bytes ≥ 0x80 are not UTF-8.
    @Test func byteTokensDecodeToTheirBytes() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        for byte in 0...255 where !tokenizer.unencodableBytes.contains(UInt8(byte)) {
            let spelling = String(ByteLevelBPE.byteToScalar[byte])
            let id = try #require(tokenizer.id(of: spelling), "no token for byte \(byte)")
            #expect(try tokenizer.decodeBytes([id]) == [UInt8(byte)])
        }
        // "😀" as four byte tokens: F0 9F 98 80.
        let ids = try [0xF0, 0x9F, 0x98, 0x80].map { try #require(tokenizer.id(of: String(ByteLevelBPE.byteToScalar[$0]))) }
        #expect(try tokenizer.decode(ids) == "😀")
        #expect(try tokenizer.decode(Array(ids.prefix(2))) == "\u{FFFD}")
        #expect(try tokenizer.decode([ids[1], ids[0]]) == "\u{FFFD}\u{FFFD}")
    }

    @Test func streamingHoldsBackUnfinishedCharacters() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let bytes = [0xF0, 0x9F, 0x98, 0x80].map { tokenizer.id(of: String(ByteLevelBPE.byteToScalar[$0]))! }
        let a = tokenizer.encode("a")[0]
        var stream = StreamingDecoder(tokenizer: tokenizer)
        #expect(try stream.append(a) == "a")
        #expect(try stream.append(bytes[0]) == "")
        #expect(try stream.append(bytes[1]) == "")
        #expect(try stream.append(bytes[2]) == "")
        #expect(try stream.append(bytes[3]) == "😀")
        // A sequence that can never complete is emitted at once, as U+FFFD, and so is the rest.
        #expect(try stream.append([bytes[0], a]) == "\u{FFFD}a")
        #expect(try stream.append(bytes[0]) == "")
        #expect(stream.finish() == "\u{FFFD}")
        #expect(stream.finish() == "")
    }

    /// Random ids (byte tokens, merged tokens, special tokens): the stream's text equals
    /// `decode` of all ids, and never ends inside a character it could still complete.
    @Test(arguments: [false, true])
    func streamingEqualsDecode(skipSpecialTokens: Bool) throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let byteTokens = (0...255).compactMap { tokenizer.id(of: String(ByteLevelBPE.byteToScalar[$0])) }
        var rng = SeededRNG(seed: 5)
        for _ in 0..<300 {
            var ids: [Int] = []
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: ids.append(byteTokens.suffix(100).randomElement(using: &rng)!)
                case 1: ids.append(Int.random(in: 0..<17, using: &rng))
                default: ids.append(Int.random(in: 0..<tokenizer.vocabularySize, using: &rng))
                }
            }
            ids += tokenizer.encode(Self.randomText(&rng))
            var stream = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens)
            var text = ""
            for id in ids { text += try stream.append(id) }
            text += stream.finish()
            #expect(text == (try tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)))
            #expect(Array(text.utf8) == Array(try tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens).utf8))
        }
    }

    @Test func outOfRangeIDsAreAClearError() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        #expect(throws: QLoRAError.invalid("token id 49152 is out of range (vocabulary of 49152)")) {
            try tokenizer.decode([1, 49152])
        }
        #expect(throws: QLoRAError.self) { try tokenizer.decode([-1]) }
    }
}
