import ArgumentParser
import Foundation
import QLoRA

/// Where a run's metrics go beyond metrics.jsonl.
enum ReportTarget: String, ExpressibleByArgument, CaseIterable { case none, tensorboard }

/// `train`'s options for watching a run: TensorBoard event files and the progress line.
struct WatchOptions: ParsableArguments {
    @Option(help: "Also report to: tensorboard (event files under OUT/runs, or --report-dir), or none.")
    var reportTo: ReportTarget = .none
    @Option(help: "The directory of the TensorBoard event file (default OUT/runs).") var reportDir: String?
    @Option(help: "Off a terminal, print a progress line every N steps (0 = never).") var logEvery: Int = 50

    func validate() throws {
        guard logEvery >= 0 else { throw QLoRAError.invalid("--log-every must be ≥ 0") }
    }
}

/// Everything that watches a training run from outside the trainer: run.json, the TensorBoard
/// event file and the progress line (one updating line on a terminal; otherwise a line every
/// `--log-every` steps on standard error).
final class TrainWatch {
    let total: Int
    let logEvery: Int
    let terminal: Bool
    let tensorboard: TensorBoardWriter?
    private let started = Date()
    private var firstStep: Int?
    private var lastEval: Double?
    private var warned = false
    private var lastDraw = Date.distantPast

    init(_ options: WatchOptions, out: String, info: RunInfo, resumedAt: Int?, history: [StepMetrics],
         terminal: Bool = isatty(2) != 0) throws {
        total = info.options.steps
        logEvery = options.logEvery
        self.terminal = terminal
        lastEval = history.last(where: { $0.evalLoss != nil })?.evalLoss
        do { try info.write(to: out) } catch {
            FileHandle.standardError.write(Data("warning: \(error)\n".utf8))
        }
        if options.reportTo == .tensorboard {
            let dir = options.reportDir ?? out + "/runs"
            let writer = try TensorBoardWriter(directory: dir, resumingAt: resumedAt, history: history)
            if resumedAt == nil { writer.write(step: 0, [("run/options", .text(info.markdown))]) }
            tensorboard = writer
        } else {
            tensorboard = nil
        }
    }

    /// Called after every step.
    func step(_ m: StepMetrics) {
        if let tb = tensorboard {
            tb.write(m)
            if let failure = tb.failure, !warned {
                warned = true
                FileHandle.standardError.write(Data("warning: \(tb.path): \(failure); no more TensorBoard events this run\n".utf8))
            }
        }
        if firstStep == nil { firstStep = m.step }
        if let e = m.evalLoss { lastEval = e }
        if terminal {
            let now = Date()
            guard m.step == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
            lastDraw = now
            let width = Self.terminalWidth()
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + String(line(m, bar: true).prefix(width - 1))).utf8))
        } else if logEvery > 0 && m.step % logEvery == 0 {
            FileHandle.standardError.write(Data((line(m, bar: false) + "\n").utf8))
        }
    }

    /// Clears the updating line.
    func finish() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    /// `step 40/100 ████░░ loss 2.3456 eval 2.4012 lr 2.00e-04 1234 tok/s RSS 512 MiB 1:02 left`
    func line(_ m: StepMetrics, bar: Bool) -> String {
        var parts = ["step \(m.step)/\(total)"]
        if bar {
            let width = 20, filled = min(width, width * m.step / max(total, 1))
            parts.append(String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled))
        }
        parts.append(String(format: "loss %.4f", m.loss))
        if let e = lastEval { parts.append(String(format: "eval %.4f", e)) }
        parts.append(String(format: "lr %.2e", m.lr))
        parts.append(String(format: "%.0f tok/s", m.tokensPerSecond))
        parts.append(String(format: "RSS %.0f MiB", Double(m.rssBytes) / 1_048_576))
        if let remaining = remainingSeconds(m) { parts.append(Self.duration(remaining) + " left") }
        return parts.joined(separator: " ")
    }

    /// This process's seconds per step so far, times the steps left.
    func remainingSeconds(_ m: StepMetrics) -> Double? {
        guard let first = firstStep else { return nil }
        let done = m.step - first + 1
        return Date().timeIntervalSince(started) / Double(max(done, 1)) * Double(max(total - m.step, 0))
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }

    static func terminalWidth() -> Int {
        var w = winsize()
        return ioctl(2, UInt(TIOCGWINSZ), &w) == 0 && w.ws_col > 20 ? Int(w.ws_col) : 120
    }
}
