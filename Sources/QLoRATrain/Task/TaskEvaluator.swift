import Foundation
import QLoRACore
import QLoRAModel
import QLoRATokenizer

/// What the model answered to one question.
public struct TaskOutcome: Sendable {
    public var example: TaskExample
    /// The generated text (special tokens skipped), cut short if generation stopped at a mismatch.
    public var generated: String
    public var correct: Bool
    /// Generation stopped because the answer could no longer match (see `TaskEvaluator`).
    public var stoppedAtMismatch: Bool
}

/// Exact-match accuracy over a set of questions.
public struct TaskReport: Sendable {
    public var outcomes: [TaskOutcome]
    public var generatedTokens: Int
    public var seconds: Double

    public var total: Int { outcomes.count }
    public var correct: Int { outcomes.reduce(0) { $0 + ($1.correct ? 1 : 0) } }
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
}

/// Greedy generation and exact-match scoring of task questions (`AnswerMatch`). Generation stops at
/// an end-of-sequence token, at `maxNewTokens`, or, with `stopOnMismatch`, as soon as the text so
/// far can no longer match the expected answer: that never changes a score, only saves time.
public struct TaskEvaluator: Sendable {
    public var maxNewTokens: Int
    public var stopOnMismatch: Bool

    public init(maxNewTokens: Int = 64, stopOnMismatch: Bool = true) {
        self.maxNewTokens = maxNewTokens
        self.stopOnMismatch = stopOnMismatch
    }

    /// Answers every question in order; `progress(done, correct)` is called after each.
    public func evaluate(model: LlamaModel, tokenizer: Tokenizer, examples: [TaskExample],
                         progress: ((Int, Int) -> Void)? = nil) throws -> TaskReport {
        let context = model.config.maxPositionEmbeddings - model.virtualTokens
        for e in examples {
            guard !e.prompt.isEmpty else { throw QLoRAError.invalid("line \(e.line): the prompt is empty") }
            guard e.prompt.count + maxNewTokens <= context else {
                throw QLoRAError.invalid("line \(e.line): prompt (\(e.prompt.count) tokens) + \(maxNewTokens) new tokens\(model.virtualTokens > 0 ? " + \(model.virtualTokens) virtual tokens" : "") exceed the model's context of \(model.config.maxPositionEmbeddings)")
            }
        }
        let capacity = (examples.map(\.prompt.count).max() ?? 1) + maxNewTokens
        let generator = TokenGenerator(model: model, capacity: capacity)
        var stop = Set(model.config.eosTokenIds)
        if let e = tokenizer.eosTokenID { stop.insert(e) }
        var outcomes: [TaskOutcome] = []
        var tokens = 0, correct = 0
        let t0 = Date()
        for e in examples {
            var decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: true)
            var text = "", mismatch = false
            var greedy = Sampler(temperature: 0, topP: 1, seed: 0)
            let ids = try generator.generate(prompt: e.prompt, maxTokens: maxNewTokens, sampler: &greedy,
                                             stop: stop) { id in
                text += try decoder.append(id)
                mismatch = stopOnMismatch && !AnswerMatch.canStillMatch(text, expected: e.answer)
                return !mismatch
            }
            text += decoder.finish()
            tokens += ids.count
            let ok = AnswerMatch.matches(text, expected: e.answer)
            if ok { correct += 1 }
            outcomes.append(TaskOutcome(example: e, generated: text, correct: ok, stoppedAtMismatch: mismatch))
            progress?(outcomes.count, correct)
        }
        return TaskReport(outcomes: outcomes, generatedTokens: tokens, seconds: Date().timeIntervalSince(t0))
    }
}
