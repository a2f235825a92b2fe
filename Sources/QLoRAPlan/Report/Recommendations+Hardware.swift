extension Recommender {
    /// Larger single GPUs and more GPUs of the same kind, for a GPU plan that does not fit.
    static func hardware(_ plan: MemoryPlan) -> [Recommendation] {
        guard plan.fits == false, let budget = plan.request.budget else { return [] }
        var out: [Recommendation] = []
        out += largerGPU(plan)
        out += moreGPUs(plan, budget)
        return out
    }

    private static func largerGPU(_ plan: MemoryPlan) -> [Recommendation] {
        func firstFit(paged: Bool) -> (GPUSpec, MemoryPlan)? {
            for gpu in GPUCatalog.all {
                var v = plan.request
                v.budget = .of(gpu)
                v.gpuCount = 1
                v.paged = paged
                let p = Planner.build(v)
                if p.fits == true { return (gpu, p) }
            }
            return nil
        }
        func describe(_ hit: (GPUSpec, MemoryPlan), _ suffix: String) -> Recommendation {
            let (gpu, p) = hit
            let text = "smallest single GPU that fits\(suffix): \(gpu.name) (sold as \(gpu.marketed), "
                + "\(ByteCount.format(gpu.usableBytes)) usable): \(ByteCount.format(p.deviceBytes)), "
                + "headroom \(ByteCount.format(p.headroomBytes ?? 0))"
            return Recommendation(kind: .largerGPU, text: text, totalBytes: p.deviceBytes, fits: true)
        }
        var out: [Recommendation] = []
        let asIs = firstFit(paged: plan.request.paged)
        if let asIs { out.append(describe(asIs, plan.request.paged ? " with --paged" : "")) }
        if !plan.request.paged, let paged = firstFit(paged: true),
           asIs == nil || paged.0.usableBytes < asIs!.0.usableBytes {
            out.append(describe(paged, " with --paged"))
        }
        if out.isEmpty {
            out.append(Recommendation(kind: .largerGPU, text: "no single GPU in the catalog fits, even with --paged",
                                      totalBytes: nil, fits: false))
        }
        return out
    }

    private static func moreGPUs(_ plan: MemoryPlan, _ budget: PlanBudget) -> [Recommendation] {
        let maxGPUs = 16
        let name = budget.gpu?.name ?? ByteCount.format(budget.bytes) + " devices"
        func firstCount(paged: Bool, offload: Bool = false) -> (Int, MemoryPlan)? {
            guard plan.request.gpuCount < maxGPUs else { return nil }
            for n in (plan.request.gpuCount + 1)...maxGPUs {
                var v = plan.request
                v.gpuCount = n
                v.paged = paged
                v.offloadBase = v.offloadBase || offload
                let p = Planner.build(v)
                if p.fits == true { return (n, p) }
            }
            return nil
        }
        func describe(_ hit: (Int, MemoryPlan), _ suffix: String) -> Recommendation {
            let text = "\(hit.0) × \(name) with FSDP sharding\(suffix): "
                + "\(ByteCount.format(hit.1.deviceBytes)) per GPU — fits"
            return Recommendation(kind: .moreGPUs, text: text, totalBytes: hit.1.deviceBytes, fits: true)
        }
        var out: [Recommendation] = []
        let asIs = firstCount(paged: plan.request.paged)
        if let asIs { out.append(describe(asIs, plan.request.paged ? " and --paged" : "")) }
        var fewest = asIs?.0
        if !plan.request.paged, let paged = firstCount(paged: true), asIs == nil || paged.0 < asIs!.0 {
            out.append(describe(paged, " and --paged"))
            fewest = paged.0
        }
        // FSDP's CPU offload (answer.ai's route for 70B on two 24 GB cards) when it needs fewer GPUs.
        if plan.request.quantizedBase && !plan.request.offloadBase,
           let offload = firstCount(paged: false, offload: true), fewest == nil || offload.0 < fewest! {
            out.append(describe(offload, " and --offload-base"))
        }
        if out.isEmpty {
            out.append(Recommendation(kind: .moreGPUs, text: "even \(maxGPUs) × \(name) do not fit",
                                      totalBytes: nil, fits: false))
        }
        return out
    }

    /// The largest preset of the model's family, and of any family, that fits the same budget.
    static func models(_ plan: MemoryPlan) -> [Recommendation] {
        let r = plan.request
        guard let budget = r.budget else { return [] }
        func plans(_ presets: [ModelPreset], paged: Bool) -> (ModelPreset, MemoryPlan)? {
            let bySize = presets.sorted { $0.config.totalParameters > $1.config.totalParameters }
            for preset in bySize {
                var v = r
                v.model = PlannedModel(name: preset.name, family: preset.family, config: preset.config)
                v.paged = paged
                guard (try? v.validate()) != nil else { continue }
                let p = Planner.build(v)
                if p.fits == true { return (preset, p) }
            }
            return nil
        }
        var out: [Recommendation] = []
        let where_ = r.gpuCount > 1 ? "\(r.gpuCount) × \(budget.label)" : budget.label
        var familyHit: String?
        if let family = r.model.family {
            let members = ModelPresets.family(family)
            if let (preset, p) = plans(members, paged: r.paged) {
                familyHit = preset.name
                if preset.name != r.model.name {
                    out.append(Recommendation(
                        kind: .familyModel,
                        text: "largest \(family) preset that fits \(where_): \(preset.name) "
                            + "(\(ByteCount.format(p.deviceBytes)))",
                        totalBytes: p.deviceBytes, fits: true))
                }
            } else {
                out.append(Recommendation(kind: .familyModel, text: "no \(family) preset fits \(where_)",
                                          totalBytes: nil, fits: false))
            }
            if !r.paged, let (preset, p) = plans(members, paged: true), preset.name != familyHit,
               preset.name != r.model.name || plan.fits == false {
                out.append(Recommendation(
                    kind: .familyModel,
                    text: "with --paged the largest \(family) preset that fits is \(preset.name) "
                        + "(\(ByteCount.format(p.deviceBytes)))",
                    totalBytes: p.deviceBytes, fits: true))
            }
        }
        if let (preset, p) = plans(ModelPresets.all, paged: r.paged), preset.name != familyHit {
            out.append(Recommendation(
                kind: .anyModel,
                text: "largest preset of any family that fits: \(preset.name) (\(ByteCount.format(p.deviceBytes)))",
                totalBytes: p.deviceBytes, fits: true))
        }
        return out
    }
}
