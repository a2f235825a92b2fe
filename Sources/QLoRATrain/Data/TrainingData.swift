import QLoRACore
import QLoRATokenizer

/// Where evaluation examples come from.
public enum EvalSource: Sendable, Equatable {
    case none
    /// A separate file, in the same form as the training file.
    case file(String)
    /// This fraction of the training file's records (0 < f < 1), chosen by seed and held out.
    case split(Double)
}

/// How data files are read and rendered.
public struct DataOptions: Sendable {
    public var format: DataFormat
    /// Learn prompt tokens too, not only responses.
    public var trainOnPrompt: Bool
    /// Skip (and count) malformed lines instead of stopping at the first.
    public var skipBadLines: Bool
    public var limits: DataLimits

    public init(format: DataFormat = .auto, trainOnPrompt: Bool = false, skipBadLines: Bool = false,
                limits: DataLimits = .default) {
        self.format = format
        self.trainOnPrompt = trainOnPrompt
        self.skipBadLines = skipBadLines
        self.limits = limits
    }
}

/// The training and evaluation examples of a run, read, rendered and tokenized.
public struct TrainingData: Sendable {
    /// The records' form (resolved from the training file when `.auto`).
    public var format: DataFormat
    /// Renders records; the same renderer builds evaluation prompts for `TaskEvaluator`.
    public var renderer: ExampleRenderer
    public var trainRecords: [LineRecord]
    public var evalRecords: [LineRecord]
    public var train: [TokenizedExample]
    public var eval: [TokenizedExample]
    /// Lines skipped in skip-bad-lines mode, by file.
    public var skipped: [(path: String, lines: [BadLine])]

    /// Reads `trainPath` (and the evaluation source) with `options`; `seed` picks an eval split.
    public static func load(train trainPath: String, eval: EvalSource = .none, tokenizer: Tokenizer,
                            options: DataOptions = DataOptions(), seed: UInt64 = 0) throws -> TrainingData {
        let trainFile = try JSONLReader.read(trainPath, format: options.format, limits: options.limits,
                                             skipBadLines: options.skipBadLines)
        let renderer = try ExampleRenderer(tokenizer: tokenizer, format: trainFile.format,
                                           trainOnPrompt: options.trainOnPrompt)
        var skipped = [(path: String, lines: [BadLine])]()
        var (trainRecords, trainExamples, bad) = try render(trainFile, renderer, options.skipBadLines)
        skipped.append((trainPath, trainFile.badLines + bad))
        var evalRecords: [LineRecord] = [], evalExamples: [TokenizedExample] = []
        switch eval {
        case .none:
            break
        case .file(let path):
            let evalFile = try JSONLReader.read(path, format: trainFile.format, limits: options.limits,
                                                skipBadLines: options.skipBadLines)
            let r = try render(evalFile, renderer, options.skipBadLines)
            (evalRecords, evalExamples) = (r.records, r.examples)
            skipped.append((path, evalFile.badLines + r.bad))
        case .split(let fraction):
            let held = try heldOut(count: trainRecords.count, fraction: fraction, seed: seed)
            let keep = (0..<trainRecords.count).filter { !held.contains($0) }
            evalRecords = held.sorted().map { trainRecords[$0] }
            evalExamples = held.sorted().map { trainExamples[$0] }
            trainRecords = keep.map { trainRecords[$0] }
            trainExamples = keep.map { trainExamples[$0] }
        }
        return TrainingData(format: trainFile.format, renderer: renderer, trainRecords: trainRecords,
                            evalRecords: evalRecords, train: trainExamples, eval: evalExamples,
                            skipped: skipped.filter { !$0.lines.isEmpty })
    }

    /// Renders every record; one that cannot be rendered is a bad line like a malformed one.
    static func render(_ file: DataFile, _ renderer: ExampleRenderer, _ skipBadLines: Bool) throws
        -> (records: [LineRecord], examples: [TokenizedExample], bad: [BadLine]) {
        var records: [LineRecord] = [], examples: [TokenizedExample] = [], bad: [BadLine] = []
        for r in file.records {
            do {
                examples.append(try renderer.example(r))
                records.append(r)
            } catch let error as QLoRAError {
                guard skipBadLines else { throw QLoRAError.format(file.path, "line \(r.line): \(error.message)") }
                bad.append(BadLine(line: r.line, reason: error.message))
            }
        }
        guard !examples.isEmpty else { throw QLoRAError.format(file.path, "no record could be rendered") }
        return (records, examples, bad)
    }

    /// Indices of the records held out for evaluation: round(fraction·count), at least one, and at
    /// least one left to train on; drawn by `seed` so the split repeats.
    static func heldOut(count n: Int, fraction f: Double, seed: UInt64) throws -> Set<Int> {
        guard f > 0, f < 1 else { throw QLoRAError.invalid("--eval-split must be between 0 and 1 (exclusive), got \(f)") }
        guard n >= 2 else { throw QLoRAError.invalid("--eval-split needs at least 2 records, the file has \(n)") }
        let count = min(n - 1, max(1, Int((f * Double(n)).rounded())))
        var rng = SeededRNG(seed: seed ^ 0x6576_616C_5F73_706C)  // "eval_spl": apart from the batch order
        return Set(shuffledOrder(n, &rng).prefix(count))
    }

    /// One line per file: examples, tokens, learned tokens, skipped lines.
    public var summary: String {
        func describe(_ name: String, _ e: [TokenizedExample]) -> String {
            let tokens = e.reduce(0) { $0 + $1.ids.count }, learned = e.reduce(0) { $0 + $1.trainedCount }
            return "\(name): \(e.count) examples, \(tokens) tokens, \(learned) learned"
        }
        var lines = [describe("train", train) + " (\(format.name))"]
        if !eval.isEmpty { lines.append(describe("eval", eval)) }
        for s in skipped {
            let shown = s.lines.prefix(5).map { String($0.line) }.joined(separator: ", ")
            lines.append("\(s.path): skipped \(s.lines.count) bad lines (lines \(shown)\(s.lines.count > 5 ? ", …" : ""))")
        }
        return lines.joined(separator: "\n")
    }
}
