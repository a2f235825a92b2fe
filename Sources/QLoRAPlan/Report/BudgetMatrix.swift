/// The answer to "where does this fit?" when no budget is given: the plan judged against the common
/// budgets (24 GB RTX 3090/4090, 48 GB, 80 GB, and this machine's RAM for this project's CPU
/// trainer), then, for the tightest GPU budget it misses, the changes that make it fit — including
/// offloading the 4-bit base to host memory.
public struct BudgetMatrix: Sendable {
    public struct Entry: Sendable {
        public let label: String
        public let budgetBytes: Int
        public let totalBytes: Int
        public let fits: Bool
    }

    public let entries: [Entry]
    /// The tightest GPU budget the plan misses, and what makes it fit there (changes that fit first).
    public let tightest: (label: String, fixes: [Recommendation])?

    /// The GPU presets standing for the common budgets.
    public static let gpuBudgets = ["rtx4090", "a6000", "a100-80g"]

    public init(_ request: PlanRequest) {
        var entries: [Entry] = []
        var tightest: (String, [Recommendation])? = nil
        for name in Self.gpuBudgets {
            guard request.device == .gpu, let gpu = try? GPUCatalog.named(name) else { continue }
            var r = request
            r.budget = .of(gpu)
            let plan = Planner.build(r)
            entries.append(Entry(label: "\(gpu.marketed) (\(gpu.name))", budgetBytes: gpu.usableBytes,
                                 totalBytes: plan.deviceBytes, fits: plan.fits == true))
            if plan.fits == false && tightest == nil {
                tightest = ("\(gpu.marketed) (\(gpu.name))", Self.fixes(plan))
            }
        }
        if let ram = BudgetChoice.hostMemoryBytes() {
            var cpu = request
            cpu.device = .cpu
            cpu.computeDType = .f32
            cpu.gpuCount = 1
            cpu.stack = .hf
            cpu.offloadBase = false
            if cpu.method == .prefixTuning || request.device == .gpu { cpu.gradientCheckpointing = request.gradientCheckpointing }
            cpu.budget = PlanBudget(bytes: ram, label: "this machine's RAM")
            if let plan = try? Planner.plan(cpu) {
                entries.append(Entry(label: "this machine's RAM, qlora train on the CPU", budgetBytes: ram,
                                     totalBytes: plan.deviceBytes, fits: plan.fits == true))
            }
        }
        self.entries = entries
        self.tightest = tightest
    }

    /// What makes `plan` fit its budget: the recommender's changes that fit, then offloading the NF4
    /// base (FSDP CPU offload; with it, more GPUs do not lower the per-GPU peak).
    static func fixes(_ plan: MemoryPlan) -> [Recommendation] {
        var out = Recommender.recommend(for: plan).filter { $0.fits == true }
        let r = plan.request
        if r.quantizedBase && !r.offloadBase {
            var offload = r
            offload.offloadBase = true
            out.append(Recommender.variant(.offloadBase, "--offload-base (the 4-bit base, adapters and optimizer in host RAM)", offload, against: plan,
                                           extra: { "\(ByteCount.format($0.offDeviceBytes)) in host RAM" }))
        }
        return out
    }

    public func lines() -> [String] {
        var out = ["verdict: no budget given; against the common budgets:"]
        for e in entries {
            out.append("  " + Report.pad(e.label, 44) + Report.pad(ByteCount.format(e.totalBytes), 11, right: true)
                       + " of " + Report.pad(ByteCount.format(e.budgetBytes), 11, right: true)
                       + (e.fits ? "  FITS" : "  does not fit"))
        }
        if let (label, fixes) = tightest {
            out.append("what makes it fit \(label):")
            out += fixes.isEmpty ? ["  nothing a single option changes"] : fixes.map { "  - " + $0.text }
        }
        return out
    }
}
