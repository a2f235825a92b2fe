import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora quantize` on the Gemma fixtures (Tests/Fixtures/families): the output's config keeps the
/// float keys transformers' strict config classes require as floats (Gemma 2's soft-caps), the Gemma 3
/// wrapper keeps its tensor names with the vision tower left 16-bit and named in
/// `llm_int8_skip_modules`, and the engine's logits on the quantized directory are bitsandbytes'
/// Float32-path logits of the fixture (same NF4 codec, same weights). That transformers +
/// bitsandbytes load the output is checked by tools/family_fixtures/check_quantized_loads.py (docs).
@Suite(.serialized) struct GemmaQuantizeCommandTests {
    struct Expected: Decodable {
        struct Row: Decodable { var ids: [Int]; var logits: [Float] }
        var nf4: [Row]
    }

    @Test(arguments: ["gemma2", "gemma3_text", "gemma3"])
    func quantizedGemmaMatchesBitsandbytes(_ family: String) throws {
        let fixture = TestPaths.repoRoot + "/Tests/Fixtures/families/" + family
        let dir = TempDir("gemma-quantize")
        try FileManager.default.createDirectory(atPath: dir.path + "/in", withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: fixture + "/" + f, toPath: dir.path + "/in/" + f)
        }
        let r = try CLIRunner.run(["quantize", dir.path + "/in", "-o", dir.path + "/out", "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: dir.path + "/out/config.json", encoding: .utf8)
        if family == "gemma2" {
            #expect(text.contains("\"final_logit_softcapping\" : 3.0") && text.contains("\"attn_logit_softcapping\" : 2.0"), "\(text)")
        }
        let file = try SafetensorsFile(path: dir.path + "/out/model.safetensors")
        let prefixes = Bnb4bitFormat.quantizedPrefixes(in: file)
        let layers = family == "gemma2" || family == "gemma3_text" || family == "gemma3" ? 3 : 0
        #expect(prefixes.count == 7 * layers)
        if family == "gemma3" {
            #expect(prefixes.allSatisfy { $0.hasPrefix("language_model.model.layers.") })
            #expect(file.names.contains("vision_tower.head.mlp.fc1.weight"))
            #expect(text.contains("\"vision_tower\""))
        }
        let exp = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: fixture + "/expected.json")))
        let model = try LlamaModel(weights: try LlamaWeights.loadQuantized(directory: dir.path + "/out"), threads: 2)
        for row in exp.nf4 {
            let ours = model.logits(tokens: row.ids.map(Int32.init), B: 1, T: row.ids.count)
            let diff = zip(ours, row.logits).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(diff <= 1e-4, "\(family) T=\(row.ids.count): max |Δlogit| \(diff)")
        }
    }
}
