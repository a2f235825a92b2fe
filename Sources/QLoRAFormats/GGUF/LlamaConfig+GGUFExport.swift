import Foundation
import QLoRACore

extension LlamaConfig {
    /// Model types a GGUF export writes, and the llama.cpp architecture each becomes (the ones
    /// `LlamaConfig(gguf:)` reads back: Mistral is llama.cpp's `llama`, as its converter registers it).
    public static let ggufExportArchitectures: [String: String] = ["llama": "llama", "mistral": "llama", "qwen2": "qwen2"]

    /// The llama.cpp architecture this config exports as; throws one line naming what llama.cpp's
    /// loader would run differently (or not at all).
    public func ggufExportArchitecture(_ path: String) throws -> String {
        guard let arch = Self.ggufExportArchitectures[modelType] else {
            throw QLoRAError.unsupported(path, "model_type '\(modelType)' has no GGUF export (exported: \(Self.ggufExportArchitectures.keys.sorted().joined(separator: ", ")))")
        }
        if slidingWindow != nil {
            throw QLoRAError.unsupported(path, "sliding_window \(slidingWindow!) is not exported: llama.cpp's \(arch) architecture attends over the whole context")
        }
        if mlpBias { throw QLoRAError.unsupported(path, "mlp_bias is not exported: llama.cpp's \(arch) architecture has no MLP biases") }
        if partialRotaryFactor != 1 { throw QLoRAError.unsupported(path, "partial_rotary_factor is not exported for the \(arch) architecture") }
        if try ggufRopeFrequencyFactors(path) != nil, arch != "llama" {
            throw QLoRAError.unsupported(path, "rope_type '\(ropeScaling!.ropeType)' is not exported for the \(arch) architecture (llama.cpp reads per-frequency factors for llama only)")
        }
        return arch
    }

    /// `<arch>.*` hyperparameters as llama.cpp's converter writes them (`TextModel` and
    /// `LlamaModel.set_gguf_parameters`): block count, context length, embedding and feed-forward
    /// lengths, head counts, key/value lengths (head_dim), rope freq base, rms eps (float32),
    /// vocab size, rope dimension count, and `rope.scaling.*` for linear scaling. Llama 3 scaling is
    /// not metadata: it is the `rope_freqs.weight` tensor (`ggufRopeFrequencyFactors`).
    public func ggufModelMetadata(_ path: String) throws -> [(String, GGUFValue)] {
        let arch = try ggufExportArchitecture(path)
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(v)) }
        var m: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)),
            ("\(arch).block_count", u32(numHiddenLayers)),
            ("\(arch).context_length", u32(maxPositionEmbeddings)),
            ("\(arch).embedding_length", u32(hiddenSize)),
            ("\(arch).feed_forward_length", u32(intermediateSize)),
            ("\(arch).attention.head_count", u32(numAttentionHeads)),
            ("\(arch).attention.head_count_kv", u32(numKeyValueHeads)),
            ("\(arch).rope.freq_base", .float32(Float(ropeTheta))),
            ("\(arch).attention.layer_norm_rms_epsilon", .float32(Float(rmsNormEps))),
            ("\(arch).attention.key_length", u32(headDim)),
            ("\(arch).attention.value_length", u32(headDim)),
            ("\(arch).vocab_size", u32(vocabSize)),
            ("\(arch).rope.dimension_count", u32(rotaryDim)),
        ]
        if let s = ropeScaling, s.ropeType == "linear" {
            m.append(("\(arch).rope.scaling.type", .string("linear")))
            m.append(("\(arch).rope.scaling.factor", .float32(Float(s.factor))))
        }
        return m
    }

    /// llama.cpp's `rope_freqs.weight` for this config: per rotary frequency, the divisor llama.cpp
    /// applies to θ^(−2i/d). Llama 3 scaling is computed as the converter's
    /// `LlamaModel.generate_extra_tensors` does; per-frequency factors read from a GGUF file
    /// (kept as longrope with equal short and long factors and attention factor 1) are returned as
    /// they are. nil when the config needs none; throws for a scaling llama.cpp cannot be given.
    public func ggufRopeFrequencyFactors(_ path: String) throws -> [Float]? {
        guard let s = ropeScaling, s.ropeType != "default" else { return nil }
        switch s.ropeType {
        case "linear": return nil
        case "llama3":
            // As the converter computes it: the frequencies, wavelengths and smoothing in float32
            // (torch tensors), the thresholds in Python floats; the original context as this
            // engine's RoPE takes it, so llama.cpp rotates as the merged model does.
            let factor = s.factor, low = s.lowFreqFactor ?? 1, high = s.highFreqFactor ?? 4
            let old = Double(originalContext(s))
            let lowWavelen = old / low, highWavelen = old / high
            return stride(from: 0, to: rotaryDim, by: 2).map { i -> Float in
                let freq = 1 / powf(Float(ropeTheta), Float(i) / Float(rotaryDim))
                let wavelen = Float(2 * Double.pi) / freq
                if Double(wavelen) < highWavelen { return 1 }
                if Double(wavelen) > lowWavelen { return Float(factor) }
                let smooth = (Float(old) / wavelen - Float(low)) / Float(high - low)
                return 1 / ((1 - smooth) / Float(factor) + smooth)
            }
        case "longrope" where s.isFrequencyFactors:
            return s.shortFactor!.map(Float.init)
        default:
            throw QLoRAError.unsupported(path, "rope_type '\(s.ropeType)' is not exported to GGUF (exported: default, linear, llama3)")
        }
    }
}

extension LlamaConfig.RopeScaling {
    /// Plain per-frequency divisors (llama.cpp's `rope_freqs`), written as the longrope case that
    /// computes the same: equal short and long factors, attention factor 1.
    public static func frequencyFactors(_ factors: [Float], context: Int) -> Self {
        let f = factors.map(Double.init)
        return Self(ropeType: "longrope", factor: 1, originalMaxPositionEmbeddings: context, attentionFactor: 1,
                    shortFactor: f, longFactor: f)
    }

    /// Whether this is `frequencyFactors`' form.
    public var isFrequencyFactors: Bool {
        ropeType == "longrope" && shortFactor != nil && shortFactor == longFactor && attentionFactor == 1
    }
}
