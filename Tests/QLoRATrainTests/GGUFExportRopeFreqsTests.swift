import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Our GGUF reader applies `rope_freqs.weight`, and GGUF export keeps the base's: llama.cpp keeps Llama 3.1's RoPE scaling in
/// that tensor (its converter writes no rope-scaling metadata for rope_type llama3), so dropping it
/// makes llama.cpp rotate every position with unscaled frequencies.
@Suite struct GGUFExportRopeFreqsTests {
    static let tiny = TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf"

    /// llama.cpp's convert_hf_to_gguf (LlamaModel.generate_extra_tensors) for rope_type llama3:
    /// one factor per rotary pair, 1 for high frequencies, `factor` for low ones, smoothed between.
    static func llama3RopeFactors(headDim: Int, theta: Double, factor: Double, low: Double, high: Double,
                                  original: Double) -> [Float] {
        let lowWavelen = original / low, highWavelen = original / high
        return stride(from: 0, to: headDim, by: 2).map { i in
            let freq = 1 / pow(theta, Double(i) / Double(headDim))
            let wavelen = 2 * Double.pi / freq
            if wavelen < highWavelen { return 1 }
            if wavelen > lowWavelen { return Float(factor) }
            let smooth = (original / wavelen - low) / (high - low)
            return Float(1 / ((1 - smooth) / factor + smooth))
        }
    }

    @Test func exportCopiesRopeFreqsUnchanged() throws {
        let dir = TempDir("qlora-ropefreqs")
        let source = try GGUFFile(path: Self.tiny)
        let headDim = 16
        let factors = Self.llama3RopeFactors(headDim: headDim, theta: 500_000, factor: 8, low: 1, high: 4, original: 64)
        #expect(factors.contains(1) && factors.contains(8))
        // The tiny fixture plus a rope_freqs tensor, as llama.cpp's converter writes a Llama 3.1 file.
        var w = GGUFWriter()
        for key in source.metadataKeys where key != "general.alignment" { w.metadata.append((key, source.metadata[key]!)) }
        let infos = source.tensors
        for info in infos { w.tensors.append(GGUFWriter.Tensor(name: info.name, dims: info.dims, type: info.type)) }
        w.tensors.append(GGUFWriter.Tensor(name: "rope_freqs.weight", dims: [headDim / 2], type: .f32))
        let base = dir.path + "/base.gguf"
        try w.write(to: base) { i in
            i < infos.count ? Array(source.rawBytes(infos[i])) : GGMLEncode.f32(factors)
        }

        let baseFile = try GGUFFile(path: base)
        // Our reader rotates as llama.cpp does: θ^(−2i/d) ÷ factor[i], and ÷ the fixture's linear 2
        // (llama.cpp's freq_scale applies too).
        let config = try LlamaConfig(gguf: baseFile)
        var unscaled = config
        unscaled.ropeScaling = nil
        let unscaledFreq = RoPE.inverseFrequencies(unscaled), scaled = RoPE.inverseFrequencies(config)
        for i in 0..<headDim / 2 {
            let expected = unscaledFreq[i] / (factors[i] * 2)
            #expect(abs(scaled[i] - expected) <= 1e-6 * expected, "frequency \(i): \(scaled[i]) vs \(expected)")
        }
        let out = dir.path + "/out.gguf"
        try GGUFExport.write(try GGUFCheckpoint(path: base), base: baseFile, to: out, type: .f16)
        let exported = try GGUFFile(path: out)
        #expect(exported.hasTensor("rope_freqs.weight"))
        #expect(try exported.floats("rope_freqs.weight") == factors)
        #expect(try exported.tensor("rope_freqs.weight").type.name == "F32")

        // Without rope_freqs in the base, none is invented.
        let plain = dir.path + "/plain.gguf"
        try GGUFExport.write(try GGUFCheckpoint(path: Self.tiny), base: source, to: plain, type: .f16)
        #expect(!(try GGUFFile(path: plain)).hasTensor("rope_freqs.weight"))
    }
}
