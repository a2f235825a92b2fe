import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `target_modules` patterns mean what PEFT's `re.fullmatch` makes them mean, in bounded work:
/// Python's own answers (Tests/Fixtures/regex/fullmatch_cases.json, made by
/// tools/make_regex_fixtures.py), patterns that are catastrophic for a backtracking engine, and the
/// refusals.
@Suite struct TargetModulesPatternTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var pattern: String
            var matches: String?
            var python_error: String?
            var unsupported: Bool?
            var equivalent: String?
            var catastrophic: Bool?
        }
        var python: String
        var texts: [String]
        var cases: [Case]
    }

    static let fixture: Fixture = {
        let path = TestPaths.repoRoot + "/Tests/Fixtures/regex/fullmatch_cases.json"
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }()

    @Test func agreesWithPythonOnEveryFixturePattern() throws {
        let f = Self.fixture
        #expect(f.cases.count > 100 && f.texts.count > 50)
        for c in f.cases {
            if let error = c.python_error {
                #expect(throws: PyRegex.Refusal.self, "Python: \(error)") { try PyRegex(c.pattern) }
                continue
            }
            if c.unsupported == true {
                do { _ = try PyRegex(c.pattern); Issue.record("accepted \(c.pattern)") } catch {
                    #expect(!error.invalidInPython && error.reason.contains("is not supported"), "\(c.pattern): \(error)")
                }
                continue
            }
            let re = try PyRegex(c.pattern)
            let want = Array(try #require(c.matches))
            for (k, text) in f.texts.enumerated() {
                #expect(re.fullMatch(text) == (want[k] == "1"), "re.fullmatch(\(c.pattern.debugDescription), \(text.debugDescription))")
            }
        }
    }

    /// Each catastrophic pattern, on every text including 40- and 60-scalar ones that take Python's
    /// backtracking an exponential number of steps, finishes within the automaton's bound:
    /// states × (scalars + 1) visits, and in well under a second.
    @Test func catastrophicPatternsFinishInBoundedWork() throws {
        let cases = Self.fixture.cases.filter { $0.catastrophic == true }
        #expect(cases.map(\.pattern).contains("(.+)+Z|.*_proj") && cases.map(\.pattern).contains("(.|.)*Z"))
        let long = [String(repeating: "a", count: 5000), String(repeating: "x", count: 5000) + "y",
                    String(repeating: "model.layers.1.", count: 300) + "q_proj"]
        for c in cases {
            let re = try PyRegex(c.pattern)
            let equivalent = try PyRegex(try #require(c.equivalent))
            let want = Array(try #require(c.matches))
            let clock = ContinuousClock()
            let start = clock.now
            for (k, text) in Self.fixture.texts.enumerated() {
                let (matched, visited) = re.run(text)
                #expect(matched == (want[k] == "1"), "re.fullmatch(\(c.pattern.debugDescription), \(text.debugDescription))")
                #expect(visited <= re.states * (text.unicodeScalars.count + 1))
            }
            for text in long {
                let (matched, visited) = re.run(text)
                #expect(matched == equivalent.fullMatch(text), "\(c.pattern) on a \(text.count)-scalar text")
                #expect(visited <= re.states * (text.unicodeScalars.count + 1))
            }
            #expect(clock.now - start < .seconds(1), "\(c.pattern)")
        }
    }

    /// The pattern today's users hit: `(.+)+Z|.*_proj` names every projection (as PEFT does), so an
    /// adapter trained on all of them loads; `(.|.)*Z` names none.
    @Test func catastrophicPatternsSelectWhatPEFTSelects() throws {
        let model = PEFTAdapterFileTests.model
        let every = try LoRAConfig.parse(Data(#"{"peft_type": "LORA", "r": 4, "target_modules": "(.+)+Z|.*_proj"}"#.utf8), path: "a")
        for layer in 0..<2 {
            for linear in LlamaLinear.allCases { #expect(every.targets(modulePath: linear.modulePath(layer: layer))) }
        }
        #expect(!every.targets(modulePath: "lm_head"))
        let none = try LoRAConfig.parse(Data(#"{"peft_type": "LORA", "r": 4, "target_modules": "(.|.)*Z"}"#.utf8), path: "b")
        #expect(!LlamaLinear.allCases.contains { none.targets(modulePath: $0.modulePath(layer: 1)) })

        // An adapter on q, v and down under the catastrophic pattern reads back whole.
        let adapter = try PEFTAdapterFileTests.adapter()
        var config = adapter.config
        config.targetModules = .pattern("(.+)+Z|.*_proj")
        let dir = TempDir("qlora-pattern")
        try PEFTLoRAAdapter(config: config, modules: adapter.modules).write(to: dir.path)
        let read = try PEFTLoRAAdapter.read(from: dir.path, model: model)
        #expect(read.modules == adapter.modules)
        #expect(read.config.targetModules == .pattern("(.+)+Z|.*_proj"))
    }

    /// Backreferences, lookaround and the other non-regular constructs are refused by name in one line
    /// that quotes the pattern; a pattern Python rejects is refused as invalid.
    @Test func nonRegularAndInvalidPatternsAreRefusedWithTheirName() throws {
        let cases: [(String, String)] = [
            (#"(q)_proj\\1"#, #"target_modules '(q)_proj\1': the backreference \1 is not supported"#),
            (#".*(?<!k)_proj"#, "target_modules '.*(?<!k)_proj': the negative lookbehind (?<!...) is not supported"),
            (#".*(?=_proj)\\w+"#, "the lookahead (?=...) is not supported"),
            (#"(?>.*)_proj"#, "the atomic group (?>...) is not supported"),
            (#".*_proj++"#, "the possessive quantifier"),
            (#"a{1000000}"#, "a repetition count above 1000 is not supported"),
            (#"(a{1000}){1000}"#, "expands to more than"),
        ]
        for (pattern, message) in cases {
            let json = #"{"peft_type": "LORA", "r": 4, "target_modules": "\#(pattern)"}"#
            do { _ = try LoRAConfig.parse(Data(json.utf8), path: "cfg"); Issue.record("accepted \(pattern)") } catch {
                #expect("\(error)".contains(message), "\(error)")
                #expect(!"\(error)".contains("\n"))
                #expect("\(error)".hasPrefix("cfg: target_modules '"))
            }
        }
        do { _ = try LoRAConfig.parse(Data(#"{"peft_type": "LORA", "r": 4, "target_modules": "*_proj"}"#.utf8), path: "cfg") } catch {
            #expect("\(error)" == "cfg: target_modules '*_proj' is not a valid Python regular expression: nothing to repeat at position 0")
        }
    }
}
