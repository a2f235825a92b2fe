import Foundation

/// `--compare`: the same model, budget and shape planned for every method side by side, so claims
/// like "full fine-tuning of 70B needs 1600 GB, LoRA 20 GB" are replaced by computed numbers.
public struct MethodComparison: Sendable {
    /// Column groups of the comparison, each a sum of components.
    public static let columns: [(title: String, components: [Component])] = [
        ("weights", [.quantizedWeights, .quantConstants, .unquantizedWeights]),
        ("trainable", [.trainableParameters]),
        ("grads", [.gradients]),
        ("optimizer", [.optimizerResident]),
        ("activations", [.activationCheckpoints, .layerActivations, .backwardWorkspace, .dequantScratch,
                         .gatheredWeights]),
        ("logits", [.logitsAndLoss]),
        ("overhead", [.runtimeOverhead, .allocatorReserve]),
    ]

    public let plans: [MemoryPlan]
    public let notes: [String]

    /// Plans `base` once per method. Prefix tuning runs without checkpointing (PEFT refuses it);
    /// LoRA options are ignored by the methods that have no adapters.
    public init(_ base: PlanRequest) throws {
        var plans: [MemoryPlan] = []
        var notes: [String] = []
        for method in [TuningMethod.full, .lora, .qlora, .prefixTuning, .promptTuning] {
            var r = base
            r.method = method
            if method == .prefixTuning && r.gradientCheckpointing {
                r.gradientCheckpointing = false
                notes.append("prefix-tuning is planned with --grad-ckpt off (PEFT refuses checkpointing with it)")
            }
            plans.append(try Planner.plan(r))
        }
        self.plans = plans
        self.notes = notes
    }

    public func text() -> String {
        guard let first = plans.first else { return "" }
        var lines = Report.header(first, includeMethod: false)
        lines[0] = "qlora memplan --compare — \(first.request.model.name)"
        lines.append("")
        let head = Report.pad("method", 14) + Self.columns.map { Report.pad($0.title, 12, right: true) }.joined()
            + Report.pad("total", 12, right: true) + Report.pad("paged out", 12, right: true) + "  verdict"
        lines.append(head)
        for plan in plans {
            var row = Report.pad(plan.request.method.rawValue, 14)
            for column in Self.columns {
                let bytes = column.components.reduce(0) { $0 + plan.table.bytes(of: $1) }
                row += Report.pad(ByteCount.format(bytes), 12, right: true)
            }
            row += Report.pad(ByteCount.format(plan.deviceBytes), 12, right: true)
            row += Report.pad(ByteCount.format(plan.offDeviceBytes), 12, right: true)
            row += "  " + (plan.fits.map { $0 ? "fits" : "does not fit" } ?? "-")
            lines.append(row)
        }
        lines.append("")
        lines.append("assumptions: full and lora keep the base in \(first.request.computeDType.rawValue)"
                     + " with \(first.request.optimizer.rawValue) state per trainable parameter; lora/qlora "
                     + "adapters r \(first.request.rank) on \(first.request.targets.description); prompt/prefix "
                     + "tuning \(first.request.virtualTokens) virtual tokens over a frozen 16-bit base.")
        lines += notes.map { "note: " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    public func json() -> String {
        struct Row: Encodable {
            let method: String
            let totalBytes: Int
            let offDeviceBytes: Int
            let fits: Bool?
            let components: [String: Int]
        }
        struct Document: Encodable {
            let schemaVersion = 1
            let model: String
            let budgetBytes: Int?
            let methods: [Row]
            let notes: [String]
        }
        let rows = plans.map { plan in
            Row(method: plan.request.method.rawValue, totalBytes: plan.deviceBytes,
                offDeviceBytes: plan.offDeviceBytes, fits: plan.fits,
                components: Dictionary(uniqueKeysWithValues: Component.allCases.compactMap { c in
                    plan.table.placement(of: c).map { _ in (c.rawValue, plan.table.bytes(of: c)) }
                }))
        }
        let doc = Document(model: plans.first?.request.model.name ?? "", budgetBytes: plans.first?.budgetBytes,
                           methods: rows, notes: notes)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(doc), as: UTF8.self) + "\n"
    }
}
