import Foundation
import QLoRACore

/// Turns `--gpu`, `--budget` and `--device` into one per-device budget.
public enum BudgetChoice {
    /// - `--gpu NAME`: that GPU's usable memory; `--budget 24GB`: exactly that;
    /// - `--device cpu` alone: this machine's physical RAM (`/proc/meminfo` MemTotal);
    /// - nothing: nil (the plan prints totals without a verdict).
    public static func resolve(gpu: String?, budget: String?, device: DeviceKind) throws -> PlanBudget? {
        if gpu != nil && budget != nil {
            throw QLoRAError.invalid("use either --gpu or --budget, not both")
        }
        if let gpu {
            guard device == .gpu else { throw QLoRAError.invalid("--gpu cannot be combined with --device cpu") }
            return .of(try GPUCatalog.named(gpu))
        }
        if let budget {
            let bytes = try ByteCount.parse(budget)
            return PlanBudget(bytes: bytes, label: "--budget \(budget) (\(ByteCount.format(bytes)))")
        }
        if device == .cpu, let ram = hostMemoryBytes() {
            return PlanBudget(bytes: ram, label: "this machine's RAM (\(ByteCount.format(ram)))")
        }
        return nil
    }

    /// Physical RAM from `/proc/meminfo` (Linux), or nil where that file does not exist.
    public static func hostMemoryBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kib * 1024
    }
}
