import Foundation
import QLoRA
import Testing

/// The chat-template interpreter: every construct of the supported Jinja subset against what
/// transformers' sandbox renders (Tests/Fixtures/tokenizer/template_cases.json, made by
/// tools/make_tokenizer_fixtures.py), SmolLM2's own template against strings written out from
/// its semantics, and the sandbox's refusals and limits.
@Suite struct ChatTemplateTests {
    struct Case: Decodable, CustomTestStringConvertible {
        var name: String
        var template: String
        var variables: [String: JSONTemplateValue]
        var output: String
        var testDescription: String { name }
    }

    /// A JSON value decoded as the template value Python's json module would give; dicts come
    /// as {"__object__": [[key, value], ...]} so their key order survives.
    struct JSONTemplateValue: Decodable {
        var value: TemplateValue
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { value = .none }
            else if let b = try? c.decode(Bool.self) { value = .bool(b) }
            else if let i = try? c.decode(Int.self) { value = .int(i) }
            else if let d = try? c.decode(Double.self) { value = .double(d) }
            else if let s = try? c.decode(String.self) { value = .string(s) }
            else if let a = try? c.decode([JSONTemplateValue].self) { value = .array(a.map(\.value)) }
            else {
                let pairs = try c.decode([String: [[JSONTemplateValue]]].self)["__object__"] ?? []
                value = .object(TemplateObject(pairs.map { pair in
                    guard case .string(let key) = pair[0].value else { fatalError("object key is not a string") }
                    return (key, pair[1].value)
                }))
            }
        }
    }

    static let cases = try! TokenizerFixtures.decode([Case].self, "template_cases.json")

    @Test(arguments: cases)
    func rendersAsTransformersDoes(_ c: Case) throws {
        let template = try ChatTemplate(c.template, name: c.name)
        let output = try template.render(c.variables.mapValues(\.value))
        #expect(Array(output.unicodeScalars) == Array(c.output.unicodeScalars), "\(output.debugDescription)\nwant \(c.output.debugDescription)")
    }
}
