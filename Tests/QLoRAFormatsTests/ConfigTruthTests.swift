import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Both config forms (top-level `rope_theta` / `rope_scaling`, and transformers 5's `rope_parameters`
/// with its per-layer-type variant) mean the same; a key that changes the math and is not
/// implemented is refused by name; parameter counts are 64-bit.
@Suite struct ConfigTruthTests {
    static let base = #""model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096"#

    static func config(_ extra: String, base: String = base) throws -> LlamaConfig {
        try LlamaConfig.decode(Data("{\(base)\(extra.isEmpty ? "" : ", " + extra)}".utf8))
    }

    @Test func llama3RopeParametersMatchTheOlderForm() throws {
        let old = try Self.config(#""rope_theta": 500000, "rope_scaling": {"rope_type": "llama3", "factor": 32, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}"#)
        let new = try Self.config(#""rope_parameters": {"rope_type": "llama3", "rope_theta": 500000, "factor": 32, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}"#)
        #expect(new.ropeTheta == 500000 && new.ropeScaling?.ropeType == "llama3" && new.ropeScaling?.factor == 32)
        #expect(RoPE.inverseFrequencies(old) == RoPE.inverseFrequencies(new))
        // The older reading of the new form (θ = 10000, no scaling) gives other frequencies: the key matters.
        #expect(RoPE.inverseFrequencies(new) != RoPE.inverseFrequencies(try Self.config("")))
    }

    @Test func defaultRopeParametersMeanNoScaling() throws {
        let c = try Self.config(#""rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}"#)
        #expect(c.ropeTheta == 1_000_000 && c.ropeScaling == nil)
    }

    @Test func perLayerTypeRopeParametersGiveSlidingLayersTheirOwnRope() throws {
        let c = try Self.config(#""sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"], "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}, "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}"#)
        #expect(c.rope(layer: 1) == LlamaConfig.LayerRope(theta: 1_000_000, scaling: .init(ropeType: "linear", factor: 8)))
        #expect(c.rope(layer: 0) == LlamaConfig.LayerRope(theta: 10000, scaling: nil))
        #expect(c.attentionWindow(layer: 0) == 8 && c.attentionWindow(layer: 1) == nil)
        let ropes = RoPE.perLayer(c)
        #expect(ropes[0].invFreq[1] != ropes[1].invFreq[1])
    }

    @Test func qwenSlidingWindowOnlyWithUseSlidingWindow() throws {
        let q = #""model_type": "qwen3", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4, "num_attention_heads": 4, "head_dim": 16"#
        let off = try Self.config(#""sliding_window": 32768, "use_sliding_window": false"#, base: q)
        #expect(off.slidingWindow == nil && off.attentionWindow(layer: 3) == nil)
        let on = try Self.config(#""sliding_window": 16, "use_sliding_window": true, "max_window_layers": 2"#, base: q)
        #expect(on.attentionWindow(layer: 1) == nil && on.attentionWindow(layer: 2) == 16)
        let mistral = try Self.config(#""sliding_window": 4096"#, base: Self.base.replacingOccurrences(of: "llama", with: "mistral"))
        #expect(mistral.attentionWindow(layer: 0) == 4096 && mistral.attentionWindow(layer: 1) == 4096)
    }

    @Test func yarnAndLongropeFollowTransformers() throws {
        // yarn (Qwen3's long-context setting): attention factor 0.1·ln(4) + 1 on cos/sin.
        let yarn = try Self.config(#""rope_parameters": {"rope_type": "yarn", "rope_theta": 1000000, "factor": 4.0, "original_max_position_embeddings": 32768}"#)
        let r = RoPE(config: yarn)
        #expect(abs(Double(r.attentionFactor) - (0.1 * log(4.0) + 1)) < 1e-6)
        // The highest frequency is extrapolated (unchanged), the lowest interpolated (÷ factor).
        let plain = RoPE.inverseFrequencies(try Self.config(#""rope_theta": 1000000"#))
        #expect(r.invFreq[0] == plain[0] && abs(r.invFreq.last! - plain.last! / 4) <= 1e-6 * plain.last!)
        // longrope: short factors below the original context, long past it, × √(1 + ln s / ln orig).
        let half = 8
        let short = (0..<half).map { _ in "1.0" }.joined(separator: ", "), long = (0..<half).map { _ in "2.0" }.joined(separator: ", ")
        let phi = try Self.config(#""model_type": "phi3", "original_max_position_embeddings": 1024, "rope_scaling": {"type": "longrope", "short_factor": [\#(short)], "long_factor": [\#(long)]}"#,
                                  base: Self.base.replacingOccurrences(of: #""model_type": "llama", "#, with: ""))
        let lr = RoPE(config: phi)
        #expect(abs(Double(lr.attentionFactor) - (1 + log(4096.0 / 1024) / log(1024.0)).squareRoot()) < 1e-6)
        let (longInv, _) = RoPE.frequencies(phi, phi.rope(layer: 0), length: 2000)
        #expect(abs(longInv[1] - lr.invFreq[1] / 2) <= 1e-6 * lr.invFreq[1])
    }

    /// Every key that changes the math and is not implemented: refused with a one-line error that names it.
    @Test(arguments: [
        (#""hidden_act": "gelu""#, "hidden_act"),
        (#""attn_logit_softcapping": 50.0"#, "attn_logit_softcapping"),
        (#""final_logit_softcapping": 30.0"#, "final_logit_softcapping"),
        (#""query_pre_attn_scalar": 256"#, "query_pre_attn_scalar"),
        (#""rope_local_base_freq": 10000"#, "rope_local_base_freq"),
        (#""no_rope_layers": [1, 1]"#, "no_rope_layers"),
        (#""embedding_multiplier": 12.0"#, "embedding_multiplier"),
        (#""residual_multiplier": 0.22"#, "residual_multiplier"),
        (#""logits_scaling": 8.0"#, "logits_scaling"),
        (#""attention_multiplier": 0.015"#, "attention_multiplier"),
        (#""mlp_bias": true"#, "mlp_bias"),
        (#""sliding_window_pattern": 6"#, "sliding_window_pattern"),
        (#""sliding_window": 4, "layer_types": ["chunked_attention", "full_attention"]"#, "chunked_attention"),
        (#""rope_scaling": {"rope_type": "su", "factor": 2}"#, "'su'"),
        (#""rope_scaling": {"rope_type": "linear", "factor": 2, "frobnicate": 1}"#, "frobnicate"),
        (#""rope_parameters": {"rope_type": "mrope", "rope_theta": 10000}"#, "mrope"),
        (#""rope_parameters": {"full_attention": {"rope_type": "default"}, "chunked_attention": {"rope_type": "default"}}"#, "chunked_attention"),
        (#""rope_scaling": {"rope_type": "linear", "factor": 2, "beta_fast": 32}"#, "beta_fast"),
        (#""rope_scaling": {"rope_type": "default", "short_factor": [1]}"#, "short_factor"),
        (#""rope_theta": 10000, "rope_parameters": {"rope_type": "default", "rope_theta": 500000}"#, "rope_theta"),
    ])
    func unimplementedKeyIsRefusedByName(_ c: (String, String)) throws {
        do {
            _ = try Self.config(c.0)
            Issue.record("\(c.0) was accepted")
        } catch let e as QLoRAError {
            #expect(e.message.contains(c.1), "\(e.message)")
            #expect(!e.message.contains("\n"))
        }
    }

    @Test func neutralValuesAreAccepted() throws {
        _ = try Self.config(#""hidden_act": "silu", "mlp_bias": false, "attn_logit_softcapping": null, "rope_scaling": null"#)
    }

    /// Parameter counts are 64-bit: the published totals of Llama 3.1 8B and 70B, and the train
    /// summary prints them whole (`%d` printed the 8B's as -517730304).
    @Test func parameterCountsAtRealSizes() throws {
        let l8 = try LlamaConfig(vocabSize: 128_256, hiddenSize: 4096, intermediateSize: 14336, numHiddenLayers: 32,
                                 numAttentionHeads: 32, numKeyValueHeads: 8)
        let l70 = try LlamaConfig(vocabSize: 128_256, hiddenSize: 8192, intermediateSize: 28672, numHiddenLayers: 80,
                                  numAttentionHeads: 64, numKeyValueHeads: 8)
        #expect(l8.totalParameters == 8_030_261_248)
        #expect(l70.totalParameters == 70_553_706_496)
        let json = #"{"steps": 1, "trainable_parameters": 41943040, "total_parameters": \#(l8.totalParameters + 41_943_040), "tokens_per_second": 1, "peak_rss_bytes": 1, "final_train_loss": 1, "adapter": "a", "seconds": 1, "optimizer_resident_bytes": 0, "optimizer_spilled_bytes": 0}"#
        let summary = try JSONDecoder().decode(TrainSummary.self, from: Data(json.utf8))
        #expect(summary.headline.contains("trainable 41943040 of 8072204288 parameters (0.52%)"), "\(summary.headline)")
    }
}
