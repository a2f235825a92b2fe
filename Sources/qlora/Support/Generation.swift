import Foundation
import QLoRA

/// Prompt processing + token-by-token generation with a KV cache, streaming decoded text.
enum Generation {
    struct Stats {
        var promptTokens: Int
        var generatedTokens: Int
        var promptSeconds: Double
        var generationSeconds: Double
        var tokens: [Int]
        var promptTokensPerSecond: Double { Double(promptTokens) / max(promptSeconds, 1e-9) }
        var generationTokensPerSecond: Double { Double(generatedTokens) / max(generationSeconds, 1e-9) }
    }

    static func run(model: LlamaModel, tokenizer tok: Tokenizer, promptIDs: [Int], maxTokens: Int,
                    sampler initial: Sampler, emit: (String) -> Void) throws -> Stats {
        for id in promptIDs where id < 0 || id >= model.config.vocabSize {
            throw QLoRAError.invalid("token id \(id) is outside the model's vocabulary of \(model.config.vocabSize)")
        }
        var sampler = initial
        let generator = TokenGenerator(model: model, capacity: promptIDs.count + maxTokens)
        var stop = Set(model.config.eosTokenIds)
        if let e = tok.eosTokenID { stop.insert(e) }
        var decoder = StreamingDecoder(tokenizer: tok, skipSpecialTokens: true)
        let t0 = Date()
        generator.prefill(promptIDs)
        let t1 = Date()
        var generated: [Int] = []
        while generated.count < maxTokens {
            let next = generator.sample(&sampler)
            generated.append(next)
            if stop.contains(next) { break }
            emit(try decoder.append(next))
            if generated.count == maxTokens { break }
            generator.append(next)
        }
        emit(decoder.finish())
        let t2 = Date()
        return Stats(promptTokens: promptIDs.count, generatedTokens: generated.count,
                     promptSeconds: t1.timeIntervalSince(t0), generationSeconds: t2.timeIntervalSince(t1),
                     tokens: generated)
    }
}
