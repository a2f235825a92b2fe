import Foundation
import QLoRA

/// A GPU memory plan's total for one model.
struct PlannedFootprint: Codable {
    var model: String
    var bytes: Int
}

/// One compared method's measured run.
struct ComparisonRow: Codable {
    var method: String
    var title: String
    var base: String
    var trainableParameters: Int
    var totalParameters: Int
    var peakRSSBytes: Int
    var tokensPerSecond: Double
    var initialEvalLoss: Double?
    var finalEvalLoss: Double?
    var accuracy: Double
    /// `qlora memplan --device cpu` for this very run (nil when the planner cannot read the model).
    var cpuPlanBytes: Int?
    var gpuPlans: [PlannedFootprint]
    var seconds: Double
    var arguments: [String]

    enum CodingKeys: String, CodingKey {
        case method, title, base, trainableParameters = "trainable_parameters", totalParameters = "total_parameters"
        case peakRSSBytes = "peak_rss_bytes", tokensPerSecond = "tokens_per_second"
        case initialEvalLoss = "initial_eval_loss", finalEvalLoss = "final_eval_loss", accuracy
        case cpuPlanBytes = "cpu_plan_bytes", gpuPlans = "gpu_plans", seconds, arguments
    }
}

/// `compare.json`.
struct ComparisonResult: Codable {
    var settings: ComparisonSettings
    var model: String
    var data: String
    var evalData: String
    var task: String
    var taskLimit: Int
    var baseAccuracy: Double
    var rows: [ComparisonRow]

    enum CodingKeys: String, CodingKey {
        case settings, model, data, evalData = "eval_data", task, taskLimit = "task_limit"
        case baseAccuracy = "base_accuracy", rows
    }
}

/// The comparison as a Markdown table (what docs/methods.md shows).
enum ComparisonTable {
    static func markdown(_ r: ComparisonResult) -> String {
        func mib(_ b: Int) -> String { String(format: "%.0f MiB", Double(b) / 1_048_576) }
        func gb(_ b: Int) -> String { String(format: "%.1f GB", Double(b) / 1e9) }
        func loss(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "–" }
        let planTitles = r.rows.first?.gpuPlans.map { "GPU plan \($0.model)" } ?? []
        var header = ["method", "base", "trainable params", "% of model", "peak RSS", "plan (cpu)", "tokens/s",
                      "held-out loss", "exact match"]
        header += planTitles
        var lines = ["| " + header.joined(separator: " | ") + " |",
                     "|" + header.map { _ in "---" }.joined(separator: "|") + "|"]
        lines.append("| base model (no adapter) | nf4 | 0 | 0 | – | – | – | – | "
                     + String(format: "%.1f%%", 100 * r.baseAccuracy) + " |" + planTitles.map { _ in " – |" }.joined())
        for row in r.rows {
            var cells = [row.title, row.base, "\(row.trainableParameters)",
                         String(format: "%.3f%%", 100 * Double(row.trainableParameters) / Double(max(row.totalParameters, 1))),
                         mib(row.peakRSSBytes), row.cpuPlanBytes.map(mib) ?? "–",
                         String(format: "%.0f", row.tokensPerSecond),
                         "\(loss(row.initialEvalLoss)) → \(loss(row.finalEvalLoss))",
                         String(format: "%.1f%%", 100 * row.accuracy)]
            cells += row.gpuPlans.map { gb($0.bytes) }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        let s = r.settings
        lines.append("")
        lines.append("\(s.steps) steps of batch \(s.batch) × \(s.seq) tokens, \(s.schedule) schedule with \(s.warmup) warm-up steps, "
                     + "seed \(s.seed), \(s.threads) threads; "
                     + "LoRA methods r \(s.rank), alpha \(2 * s.rank), lr \(s.loraLR) (LoRA+ ratio \(s.loraPlusRatio)); "
                     + "prompt/prefix tuning \(s.virtualTokens) virtual tokens, lr \(s.promptLR) / \(s.prefixLR). "
                     + "Exact match on the first \(r.taskLimit) questions of \(r.task).")
        return lines.joined(separator: "\n") + "\n"
    }
}
