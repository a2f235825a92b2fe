/// What the optimizer updates: the trainable tensors (LoRA A/B, prompt or prefix embeddings, or every
/// base weight for full fine-tuning), their gradients, and the optimizer state — split into the part
/// that stays resident and the part a paged optimizer keeps off the device.
///
/// Paging follows bitsandbytes (`bitsandbytes-nf4.md` §1.9): only state tensors of parameters with
/// ≥ 1e5 elements are paged, and each is prefetched to the device for its own update, so the
/// largest paged tensor's state is still needed on the device during the step.
enum TrainableBuffers {
    /// bitsandbytes pages state only for parameters with at least this many elements.
    static let pagingThreshold = 100_000
    /// bitsandbytes keeps 32-bit state for parameters smaller than this (`min_8bit_size`).
    static let min8BitSize = 4096
    /// Block size of the 8-bit optimizer state (bnb ≥ 0.44).
    static let optimizerBlock = 256

    /// One kind of trainable tensor: `count` tensors of `elementsEach` elements.
    struct Group {
        let name: String
        let shape: [Int]
        let axes: [String]
        let elementsEach: Int
        var count: Int { shape.reduce(1, *) / elementsEach }
        var elements: Int { shape.reduce(1, *) }
    }

    static func add(to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, shards: Int) {
        let groups = trainableGroups(d, request)
        let paramType = parameterType(request)
        if request.method != .full {
            for g in groups {
                table.add(PlannedBuffer(g.name, .trainableParameters, shape: g.shape, axes: g.axes,
                                        paramType, shards: shards, note: "trainable \(paramType.rawValue)"))
            }
        }
        let total = groups.reduce(0) { $0 + $1.elements }
        table.explain(.trainableParameters, trainableFormula(request, total: total, type: paramType))
        table.add(PlannedBuffer("grad.trainable", .gradients, shape: [total], axes: ["N_train"], paramType,
                                shards: shards, note: "one gradient per trainable parameter, same layout"))
        table.explain(.gradients, "\(CountFormat.format(total)) × \(paramType.bits / 8) B, " +
                      "same count and dtype as the trainable parameters")
        addOptimizerState(to: &table, groups, request, shards: shards)
    }

    /// Trainable dtype: LoRA adapters in the compute dtype on GPU (qlora.py casts them to bf16),
    /// PEFT's f32 for prompt/prefix embeddings, the base dtype for full fine-tuning; f32 on CPU.
    static func parameterType(_ request: PlanRequest) -> StorageType {
        if request.device == .cpu { return .f32 }
        switch request.method {
        case .qlora, .lora, .full: return request.computeDType.storage
        case .promptTuning, .prefixTuning: return .f32
        }
    }

    static func trainableGroups(_ d: ModelDims, _ request: PlanRequest) -> [Group] {
        switch request.method {
        case .qlora, .lora:
            return d.loraUnits(request).flatMap { u -> [Group] in
                let (out, inp) = (u.out, u.inp)
                let (outAxis, inAxis) = (u.outAxis, u.inAxis)
                let (prefix, prefixAxes) = d.layerPrefix(u.representative)
                var groups = [
                    Group(name: "lora.\(u.name).A", shape: prefix + [d.r, inp],
                          axes: prefixAxes + ["r", inAxis], elementsEach: d.r * inp),
                    Group(name: "lora.\(u.name).B", shape: prefix + [out, d.r],
                          axes: prefixAxes + [outAxis, "r"], elementsEach: out * d.r),
                ]
                if request.dora {
                    // PEFT's lora_magnitude_vector: one scalar per output feature.
                    groups.append(Group(name: "dora.\(u.name).magnitude", shape: prefix + [out],
                                        axes: prefixAxes + [outAxis], elementsEach: out))
                }
                return groups
            }
        case .promptTuning:
            return [Group(name: "prompt.embeddings", shape: [d.P, d.C], axes: ["P", "C"],
                          elementsEach: d.P * d.C)]
        case .prefixTuning:
            // PEFT without projection: Embedding(P, L·2·token_dim), token_dim = KVD under GQA.
            let width = d.L * 2 * d.KVD
            guard let h = request.prefixProjectionHidden else {
                return [Group(name: "prefix.kv", shape: [d.P, width], axes: ["P", "L·2·KVD"], elementsEach: d.P * width)]
            }
            // With projection: Embedding(P, token_dim) → Linear(token_dim, H) → tanh → Linear(H, L·2·token_dim).
            return [
                Group(name: "prefix.embedding", shape: [d.P, d.KVD], axes: ["P", "KVD"], elementsEach: d.P * d.KVD),
                Group(name: "prefix.transform.0.weight", shape: [h, d.KVD], axes: ["H", "KVD"], elementsEach: h * d.KVD),
                Group(name: "prefix.transform.0.bias", shape: [h], axes: ["H"], elementsEach: h),
                Group(name: "prefix.transform.2.weight", shape: [width, h], axes: ["L·2·KVD", "H"], elementsEach: width * h),
                Group(name: "prefix.transform.2.bias", shape: [width], axes: ["L·2·KVD"], elementsEach: width),
            ]
        case .full:
            return fullGroups(d, request)
        }
    }

    /// Every base parameter, tensor by tensor (full fine-tuning).
    private static func fullGroups(_ d: ModelDims, _ request: PlanRequest) -> [Group] {
        var groups = Projection.allCases.map { p -> Group in
            let (out, inp) = d.shape(p)
            let (prefix, prefixAxes) = d.layerPrefix(p)
            let (outAxis, inAxis) = d.axes(p)
            return Group(name: "base.\(p.rawValue).weight", shape: prefix + [out, inp],
                         axes: prefixAxes + [outAxis, inAxis], elementsEach: out * inp)
        }
        let heads = request.model.config.tieWordEmbeddings ? 1 : 2
        groups.append(Group(name: "embed+head", shape: [heads, d.V, d.C], axes: ["heads", "V", "C"],
                            elementsEach: d.V * d.C))
        groups.append(Group(name: "norms", shape: [2 * d.L + 1, d.C], axes: ["2L+1", "C"], elementsEach: d.C))
        if request.model.config.attentionBias {
            groups.append(Group(name: "bias.qkv", shape: [d.L, d.QD + 2 * d.KVD], axes: ["L", "QD+2·KVD"],
                                elementsEach: d.QD + 2 * d.KVD))
        }
        if d.E > 1 {
            groups.append(Group(name: "router", shape: [d.L, d.E, d.C], axes: ["L", "E", "C"],
                                elementsEach: d.E * d.C))
        }
        return groups
    }

    private static func trainableFormula(_ request: PlanRequest, total: Int, type: StorageType) -> String {
        let bytes = "\(CountFormat.format(total)) params × \(type.bits / 8) B (\(type.rawValue))"
        switch request.method {
        case .qlora, .lora:
            return "LoRA r·(in+out)\(request.dora ? " + out (DoRA magnitude)" : "") per targeted linear per layer, "
                + "r=\(request.rank): \(bytes)"
        case .promptTuning: return "P·C virtual-token embeddings: \(bytes)"
        case .prefixTuning:
            return request.prefixProjectionHidden == nil ? "P·L·2·KVD key/value prefixes: \(bytes)"
                : "P·KVD embedding + MLP KVD→H→L·2·KVD (PEFT's prefix projection): \(bytes)"
        case .full: return "every base weight is trainable (counted under unquantized weights): \(total) params"
        }
    }

    /// Optimizer state bytes for one tensor of `n` elements; `element` is the bytes of one state
    /// element (4 for f32 state, the parameter's bytes for `--optimizer-state param`).
    static func stateBytes(_ n: Int, _ optimizer: OptimizerKind, element: Int = 4) -> Int {
        switch optimizer {
        case .adamw: return 2 * element * n
        case .lion: return element * n
        case .adamw8bit:
            guard n >= min8BitSize else { return 8 * n }
            return 2 * n + 2 * 4 * ((n + optimizerBlock - 1) / optimizerBlock)
        }
    }

    private static func addOptimizerState(
        to table: inout BufferTable, _ groups: [Group], _ request: PlanRequest, shards: Int
    ) {
        let opt = request.optimizer
        // torch.optim keeps m and v in the parameter's dtype; 32-bit optimizers in f32.
        let stateType: StorageType = request.device == .gpu && request.optimizerState == .param
            ? parameterType(request) : .f32
        let element = stateType.bits / 8
        var resident = 0
        var paged = 0
        var largestPaged = 0
        for g in groups {
            let bytes = stateBytes(g.elementsEach, opt, element: element) * g.count
            if request.paged && g.elementsEach >= pagingThreshold {
                paged += bytes
                largestPaged = max(largestPaged, stateBytes(g.elementsEach, opt, element: element))
            } else {
                resident += bytes
            }
        }
        let perParam: String = switch opt {
        case .adamw: "AdamW m+v \(stateType.rawValue) = \(2 * element) B/param"
        case .lion: "Lion momentum \(stateType.rawValue) = \(element) B/param"
        case .adamw8bit: "8-bit AdamW m+v u8 + f32 absmax per 256 ≈ 2.03 B/param (< 4096-element tensors 8 B)"
        }
        table.add(PlannedBuffer("optim.state", .optimizerResident, shape: [resident], axes: ["bytes"], .u8,
                                shards: shards, note: "\(opt.rawValue) state of non-paged tensors"))
        if request.paged {
            let where_: Placement = request.device == .gpu ? .host : .file
            table.add(PlannedBuffer("optim.state.paged", .optimizerPaged, shape: [paged], axes: ["bytes"],
                                    .u8, placement: where_, shards: shards,
                                    note: "state of tensors ≥ 1e5 elements, paged out"))
            if request.device == .gpu {
                table.add(PlannedBuffer("optim.prefetch", .optimizerResident, shape: [largestPaged],
                                        axes: ["bytes"], .u8, phases: [.optimizerStep], note: "largest paged tensor's state, "
                                        + "prefetched to the device for its update"))
            }
            let whereText = request.device == .gpu
                ? "host RAM (CUDA unified memory)" : "a file-backed mapping the kernel may evict"
            table.explain(.optimizerPaged, "\(perParam), tensors ≥ 1e5 elements, in \(whereText)")
            table.explain(.optimizerResident, "\(perParam) for tensors < 1e5 elements"
                          + (request.device == .gpu ? " + prefetch of the largest paged tensor" : ""))
        } else {
            table.explain(.optimizerResident, perParam)
        }
        if request.device == .gpu && opt == .adamw && !request.paged {
            // torch.optim.AdamW's foreach path: _foreach_sqrt(exp_avg_sqs) makes a new tensor list the
            // size of the state's v, alive only inside the step.
            let total = groups.reduce(0) { $0 + $1.elements }
            table.add(PlannedBuffer("optim.step_temporaries", .optimizerResident, shape: [total], axes: ["N_train"],
                                    stateType, shards: shards, phases: [.optimizerStep],
                                    note: "foreach AdamW's √v list, only during the step"))
            table.explain(.optimizerResident, "+ \(element) B/param during the step (foreach AdamW's √v)")
        }
    }
}
