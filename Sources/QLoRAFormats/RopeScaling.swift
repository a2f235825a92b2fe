import Foundation
import QLoRACore

extension LlamaConfig {
    /// RoPE scaling, as the older top-level `rope_scaling` or transformers 5's `rope_parameters`
    /// write it (the θ itself lives in `ropeTheta`). Every key is decoded; a key this engine does not
    /// know is refused by name (it may change the math), never ignored.
    ///
    /// Types (transformers `modeling_rope_utils.py`): `default`, `linear` (frequencies ÷ factor),
    /// `dynamic` (NTK base rescale past `max_position_embeddings`), `llama3`, `yarn` (ramp blend,
    /// cos/sin × attention factor) and `longrope` (short/long per-frequency factors chosen by length,
    /// cos/sin × attention factor).
    public struct RopeScaling: Codable, Hashable, Sendable {
        public var ropeType: String
        public var factor: Double
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var originalMaxPositionEmbeddings: Int?
        /// yarn / longrope: the cos/sin multiplier (derived from the factor when absent).
        public var attentionFactor: Double?
        public var betaFast: Double?
        public var betaSlow: Double?
        public var mscale: Double?
        public var mscaleAllDim: Double?
        public var truncate: Bool?
        public var shortFactor: [Double]?
        public var longFactor: [Double]?
        /// Whether `factor` was written (yarn and longrope derive it otherwise).
        public var factorGiven: Bool

        public static let implementedTypes: Set<String> = ["default", "linear", "dynamic", "llama3", "yarn", "longrope"]

        enum CodingKeys: String, CodingKey, CaseIterable {
            case ropeType = "rope_type", type, factor, ropeTheta = "rope_theta"
            case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case attentionFactor = "attention_factor", betaFast = "beta_fast", betaSlow = "beta_slow"
            case mscale, mscaleAllDim = "mscale_all_dim", truncate
            case shortFactor = "short_factor", longFactor = "long_factor"
            case partialRotaryFactor = "partial_rotary_factor"
        }

        public init(ropeType: String, factor: Double, lowFreqFactor: Double? = nil,
                    highFreqFactor: Double? = nil, originalMaxPositionEmbeddings: Int? = nil,
                    attentionFactor: Double? = nil, betaFast: Double? = nil, betaSlow: Double? = nil,
                    shortFactor: [Double]? = nil, longFactor: [Double]? = nil) {
            self.ropeType = ropeType
            self.factor = factor
            self.factorGiven = true
            self.lowFreqFactor = lowFreqFactor
            self.highFreqFactor = highFreqFactor
            self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
            self.attentionFactor = attentionFactor
            self.betaFast = betaFast
            self.betaSlow = betaSlow
            self.shortFactor = shortFactor
            self.longFactor = longFactor
        }

        public init(from decoder: Decoder) throws {
            let raw = try decoder.container(keyedBy: AnyCodingKey.self)
            for key in raw.allKeys where !Self.knownKeys.contains(key.stringValue) {
                throw QLoRAError(.format, "config: rope key '\(key.stringValue)' is not implemented")
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType)
                ?? c.decodeIfPresent(String.self, forKey: .type) ?? "default"
            let f = try c.decodeIfPresent(Double.self, forKey: .factor)
            factor = f ?? 1
            factorGiven = f != nil
            lowFreqFactor = try c.decodeIfPresent(Double.self, forKey: .lowFreqFactor)
            highFreqFactor = try c.decodeIfPresent(Double.self, forKey: .highFreqFactor)
            originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
            attentionFactor = try c.decodeIfPresent(Double.self, forKey: .attentionFactor)
            betaFast = try c.decodeIfPresent(Double.self, forKey: .betaFast)
            betaSlow = try c.decodeIfPresent(Double.self, forKey: .betaSlow)
            mscale = try c.decodeIfPresent(Double.self, forKey: .mscale)
            mscaleAllDim = try c.decodeIfPresent(Double.self, forKey: .mscaleAllDim)
            truncate = try c.decodeIfPresent(Bool.self, forKey: .truncate)
            shortFactor = try c.decodeIfPresent([Double].self, forKey: .shortFactor)
            longFactor = try c.decodeIfPresent([Double].self, forKey: .longFactor)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ropeType, forKey: .ropeType)
            if factorGiven { try c.encode(factor, forKey: .factor) }
            try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
            try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
            try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
            try c.encodeIfPresent(attentionFactor, forKey: .attentionFactor)
            try c.encodeIfPresent(betaFast, forKey: .betaFast)
            try c.encodeIfPresent(betaSlow, forKey: .betaSlow)
            try c.encodeIfPresent(mscale, forKey: .mscale)
            try c.encodeIfPresent(mscaleAllDim, forKey: .mscaleAllDim)
            try c.encodeIfPresent(truncate, forKey: .truncate)
            try c.encodeIfPresent(shortFactor, forKey: .shortFactor)
            try c.encodeIfPresent(longFactor, forKey: .longFactor)
        }

        /// Keys a rope dict may hold (`rope_theta` and `partial_rotary_factor` only in `rope_parameters`).
        static let knownKeys = Set(CodingKeys.allCases.map(\.stringValue))

        /// Checks the type and that its required keys are there; `what` names the dict in errors.
        func validate(_ what: String, rotaryDim: Int) throws {
            func need(_ ok: Bool, _ why: String) throws { if !ok { throw QLoRAError(.format, "config: \(what) \(why)") } }
            try need(Self.implementedTypes.contains(ropeType),
                     "rope_type '\(ropeType)' is not implemented (implemented: \(Self.implementedTypes.sorted().joined(separator: ", ")))")
            try need(factor.isFinite && factor > 0, "factor \(factor) out of range")
            switch ropeType {
            case "linear", "dynamic", "llama3":
                try need(factorGiven, "rope_type '\(ropeType)' needs 'factor'")
            case "longrope":
                let half = rotaryDim / 2
                try need(shortFactor?.count == half, "longrope 'short_factor' must hold \(half) values")
                try need(longFactor?.count == half, "longrope 'long_factor' must hold \(half) values")
                try need((shortFactor! + longFactor!).allSatisfy { $0.isFinite && $0 > 0 }, "longrope factors must be positive")
            default: break
            }
            if ropeType != "yarn" {
                for (key, v) in [("beta_fast", betaFast), ("beta_slow", betaSlow), ("mscale", mscale),
                                 ("mscale_all_dim", mscaleAllDim)] where v != nil {
                    throw QLoRAError(.format, "config: \(what) key '\(key)' is not implemented for rope_type '\(ropeType)'")
                }
                if truncate != nil { throw QLoRAError(.format, "config: \(what) key 'truncate' is not implemented for rope_type '\(ropeType)'") }
            }
            if ropeType != "llama3", lowFreqFactor != nil || highFreqFactor != nil {
                throw QLoRAError(.format, "config: \(what) keys 'low_freq_factor'/'high_freq_factor' are not implemented for rope_type '\(ropeType)'")
            }
            if ropeType != "longrope", shortFactor != nil || longFactor != nil {
                throw QLoRAError(.format, "config: \(what) keys 'short_factor'/'long_factor' are not implemented for rope_type '\(ropeType)'")
            }
            if attentionFactor != nil, !["yarn", "longrope"].contains(ropeType) {
                throw QLoRAError(.format, "config: \(what) key 'attention_factor' is not implemented for rope_type '\(ropeType)'")
            }
        }
    }

    /// One RoPE: θ and its scaling (nil: the default type).
    public struct LayerRope: Codable, Hashable, Sendable {
        public var theta: Double
        public var scaling: RopeScaling?
        public init(theta: Double, scaling: RopeScaling?) { self.theta = theta; self.scaling = scaling }
    }
}
