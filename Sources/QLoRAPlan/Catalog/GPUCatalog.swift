import QLoRACore

/// One GPU model the planner knows, with the memory a training process can actually use.
///
/// `usableBytes` is the total capacity CUDA reports to PyTorch (`torch.cuda.get_device_properties`,
/// printed as "GPU 0 has a total capacity of … GiB" in out-of-memory errors). It is smaller than the
/// marketed size because the driver reserves some memory. The CUDA context and the caching
/// allocator's slack come out of this number; the planner lists them as components.
public struct GPUSpec: Sendable, Equatable {
    /// Lower-case CLI name, e.g. `rtx3090`.
    public let name: String
    /// Marketed memory, as printed on the box ("24 GB").
    public let marketed: String
    /// Bytes usable by CUDA allocations in one process.
    public let usableBytes: Int
    /// Where `usableBytes` comes from: a public out-of-memory message, or an estimate.
    public let source: String
}

/// The GPU presets of `qlora memplan --gpu`, one line each (the registry of this axis).
public enum GPUCatalog {
    private static func gib(_ value: Double) -> Int { Int((value * Double(1 << 30)).rounded()) }

    /// Ordered by usable memory, smallest first, so "the smallest card that fits" is the first hit.
    public static let all: [GPUSpec] = [
        GPUSpec(name: "rtx4060", marketed: "8 GB", usableBytes: gib(7.75),
                source: "OOM message, ESRSchao/EdgeRegNet#2"),
        GPUSpec(name: "t4", marketed: "16 GB", usableBytes: gib(14.56),
                source: "OOM message, Zheng-Chong/CatVTON#133 (14.56-14.75 GiB seen)"),
        GPUSpec(name: "a4000", marketed: "16 GB", usableBytes: gib(15.61),
                source: "OOM message, DengKaiCQ/VGGT-Long#6"),
        GPUSpec(name: "v100-16g", marketed: "16 GB", usableBytes: gib(15.78),
                source: "OOM message, googlecolab/colabtools#2001"),
        GPUSpec(name: "a10", marketed: "24 GB", usableBytes: gib(21.99),
                source: "OOM message, zai-org/CogVLM#236"),
        GPUSpec(name: "l4", marketed: "24 GB", usableBytes: gib(22.00),
                source: "estimate: nvidia-smi 23034 MiB minus ~0.5 GiB driver reserve (as the a10)"),
        GPUSpec(name: "rtx4090", marketed: "24 GB", usableBytes: gib(23.64),
                source: "OOM message, 3DTopia/Phidias-Diffusion#8 (23.64-23.68 GiB seen)"),
        GPUSpec(name: "rtx3090", marketed: "24 GB", usableBytes: gib(23.70),
                source: "OOM message, GaoLii/DSP#10 and xiaoxiangAQ/GAS-Net#7"),
        GPUSpec(name: "rtx5090", marketed: "32 GB", usableBytes: gib(31.37),
                source: "OOM message, Wan-Video/Wan2.1#465"),
        GPUSpec(name: "v100-32g", marketed: "32 GB", usableBytes: gib(31.74),
                source: "OOM message, haotian-liu/LLaVA#812"),
        GPUSpec(name: "a100-40g", marketed: "40 GB", usableBytes: gib(39.50),
                source: "OOM message, TianheWu/CoSeR#10 (older drivers: 39.59 GiB)"),
        GPUSpec(name: "l40s", marketed: "48 GB", usableBytes: gib(44.40),
                source: "OOM message for the L40 (same 46068 MiB memory), NVlabs/Eagle#68"),
        GPUSpec(name: "rtx6000-ada", marketed: "48 GB", usableBytes: gib(44.43),
                source: "OOM message, DINGYANB/MTVCrafter#21"),
        GPUSpec(name: "a6000", marketed: "48 GB", usableBytes: gib(47.54),
                source: "estimate: nvidia-smi 49140 MiB minus ~0.45 GiB driver reserve"),
        GPUSpec(name: "h100-80g", marketed: "80 GB", usableBytes: gib(79.11),
                source: "OOM message, vllm-project/vllm#27508"),
        GPUSpec(name: "a100-80g", marketed: "80 GB", usableBytes: gib(79.25),
                source: "OOM message, levihsu/OOTDiffusion#235 (79.25-79.35 GiB seen)"),
    ]

    /// The preset called `name` (case-insensitive); throws with the list of known names.
    public static func named(_ name: String) throws -> GPUSpec {
        let key = name.lowercased()
        if let gpu = all.first(where: { $0.name == key }) { return gpu }
        throw QLoRAError(.notFound, "unknown GPU '\(name)' (known: \(all.map(\.name).joined(separator: ", ")))")
    }
}
