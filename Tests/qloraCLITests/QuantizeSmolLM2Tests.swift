import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora quantize` on the real SmolLM2 GGUF: OUT loads back, every quantized tensor is within the
/// NF4 bound of its source, the bits per parameter are as the format says, and layer 0's k_proj
/// carries exactly bitsandbytes' bytes.
@Suite(.serialized) struct QuantizeSmolLM2Tests {
    static var model: String { TestPaths.smolLM2GGUF }
    static var haveModel: Bool { FileManager.default.fileExists(atPath: model) }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"), arguments: [true, false])
    func quantizedSmolLM2LoadsBackWithinBound(_ doubleQuant: Bool) throws {
        let dir = TempDir()
        let out = dir.path + "/smollm2-nf4"
        var args = ["quantize", Self.model, "-o", out, "--json"]
        if !doubleQuant { args.append("--no-double-quant") }
        let r = try CLIRunner.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        let rep = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let bits = try #require(rep["bits_per_quantized_parameter"] as? Double)
        if doubleQuant { #expect(abs(bits - 4.127) < 0.001, "\(bits)") } else { #expect(abs(bits - 4.5) < 0.001, "\(bits)") }
        #expect(rep["tensors_quantized"] as? Int == 30 * 7)
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f), "\(f) missing")
        }

        let source = try GGUFCheckpoint(path: Self.model)
        let file = try SafetensorsFile(path: out + "/model.safetensors")
        let prefixes = Bnb4bitFormat.quantizedPrefixes(in: file)
        #expect(prefixes.count == 210)
        let halfGap = FourBitType.nf4.maxHalfGap
        for prefix in prefixes {
            let (packed, state) = try Bnb4bitFormat.read(prefix: prefix, from: file)
            let w = try source.floats(prefix + ".weight")
            let deq = FourBitCodec.dequantize(QuantizedTensor(packed: [UInt8](packed), state: state))
            let used = state.dequantizedAbsmax()
            var worst: Float = 0
            for b in 0..<state.blockCount {
                let lo = b * 64, hi = min(lo + 64, w.count)
                let am = w[lo..<hi].map(abs).max()!
                let bound = am * halfGap + abs(am - used[b]) + 2 * am.ulp
                for j in lo..<hi where bound > 0 { worst = max(worst, abs(w[j] - deq[j]) / bound) }
            }
            #expect(worst <= 1, "\(prefix): error/bound \(worst)")
        }

        // Layer 0 k_proj: the same nibbles bitsandbytes wrote from transformers' reading of this file.
        let golden = try SafetensorsFile(path: TestPaths.golden + "/nf4/nf4_smollm2_l0_k_proj_192x576.safetensors")
        let (packed, state) = try Bnb4bitFormat.read(prefix: "model.layers.0.self_attn.k_proj", from: file)
        #expect([UInt8](packed) == (try golden.bytes("plain.packed")))
        if doubleQuant {
            let ref = try golden.bytes("dq.qabsmax")
            let ours = try #require(state.nested).qabsmax
            #expect(zip(ours, ref).allSatisfy { abs(Int($0) - Int($1)) <= 1 })
        } else {
            #expect(state.absmax.map(\.bitPattern) == (try golden.floats("plain.absmax")).map(\.bitPattern))
        }
    }
}
