/// The result of planning one request: the buffer table, its totals and the verdict.
public struct MemoryPlan: Sendable {
    public let request: PlanRequest
    public let table: BufferTable
    /// Peak bytes on one device (one GPU, or the host for `--device cpu`): the largest phase.
    public let deviceBytes: Int
    /// The phase that sets the peak, and every phase's device bytes.
    public let peakPhase: Phase
    public let phaseBytes: [(phase: Phase, bytes: Int)]
    /// Bytes kept off the device: paged optimizer state or an offloaded base (host RAM on GPU plans,
    /// a file on CPU).
    public let offDeviceBytes: Int
    /// Things the reader should know that are not errors (e.g. a sequence beyond the model's context).
    public let notes: [String]

    public var budgetBytes: Int? { request.budget?.bytes }
    /// nil when there is no budget.
    public var fits: Bool? { budgetBytes.map { deviceBytes <= $0 } }
    /// Budget minus total; negative when it does not fit.
    public var headroomBytes: Int? { budgetBytes.map { $0 - deviceBytes } }

    /// Tensor bytes of the peak phase: what `torch.cuda.max_memory_allocated()` counts (the peak
    /// without the CUDA context and the allocator's slack). For `--device cpu`, the buffers.
    public var allocatedBytes: Int {
        deviceBytes - peakBytes(of: .runtimeOverhead) - peakBytes(of: .allocatorReserve)
    }

    /// What `torch.cuda.max_memory_reserved()` reports for this step in a run with memory to spare:
    /// the allocated peak plus the caching allocator's slack in an unconstrained run
    /// (`GPURuntimeBuffers.cachingSlackFraction`). Like the allocated figure it leaves out the CUDA
    /// context. The fit verdict does not use it: before failing, the allocator frees its cache and
    /// retries, so a run needs `deviceBytes`, not this. nil for CPU plans.
    ///
    /// With FSDP the caching allocator keeps one pool per CUDA stream and never lends one stream's
    /// cached blocks to another: the gathered parameters (the root unit and the layers in flight) are
    /// allocated on FSDP's unshard stream, on top of the compute stream's pool; and the compute
    /// stream's pool never shrinks below what wrapping the model left cached (`fsdpWrapBytes`).
    public var peakReservedBytes: Int? {
        guard request.device == .gpu else { return nil }
        let gathered = peakBytes(of: .gatheredWeights)
        let compute = max(allocatedBytes - gathered, fsdpWrapBytes)
        return Int((Double(compute + gathered) * (1 + GPURuntimeBuffers.cachingSlackFraction)).rounded())
    }

    /// The caching allocator's slack in a run with memory to spare (see `peakReservedBytes`).
    public static var cachingSlackFraction: Double { GPURuntimeBuffers.cachingSlackFraction }

    /// FSDP (`--gpus N`): the compute stream's allocation peak while the model is wrapped. The root
    /// unit is wrapped last, after every layer is sharded: its parameters are moved to the GPU,
    /// concatenated into one flat parameter (a second copy) and then sharded, so the sharded
    /// weights and adapters plus twice the root unit are allocated at once (FSDP's
    /// `_init_param_handle_from_module`: `flatten_tensors_into_flat_param`, then `shard`). 0 without
    /// sharding or with CPU offload (the wrapped parameters go back to host RAM).
    public var fsdpWrapBytes: Int {
        guard request.device == .gpu && request.gpuCount > 1 && !request.offloadBase else { return 0 }
        let resident: Set<Component> = [.quantizedWeights, .quantConstants, .unquantizedWeights, .trainableParameters]
        let sharded = table.buffers.filter { resident.contains($0.component) && $0.placement == .device }
            .reduce(0) { $0 + $1.bytes }
        return sharded + 2 * (table.buffer(named: "fsdp.root")?.bytes ?? 0)
    }

    /// Bytes of the NF4 linears with their constants (the figure a 70B-on-24GB verdict quotes).
    public var quantizedLinearBytes: Int {
        table.bytes(of: .quantizedWeights) + table.bytes(of: .quantConstants)
    }

    /// Bytes that do not depend on B or T: weights, trainable state, runtime constant.
    public var staticBytes: Int {
        let fixed: Set<Component> = [.quantizedWeights, .quantConstants, .unquantizedWeights,
                                     .trainableParameters, .gradients, .optimizerResident,
                                     .gatheredWeights, .runtimeOverhead]
        return table.buffers.filter {
            fixed.contains($0.component) && $0.placement == .device && $0.phases.count == Phase.allCases.count
        }.reduce(0) { $0 + $1.bytes }
    }

    /// Bytes of the peak phase by component (what the device holds at its peak).
    public func peakBytes(of component: Component) -> Int {
        table.buffers.filter { $0.component == component && $0.placement == .device && $0.phases.contains(peakPhase) }
            .reduce(0) { $0 + $1.bytes }
    }
}

/// Builds the buffer table for a request (llm.c's `fill_in_*_sizes`), sums it, and judges it.
public enum Planner {
    /// Validates the request, then plans it.
    public static func plan(_ request: PlanRequest) throws -> MemoryPlan {
        try request.validate()
        return build(request)
    }

    /// Plans a request already validated (the recommender varies valid requests).
    static func build(_ request: PlanRequest) -> MemoryPlan {
        let d = ModelDims(request)
        let shards = request.device == .gpu ? request.gpuCount : 1
        var table = BufferTable()
        WeightBuffers.add(to: &table, d, request, shards: shards)
        TrainableBuffers.add(to: &table, d, request, shards: shards)
        switch request.device {
        case .gpu:
            GPURuntimeBuffers.addGatheredLayers(to: &table, d, request, shards: shards)
            if request.offloadBase { GPURuntimeBuffers.offloadParameters(&table, d, request) }
            GPUActivationBuffers.add(to: &table, d, request)
            GPURuntimeBuffers.addOverhead(to: &table)
        case .cpu:
            CPUActivationBuffers.add(to: &table, d, request)
            DataParallelBuffers.add(to: &table, request)
            // The CPU trainer allocates every buffer once for the run: each phase holds them all.
            table.keepAllAlive()
        }
        let peak = table.phasePeak()
        var notes: [String] = []
        if request.device == .cpu && request.ranks > 1 { notes.append(DataParallelBuffers.note(request)) }
        let maxPos = request.model.config.maxPositionEmbeddings
        if d.T > maxPos {
            notes.append("sequence \(d.T) exceeds the model's max_position_embeddings \(maxPos)")
        }
        if request.paged && request.device == .cpu {
            notes.append("paged state on CPU is this project's design (file-backed mapping); "
                         + "bitsandbytes itself does not page on CPU")
        }
        return MemoryPlan(request: request, table: table, deviceBytes: peak.bytes, peakPhase: peak.phase,
                          phaseBytes: peak.all.map { (phase: $0.0, bytes: $0.1) },
                          offDeviceBytes: table.bytes(at: .host) + table.bytes(at: .file), notes: notes)
    }
}
