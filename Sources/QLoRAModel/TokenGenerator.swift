import QLoRACore

/// Autoregressive decoding state for one sequence: a KV cache and the logits of the last position.
/// `prefill` runs a prompt, `append` feeds one token; `logits` then predict the next token.
/// Legend: V = vocabulary.
public final class TokenGenerator {
    public let model: LlamaModel
    public let cache: KVCache
    /// Logits of the last position fed.
    public private(set) var logits: [Float]  // (V)
    /// The tokens of the sequence so far (to recompute the cache when longrope switches factors).
    private var history: [Int32] = []

    /// A generator for sequences of up to `capacity` tokens (prompt and generated together), plus the
    /// model's virtual tokens (a prompt-learning adapter's prefix), which the cache holds first.
    public init(model: LlamaModel, capacity: Int) {
        self.model = model
        cache = KVCache(layers: model.config.numHiddenLayers, capacity: capacity + model.virtualTokens,
                        width: model.config.kvDim)
        logits = [Float](repeating: 0, count: model.config.vocabSize)
    }

    /// Positions in the sequence so far (virtual tokens included).
    public var length: Int { cache.length }

    /// Starts a new sequence: clears the cache and runs the whole prompt in one forward pass.
    public func prefill(_ prompt: [Int]) {
        precondition(!prompt.isEmpty && prompt.count + model.virtualTokens <= cache.capacity, "prompt must fit the generator")
        cache.reset()
        history = prompt.map(Int32.init)
        feed(history)
    }

    /// Feeds one more token.
    public func append(_ token: Int) {
        precondition(cache.length < cache.capacity, "generator full")
        history.append(Int32(token))
        if model.ropes.contains(where: { $0.rotatesEarlierPositions(growingTo: cache.length + 1) }) {
            cache.reset()   // every cached key was rotated with the short factors: recompute them all
            feed(history)
        } else {
            feed([Int32(token)])
        }
    }

    /// The next token by `sampler` (greedy at temperature 0) from the current logits.
    public func sample(_ sampler: inout Sampler) -> Int {
        logits.withUnsafeBufferPointer { sampler.sample($0.baseAddress!, $0.count) }
    }

    func feed(_ ids: [Int32]) {
        let C = model.config.hiddenSize
        ids.withUnsafeBufferPointer { p in
            let h = model.hidden(p.baseAddress!, B: 1, T: ids.count, cache: cache)
            logits.withUnsafeMutableBufferPointer { model.logits(h + (ids.count - 1) * C, rows: 1, into: $0.baseAddress!) }
        }
    }

    /// Generates up to `maxTokens` tokens after `prompt`: stops after a token in `stop` (which is
    /// returned but not passed to `onToken`), at `maxTokens`, or when `onToken` returns false.
    public func generate(prompt: [Int], maxTokens: Int, sampler: inout Sampler, stop: Set<Int>,
                         onToken: (Int) throws -> Bool) rethrows -> [Int] {
        precondition(prompt.count + maxTokens + model.virtualTokens <= cache.capacity + 1,
                     "prompt and generation must fit the generator")
        prefill(prompt)
        var generated: [Int] = []
        while generated.count < maxTokens {
            let next = sample(&sampler)
            generated.append(next)
            if stop.contains(next) { break }
            guard try onToken(next), generated.count < maxTokens else { break }
            append(next)
        }
        return generated
    }
}
