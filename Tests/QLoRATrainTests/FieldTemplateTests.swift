import QLoRA
import Testing

/// `--template` / `--target` strings: placeholders, escapes, and one-line refusals.
@Suite struct FieldTemplateTests {
    @Test func chineseClassificationPrompt() throws {
        let t = try FieldTemplate("分类任务:{text},请给出类别标签:")
        #expect(t.fieldNames == ["text"])
        #expect(t.fill(["text": "这部电影很好看"]) == "分类任务:这部电影很好看,请给出类别标签:")
    }

    @Test func bareTargetNameMeansThatField() throws {
        #expect(try FieldTemplate.target("label").fill(["label": "正面"]) == "正面")
        #expect(try FieldTemplate.target("{label}").fill(["label": "正面"]) == "正面")
        #expect(try FieldTemplate.target("类别:{label}").fill(["label": "正面"]) == "类别:正面")
    }

    @Test func repeatedFieldsBracesAndSpaces() throws {
        let t = try FieldTemplate("{a} and { b } then {a}: {{literal}}")
        #expect(t.fieldNames == ["a", "b"])
        #expect(t.fill(["a": "1", "b": "2"]) == "1 and 2 then 1: {literal}")
    }

    @Test(arguments: ["open {text", "close }", "{}", "{ }", "{a{b}"])
    func malformedTemplateIsRefused(_ source: String) throws {
        let error = try #require(throws: QLoRAError.self) { try FieldTemplate(source) }
        #expect(error.message.hasPrefix("--template: "), "\(error.message)")
    }
}
