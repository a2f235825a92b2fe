/// What sets a family's decoder apart from LLaMA's, as data the one decoder reads (filled from
/// `config.json` or GGUF metadata by `LlamaConfig.family`): the decoder branches on these values,
/// never on a model type.
///
/// | family | norm | embeddings | MLP gate | norms per layer | score scale | soft-caps | q/k norm |
/// | --- | --- | --- | --- | --- | --- | --- | --- |
/// | Llama, Mistral, Qwen2, Phi-3 | w | × 1 | SiLU | 2 | 1/√HS | — | — |
/// | Qwen3 | w | × 1 | SiLU | 2 | 1/√HS | — | w |
/// | Gemma 2 | 1 + w | × √C | tanh-GELU | 4 | 1/√query_pre_attn_scalar | scores, logits | — |
/// | Gemma 3 text | 1 + w | × √C | tanh-GELU | 4 | 1/√query_pre_attn_scalar | (logits if set) | 1 + w |
public struct DecoderFamily: Equatable, Sendable {
    public enum GateActivation: String, Sendable { case silu, geluTanh }

    /// Every RMSNorm multiplies by (normOffset + w): 0 for LLaMA, 1 for Gemma.
    public var normOffset: Float = 0
    /// Embedding rows are multiplied by this (Gemma: √hidden, rounded to Float32 as transformers'
    /// Float32 `torch.tensor(hidden ** 0.5)` is); nil = 1.
    public var embeddingScale: Float?
    public var activation: GateActivation = .silu
    /// Gemma's extra norms: `post_attention_layernorm` on the attention output and
    /// `post_feedforward_layernorm` on the MLP output, before each residual add (the MLP's input norm
    /// is then `pre_feedforward_layernorm`).
    public var sandwichNorms = false
    /// Per-head RMSNorm on q and k after projection, before RoPE.
    public var qkNorm = false
    /// Attention scores are q·k times this.
    public var attentionScale: Float
    /// Scores become cap · tanh(score / cap) before the mask (nil: none).
    public var attentionSoftcap: Float?
    /// Logits become cap · tanh(logit / cap) (nil: none).
    public var finalSoftcap: Float?
}

extension LlamaConfig {
    /// This config's decoder description.
    public var family: DecoderFamily {
        var f = DecoderFamily(attentionScale: 1 / Float(headDim).squareRoot())
        f.qkNorm = hasQKNorm
        if isGemma {
            f.normOffset = 1
            f.embeddingScale = Float(Double(hiddenSize).squareRoot())
            f.activation = .geluTanh
            f.sandwichNorms = true
            f.attentionScale = Float(1 / (queryPreAttnScalar ?? Double(headDim)).squareRoot())
            f.attentionSoftcap = attnLogitSoftcapping.map { Float($0) }
            f.finalSoftcap = finalLogitSoftcapping.map { Float($0) }
        }
        return f
    }
}
