import QLoRA
import Testing

/// Exact match after trimming, and the early-stop test that must agree with it.
@Suite struct AnswerMatchTests {
    static let cases: [(generated: String, expected: String, match: Bool)] = [
        ("2021-03-07", "2021-03-07", true),
        ("  2021-03-07\n", "2021-03-07", true),
        ("2021-03-07", " 2021-03-07 ", true),
        ("2021-03-07.", "2021-03-07", false),
        ("The date is 2021-03-07", "2021-03-07", false),
        ("2021-3-7", "2021-03-07", false),
        ("正面", "正面", true),
        ("", "", true),
        ("é", "e\u{301}", false),  // scalars, not canonical equivalence
    ]

    @Test(arguments: 0..<cases.count) func exactMatchAfterTrimming(_ i: Int) {
        let c = Self.cases[i]
        #expect(AnswerMatch.matches(c.generated, expected: c.expected) == c.match)
    }

    /// canStillMatch is false for a prefix only if no continuation of it could match: checked on
    /// every prefix of every case's generated text (a continuation that matches is the rest of it).
    @Test(arguments: 0..<cases.count) func earlyStopNeverRejectsAnAnswerThatMatches(_ i: Int) {
        let c = Self.cases[i]
        let scalars = Array(c.generated.unicodeScalars)
        for n in 0...scalars.count {
            var prefix = String.UnicodeScalarView()
            prefix.append(contentsOf: scalars[..<n])
            if c.match { #expect(AnswerMatch.canStillMatch(String(prefix), expected: c.expected)) }
        }
        if !c.match { #expect(!AnswerMatch.canStillMatch(c.generated + "x", expected: c.expected)) }
    }

    @Test func earlyStopCases() {
        #expect(AnswerMatch.canStillMatch("\n 20", expected: "2021-03-07"))
        #expect(AnswerMatch.canStillMatch("2021-03-07 \n", expected: "2021-03-07"))
        #expect(!AnswerMatch.canStillMatch("2021-03-07 x", expected: "2021-03-07"))
        #expect(!AnswerMatch.canStillMatch("The", expected: "2021-03-07"))
    }
}
