import Foundation
import QLoRA
import Testing

/// The hand-written split scanners against the `tokenizers` library's regexes (Oniguruma) on
/// hand-picked and random strings (Tests/Fixtures/tokenizer/split_cases.json, made by
/// tools/make_tokenizer_fixtures.py).
@Suite struct SplitPatternTests {
    struct Fixture: Decodable {
        var patterns: [String: String]
        /// Each case: "text" and, per pattern name, the pieces.
        var cases: [[String: Piece]]
    }

    /// A case's text (a string) or a pattern's pieces (a list).
    enum Piece: Decodable {
        case text(String), pieces([String])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .text(s) } else { self = .pieces(try c.decode([String].self)) }
        }
    }

    struct Case {
        var text: String
        var pieces: [String: [String]]
    }

    static let fixture: (patterns: [String: String], cases: [Case]) = {
        let file = try! TokenizerFixtures.decode(Fixture.self, "split_cases.json")
        let cases = file.cases.map { entry -> Case in
            guard case .text(let text) = entry["text"]! else { fatalError("a case without text") }
            var pieces: [String: [String]] = [:]
            for (name, value) in entry { if case .pieces(let p) = value { pieces[name] = p } }
            return Case(text: text, pieces: pieces)
        }
        return (file.patterns, cases)
    }()

    /// Strings compared scalar by scalar (Swift's `==` on strings is canonical equivalence).
    func scalars(_ pieces: [String]) -> [[UInt32]] { pieces.map { $0.unicodeScalars.map(\.value) } }

    @Test(arguments: SplitPattern.all)
    func scannerEqualsTheRegex(pattern: SplitPattern) throws {
        let regex = try #require(Self.fixture.patterns[pattern.name])
        #expect(regex == pattern.regex, "the fixture's regex is the one the scanner claims to implement")
        #expect(Self.fixture.cases.count > 300)
        var failures = 0
        for c in Self.fixture.cases {
            let ours = pattern.pieces(of: c.text)
            if scalars(ours) != scalars(c.pieces[pattern.name]!) {
                failures += 1
                if failures <= 5 { Issue.record("\(pattern.name) \(c.text.debugDescription): \(ours) vs \(c.pieces[pattern.name]!)") }
            }
        }
        #expect(failures == 0)
    }

    @Test func knownRegexesAreRecognizedAndOthersAreNot() {
        #expect(SplitPattern.matching(regex: SplitPattern.llama3.regex) == .llama3)
        #expect(SplitPattern.matching(regex: #"\p{N}"#) == nil)
    }
}
