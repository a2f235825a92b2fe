import Foundation
import QLoRACore

/// transformers 5's `rope_parameters`: one dict (`{"rope_type": "llama3", "rope_theta": 500000,
/// "factor": 32, …}`) or one per layer type (`{"full_attention": {…}, "sliding_attention": {…}}`,
/// Gemma 3).
struct RopeParameters: Decodable {
    struct Single: Codable {
        var theta: Double?
        var partialRotaryFactor: Double?
        var scaling: LlamaConfig.RopeScaling

        init(theta: Double, scaling: LlamaConfig.RopeScaling?) {
            self.theta = theta
            self.scaling = scaling ?? LlamaConfig.RopeScaling(ropeType: "default", factor: 1)
            if scaling == nil { self.scaling.factorGiven = false }
        }

        init(from decoder: Decoder) throws {
            let raw = try decoder.container(keyedBy: AnyCodingKey.self)
            for key in raw.allKeys where !LlamaConfig.RopeScaling.knownKeys.contains(key.stringValue) {
                throw QLoRAError(.format, "config: rope key '\(key.stringValue)' is not implemented")
            }
            theta = try raw.decodeIfPresent(Double.self, forKey: AnyCodingKey("rope_theta"))
            partialRotaryFactor = try raw.decodeIfPresent(Double.self, forKey: AnyCodingKey("partial_rotary_factor"))
            scaling = try LlamaConfig.RopeScaling(from: decoder)
        }

        func encode(to encoder: Encoder) throws {
            try scaling.encode(to: encoder)
            var raw = encoder.container(keyedBy: AnyCodingKey.self)
            try raw.encodeIfPresent(theta, forKey: AnyCodingKey("rope_theta"))
        }

        /// nil for the default type (no scaling).
        var scalingOrNil: LlamaConfig.RopeScaling? { scaling.ropeType == "default" && !scaling.factorGiven ? nil : scaling }
    }

    var global: Single?
    var byLayerType: [String: Single] = [:]

    static let layerTypes: Set<String> = ["full_attention", "sliding_attention"]

    init(from decoder: Decoder) throws {
        let raw = try decoder.container(keyedBy: AnyCodingKey.self)
        let keys = raw.allKeys.map(\.stringValue)
        if keys.contains(where: { Self.layerTypes.contains($0) }) {
            for key in keys where !Self.layerTypes.contains(key) {
                throw QLoRAError(.format, "config: rope_parameters layer type '\(key)' is not implemented")
            }
            for key in raw.allKeys {
                if let one = try raw.decodeIfPresent(Single.self, forKey: key) { byLayerType[key.stringValue] = one }
            }
        } else {
            global = try Single(from: decoder)
        }
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension LlamaConfig {
    /// Takes θ, scaling and partial rotary factor from `rope_parameters` (which wins over the older
    /// top-level keys; a top-level θ that disagrees is refused rather than guessed between).
    mutating func applyRopeParameters(_ rp: RopeParameters, topLevelTheta: Double?) throws {
        func take(_ one: RopeParameters.Single) throws -> LayerRope {
            let theta = one.theta ?? topLevelTheta ?? 10000
            if let top = topLevelTheta, let t = one.theta, top != t {
                throw QLoRAError(.format, "config: rope_theta \(top) disagrees with rope_parameters.rope_theta \(t)")
            }
            if let p = one.partialRotaryFactor { partialRotaryFactor = p }
            return LayerRope(theta: theta, scaling: one.scalingOrNil)
        }
        if let g = rp.global {
            let r = try take(g)
            ropeTheta = r.theta
            ropeScaling = r.scaling
        } else {
            if let full = rp.byLayerType["full_attention"] {
                let r = try take(full)
                ropeTheta = r.theta
                ropeScaling = r.scaling
            }
            if let sliding = rp.byLayerType["sliding_attention"] {
                let r = try take(sliding)
                if r != LayerRope(theta: ropeTheta, scaling: ropeScaling) { slidingRope = r }
            }
        }
    }

    /// Top-level keys that change the math and that this engine does not implement: refused by
    /// name when set to anything but their neutral value, never ignored.
    static func refuseUnimplementedKeys(_ decoder: Decoder, modelType: String) throws {
        let raw = try decoder.container(keyedBy: AnyCodingKey.self)
        func present(_ k: String) -> Bool { raw.contains(AnyCodingKey(k)) && !((try? raw.decodeNil(forKey: AnyCodingKey(k))) ?? true) }
        func refuse(_ k: String, _ why: String = "is not implemented") throws -> Never {
            throw QLoRAError(.format, "config: key '\(k)' \(why)")
        }
        let gemma = LlamaConfig.gemmaModelTypes.contains(modelType)
        // Gemma's MLP reads `hidden_activation` (checked where it is decoded); its `hidden_act` is unused.
        for k in gemma ? [] : ["hidden_act", "hidden_activation"] where present(k) {
            let act = try raw.decode(String.self, forKey: AnyCodingKey(k))
            if act != "silu" && act != "swish" { try refuse(k, "= '\(act)' is not implemented (only silu)") }
        }
        // The keys Gemma implements (LlamaConfig+Gemma.swift) are math keys of no other family.
        let gemmaKeys: Set<String> = modelType == "gemma2"
            ? ["attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar"]
            : modelType == "gemma3_text"
            ? ["attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "rope_local_base_freq",
               "sliding_window_pattern"] : []
        for k in ["use_bidirectional_attention"] where present(k) {
            if let b = try? raw.decode(Bool.self, forKey: AnyCodingKey(k)), b == false { continue }
            try refuse(k, "= true is not implemented (causal attention only)")
        }
        if gemma, present("attention_bias"), try raw.decode(Bool.self, forKey: AnyCodingKey("attention_bias")) {
            try refuse("attention_bias", "= true is not implemented for Gemma (its o_proj bias)")
        }
        for k in ["attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "rope_local_base_freq",
                  "no_rope_layers", "no_rope_layer_interval", "embedding_multiplier", "residual_multiplier",
                  "logits_scaling", "attention_multiplier", "qk_layernorm", "use_qk_norm", "sliding_window_pattern"]
            where present(k) && !gemmaKeys.contains(k) {
            if let b = try? raw.decode(Bool.self, forKey: AnyCodingKey(k)), b == false { continue }
            try refuse(k)
        }
        if present("mlp_bias"), try raw.decode(Bool.self, forKey: AnyCodingKey("mlp_bias")) { try refuse("mlp_bias", "= true is not implemented") }
        // Dropout inside the base model (Phi-3's residual and embedding dropout, attention dropout)
        // changes training; only 0 is implemented.
        for k in ["resid_pdrop", "embd_pdrop", "attention_dropout"] where present(k) {
            if let v = try? raw.decode(Double.self, forKey: AnyCodingKey(k)), v != 0 { try refuse(k, "= \(v) is not implemented (only 0)") }
        }
    }
}
