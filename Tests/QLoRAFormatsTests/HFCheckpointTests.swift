import Foundation
import QLoRA
import QLoRATestSupport
import Testing

@Suite struct HFCheckpointTests {
    @Test func singleFileCheckpointReadsEveryTensor() throws {
        let dir = TempDir()
        let written = try TinyCheckpoint.write(to: dir.path)
        let ckpt = try HFCheckpoint(directory: dir.path)
        #expect(ckpt.tensorNames.count == written.count)
        for (name, shape, values) in written {
            #expect(try ckpt.shape(of: name) == shape)
            #expect(try ckpt.floats(name) == values)
        }
        #expect(ckpt.config.numHiddenLayers == 2)
    }

    @Test func shardedCheckpointFollowsTheIndex() throws {
        let dir = TempDir()
        let written = TinyCheckpoint.tensors(TinyCheckpoint.config())
        var a = SafetensorsWriter(), b = SafetensorsWriter()
        var map: [String: String] = [:]
        for (i, (name, shape, values)) in written.enumerated() {
            if i % 2 == 0 { a.add(name, shape: shape, floats: values); map[name] = "model-00001-of-00002.safetensors" }
            else { b.add(name, shape: shape, floats: values); map[name] = "model-00002-of-00002.safetensors" }
        }
        try a.write(to: dir.path + "/model-00001-of-00002.safetensors")
        try b.write(to: dir.path + "/model-00002-of-00002.safetensors")
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map])
            .write(to: URL(fileURLWithPath: dir.path + "/model.safetensors.index.json"))
        try JSONEncoder().encode(TinyCheckpoint.config()).write(to: URL(fileURLWithPath: dir.path + "/config.json"))
        let ckpt = try HFCheckpoint(directory: dir.path)
        #expect(ckpt.shards.count == 2)
        for (name, _, values) in written { #expect(try ckpt.floats(name) == values) }
    }

    @Test(arguments: ["../outside.safetensors", "/etc/passwd", "sub/../../x.safetensors", "link.safetensors"])
    func shardNamesThatEscapeAreRefused(_ shard: String) throws {
        let root = TempDir()
        let dir = root.path + "/ckpt"
        try TinyCheckpoint.write(to: dir)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.safetensors", withDestinationPath: root.path + "/elsewhere.safetensors")
        FileManager.default.createFile(atPath: root.path + "/elsewhere.safetensors", contents: Data())
        try JSONSerialization.data(withJSONObject: ["weight_map": ["model.norm.weight": shard]])
            .write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        #expect(throws: QLoRAError.self) { _ = try HFCheckpoint(directory: dir) }
        do { _ = try HFCheckpoint(directory: dir) } catch {
            #expect("\(error)".contains("outside") || "\(error)".contains("escapes"))
        }
    }

    @Test func missingConfigIsNamed() throws {
        let dir = TempDir()
        try TinyCheckpoint.write(to: dir.path)
        try FileManager.default.removeItem(atPath: dir.path + "/config.json")
        do { _ = try HFCheckpoint(directory: dir.path); Issue.record("loaded") } catch {
            #expect("\(error)".contains("missing config.json"))
        }
    }

    @Test func configValidationNamesTheField() throws {
        let bad = #"{"model_type":"llama","vocab_size":10,"hidden_size":64,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":3,"num_key_value_heads":2}"#
        do { _ = try LlamaConfig.decode(Data(bad.utf8)); Issue.record("accepted") } catch {
            #expect("\(error)".contains("num_key_value_heads"))
        }
        let gpt2 = #"{"model_type":"gpt2","vocab_size":10,"hidden_size":64,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":4}"#
        do { _ = try LlamaConfig.decode(Data(gpt2.utf8)); Issue.record("accepted") } catch {
            #expect("\(error)".contains("unsupported model_type 'gpt2'"))
        }
    }

    /// Every size in range, but their products overflow Int (4096 layers × 1024 experts × 2^24 × 2^24):
    /// refused when decoding, before memplan or the loader multiply them.
    @Test func configWhoseSizesMultiplyPastTheParameterLimitIsRefused() throws {
        let huge = #"{"model_type":"mixtral","vocab_size":4194304,"hidden_size":16777216,"intermediate_size":16777216,"num_hidden_layers":4096,"num_attention_heads":4096,"num_local_experts":1024}"#
        do { _ = try LlamaConfig.decode(Data(huge.utf8)); Issue.record("accepted") } catch {
            #expect("\(error)".hasPrefix("config.json: config: the sizes give "))
            #expect("\(error)".hasSuffix("parameters (more than 1000000000000000)"))
        }
        // SmolLM2-135M's sizes stay far inside the bound.
        let smol = #"{"model_type":"llama","vocab_size":49152,"hidden_size":576,"intermediate_size":1536,"num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"tie_word_embeddings":true}"#
        #expect(try LlamaConfig.decode(Data(smol.utf8)).totalParameters == 134_515_008)
    }
}
