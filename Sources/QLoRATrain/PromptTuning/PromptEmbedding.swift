import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAModel
import QLoRATokenizer

/// Prompt tuning (Lester et al. 2021, arXiv 2104.08691; PEFT's `PromptEmbedding`): a table of N
/// virtual token embeddings, the only trainable tensor, put before every sequence through the
/// model's input-embedding hook. Its gradient is the gradient of the model's layer-0 input at the
/// virtual positions, summed over the sequences of the batch.
/// Legend: N = virtual tokens, C = hidden, B = sequences, T = real tokens per sequence.
public final class PromptEmbedding: TrainableAdapter, InputEmbeddingPrefix {
    public let config: PromptLearningConfig
    /// (N, C), named as PEFT's module (`prompt_encoder.<adapter>.embedding.weight`, adapter name dropped).
    public let embedding: Parameter

    public var virtualTokens: Int { config.numVirtualTokens }
    public var parameters: [Parameter] { [embedding] }

    /// The table holding `values` ((N, C), row-major).
    public init(config: PromptLearningConfig, values: [Float]) {
        precondition(config.method == .promptTuning)
        self.config = config
        embedding = Parameter(name: "prompt_encoder.embedding.weight", shape: [config.numVirtualTokens, config.tokenDim],
                              values: values)
    }

    /// A new table for `weights`' model, initialized as `initialization` says (`rng` draws the random
    /// values and the vocabulary sample; `tokenizer` encodes an init text).
    public static func initialized(config: PromptLearningConfig, weights: LlamaWeights, initialization: PromptInit,
                                   tokenizer: Tokenizer?, rng: inout SeededRNG) throws -> PromptEmbedding {
        let N = config.numVirtualTokens, C = config.tokenDim
        precondition(C == weights.config.hiddenSize)
        var values = [Float](repeating: 0, count: N * C)
        func embed(_ ids: [Int]) {
            let ids32 = ids.map(Int32.init)
            ids32.withUnsafeBufferPointer { p in
                values.withUnsafeMutableBufferPointer { Embedding.forward($0.baseAddress!, p.baseAddress!, N, weights.embed.ref) }
            }
        }
        switch initialization {
        case .random:  // torch.nn.Embedding's default: N(0, 1)
            for i in 0..<values.count { values[i] = rng.nextNormal() }
        case .vocab:   // SAMPLE_VOCAB: random token ids' embeddings
            embed((0..<N).map { _ in Int(rng.next() % UInt64(weights.config.vocabSize)) })
        case .text(let text):  // TEXT: the text's tokens, repeated whole, then cut to N
            guard let tokenizer else { throw QLoRAError.invalid("--init text: needs the model's tokenizer") }
            let ids = tokenizer.encode(text)
            guard !ids.isEmpty else { throw QLoRAError.invalid("--init text: the text encodes to no tokens") }
            embed(PromptInit.repeatedRows(count: ids.count, to: N).map { ids[$0] })
        }
        return PromptEmbedding(config: config, values: values)
    }

    public func writeEmbeddings(into out: UnsafeMutablePointer<Float>) {
        out.update(from: embedding.value, count: embedding.count)
    }

    /// Adds the virtual rows' gradient: dEmbedding[n] += Σ_b dInput[b, n] for the layer-0 input
    /// gradient dInput (B, N + T, C).
    public func accumulateGradient(_ dInput: UnsafePointer<Float>, B: Int, rowsPerSequence: Int) {
        let n = embedding.count
        for b in 0..<B {
            let src = dInput + b * rowsPerSequence * config.tokenDim
            for i in 0..<n { embedding.grad[i] += src[i] }
        }
    }

    public func save(to dir: String) throws {
        try PEFTPromptAdapter(config: config, embeddings: embedding.values).write(to: dir)
    }

    /// A saved PROMPT_TUNING adapter, checked against `model`.
    public convenience init(_ adapter: PEFTPromptAdapter) {
        self.init(config: adapter.config, values: adapter.embeddings)
    }
}
