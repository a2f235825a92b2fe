import Foundation
import QLoRA
import Testing

/// A guard against quadratic encoding, not a benchmark: one pre-tokenized piece can be the whole
/// text (CJK has no spaces, whitespace runs are one piece), and BPE over it must stay
/// O(n log n). Both cases below take well under a second in release; quadratic BPE would take
/// hours. (Throughput of ordinary text: about 10 MB/s on one core, see the PR notes.)
@Suite(.enabled(if: TokenizerFixtures.hasSmolLM2, TokenizerFixtures.smolLM2Missing))
struct EncodeScalingTests {
    static let bound: TimeInterval = 10

    @Test func oneHugePieceEncodesInLinearithmicTime() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        var rng = SeededRNG(seed: 1)
        let cjk = String(String.UnicodeScalarView((0..<300_000).map { _ in
            Unicode.Scalar(UInt32.random(in: 0x4E00...0x9FFF, using: &rng))!
        }))
        let spaces = String(repeating: " ", count: 1_000_000) + "x"
        for text in [cjk, spaces] {
            let start = Date()
            let ids = tokenizer.encode(text)
            #expect(Date().timeIntervalSince(start) < Self.bound)
            #expect(try tokenizer.decodeBytes(ids) == Array(text.utf8))
        }
    }
}
