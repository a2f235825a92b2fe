import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Gemma 2 / Gemma 3 configs: transformers 5.25's defaults for absent keys (Gemma2Config,
/// Gemma3TextConfig), both config forms, the `gemma3` wrapper's nested `text_config`, and every Gemma
/// key whose math is not implemented refused by name.
@Suite struct GemmaConfigTests {
    static let shape = #""vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 6, "num_attention_heads": 4, "num_key_value_heads": 2"#

    static func config(_ type: String, _ extra: String = "") throws -> LlamaConfig {
        try LlamaConfig.decode(Data("{\"model_type\": \"\(type)\", \(shape)\(extra.isEmpty ? "" : ", " + extra)}".utf8))
    }

    @Test func gemma2DefaultsAreTransformers() throws {
        let c = try Self.config("gemma2")
        let f = c.family
        #expect(c.headDim == 256 && c.tieWordEmbeddings && c.hiddenActivation == "gelu_pytorch_tanh")
        #expect(c.queryPreAttnScalar == 256 && c.attnLogitSoftcapping == 50 && c.finalLogitSoftcapping == 30)
        #expect(c.slidingWindow == 4096 && c.ropeTheta == 10000)
        // Alternating from layer 0: sliding, full, sliding, …
        #expect((0..<6).map { c.attentionWindow(layer: $0) } == [4096, nil, 4096, nil, 4096, nil])
        #expect(f.normOffset == 1 && f.embeddingScale == 8 && f.activation == .geluTanh && f.sandwichNorms && !f.qkNorm)
        #expect(f.attentionScale == Float(1 / 16.0) && f.attentionSoftcap == 50 && f.finalSoftcap == 30)
        // null turns a cap off; a given scalar sets the score scale.
        let off = try Self.config("gemma2", #""attn_logit_softcapping": null, "final_logit_softcapping": null, "query_pre_attn_scalar": 144, "head_dim": 16"#)
        #expect(off.family.attentionSoftcap == nil && off.family.finalSoftcap == nil)
        #expect(off.family.attentionScale == Float(1 / 12.0) && off.headDim == 16)
    }

    @Test func gemma3TextBothFormsMeanTheSame() throws {
        // The older form: global θ and scaling at the top, local θ in rope_local_base_freq, the pattern as a number.
        let old = try Self.config("gemma3_text", #""head_dim": 16, "sliding_window": 8, "rope_theta": 1000000, "rope_local_base_freq": 10000, "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "sliding_window_pattern": 3"#)
        let new = try Self.config("gemma3_text", #""head_dim": 16, "sliding_window": 8, "layer_types": ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"], "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000}, "sliding_attention": {"rope_type": "default", "rope_theta": 10000}}"#)
        for c in [old, new] {
            #expect((0..<6).map { c.attentionWindow(layer: $0) } == [8, 8, nil, 8, 8, nil])
            #expect(c.rope(layer: 0) == LlamaConfig.LayerRope(theta: 10000, scaling: nil))
            #expect(c.rope(layer: 2) == LlamaConfig.LayerRope(theta: 1_000_000, scaling: .init(ropeType: "linear", factor: 8)))
            #expect(c.hasQKNorm && c.family.qkNorm && c.family.attentionSoftcap == nil && c.family.finalSoftcap == nil)
        }
        #expect(RoPE.perLayer(old).map(\.invFreq) == RoPE.perLayer(new).map(\.invFreq))
        // Defaults: five local layers to one global, θ 10⁴ / 10⁶, window 4096.
        let d = try Self.config("gemma3_text")
        #expect((0..<6).map { d.isSlidingLayer($0) } == [true, true, true, true, true, false])
        #expect(d.rope(layer: 0).theta == 10000 && d.rope(layer: 5).theta == 1_000_000 && d.slidingWindow == 4096)
    }

    @Test func gemma3WrapperReadsItsTextConfig() throws {
        let json = #"{"model_type": "gemma3", "tie_word_embeddings": true, "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 16}, "text_config": {\#(Self.shape), "head_dim": 16, "query_pre_attn_scalar": 16}}"#
        let c = try LlamaConfig.decode(Data(json.utf8))
        #expect(c.modelType == "gemma3_text" && c.wrapper == "gemma3" && c.headDim == 16 && c.family.qkNorm)
        let names: Set<String> = ["model.language_model.embed_tokens.weight", "model.vision_tower.x.weight"]
        let n = try TensorNaming(config: c, names: names, path: "x")
        #expect(n.layer(2) == "model.language_model.layers.2." && n.lmHead == "lm_head.weight")
        let hub = try TensorNaming(config: c, names: ["language_model.model.embed_tokens.weight"], path: "x")
        #expect(hub.embed == "language_model.model.embed_tokens.weight" && hub.lmHead == "language_model.lm_head.weight")
        #expect(throws: QLoRAError.self) { _ = try TensorNaming(config: c, names: ["model.embed_tokens.weight"], path: "x") }
    }

    /// Each Gemma key whose math is not implemented (or that transformers stores but does not apply,
    /// so no single meaning exists): refused with a one-line error naming it.
    @Test(arguments: [
        ("gemma2", #""hidden_activation": "gelu""#, "hidden_activation"),
        ("gemma3_text", #""hidden_activation": "silu""#, "hidden_activation"),
        ("gemma3_text", #""attn_logit_softcapping": 50.0"#, "attn_logit_softcapping"),
        ("gemma2", #""use_bidirectional_attention": true"#, "use_bidirectional_attention"),
        ("gemma3_text", #""use_bidirectional_attention": true"#, "use_bidirectional_attention"),
        ("gemma2", #""attention_bias": true"#, "attention_bias"),
        ("gemma2", #""rope_local_base_freq": 10000"#, "rope_local_base_freq"),
        ("gemma2", #""sliding_window_pattern": 6"#, "sliding_window_pattern"),
        ("gemma2", #""rope_parameters": {"full_attention": {"rope_type": "default"}, "sliding_attention": {"rope_type": "default"}}"#, "rope_parameters"),
        ("gemma3_text", #""rope_parameters": {"rope_type": "default", "rope_theta": 10000}"#, "rope_parameters"),
        ("gemma3_text", #""rope_local_base_freq": 10000, "rope_parameters": {"full_attention": {"rope_type": "default"}, "sliding_attention": {"rope_type": "default", "rope_theta": 20000}}"#, "rope_local_base_freq"),
        ("gemma2", #""query_pre_attn_scalar": 0"#, "query_pre_attn_scalar"),
        ("gemma2", #""final_logit_softcapping": -1"#, "final_logit_softcapping"),
        ("gemma2", #""layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention", "sliding_attention", "full_attention"], "sliding_window": null"#, "sliding_window"),
        ("gemma3_text", #""rope_parameters": {"full_attention": {"rope_type": "default", "partial_rotary_factor": 0.5}, "sliding_attention": {"rope_type": "default"}}"#, "partial_rotary_factor"),
        ("llama", #""query_pre_attn_scalar": 256"#, "query_pre_attn_scalar"),
        ("llama", #""final_logit_softcapping": 30.0"#, "final_logit_softcapping"),
        ("llama", #""use_bidirectional_attention": true"#, "use_bidirectional_attention"),
    ])
    func unimplementedGemmaKeyIsRefusedByName(_ c: (String, String, String)) throws {
        do {
            _ = try Self.config(c.0, c.1)
            Issue.record("\(c.0) \(c.1) was accepted")
        } catch let e as QLoRAError {
            #expect(e.message.contains(c.2), "\(e.message)")
            #expect(!e.message.contains("\n"))
        }
    }

    /// Under the wrapper a list of target names becomes a pattern over the text model's layers, so PEFT
    /// does not also put adapters on the vision tower's q/k/v; a plain causal LM keeps its list.
    @Test func wrapperTargetsOnlyTheTextModel() throws {
        let json = #"{"model_type": "gemma3", "text_config": {\#(Self.shape), "head_dim": 16}}"#
        let wrapped = try LlamaConfig.decode(Data(json.utf8))
        var lora = try LoRAConfig(r: 2, loraAlpha: 4, targets: [.q, .down])
        try lora.scope(to: wrapped)
        #expect(lora.targets(modulePath: "model.language_model.layers.3.self_attn.q_proj"))
        #expect(lora.targets(modulePath: "model.language_model.layers.0.mlp.down_proj"))
        #expect(!lora.targets(modulePath: "model.language_model.layers.0.self_attn.k_proj"))
        #expect(!lora.targets(modulePath: "model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj"))
        var plain = try LoRAConfig(r: 2, loraAlpha: 4, targets: [.q])
        try plain.scope(to: try Self.config("gemma2"))
        #expect(plain.targetModules == .list(["q_proj"]))
    }

    @Test func wrapperFinalSoftcappingIsRefused() throws {
        let json = #"{"model_type": "gemma3", "text_config": {\#(Self.shape), "final_logit_softcapping": 30.0}}"#
        do {
            _ = try LlamaConfig.decode(Data(json.utf8))
            Issue.record("accepted")
        } catch let e as QLoRAError {
            #expect(e.message.contains("final_logit_softcapping"), "\(e.message)")
        }
    }

    @Test func gemmaConfigRoundTripsThroughItsEncoding() throws {
        for c in [try Self.config("gemma2", #""head_dim": 16, "query_pre_attn_scalar": 20, "final_logit_softcapping": null"#),
                  try Self.config("gemma3_text", #""head_dim": 16, "rope_local_base_freq": 20000, "sliding_window": 8"#)] {
            let again = try LlamaConfig.decode(try JSONEncoder().encode(c))
            #expect(again.family == c.family)
            #expect((0..<6).map { again.rope(layer: $0) } == (0..<6).map { c.rope(layer: $0) })
            #expect((0..<6).map { again.attentionWindow(layer: $0) } == (0..<6).map { c.attentionWindow(layer: $0) })
        }
    }
}
