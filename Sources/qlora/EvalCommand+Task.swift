import Foundation
import QLoRA

/// `qlora eval --task`: exact-match accuracy of greedy answers.
extension EvalCommand {
    func runTask(_ task: String) throws {
        let loaded = try LoadedModel.load(compute.prepared(modelOptions))
        if let note = try compute.apply(to: loaded.model, requested: modelOptions) {
            FileHandle.standardError.write((note + "\n").data(using: .utf8)!)
        }
        let (examples, file) = try TaskSet.load(task, tokenizer: loaded.tokenizer, options: dataInput.dataOptions(),
                                                limit: limit)
        let bar = ProgressBar(label: "eval")
        let report = try TaskEvaluator(maxNewTokens: maxTokens, stopOnMismatch: !fullAnswers).evaluate(
            model: loaded.model, tokenizer: loaded.tokenizer, examples: examples
        ) { done, correct in
            bar.update(done, examples.count, "\(correct) right")
        }
        bar.finish()
        let shown = Self.sample(report.outcomes, count: show)
        if json {
            let result = TaskEvalResult(
                file: file.path, format: file.format.name, accuracy: report.accuracy, correct: report.correct,
                total: report.total, skippedLines: file.badLines.count, generatedTokens: report.generatedTokens,
                seconds: report.seconds,
                examples: shown.map {
                    .init(line: $0.example.line, question: $0.example.question, expected: $0.example.answer,
                          generated: $0.generated, correct: $0.correct)
                })
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(result), as: UTF8.self))
            return
        }
        var lines = ["\(file.path): \(report.total) questions (\(file.format.name))"]
        if !file.badLines.isEmpty { lines.append("skipped \(file.badLines.count) bad lines") }
        lines.append(String(format: "accuracy %.1f%% (%d/%d), %d tokens generated in %.1f s", 100 * report.accuracy,
                            report.correct, report.total, report.generatedTokens, report.seconds))
        for o in shown {
            let got = o.generated.replacingOccurrences(of: "\n", with: "\\n") + (o.stoppedAtMismatch ? "…" : "")
            lines.append("  \(o.correct ? "right" : "wrong")  line \(o.example.line): \(o.example.question.debugDescription)"
                         + " → expected \(o.example.answer.debugDescription), got \(got.debugDescription)")
        }
        print(lines.joined(separator: "\n"))
    }

    /// Up to `count` outcomes to show: wrong ones first (they say more), then right ones, in file order.
    static func sample(_ outcomes: [TaskOutcome], count: Int) -> [TaskOutcome] {
        let wrong = outcomes.filter { !$0.correct }, right = outcomes.filter(\.correct)
        let nWrong = min(wrong.count, max(count - min(right.count, count / 2), 0))
        return Array(wrong.prefix(nWrong) + right.prefix(count - nWrong))
    }
}

struct TaskEvalResult: Codable {
    struct Example: Codable {
        var line: Int
        var question: String
        var expected: String
        var generated: String
        var correct: Bool
    }

    var file: String
    var format: String
    var accuracy: Double
    var correct: Int
    var total: Int
    var skippedLines: Int
    var generatedTokens: Int
    var seconds: Double
    var examples: [Example]

    enum CodingKeys: String, CodingKey {
        case file, format, accuracy, correct, total, skippedLines = "skipped_lines",
             generatedTokens = "generated_tokens", seconds, examples
    }
}
