import Foundation
import QLoRACore

/// Gemma 2 (`gemma2`) and Gemma 3 text (`gemma3_text`) config keys, read with transformers 5.25's
/// defaults for absent keys (Gemma2Config / Gemma3TextConfig): a key absent from the file means the
/// default, `null` means off. Both config forms: transformers 5's `rope_parameters` (Gemma 3: one per
/// layer type) and the older top-level `rope_theta` / `rope_scaling` / `rope_local_base_freq` /
/// `sliding_window_pattern`.
extension LlamaConfig {
    mutating func decodeGemma(_ c: KeyedDecodingContainer<CodingKeys>, topTheta: Double?, headDimGiven: Bool,
                              ropeParameters: RopeParameters?) throws {
        let gemma3 = modelType == "gemma3_text"
        func optional(_ key: CodingKeys, default value: Double?) throws -> Double? {
            guard c.contains(key) else { return value }
            return try c.decodeIfPresent(Double.self, forKey: key)
        }
        if !headDimGiven { headDim = 256 }
        if !c.contains(.tieWordEmbeddings) { tieWordEmbeddings = true }
        if !c.contains(.maxPositionEmbeddings) { maxPositionEmbeddings = gemma3 ? 131_072 : 8192 }
        hiddenActivation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? "gelu_pytorch_tanh"
        if hiddenActivation != "gelu_pytorch_tanh" {
            throw QLoRAError(.format, "config: key 'hidden_activation' = '\(hiddenActivation)' is not implemented (only gelu_pytorch_tanh)")
        }
        queryPreAttnScalar = try optional(.queryPreAttnScalar, default: 256)
        attnLogitSoftcapping = try optional(.attnLogitSoftcapping, default: gemma3 ? nil : 50)
        finalLogitSoftcapping = try optional(.finalLogitSoftcapping, default: gemma3 ? nil : 30)
        if gemma3, attnLogitSoftcapping != nil {  // stored by Gemma3TextConfig, never applied by its attention
            throw QLoRAError(.format, "config: key 'attn_logit_softcapping' is not applied by transformers' Gemma 3 attention; refused rather than guessed")
        }
        if !c.contains(.slidingWindow) { slidingWindow = 4096 }
        if layerTypes == nil {
            // Gemma 2 alternates sliding / full from layer 0; Gemma 3 has (pattern − 1) sliding, then one full.
            let pattern = try gemma3 ? (c.decodeIfPresent(Int.self, forKey: .slidingWindowPattern) ?? 6) : 2
            guard pattern >= 1 else { throw QLoRAError(.format, "config: sliding_window_pattern \(pattern) out of range") }
            layerTypes = (0..<numHiddenLayers).map { ($0 + 1) % pattern != 0 ? "sliding_attention" : "full_attention" }
        }
        // RoPE: Gemma 2 has one (θ 10⁴ by default); Gemma 3 global layers θ 10⁶ with any scaling, local
        // layers `rope_local_base_freq` (10⁴) without scaling.
        let localTheta = try gemma3 ? c.decodeIfPresent(Double.self, forKey: .ropeLocalBaseFreq) : nil
        ropeTheta = topTheta ?? (gemma3 ? 1_000_000 : 10000)
        if let rp = ropeParameters {
            if let global = rp.global {
                if gemma3 { throw QLoRAError(.format, "config: gemma3_text rope_parameters must be per layer type (full_attention, sliding_attention)") }
                try applyRopeParameters(rp, topLevelTheta: topTheta)
                _ = global
            } else {
                guard gemma3 else { throw QLoRAError(.format, "config: gemma2 rope_parameters per layer type is not implemented") }
                let full = rp.byLayerType["full_attention"], sliding = rp.byLayerType["sliding_attention"]
                let fullRope = try Self.take(full, theta: topTheta, default: 1_000_000, key: "rope_theta")
                ropeTheta = fullRope.theta
                ropeScaling = fullRope.scaling
                slidingRope = try Self.take(sliding, theta: localTheta, default: 10000, key: "rope_local_base_freq")
                if let p = full?.partialRotaryFactor ?? sliding?.partialRotaryFactor, p != 1 {
                    throw QLoRAError(.format, "config: key 'partial_rotary_factor' in a Gemma rope_parameters is not implemented")
                }
            }
        } else if gemma3 {
            slidingRope = LayerRope(theta: localTheta ?? 10000, scaling: nil)
        }
        if let s = slidingRope, s == LayerRope(theta: ropeTheta, scaling: ropeScaling) { slidingRope = nil }
    }

    /// One layer type's RoPE from `rope_parameters`, its θ checked against the older key naming it.
    static func take(_ one: RopeParameters.Single?, theta legacy: Double?, default value: Double, key: String) throws -> LayerRope {
        guard let one else { return LayerRope(theta: legacy ?? value, scaling: nil) }
        if let legacy, let t = one.theta, legacy != t {
            throw QLoRAError(.format, "config: \(key) \(legacy) disagrees with rope_parameters.rope_theta \(t)")
        }
        return LayerRope(theta: one.theta ?? legacy ?? value, scaling: one.scalingOrNil)
    }
}
