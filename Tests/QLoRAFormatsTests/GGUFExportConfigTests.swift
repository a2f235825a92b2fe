import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The per-architecture GGUF metadata of a config, Llama 3's `rope_freqs` factors as llama.cpp's
/// converter computes them, and one-line refusals for what llama.cpp's loader would run differently.
@Suite struct GGUFExportConfigTests {
    static func family(_ name: String) throws -> LlamaConfig {
        try LlamaConfig.load(path: TestPaths.repoRoot + "/Tests/Fixtures/families/\(name)/config.json")
    }

    /// The llama3 family fixture (rope_theta 500000, factor 8, low 1, high 4, original 16, head_dim 16):
    /// factors as `LlamaModel.generate_extra_tensors` gives them (torch, float32), computed for this
    /// test by running that loop (torch 2.13) on this config.
    @Test func llama3FactorsAreTheConverters() throws {
        let c = try Self.family("llama3")
        let factors = try #require(try c.ggufRopeFrequencyFactors("x"))
        let expected: [Float] = Self.converterFactors
        #expect(factors.count == 8)
        for (a, b) in zip(factors, expected) { #expect(abs(a - b) <= 1e-6 * b, "\(factors) vs \(expected)") }
        // Per-frequency factors divide the unscaled frequencies exactly as llama3 scaling does.
        var fromFactors = c
        fromFactors.ropeScaling = .frequencyFactors(factors, context: c.maxPositionEmbeddings)
        try fromFactors.validate()
        #expect(fromFactors.ropeScaling!.isFrequencyFactors)
        #expect(try fromFactors.ggufRopeFrequencyFactors("x") == factors)
    }

    static let converterFactors: [Float] = [1.7359412908554077, 8, 8, 8, 8, 8, 8, 8]

    @Test func llamaMetadataNamesEveryHyperparameter() throws {
        let c = try Self.family("llama3")
        let m = Dictionary(uniqueKeysWithValues: try c.ggufModelMetadata("x").map { ($0.0, $0.1) })
        #expect(m["general.architecture"] == .string("llama"))
        #expect(m["llama.block_count"] == .uint32(2))
        #expect(m["llama.context_length"] == .uint32(64))
        #expect(m["llama.embedding_length"] == .uint32(64))
        #expect(m["llama.feed_forward_length"] == .uint32(64))
        #expect(m["llama.attention.head_count"] == .uint32(4))
        #expect(m["llama.attention.head_count_kv"] == .uint32(2))
        #expect(m["llama.attention.key_length"] == .uint32(16))
        #expect(m["llama.rope.dimension_count"] == .uint32(16))
        #expect(m["llama.rope.freq_base"] == .float32(500_000))
        #expect(m["llama.attention.layer_norm_rms_epsilon"] == .float32(1e-5))
        #expect(m["llama.vocab_size"] == .uint32(160))
        #expect(m["llama.rope.scaling.type"] == nil)
        var linear = c
        linear.ropeScaling = LlamaConfig.RopeScaling(ropeType: "linear", factor: 2)
        let l = Dictionary(uniqueKeysWithValues: try linear.ggufModelMetadata("x").map { ($0.0, $0.1) })
        #expect(l["llama.rope.scaling.type"] == .string("linear") && l["llama.rope.scaling.factor"] == .float32(2))
        #expect(try linear.ggufRopeFrequencyFactors("x") == nil)
        var mistral = try Self.family("mistral")
        mistral.slidingWindow = nil  // the fixture's window of 4 is refused (below)
        #expect(try mistral.ggufExportArchitecture("x") == "llama")
    }

    @Test func whatLlamaCppWouldRunDifferentlyIsRefusedByName() throws {
        var yarn = try Self.family("llama3")
        yarn.ropeScaling = LlamaConfig.RopeScaling(ropeType: "yarn", factor: 4, originalMaxPositionEmbeddings: 16)
        var window = try Self.family("mistral")
        window.slidingWindow = 32
        let cases: [(LlamaConfig, String)] = [
            (try Self.family("qwen3"), "model_type 'qwen3' has no GGUF export"),
            (try Self.family("phi3"), "model_type 'phi3' has no GGUF export"),
            (yarn, "rope_type 'yarn' is not exported"),
            (window, "sliding_window 32 is not exported"),
        ]
        for (config, message) in cases {
            do {
                _ = try config.ggufModelMetadata("out.gguf")
                Issue.record("no error for \(message)")
            } catch let e as QLoRAError {
                #expect(e.description.contains(message) && !e.description.contains("\n"), "\(e.description)")
            }
        }
    }
}
