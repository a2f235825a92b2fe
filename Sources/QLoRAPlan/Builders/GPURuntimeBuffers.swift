/// What a CUDA training process holds besides tensors: the CUDA context with its library kernels,
/// the caching allocator's slack, and — when sharded over several GPUs — the layers FSDP gathers.
enum GPURuntimeBuffers {
    /// CUDA context, cuBLAS and bitsandbytes kernels: memory outside PyTorch's allocator. Public OOM
    /// messages that itemize it ("Including non-PyTorch memory") show 0.11–0.58 GiB, median ≈ 0.49.
    static let cudaContextBytes = 512 << 20
    /// Caching-allocator slack ("reserved by PyTorch but unallocated" at OOM time) as a fraction of
    /// allocated bytes: 0.1–7% in the same messages, median ≈ 3%; 5% is the planning margin.
    static let allocatorReserveFraction = 0.05
    /// Peak reserved over peak allocated in fine-tuning runs that did not run out of memory: the
    /// caching allocator keeps every block it has freed until an allocation fails, so with memory to
    /// spare its reserve grows past the 5% seen at OOM time. Published pairs of the two counters for
    /// 7B fine-tunes: answer.ai fsdp_qlora LoRA 10.24/8.28 and 10.22/9.16 GiB; llama-recipes #41 (FSDP
    /// LoRA) 32.67/25.86, 27.36/20.20 and 19.36/15.22 GB; fms-acceleration #14 (Mistral-7B LoRA, bnb
    /// QLoRA) 29.03/26.11 and 19.46/15.86 GiB: ratios 1.11–1.35, median 1.24.
    public static let cachingSlackFraction = 0.24

    /// Bytes of one layer's FSDP-managed weights and adapters, unsharded (what one all-gather
    /// materializes). bitsandbytes' quantization constants are not FSDP parameters: they stay where
    /// they are and are not gathered.
    static func layerBytes(_ table: BufferTable, _ d: ModelDims, _ request: PlanRequest) -> Int {
        table.buffers.filter {
            ($0.name.hasPrefix("base.") || $0.name.hasPrefix("lora.")) && $0.axes.first == "L"
                && ($0.component != .quantConstants || request.stack.shardsQuantConstants)
        }.reduce(0) { $0 + ($1.elements * $1.dtype.bits + 7) / 8 } / d.L
    }

    /// FSDP keeps the current layer and the prefetched next one unsharded: 2 × one layer's weights
    /// and adapters (Answer.AI / bitsandbytes FSDP-QLoRA layout). The root unit — what no wrapped
    /// layer owns: embeddings, lm_head, final norm — is gathered at the start of the forward and, as
    /// FSDP does for the root (`_post_forward_reshard` skips it, "immediately used for backward"),
    /// stays unsharded through the forward and the backward.
    static func addGatheredLayers(to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, shards: Int) {
        guard shards > 1 || request.offloadBase else { return }
        if shards > 1 {
            table.add(PlannedBuffer("fsdp.gathered", .gatheredWeights, shape: [2, layerBytes(table, d, request)],
                                    axes: ["2", "layer bytes"], .u8,
                                    phases: [.forwardEnd, .layerBackward],
                                    note: "current and prefetched layer, unsharded"))
        }
        let heads = request.model.config.tieWordEmbeddings ? 1 : 2
        table.add(PlannedBuffer("fsdp.root", .gatheredWeights, shape: [heads * d.V * d.C + d.C],
                                axes: ["V·C·heads + C"], WeightBuffers.denseType(request),
                                phases: [.forwardEnd, .layerBackward],
                                note: "root unit (embeddings, lm_head, final norm) unsharded from forward to backward"))
        table.explain(.gatheredWeights, "weights and adapters of 2 layers, unsharded, and the root unit "
                      + "(embeddings\(heads == 2 ? ", lm_head" : ""), final norm) unsharded through forward and backward"
                      + (shards > 1 ? " (everything else is split over \(shards) GPUs)" : ""))
    }

    /// FSDP CPU offload: parameters (NF4 codes, dense weights, adapters), gradients and optimizer
    /// state move to host RAM; the device holds 2 layers' weights and adapters, unsharded (in use and
    /// prefetched), and the root unit (added by `addGatheredLayers`). bitsandbytes' quantization
    /// constants are not FSDP parameters, so they are not offloaded.
    static func offloadParameters(_ table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest) {
        let perLayer = layerBytes(table, d, request)
        var moved: [Component] = [.quantizedWeights, .unquantizedWeights, .trainableParameters, .gradients,
                                  .optimizerResident]
        if request.stack.shardsQuantConstants { moved.append(.quantConstants) }
        for component in moved { table.move(component, to: .host) }
        table.remove(named: "fsdp.gathered")
        table.add(PlannedBuffer("offload.layers", .gatheredWeights, shape: [2, perLayer], axes: ["2", "layer bytes"], .u8,
                                phases: [.forwardEnd, .layerBackward],
                                note: "layer in use and the prefetched next one, copied from host RAM"))
        table.explain(.gatheredWeights, "FSDP CPU offload: parameters, gradients and optimizer state in host RAM"
                      + (request.stack.shardsQuantConstants ? "" : "; bitsandbytes' quantization constants stay on the GPU"))
    }

    /// Adds the CUDA context and the allocator reserve; call after every tensor is in the table.
    static func addOverhead(to table: inout BufferTable) {
        let allocated = table.phasePeak().bytes
        let reserve = Int((Double(allocated) * allocatorReserveFraction).rounded(.up))
        table.add(PlannedBuffer("runtime.cuda_context", .runtimeOverhead, shape: [cudaContextBytes],
                                axes: ["bytes"], .u8, note: "CUDA context and library kernels"))
        table.add(PlannedBuffer("runtime.allocator_reserve", .allocatorReserve, shape: [reserve],
                                axes: ["bytes"], .u8, note: "caching-allocator slack"))
        table.explain(.runtimeOverhead, "stated constant 0.5 GiB (non-PyTorch memory in public OOM reports)")
        table.explain(.allocatorReserve, "5% of the peak phase's allocated bytes (fragmentation seen at OOM: 0.1–7%)")
    }
}
