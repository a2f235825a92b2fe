import Foundation
import QLoRA
import Testing

/// The limits a chat template from a model file runs under by default (no caller passes smaller
/// ones): a loop of a billion iterations and a template that grows a string without end both stop
/// with an error rather than hang or exhaust memory.
@Suite struct ChatTemplateDefaultLimitsTests {
    func failure(_ source: String) -> String? {
        do {
            _ = try ChatTemplate(source, name: "t.jinja").render(["messages": []])
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func aHugeLoopStopsAtTheDefaultBound() {
        #expect(failure("{% for i in range(1000000000) %}{% endfor %}")
                == "t.jinja: line 1: more than \(ChatTemplate.Limits.default.maxLoopIterations) loop iterations")
    }

    @Test func aStringDoublingWithoutEndStopsAtTheDefaultOutputBound() {
        let source = "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
        #expect(failure(source) == "t.jinja: line 1: a string grew past the output limit of \(ChatTemplate.Limits.default.maxOutputBytes) bytes")
    }
}
