import Foundation
import QLoRA
import Testing

/// The template sandbox: constructs outside the supported subset are refused when the template
/// is read, with one line naming the template and the line; rendering is bounded in output,
/// string size, loop iterations and nesting; nothing but the data and the built-ins is reachable.
@Suite struct ChatTemplateSandboxTests {
    /// The error reading or rendering `source` gives, as text.
    func failure(_ source: String, limits: ChatTemplate.Limits = .default, variables: [String: TemplateValue] = [:]) -> String? {
        do {
            _ = try ChatTemplate(source, name: "t.jinja", limits: limits).render(variables)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: [
        ("{% macro m() %}x{% endmacro %}", "t.jinja: line 1: unknown tag 'macro'"),
        ("a\n{% include 'other.jinja' %}", "t.jinja: line 2: unknown tag 'include'"),
        ("{% import 'os' as os %}", "t.jinja: line 1: unknown tag 'import'"),
        ("{% raw %}{{ x }}{% endraw %}", "t.jinja: line 1: unknown tag 'raw'"),
        ("{% filter upper %}x{% endfilter %}", "t.jinja: line 1: unknown tag 'filter'"),
        ("\n\n{{ x | attr('__class__') }}", "t.jinja: line 3: unknown filter 'attr' (supported: capitalize, count, d, default, first, int, items, join, last, length, list, lower, replace, reverse, safe, string, tojson, trim, upper)"),
        ("{{ x is sameas(y) }}", "t.jinja: line 1: unknown test 'sameas' (supported: boolean, callable, defined, even, false, float, integer, iterable, lower, mapping, none, number, odd, sequence, string, true, undefined, upper)"),
        ("{% if x %}never closed", "t.jinja: line 1: missing '{% elif %}' or '{% else %}' or '{% endif %}'"),
        ("{% for x in y %}{% endif %}", "t.jinja: line 1: unexpected '{% endif %}'"),
        ("{% for x in y %}x", "t.jinja: line 1: missing '{% else %}' or '{% endfor %}'"),
        ("{{ x ", "t.jinja: line 1: tag opened here is not closed with '}}'"),
        ("{% break %}", "t.jinja: line 1: 'break'/'continue' outside a loop"),
        ("{{ 'unterminated }}", "t.jinja: line 1: string is not closed"),
        ("{{ x = 1 }}", "t.jinja: line 1: expected '}}', found '='"),
    ] as [(String, String)])
    func unsupportedConstructsAreRefusedWhenRead(source: String, message: String) {
        #expect(failure(source) == message)
    }

    @Test func errorsAreOneLine() {
        for source in ["{% macro m() %}", "{{ x | nope }}", "a\n\n{% if %}", "{{ raise_exception('bad\\nrole') }}"] {
            let message = failure(source)
            #expect(message != nil && message?.contains("\n") == false, "\(message ?? "")")
        }
    }

    @Test func raiseExceptionStopsRenderingWithTheTemplatesMessage() {
        let source = "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('Only user and assistant roles are supported') }}{% endif %}{% endfor %}"
        let messages: TemplateValue = [["role": "tool", "content": "x"]]
        #expect(failure(source, variables: ["messages": messages]) == "t.jinja: line 1: raise_exception: Only user and assistant roles are supported")
        #expect(failure(source, variables: ["messages": [["role": "user", "content": "x"]]]) == nil)
    }

    @Test func outputIsBounded() {
        let limits = ChatTemplate.Limits(maxOutputBytes: 1000)
        #expect(failure("{% for i in range(200) %}0123456789{% endfor %}", limits: limits) == "t.jinja: line 1: output is longer than 1000 bytes")
        #expect(failure("{% for i in range(50) %}0123456789{% endfor %}", limits: limits) == nil)
    }

    /// `tojson(indent=N)` with a huge N would build terabyte lines before the output bound sees
    /// them: refused; a negative one indents nothing, as in Python.
    @Test func tojsonIndentIsBounded() throws {
        let list: TemplateValue = [1, 2]
        #expect(failure("{{ x | tojson(indent=1000000000000) }}", variables: ["x": list])
                == "t.jinja: line 1: tojson: indent 1000000000000 is larger than 1024")
        let rendered = try ChatTemplate("{{ x | tojson(indent=-2) }}|{{ x | tojson(indent=1) }}", name: "t.jinja").render(["x": list])
        #expect(rendered == "[\n1,\n2\n]|[\n 1,\n 2\n]")
    }

    @Test func stringsBuiltByTheTemplateAreBounded() {
        // Doubling a string 40 times would need a terabyte.
        let source = "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"
        #expect(failure(source, limits: .init(maxOutputBytes: 1 << 20)) == "t.jinja: line 1: a string grew past the output limit of 1048576 bytes")
    }

    @Test func loopIterationsAreBounded() {
        let limits = ChatTemplate.Limits(maxLoopIterations: 10_000)
        let nested = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
        #expect(failure(nested, limits: limits) == "t.jinja: line 1: more than 10000 loop iterations")
        #expect(failure("{{ range(100000000) | length }}", limits: limits) == "t.jinja: line 1: more than 10000 loop iterations")
    }

    @Test func nestingIsBounded() {
        let deep = "{{ " + String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500) + " }}"
        #expect(failure(deep)?.hasPrefix("t.jinja: line 1: nesting deeper than") == true)
        let chain = "{{ " + Array(repeating: "1", count: 5000).joined(separator: " + ") + " }}"
        #expect(failure(chain)?.contains("nested deeper than") == true)
        let blocks = String(repeating: "{% if true %}", count: 300) + String(repeating: "{% endif %}", count: 300)
        #expect(failure(blocks)?.contains("deeper than") == true)
    }

    @Test func onlyDataAndBuiltinsAreReachable() throws {
        let render = { (source: String) in try ChatTemplate(source, name: "t").render(["m": ["role": "user"]]) }
        #expect(try render("{{ m.__class__ }}|{{ ''.format }}|{{ m.role.__len__ }}|{{ range.__globals__ is defined }}") == "|||False")
        #expect(throws: QLoRAError.self) { try render("{{ ''.__class__.__mro__ }}") }
        #expect(throws: QLoRAError.self) { try render("{{ m.role() }}") }
        #expect(throws: QLoRAError.self) { try render("{{ undefined_function() }}") }
        #expect(throws: QLoRAError.self) { try render("{% set m.role = 'system' %}") }
    }

    @Test func arithmeticFailsWithoutTrapping() {
        #expect(failure("{{ 9223372036854775807 + 1 }}") == "t.jinja: line 1: integer overflow in '+'")
        #expect(failure("{{ 1 // 0 }}") == "t.jinja: line 1: integer division or modulo by zero")
        #expect(failure("{{ 'a' + 1 }}") == "t.jinja: line 1: unsupported operand types for +: str and int")
        #expect(failure("{{ [1, 2][::9223372036854775807] }}") == nil)
        #expect(failure("{{ 'x' * 3 }}") == "t.jinja: line 1: unsupported operand types for *: str and int")
    }

    @Test func theTokenizerNamesTheModelWhenItHasNoTemplate() throws {
        let t = try Tokenizer(source: "m.gguf", vocabulary: ["a": 0], merges: [], addedTokens: [],
                              preTokenizer: PreTokenizer(steps: [.byteLevel(addPrefixSpace: false, useRegex: true)]))
        #expect(throws: QLoRAError.format("m.gguf", "the model ships no chat template (tokenizer.chat_template / chat_template)")) {
            try t.applyChatTemplate([.user("hi")])
        }
    }
}
