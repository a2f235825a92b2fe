import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// JSON nested 100 000 deep (beyond what the fuzzers' 4 KiB inputs reach): every JSON reader gives
/// a QLoRAError, not a stack overflow in a recursive decoder.
@Suite struct DeeplyNestedJSONTests {
    static let depth = 100_000
    static let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    static let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)

    static func inside(_ key: String, _ nested: String) -> Data { Data("{\"\(key)\": \(nested)}".utf8) }

    @Test(arguments: [arrays, objects])
    func everyJSONReaderRejectsDeepNesting(nested: String) throws {
        #expect(throws: QLoRAError.self) { try LlamaConfig.decode(Self.inside("rope_scaling", nested)) }
        #expect(throws: QLoRAError.self) { try HFCheckpoint.parseIndex(Self.inside("weight_map", nested), path: "index.json") }
        #expect(throws: QLoRAError.self) { try LoRAConfig.parse(Self.inside("target_modules", nested), path: "adapter_config.json") }
        #expect(throws: QLoRAError.self) { try Tokenizer(tokenizerJSON: Self.inside("model", nested), source: "tokenizer.json") }
        #expect(throws: QLoRAError.self) {
            try JSONLReader.read(file: MappedFile(bytes: Array(Self.inside("text", nested)), path: "data.jsonl"))
        }
    }
}
