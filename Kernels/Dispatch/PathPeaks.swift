import QLoRACore

/// The kernel path a run uses (`KernelISA.best`, after `QLORA_ISA`) and that path's own measured
/// limits on this machine, for the benchmarks' "% of peak" and roofline figures.
public struct PathPeaks: Sendable {
    /// `avx512`, `avx2` or `scalar`.
    public var isa: String
    public var threads: Int
    /// Float32 multiply-add peak of the path on `threads` cores, GFLOP/s.
    public var fmaPeakGFLOPS: Double
    /// `vdpbf16ps` peak on `threads` cores, GFLOP/s, when the run's bf16 products run on it (AVX512-BF16, not
    /// capped by `QLORA_ISA`); nil otherwise (f32 products, or bf16 on the Float32 FMA fallback).
    public var bf16DotPeakGFLOPS: Double?
    /// Streaming read bandwidth on `threads` cores, GB/s.
    public var readGBps: Double

    /// Measures the running path's peaks (about a second), with the bf16 dot-product peak when products in
    /// `computeDType` run on `vdpbf16ps`.
    public static func measure(threads: Int, computeDType: ComputeDType = .f32) -> PathPeaks {
        let t = max(1, threads)
        let bf16 = computeDType == .bf16 && BF16Variant.best == .avx512bf16
        return PathPeaks(isa: KernelISA.best.userName, threads: t,
                         fmaPeakGFLOPS: MachineProbe.fmaPeakGFLOPS(threads: t),
                         bf16DotPeakGFLOPS: bf16 ? MachineProbe.bf16PeakGFLOPS(threads: t) : nil,
                         readGBps: MachineProbe.readBandwidthGBps(threads: t))
    }

    /// The peak of the instruction that ran the frozen products: `vdpbf16ps` for bf16 on AVX512-BF16, else
    /// the Float32 FMA (also the bf16 fallback's: it multiplies rounded operands in Float32).
    public var productPeakGFLOPS: Double { bf16DotPeakGFLOPS ?? fmaPeakGFLOPS }

    /// `vdpbf16ps` or `fma`: which peak `productPeakGFLOPS` is.
    public var productPeakKind: String { bf16DotPeakGFLOPS == nil ? "fma" : "vdpbf16ps" }

    /// One line for the human-readable output.
    public var summary: String {
        "kernel path \(isa): Float32 peak \(Self.f1(fmaPeakGFLOPS)) GFLOP/s, "
            + (bf16DotPeakGFLOPS.map { "bf16 dot peak \(Self.f1($0)) GFLOP/s, " } ?? "")
            + "read \(Self.f1(readGBps)) GB/s (\(threads) thread\(threads == 1 ? "" : "s"), measured)"
    }

    /// Keys for a benchmark's JSON: `peak_gflops` is the products' peak (`peak_kind` says which),
    /// `f32_peak_gflops` the Float32 FMA peak in every case.
    public var jsonFields: [String: Any] {
        ["isa": isa, "peak_gflops": productPeakGFLOPS, "peak_kind": productPeakKind, "f32_peak_gflops": fmaPeakGFLOPS,
         "read_gbps": readGBps]
    }

    static func f1(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return String(describing: r)
    }
}
