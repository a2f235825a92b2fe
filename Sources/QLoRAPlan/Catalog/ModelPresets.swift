import QLoRAFormats

/// A named model architecture the planner knows without reading any file.
///
/// Numbers come from each model's Hugging Face `config.json` as collected in
/// `shared/reference/memory-anchors.md` §4 (cross-checked there against torchtune's builders).
/// Qwen2.5-1.5B and -3B are not in that table; their numbers are the published configs
/// (1.5B: 1536/8960/28 layers/12 heads/2 KV; 3B: 2048/11008/36/16/2; both tie embeddings).
public struct ModelPreset: Sendable {
    /// Family-version-size in lower case, e.g. `llama-2-70b`.
    public let name: String
    /// The family it belongs to, for "largest model of the same family that fits": `llama-2`.
    public let family: String
    /// Size label used by aliases: `70b`, `0.5b`, `8x7b`.
    public let size: String
    public let config: LlamaConfig
}

/// The preset table and the size aliases (one line per entry).
public enum ModelPresets {
    // swiftlint-style positional helper: hidden, intermediate, layers, heads, kv heads, vocab.
    private static func llama(
        _ h: Int, _ ff: Int, _ l: Int, _ nh: Int, _ nkv: Int, _ v: Int, maxPos: Int,
        tied: Bool = false, type: String = "llama", eps: Double = 1e-5, theta: Double = 10000,
        headDim: Int? = nil, bias: Bool = false, experts: Int = 1, perToken: Int = 1,
        scaling: LlamaConfig.RopeScaling? = nil
    ) -> LlamaConfig {
        // Constants below are valid by construction; a typo here fails `presetsAreValid` in tests.
        try! LlamaConfig(
            modelType: type, vocabSize: v, hiddenSize: h, intermediateSize: ff, numHiddenLayers: l,
            numAttentionHeads: nh, numKeyValueHeads: nkv, headDim: headDim, maxPositionEmbeddings: maxPos,
            rmsNormEps: eps, ropeTheta: theta, ropeScaling: scaling, tieWordEmbeddings: tied,
            attentionBias: bias, numLocalExperts: experts, numExpertsPerToken: perToken)
    }

    private static let llama31Scaling = LlamaConfig.RopeScaling(
        ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192)

    /// Every preset, grouped by family, smallest first inside a family.
    public static let all: [ModelPreset] = [
        .init(name: "llama-1-7b", family: "llama-1", size: "7b",
              config: llama(4096, 11008, 32, 32, 32, 32000, maxPos: 2048, eps: 1e-6)),
        .init(name: "llama-1-13b", family: "llama-1", size: "13b",
              config: llama(5120, 13824, 40, 40, 40, 32000, maxPos: 2048, eps: 1e-6)),
        .init(name: "llama-1-33b", family: "llama-1", size: "33b",
              config: llama(6656, 17920, 60, 52, 52, 32000, maxPos: 2048, eps: 1e-6)),
        .init(name: "llama-1-65b", family: "llama-1", size: "65b",
              config: llama(8192, 22016, 80, 64, 64, 32000, maxPos: 2048)),
        .init(name: "llama-2-7b", family: "llama-2", size: "7b",
              config: llama(4096, 11008, 32, 32, 32, 32000, maxPos: 4096)),
        .init(name: "llama-2-13b", family: "llama-2", size: "13b",
              config: llama(5120, 13824, 40, 40, 40, 32000, maxPos: 4096)),
        .init(name: "llama-2-70b", family: "llama-2", size: "70b",
              config: llama(8192, 28672, 80, 64, 8, 32000, maxPos: 4096)),
        .init(name: "llama-3-8b", family: "llama-3", size: "8b",
              config: llama(4096, 14336, 32, 32, 8, 128256, maxPos: 8192, theta: 5e5)),
        .init(name: "llama-3-70b", family: "llama-3", size: "70b",
              config: llama(8192, 28672, 80, 64, 8, 128256, maxPos: 8192, theta: 5e5)),
        .init(name: "llama-3.1-8b", family: "llama-3.1", size: "8b",
              config: llama(4096, 14336, 32, 32, 8, 128256, maxPos: 131072, theta: 5e5,
                            scaling: llama31Scaling)),
        .init(name: "llama-3.1-70b", family: "llama-3.1", size: "70b",
              config: llama(8192, 28672, 80, 64, 8, 128256, maxPos: 131072, theta: 5e5,
                            scaling: llama31Scaling)),
        .init(name: "llama-3.1-405b", family: "llama-3.1", size: "405b",
              config: llama(16384, 53248, 126, 128, 8, 128256, maxPos: 131072, theta: 5e5,
                            scaling: llama31Scaling)),
        .init(name: "mistral-7b", family: "mistral", size: "7b",
              config: llama(4096, 14336, 32, 32, 8, 32000, maxPos: 32768, type: "mistral")),
        .init(name: "mixtral-8x7b", family: "mixtral", size: "8x7b",
              config: llama(4096, 14336, 32, 32, 8, 32000, maxPos: 32768, type: "mixtral",
                            theta: 1e6, experts: 8, perToken: 2)),
        .init(name: "qwen2.5-0.5b", family: "qwen2.5", size: "0.5b",
              config: llama(896, 4864, 24, 14, 2, 151936, maxPos: 32768, tied: true, type: "qwen2",
                            eps: 1e-6, theta: 1e6, bias: true)),
        .init(name: "qwen2.5-1.5b", family: "qwen2.5", size: "1.5b",
              config: llama(1536, 8960, 28, 12, 2, 151936, maxPos: 32768, tied: true, type: "qwen2",
                            eps: 1e-6, theta: 1e6, bias: true)),
        .init(name: "qwen2.5-3b", family: "qwen2.5", size: "3b",
              config: llama(2048, 11008, 36, 16, 2, 151936, maxPos: 32768, tied: true, type: "qwen2",
                            eps: 1e-6, theta: 1e6, bias: true)),
        .init(name: "qwen2.5-7b", family: "qwen2.5", size: "7b",
              config: llama(3584, 18944, 28, 28, 4, 152064, maxPos: 131072, type: "qwen2",
                            eps: 1e-6, theta: 1e6, bias: true)),
        .init(name: "qwen2.5-14b", family: "qwen2.5", size: "14b",
              config: llama(5120, 13824, 48, 40, 8, 152064, maxPos: 131072, type: "qwen2",
                            eps: 1e-6, theta: 1e6, bias: true)),
        .init(name: "qwen2.5-32b", family: "qwen2.5", size: "32b",
              config: llama(5120, 27648, 64, 40, 8, 152064, maxPos: 131072, type: "qwen2",
                            eps: 1e-6, theta: 1e6, bias: true)),
        .init(name: "qwen2.5-72b", family: "qwen2.5", size: "72b",
              config: llama(8192, 29568, 80, 64, 8, 152064, maxPos: 131072, type: "qwen2",
                            eps: 1e-6, theta: 1e6, bias: true)),
        .init(name: "smollm2-135m", family: "smollm2", size: "135m",
              config: llama(576, 1536, 30, 9, 3, 49152, maxPos: 8192, tied: true, theta: 1e5,
                            headDim: 64)),
        .init(name: "smollm2-360m", family: "smollm2", size: "360m",
              config: llama(960, 2560, 32, 15, 5, 49152, maxPos: 8192, tied: true, theta: 1e5,
                            headDim: 64)),
        .init(name: "smollm2-1.7b", family: "smollm2", size: "1.7b",
              config: llama(2048, 8192, 24, 32, 32, 49152, maxPos: 8192, tied: true, theta: 1.3e5)),
        .init(name: "phi-3-mini", family: "phi-3", size: "3.8b",
              config: llama(3072, 8192, 32, 32, 32, 32064, maxPos: 4096, type: "phi3")),
        // Published config.json dimensions (Hugging Face model cards, read 2026): hidden,
        // intermediate, layers, heads, KV heads, vocab.
        .init(name: "llama-3.2-1b", family: "llama-3.2", size: "1b",
              config: llama(2048, 8192, 16, 32, 8, 128256, maxPos: 131072, tied: true, theta: 5e5, headDim: 64,
                            scaling: llama32Scaling)),
        .init(name: "llama-3.2-3b", family: "llama-3.2", size: "3b",
              config: llama(3072, 8192, 28, 24, 8, 128256, maxPos: 131072, tied: true, theta: 5e5, headDim: 128,
                            scaling: llama32Scaling)),
        .init(name: "qwen3-0.6b", family: "qwen3", size: "0.6b",
              config: llama(1024, 3072, 28, 16, 8, 151936, maxPos: 40960, tied: true, type: "qwen3", eps: 1e-6,
                            theta: 1e6, headDim: 128)),
        .init(name: "qwen3-1.7b", family: "qwen3", size: "1.7b",
              config: llama(2048, 6144, 28, 16, 8, 151936, maxPos: 40960, tied: true, type: "qwen3", eps: 1e-6,
                            theta: 1e6, headDim: 128)),
        .init(name: "qwen3-4b", family: "qwen3", size: "4b",
              config: llama(2560, 9728, 36, 32, 8, 151936, maxPos: 40960, tied: true, type: "qwen3", eps: 1e-6,
                            theta: 1e6, headDim: 128)),
        .init(name: "qwen3-8b", family: "qwen3", size: "8b",
              config: llama(4096, 12288, 36, 32, 8, 151936, maxPos: 40960, type: "qwen3", eps: 1e-6,
                            theta: 1e6, headDim: 128)),
        .init(name: "qwen3-14b", family: "qwen3", size: "14b",
              config: llama(5120, 17408, 40, 40, 8, 151936, maxPos: 40960, type: "qwen3", eps: 1e-6,
                            theta: 1e6, headDim: 128)),
        .init(name: "qwen3-32b", family: "qwen3", size: "32b",
              config: llama(5120, 25600, 64, 64, 8, 151936, maxPos: 40960, type: "qwen3", eps: 1e-6,
                            theta: 1e6, headDim: 128)),
        // Gemma 3 (text decoder).
        .init(name: "gemma-3-1b", family: "gemma-3", size: "1b",
              config: llama(1152, 6912, 26, 4, 1, 262144, maxPos: 32768, tied: true, type: "gemma3_text", eps: 1e-6,
                            theta: 1e6, headDim: 256)),
        .init(name: "gemma-3-4b", family: "gemma-3", size: "4b",
              config: llama(2560, 10240, 34, 8, 4, 262208, maxPos: 131072, tied: true, type: "gemma3_text", eps: 1e-6,
                            theta: 1e6, headDim: 256)),
        .init(name: "gemma-3-12b", family: "gemma-3", size: "12b",
              config: llama(3840, 15360, 48, 16, 8, 262208, maxPos: 131072, tied: true, type: "gemma3_text", eps: 1e-6,
                            theta: 1e6, headDim: 256)),
        .init(name: "gemma-3-27b", family: "gemma-3", size: "27b",
              config: llama(5376, 21504, 62, 32, 16, 262208, maxPos: 131072, tied: true, type: "gemma3_text", eps: 1e-6,
                            theta: 1e6, headDim: 128)),
        .init(name: "phi-4-mini", family: "phi-4", size: "3.8b",
              config: llama(3072, 8192, 32, 24, 8, 200064, maxPos: 131072, tied: true, type: "phi3")),
        .init(name: "phi-4", family: "phi-4", size: "14b",
              config: llama(5120, 17920, 40, 40, 10, 100352, maxPos: 16384, type: "phi3", theta: 250000)),
        .init(name: "mistral-nemo-12b", family: "mistral-nemo", size: "12b",
              config: llama(5120, 14336, 40, 32, 8, 131072, maxPos: 1024000, type: "mistral", theta: 1e6,
                            headDim: 128)),
    ]

    private static let llama32Scaling = LlamaConfig.RopeScaling(
        ropeType: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192)

    /// Bare sizes and the preset each means. A size means the LLaMA-family model that the published
    /// memory tables (QLoRA paper, LLaMA-Factory, FSDP-QLoRA) mean by it: 7B/13B/70B are Llama-2,
    /// 33B/65B LLaMA-1 (the QLoRA paper's Guanaco sizes), 8B/405B Llama-3.1; other sizes are the
    /// only preset of that size. The report names the other presets of the same size.
    public static let aliases: [(alias: String, preset: String)] = [
        ("135m", "smollm2-135m"), ("360m", "smollm2-360m"), ("0.5b", "qwen2.5-0.5b"),
        ("1.5b", "qwen2.5-1.5b"), ("1.7b", "smollm2-1.7b"), ("3b", "qwen2.5-3b"),
        ("3.8b", "phi-3-mini"), ("7b", "llama-2-7b"), ("8b", "llama-3.1-8b"),
        ("13b", "llama-2-13b"), ("14b", "qwen2.5-14b"), ("30b", "llama-1-33b"),
        ("32b", "qwen2.5-32b"), ("33b", "llama-1-33b"), ("65b", "llama-1-65b"),
        ("70b", "llama-2-70b"), ("72b", "qwen2.5-72b"), ("8x7b", "mixtral-8x7b"),
        ("405b", "llama-3.1-405b"), ("0.6b", "qwen3-0.6b"), ("1b", "llama-3.2-1b"), ("4b", "qwen3-4b"),
        ("12b", "mistral-nemo-12b"), ("27b", "gemma-3-27b"),
    ]

    /// The preset called `name`, or nil.
    public static func preset(named name: String) -> ModelPreset? {
        all.first { $0.name == name.lowercased() }
    }

    /// Presets of one family, smallest first.
    public static func family(_ family: String) -> [ModelPreset] {
        all.filter { $0.family == family }
    }
}
