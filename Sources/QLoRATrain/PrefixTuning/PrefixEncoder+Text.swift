import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAModel
import QLoRATokenizer

extension PrefixEncoder {
    /// A table encoder that starts from the model's own keys (rotated, as cached) and values for
    /// `text` (a task description), layer by layer, its positions repeated whole and cut to N.
    public static func fromText(_ text: String, config: PromptLearningConfig, weights: LlamaWeights,
                                tokenizer: Tokenizer, threads: Int) throws -> PrefixEncoder {
        guard !config.prefixProjection else {
            throw QLoRAError.invalid("--init text: sets the prefix itself, so it needs prefix tuning without --prefix-projection")
        }
        let ids = tokenizer.encode(text)
        guard !ids.isEmpty else { throw QLoRAError.invalid("--init text: the text encodes to no tokens") }
        guard ids.count <= weights.config.maxPositionEmbeddings else {
            throw QLoRAError.invalid("--init text: the text (\(ids.count) tokens) exceeds the model's context")
        }
        let model = try LlamaModel(weights: weights, threads: threads)
        let cache = KVCache(layers: config.numLayers, capacity: ids.count, width: config.tokenDim)
        let ids32 = ids.map(Int32.init)
        _ = ids32.withUnsafeBufferPointer { model.hidden($0.baseAddress!, B: 1, T: ids.count, cache: cache) }
        let N = config.numVirtualTokens, D = config.tokenDim, O = config.numLayers * 2 * D
        var out = [Float](repeating: 0, count: N * O)
        let rows = PromptInit.repeatedRows(count: ids.count, to: N)
        for l in 0..<config.numLayers {
            let (k, v) = cache.contents(layer: l)
            for (n, r) in rows.enumerated() {
                for i in 0..<D {
                    out[n * O + 2 * l * D + i] = k[r * D + i]
                    out[n * O + (2 * l + 1) * D + i] = v[r * D + i]
                }
            }
        }
        return try table(config: config, output: out)
    }
}
