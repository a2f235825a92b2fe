import Foundation

/// Text rendering of a plan for `qlora memplan`: header, one row per component, totals, verdict,
/// reasons and recommendations; for `--device cpu` also the buffer table the trainer allocates.
public enum Report {
    public static func text(_ plan: MemoryPlan, recommendations: [Recommendation]) -> String {
        var out: [String] = header(plan)
        out.append("")
        out += componentRows(plan)
        out.append("")
        out += verdict(plan)
        if !recommendations.isEmpty {
            out.append("")
            out.append(plan.fits == false ? "what would fit, and what each option changes:"
                                          : "limits and what each option changes:")
            out += recommendations.map { "  - " + $0.text }
        }
        if plan.request.device == .cpu {
            out.append("")
            out += bufferRows(plan)
        }
        if !plan.notes.isEmpty {
            out.append("")
            out += plan.notes.map { "note: " + $0 }
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func header(_ plan: MemoryPlan, includeMethod: Bool = true) -> [String] {
        let r = plan.request
        let c = r.model.config
        var lines = ["qlora memplan — \(r.model.name)"]
        if let resolution = r.model.resolution { lines.append("  \(resolution)") }
        lines.append("  \(CountFormat.format(c.totalParameters)) params (\(CountFormat.format(c.linearParameters))"
                     + " in linears) · \(c.numHiddenLayers) layers · hidden \(c.hiddenSize) · FF "
                     + "\(c.intermediateSize) · \(c.numAttentionHeads) heads / \(c.numKeyValueHeads) KV · vocab "
                     + "\(c.vocabSize)" + (c.tieWordEmbeddings ? " (tied)" : "")
                     + (c.numLocalExperts > 1 ? " · \(c.numLocalExperts) experts, \(c.numExpertsPerToken) per token" : ""))
        if includeMethod { lines.append("  " + methodLine(r)) }
        lines.append("  seq \(r.sequenceLength) · batch \(r.batchSize) · grad-ckpt "
                     + "\(r.gradientCheckpointing ? "on" : "off") · optimizer \(r.optimizer.rawValue)"
                     + (r.paged ? " (paged)" : " (not paged)") + " · compute \(r.computeDType.rawValue)")
        let device = r.device == .cpu ? "CPU trainer (f32, \(r.threads) thread\(r.threads == 1 ? "" : "s"))" : "\(r.gpuCount) GPU\(r.gpuCount > 1 ? "s, FSDP-sharded" : "")"
        lines.append("  device: \(device) · budget: \(r.budget?.label ?? "none (totals only)")")
        return lines
    }

    static func methodLine(_ r: PlanRequest) -> String {
        switch r.method {
        case .qlora:
            return "qlora: NF4 base\(r.doubleQuant ? " + double quant" : ""), \(r.dora ? "DoRA" : "LoRA") r \(r.rank) on "
                + r.targets.description
        case .lora:
            return "lora: \(WeightBuffers.denseType(r).rawValue) base, \(r.dora ? "DoRA" : "LoRA") r \(r.rank) on "
                + r.targets.description
        case .full: return "full fine-tuning: every weight trained"
        case .promptTuning: return "prompt tuning: \(r.virtualTokens) virtual tokens prepended"
        case .prefixTuning:
            return "prefix tuning: \(r.virtualTokens) key/value prefix positions per layer"
                + (r.prefixProjectionHidden.map { ", reparameterized by an MLP of width \($0)" } ?? "")
        }
    }

    static func componentRows(_ plan: MemoryPlan) -> [String] {
        let present = Component.allCases.filter { plan.table.placement(of: $0) != nil }
        let width = max(28, present.map(\.title.count).max() ?? 0)
        var lines = [pad("component", width) + "  " + pad("size", 11) + "  where   how it is computed"]
        for component in present {
            let place = plan.table.placement(of: component)!
            let bytes = plan.table.bytes(of: component)
            let notAtPeak = place == .device && plan.peakBytes(of: component) < bytes
            lines.append(pad(component.title, width) + "  "
                         + pad(ByteCount.format(bytes), 11, right: true) + "  "
                         + pad(place.rawValue, 6) + "  " + (plan.table.formulas[component] ?? "")
                         + (notAtPeak ? " [at the peak: \(ByteCount.format(plan.peakBytes(of: component)))]" : ""))
        }
        lines.append(String(repeating: "-", count: width + 22))
        for (phase, bytes) in plan.phaseBytes {
            lines.append(pad("  at " + phase.title, width) + "  " + pad(ByteCount.format(bytes), 11, right: true)
                         + (phase == plan.peakPhase ? "          ← the peak" : ""))
        }
        let perDevice = plan.request.gpuCount > 1 ? " (per GPU)" : ""
        lines.append(pad("peak on device" + perDevice, width) + "  "
                     + pad(ByteCount.format(plan.deviceBytes), 11, right: true) + "          set by "
                     + plan.peakPhase.title + (plan.request.device == .cpu ? " (the CPU trainer holds every buffer for the whole run)" : ""))
        if let reserved = plan.peakReservedBytes {
            // What PyTorch's own counters would show (they leave out the CUDA context).
            lines.append("  PyTorch would count: max_memory_allocated \(ByteCount.format(plan.allocatedBytes)); "
                         + "max_memory_reserved ≈ \(ByteCount.format(reserved)) with memory to spare "
                         + "(the allocator's cache; it is returned before an out-of-memory error)")
        }
        if plan.offDeviceBytes > 0 {
            let place = plan.request.device == .gpu ? "host RAM" : "file-backed"
            lines.append(pad("off device (paged, \(place))", width) + "  "
                         + pad(ByteCount.format(plan.offDeviceBytes), 11, right: true))
        }
        if let budget = plan.request.budget {
            lines.append(pad("budget", width) + "  " + pad(ByteCount.format(budget.bytes), 11, right: true)
                         + "          " + budget.label)
        }
        return lines
    }

    static func verdict(_ plan: MemoryPlan) -> [String] {
        guard let fits = plan.fits, let headroom = plan.headroomBytes else {
            guard plan.request.device == .gpu else { return ["verdict: no budget given (use --budget)"] }
            return BudgetMatrix(plan.request).lines()
        }
        var lines: [String]
        if fits {
            let pct = 100 * Double(headroom) / Double(plan.budgetBytes!)
            lines = [String(format: "verdict: FITS, headroom %@ (%.1f%% of the budget)",
                            ByteCount.format(headroom), pct)]
        } else {
            lines = ["verdict: DOES NOT FIT, short by \(ByteCount.format(-headroom))"]
            lines += Verdict.reasons(plan).map { "  why: " + $0 }
        }
        return lines
    }

    static func bufferRows(_ plan: MemoryPlan) -> [String] {
        let layout = plan.table.arenaLayout()
        var lines = ["buffers (the table `qlora train` allocates its arena from; "
                     + "\(ByteCount.format(layout.totalBytes)) in \(layout.entries.count) buffers, 64-byte aligned):"]
        let width = max(24, plan.table.buffers.map(\.name.count).max() ?? 0)
        for b in plan.table.buffers {
            lines.append("  " + pad(b.name, width) + "  " + pad(b.dtype.rawValue, 4) + "  "
                         + pad(ByteCount.format(b.bytes), 11, right: true) + "  " + pad(b.placement.rawValue, 6)
                         + "  " + b.shapeDescription)
        }
        return lines
    }

    static func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, n - s.count))
        return right ? fill + s : s + fill
    }
}
