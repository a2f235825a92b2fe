import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Reading bitsandbytes' 4-bit layout back: a quant state whose shape is hostile is a clean error.
@Suite struct Bnb4bitFormatReadTests {
    static let prefix = "model.layers.0.mlp.up_proj"

    /// A [4, 64] NF4 weight (blocksize 64) with `json` in place of its quant-state JSON.
    static func file(json: String?) -> SafetensorsFile {
        let weights = (0..<256).map { Float(($0 * 37) % 101) / 50 - 1 }
        let q = FourBitCodec.quantize(weights, shape: [4, 64], type: .nf4, blockSize: 64, doubleQuant: false)
        var written = SafetensorsWriter()
        Bnb4bitFormat.add(q, prefix: prefix, to: &written)
        var w = SafetensorsWriter()
        for e in written.entries {
            if e.name.contains(".quant_state."), let json {
                w.add(e.name, dtype: .u8, shape: [json.utf8.count], bytes: Array(json.utf8))
            } else {
                w.add(e.name, dtype: e.dtype, shape: e.shape, bytes: e.data.byteArray)
            }
        }
        return try! SafetensorsFile(file: MappedFile(bytes: w.fileBytes(), path: "q.safetensors"))
    }

    @Test func writtenWeightReadsBack() throws {
        let (packed, state) = try Bnb4bitFormat.read(prefix: Self.prefix, from: Self.file(json: nil))
        #expect(packed.count == 128)
        #expect(state.shape == [4, 64] && state.blockSize == 64 && state.absmax.count == 4)
    }

    /// 49·73·127·337·92737·649657 = 2^63 − 1: no factor overflows, but the element count is Int.max,
    /// and `(count + 1) / 2` trapped. Now every shape above 2^48 elements is refused.
    @Test(arguments: ["[49, 73, 127, 337, 92737, 649657]", "[4294967296, 4294967296]", "[281474976710657]"])
    func quantStateShapeAboveTwoToThe48ElementsIsRefused(shape: String) throws {
        let json = #"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": \#(shape)}"#
        #expect(throws: QLoRAError.self) { try Bnb4bitFormat.read(prefix: Self.prefix, from: Self.file(json: json)) }
        do { _ = try Bnb4bitFormat.read(prefix: Self.prefix, from: Self.file(json: json)) } catch {
            #expect("\(error)" == "q.safetensors: '\(Self.prefix)': shape too large")
        }
    }
}
