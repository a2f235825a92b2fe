/// One suggestion: what to change, and what the plan becomes.
public struct Recommendation: Sendable {
    public enum Kind: String, Sendable, Codable {
        case maxSequence = "max_seq", maxBatch = "max_batch"
        case gradientCheckpointing = "grad_ckpt", paging = "paged", doubleQuant = "double_quant"
        case lowerRank = "lower_rank", optimizer8Bit = "optimizer_8bit"
        case moreGPUs = "more_gpus", largerGPU = "larger_gpu", offloadBase = "offload_base"
        case familyModel = "largest_family_model", anyModel = "largest_preset_model"
    }

    public let kind: Kind
    /// One line for the text report.
    public let text: String
    /// Device total of the changed plan, when the suggestion is one.
    public let totalBytes: Int?
    public let fits: Bool?
}

/// Varies one option at a time and re-plans (each plan is arithmetic on the config, microseconds),
/// to answer "what would fit": longest sequence and largest batch, the effect of checkpointing,
/// paging, double quantization, a lower rank, an 8-bit optimizer, more or larger GPUs, and the
/// largest preset of the same family (and of any family) that fits the budget.
public enum Recommender {
    public static func recommend(for plan: MemoryPlan) -> [Recommendation] {
        guard plan.budgetBytes != nil else { return [] }
        var out: [Recommendation] = []
        out += sizeLimits(plan)
        out += optionEffects(plan)
        if plan.request.device == .gpu { out += hardware(plan) }
        out += models(plan)
        return out
    }

    // MARK: sequence and batch

    private static func sizeLimits(_ plan: MemoryPlan) -> [Recommendation] {
        let r = plan.request
        let cap = r.model.config.maxPositionEmbeddings
        var out: [Recommendation] = []
        if let seq = largest(upTo: cap, { var v = r; v.sequenceLength = $0; return v }) {
            let text = seq == cap
                ? "every sequence length up to the model's \(cap) fits at batch \(r.batchSize)"
                : "longest sequence that fits at batch \(r.batchSize): \(seq) tokens"
            out.append(Recommendation(kind: .maxSequence, text: text, totalBytes: nil, fits: true))
        } else {
            out.append(Recommendation(kind: .maxSequence,
                                      text: "no sequence length fits at batch \(r.batchSize), even 1 token",
                                      totalBytes: nil, fits: false))
        }
        if let batch = largest(upTo: 4096, { var v = r; v.batchSize = $0; return v }) {
            let text = batch == 4096 ? "batches of 4096 and more fit at seq \(r.sequenceLength)"
                : "largest batch that fits at seq \(r.sequenceLength): \(batch)"
            out.append(Recommendation(kind: .maxBatch, text: text, totalBytes: nil, fits: true))
        }
        return out
    }

    /// Largest value in 1...cap whose plan fits (plans grow with the value), or nil.
    static func largest(upTo cap: Int, _ make: (Int) -> PlanRequest) -> Int? {
        func fits(_ v: Int) -> Bool { Planner.build(make(v)).fits == true }
        guard fits(1) else { return nil }
        if fits(cap) { return cap }
        var lo = 1, hi = cap  // fits(lo), !fits(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if fits(mid) { lo = mid } else { hi = mid }
        }
        return lo
    }

    // MARK: one option at a time

    private static func optionEffects(_ plan: MemoryPlan) -> [Recommendation] {
        let r = plan.request
        var out: [Recommendation] = []
        if r.method != .prefixTuning {
            var v = r
            v.gradientCheckpointing.toggle()
            out.append(variant(.gradientCheckpointing, "--grad-ckpt \(v.gradientCheckpointing ? "on" : "off")",
                               v, against: plan))
        }
        var paged = r
        paged.paged.toggle()
        out.append(variant(.paging, paged.paged ? "--paged" : "without --paged", paged, against: plan,
                           extra: paged.paged ? { "\(ByteCount.format($0.offDeviceBytes)) moves off the device" }
                                              : nil))
        if r.method == .qlora {
            var v = r
            v.doubleQuant.toggle()
            out.append(variant(.doubleQuant, v.doubleQuant ? "--double-quant" : "--no-double-quant", v,
                               against: plan))
        }
        if r.method.usesLoRA {
            for rank in Set([r.rank / 2, 16, 8]).filter({ $0 >= 1 && $0 < r.rank }).sorted(by: >).prefix(2) {
                var v = r
                v.rank = rank
                out.append(variant(.lowerRank, "--rank \(rank)", v, against: plan))
            }
        }
        if r.optimizer == .adamw {
            var v = r
            v.optimizer = .adamw8bit
            out.append(variant(.optimizer8Bit, "--optimizer adamw8bit", v, against: plan))
        }
        return out
    }

    /// Re-plans `changed` and describes the difference to `plan`.
    static func variant(
        _ kind: Recommendation.Kind, _ label: String, _ changed: PlanRequest, against plan: MemoryPlan,
        extra: ((MemoryPlan) -> String)? = nil
    ) -> Recommendation {
        let p = Planner.build(changed)
        let delta = p.deviceBytes - plan.deviceBytes
        let sign = delta >= 0 ? "+" : "-"
        var text = "\(label): \(ByteCount.format(p.deviceBytes)) (\(sign)\(ByteCount.format(abs(delta))))"
        if let extra { text += ", \(extra(p))" }
        if let fits = p.fits { text += fits ? " — fits" : " — does not fit" }
        return Recommendation(kind: kind, text: text, totalBytes: p.deviceBytes, fits: p.fits)
    }
}
