import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// NaN in the input weights: `qlora train` (and generate, eval, merge, which load the same way)
/// refuses the model when it loads, in one line naming the tensor, before anything is written;
/// `qlora quantize` does the same (QuantizeCommandTests). A NaN that reaches a training step
/// (NonFiniteTests) stops it with the step and the first tensor that went non-finite.
@Suite(.serialized) struct TrainNonFiniteCommandTests {
    /// The tiny GGUF fixture with every value of token_embd.weight NaN (each element for float
    /// types; each block's f16 scale for quantized ones).
    static func poisonedModel(_ dir: TempDir) throws -> String {
        let gguf = try GGUFFile(path: TrainCommandTests.tiny)
        let t = try gguf.tensor("token_embd.weight")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TrainCommandTests.tiny)))
        let (width, nan): (Int, [UInt8]) = switch t.type.name {
        case "F32": (4, [0x00, 0x00, 0xC0, 0x7F])
        case "F16": (2, [0x00, 0x7E])
        case "BF16": (2, [0xC0, 0x7F])
        default: (t.type.bytesPerBlock, [0x00, 0x7E])  // ggml blocks start with their f16 scale d
        }
        for at in stride(from: t.offset, to: t.offset + t.byteCount, by: width) {
            bytes.replaceSubrange(at..<(at + nan.count), with: nan)
        }
        let path = dir.path + "/poisoned.gguf"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test func aNaNInTheBaseWeightsIsRefusedNamingTheTensor() throws {
        let dir = TempDir()
        let model = try Self.poisonedModel(dir)
        let data = try TrainCommandTests.data(dir)
        let r = try CLIRunner.run(["train", "--model", model, "--data", data, "-o", dir.path + "/run", "--steps", "5",
                                   "--batch", "2", "--seq", "16", "--rank", "4", "--threads", "2"])
        #expect(r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("\(model): tensor 'model.embed_tokens.weight' has a non-finite value at element 0"), "\(r.stderr)")
        #expect(dir.listing() == ["poisoned.gguf", "train.jsonl"], "nothing written")
    }
}
