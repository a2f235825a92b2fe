import CQLoRASupport

/// The instruction sets this CPU (and its OS) can run, read once.
public struct CPUFeatures: Sendable, CustomStringConvertible {
    /// AVX2 with FMA and F16C (x86-64-v3).
    public let hasAVX2: Bool
    /// AVX-512 F, BW, DQ and VL (x86-64-v4).
    public let hasAVX512: Bool
    /// AVX512-BF16 (`vdpbf16ps`, `vcvtne2ps2bf16`), on top of `hasAVX512`.
    public var hasAVX512BF16: Bool = false

    public static let current: CPUFeatures = {
        let bits = qlora_cpu_features()
        var f = CPUFeatures(hasAVX2: bits & 1 != 0, hasAVX512: bits & 2 != 0)
        f.hasAVX512BF16 = bits & 4 != 0
        return f
    }()

    /// Whether the bf16 products use `vdpbf16ps`: the CPU has AVX512-BF16 and `QLORA_ISA` does not cap the
    /// kernels below AVX-512. The planner's view of the same choice the kernels' `BF16Variant` makes (which also
    /// validates the variable; an invalid value stops every command before it plans).
    public var usesBF16DotProduct: Bool {
        guard hasAVX512BF16 else { return false }
        let cap = (Environment.get("QLORA_ISA") ?? "").lowercased().filter { $0 != " " }
        return !["avx2", "scalar", "reference"].contains(cap)
    }

    public var description: String {
        hasAVX512 ? "avx512" : hasAVX2 ? "avx2" : "baseline x86-64"
    }
}
