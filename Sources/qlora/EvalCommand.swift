import ArgumentParser
import Foundation
import QLoRA

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Loss and perplexity of a text file, or exact-match accuracy on a task.",
        discussion: """
            With --data, the text (a plain file, or JSONL with one {"text": …} per line, joined with the EOS \
            token) is tokenized and cut into non-overlapping windows of --context tokens; each window predicts \
            its own tokens 2…n. Reports tokens, predictions, mean loss (nats) and perplexity.

            With --task (a directory holding eval.jsonl, such as datasets/, or a JSONL file of Alpaca, chat \
            or --template records), each record's prompt is rendered exactly as training renders it, the model \
            answers greedily, and the answer counts as right when it equals the expected response after \
            trimming whitespace. Reports accuracy and a few examples.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var compute: InferenceComputeOptions

    @Option(help: "A text file, or a .jsonl file of {\"text\": …} lines (loss mode).")
    var data: String?

    @Option(help: ArgumentHelp("A task: a directory with eval.jsonl, or a JSONL file (accuracy mode).",
                               valueName: "dir-or-file"))
    var task: String?

    @OptionGroup(title: "Task options") var dataInput: DataInputOptions

    @Option(help: "Task mode: evaluate only the first N records.")
    var limit: Int?

    @Option(help: "Task mode: most tokens generated per answer.")
    var maxTokens: Int = 64

    @Option(help: "Task mode: examples to print.")
    var show: Int = 5

    @Flag(help: "Task mode: generate every answer to its end (slower); by default an answer stops as soon as it can no longer match.")
    var fullAnswers = false

    @Option(help: "Tokens per window.")
    var context: Int = 256

    @Option(help: "Evaluate at most this many windows.")
    var maxWindows: Int?

    @Option(help: "Windows per forward pass.")
    var batch: Int = 4

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(help: "Run even when the memory plan exceeds the memory available.")
    var force = false

    func validate() throws {
        guard (data == nil) != (task == nil) else { throw QLoRAError.invalid("give exactly one of --data and --task") }
        if let limit, limit < 1 { throw QLoRAError.invalid("--limit must be ≥ 1") }
        guard maxTokens >= 1 else { throw QLoRAError.invalid("--max-tokens must be ≥ 1") }
        guard show >= 0 else { throw QLoRAError.invalid("--show must be ≥ 0") }
        guard context >= 2 else { throw QLoRAError.invalid("--context must be ≥ 2") }
        if let maxWindows, maxWindows < 1 { throw QLoRAError.invalid("--max-windows must be ≥ 1") }
        guard batch >= 1 && batch <= 1024 else { throw QLoRAError.invalid("--batch must be in 1…1024") }
    }

    func run() throws {
        // Task mode: the KV cache of the longest prompt is not known before reading the task; the
        // plan counts the generated tokens only (the weights dominate).
        try InferenceMemoryCheck.check("eval", modelOptions, rows: task == nil ? batch : 1, positions: task == nil ? context : 1,
                                       cachePositions: task == nil ? 0 : maxTokens, force: force)
        if let task { return try runTask(task) }
        let data = data!
        let texts = try EvalData.read(data)
        let loaded = try LoadedModel.load(compute.prepared(modelOptions))
        if let note = try compute.apply(to: loaded.model, requested: modelOptions) {
            FileHandle.standardError.write((note + "\n").data(using: .utf8)!)
        }
        let model = loaded.model, tok = loaded.tokenizer
        guard context + model.virtualTokens <= model.config.maxPositionEmbeddings else {
            throw QLoRAError.invalid("--context \(context)\(model.virtualTokens > 0 ? " + the adapter's \(model.virtualTokens) virtual tokens" : "") exceeds the model's context of \(model.config.maxPositionEmbeddings)")
        }
        var ids: [Int] = []
        for (i, t) in texts.enumerated() {
            if i > 0, let eos = tok.eosTokenID { ids.append(eos) }
            ids += tok.encode(t, addSpecialTokens: false)
        }
        guard ids.count >= 2 else { throw QLoRAError.format(data, "fewer than 2 tokens to evaluate") }
        var windows = stride(from: 0, to: ids.count, by: context).map { Array(ids[$0..<min($0 + context, ids.count)]) }
        windows.removeAll { $0.count < 2 }
        if let maxWindows { windows = Array(windows.prefix(maxWindows)) }
        let t0 = Date()
        let r = WindowEvaluator.evaluate(model: model, windows: windows, batch: batch)
        let seconds = Date().timeIntervalSince(t0)
        let result = EvalResult(tokens: windows.reduce(0) { $0 + $1.count }, predictions: r.predictions,
                                windows: windows.count, meanLoss: r.meanLoss, perplexity: exp(r.meanLoss),
                                tokensPerSecond: Double(windows.reduce(0) { $0 + $1.count }) / seconds)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(result), as: UTF8.self))
        } else {
            print("""
                \(result.windows) windows, \(result.tokens) tokens, \(result.predictions) predictions
                mean loss \(String(format: "%.6f", result.meanLoss)) nats, perplexity \(String(format: "%.4f", result.perplexity))
                \(String(format: "%.1f", result.tokensPerSecond)) tokens/s
                """)
        }
    }
}

struct EvalResult: Codable {
    var tokens: Int
    var predictions: Int
    var windows: Int
    var meanLoss: Double
    var perplexity: Double
    var tokensPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case tokens, predictions, windows, meanLoss = "mean_loss", perplexity, tokensPerSecond = "tokens_per_second"
    }
}
