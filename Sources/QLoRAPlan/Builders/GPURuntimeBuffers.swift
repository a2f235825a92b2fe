/// What a CUDA training process holds besides tensors: the CUDA context with its library kernels,
/// the caching allocator's slack, and — when sharded over several GPUs — the layers FSDP gathers.
enum GPURuntimeBuffers {
    /// CUDA context, cuBLAS and bitsandbytes kernels: memory outside PyTorch's allocator. Public OOM
    /// messages that itemize it ("Including non-PyTorch memory") show 0.11–0.58 GiB, median ≈ 0.49.
    static let cudaContextBytes = 512 << 20
    /// Caching-allocator slack ("reserved by PyTorch but unallocated" at OOM time) as a fraction of
    /// allocated bytes: 0.1–7% in the same messages, median ≈ 3%; 5% is the planning margin.
    static let allocatorReserveFraction = 0.05

    /// FSDP keeps the current layer and the prefetched next one unsharded: 2 × one layer's weights
    /// and adapters (Answer.AI / bitsandbytes FSDP-QLoRA layout).
    static func addGatheredLayers(to table: inout BufferTable, _ d: ModelDims, shards: Int) {
        guard shards > 1 else { return }
        let perLayer = table.buffers.filter {
            ($0.name.hasPrefix("base.") || $0.name.hasPrefix("lora.")) && $0.axes.first == "L"
        }.reduce(0) { $0 + ($1.elements * $1.dtype.bits + 7) / 8 } / d.L
        table.add(PlannedBuffer("fsdp.gathered", .gatheredWeights, shape: [2, perLayer],
                                axes: ["2", "layer bytes"], .u8,
                                note: "current and prefetched layer, unsharded"))
        table.explain(.gatheredWeights, "weights, constants and adapters of 2 layers, unsharded "
                      + "(everything else is split over \(shards) GPUs)")
    }

    /// FSDP CPU offload: parameters (NF4 codes and constants, dense weights, adapters), gradients and
    /// optimizer state move to host RAM; the device holds 2 layers' weights and adapters, unsharded
    /// (in use and prefetched), and the embedding or lm_head while it is used.
    static func offloadParameters(_ table: inout BufferTable, _ d: ModelDims, c: StorageType) {
        let perLayer = table.buffers.filter {
            ($0.name.hasPrefix("base.") || $0.name.hasPrefix("lora.")) && $0.axes.first == "L"
        }.reduce(0) { $0 + ($1.elements * $1.dtype.bits + 7) / 8 } / d.L
        for component in [Component.quantizedWeights, .quantConstants, .unquantizedWeights, .trainableParameters,
                          .gradients, .optimizerResident, .gatheredWeights] {
            table.move(component, to: .host)
        }
        table.add(PlannedBuffer("offload.layers", .gatheredWeights, shape: [2, perLayer], axes: ["2", "layer bytes"], .u8,
                                note: "layer in use and the prefetched next one, copied from host RAM"))
        table.add(PlannedBuffer("offload.embedding", .gatheredWeights, shape: [d.V, d.C], axes: ["V", "C"], c,
                                note: "embedding or lm_head while it is used"))
        table.explain(.gatheredWeights, "2 layers' weights and adapters and one V·C embedding on the device; "
                      + "parameters, gradients and optimizer state in host RAM (FSDP CPU offload)")
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
