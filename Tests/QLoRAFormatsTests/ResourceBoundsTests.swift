import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Counts and sizes a file can claim are bounded before anything is allocated for them: tensor
/// dimensions in safetensors, shards in an index, and the size of the JSON metadata files read
/// whole. (GGUF counts are bounded by the bytes that remain: GGUFBadInputTests.)
@Suite struct ResourceBoundsTests {
    static func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    @Test func safetensorsShapesOfTooManyDimensionsAreRefused() {
        let dir = TempDir()
        let ok = "[" + Array(repeating: "1", count: SafetensorsFile.maxDims).joined(separator: ",") + "]"
        let tooMany = "[" + Array(repeating: "1", count: SafetensorsFile.maxDims + 1).joined(separator: ",") + "]"
        let good = SafetensorsTests.rawFile(dir, header: #"{"t":{"dtype":"F32","shape":\#(ok),"data_offsets":[0,4]}}"#,
                                            data: [0, 0, 0, 0], name: "ok.safetensors")
        #expect(Self.message { _ = try SafetensorsFile(path: good) } == nil)
        let bad = SafetensorsTests.rawFile(dir, header: #"{"t":{"dtype":"F32","shape":\#(tooMany),"data_offsets":[0,4]}}"#,
                                           data: [0, 0, 0, 0], name: "bad.safetensors")
        #expect(Self.message { _ = try SafetensorsFile(path: bad) } == "\(bad): tensor 't' has 33 dimensions (at most 32 are read)")
    }

    static func checkpoint(_ dir: TempDir, index: [String: Any]) throws -> String {
        let path = dir.path + "/ckpt"
        try TinyCheckpoint.write(to: path)
        try FileManager.default.removeItem(atPath: path + "/model.safetensors")
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: path + "/model.safetensors.index.json"))
        return path
    }

    @Test func anIndexNamingMoreShardsThanTheLimitIsRefused() throws {
        let dir = TempDir()
        let map = Dictionary(uniqueKeysWithValues: (0...HFCheckpoint.maxShards).map { ("t\($0)", "shard-\($0).safetensors") })
        let path = try Self.checkpoint(dir, index: ["weight_map": map])
        #expect(Self.message { _ = try HFCheckpoint(directory: path) }
                == "\(path)/model.safetensors.index.json: more than \(HFCheckpoint.maxShards) shards")
    }

    @Test func oversizedOrSpecialMetadataFilesAreNotReadWhole() throws {
        let dir = TempDir()
        let path = try Self.checkpoint(dir, index: ["weight_map": [:]])
        // A sparse index beyond the limit: refused from its size, without reading it.
        let index = path + "/model.safetensors.index.json"
        let handle = try #require(FileHandle(forWritingAtPath: index))
        try handle.truncate(atOffset: UInt64(MetadataFile.indexLimit + 1))
        try handle.close()
        #expect(Self.message { _ = try HFCheckpoint(directory: path) }
                == "\(index): is \(MetadataFile.indexLimit + 1) bytes; a file of this kind is read only up to \(MetadataFile.indexLimit) bytes")
        // A config.json that is a device (an endless stream).
        try FileManager.default.removeItem(atPath: path + "/config.json")
        try FileManager.default.createSymbolicLink(atPath: path + "/config.json", withDestinationPath: "/dev/zero")
        #expect(Self.message { _ = try LlamaConfig.load(path: path + "/config.json") } == "\(path)/config.json: not a regular file")
    }

    /// Pickle checkpoints are refused by name, with the reason and the alternative.
    @Test func pickleWeightsAreRefusedWithAHint() throws {
        let dir = TempDir()
        let path = dir.path + "/ckpt"
        try TinyCheckpoint.write(to: path)
        try FileManager.default.removeItem(atPath: path + "/model.safetensors")
        FileManager.default.createFile(atPath: path + "/pytorch_model.bin", contents: Data([0x80, 0x02]))
        let m = Self.message { _ = try HFCheckpoint(directory: path) }
        #expect(m == "\(path)/pytorch_model.bin: PyTorch pickle files are never read (unpickling can run arbitrary code); convert it to safetensors (e.g. save_pretrained(..., safe_serialization=True))")
        for name in ["model.pt", "weights.PTH", "x.ckpt", "y.pkl"] {
            #expect(throws: QLoRAError.self) { try PickleRefusal.checkFile(dir.path + "/" + name) }
        }
        #expect(Self.message { try PickleRefusal.checkFile(dir.path + "/model.gguf") } == nil)
    }
}
