import Dispatch
import QLoRACore
import QLoRAKernelsAVX512
import QLoRAKernelsAVX512BF16

extension MachineProbe {
    /// Peak `vdpbf16ps` throughput in GFLOP/s (2 flops per bf16 product) on `threads` cores; 0 where
    /// the CPU lacks AVX512-BF16.
    public static func bf16PeakGFLOPS(threads: Int, repeats: Int = 5, iterations: Int = 10_000_000) -> Double {
        guard BF16Variant.dotProductAvailable else { return 0 }
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = now()
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let r = MachineProbeBF16.dotLoop(iterations, Float(t) + 1)
                if r == 12345 { print(r) }
            }
            best = max(best, Double(threads) * Double(iterations) * 1024 / (now() - t0) / 1e9)
        }
        return best
    }

    /// `fmaPeakGFLOPS` with a caller-chosen length (the `auto` probe keeps it short).
    static func shortFMAPeakGFLOPS(threads: Int, repeats: Int, iterations: Int) -> Double {
        guard KernelISA.best == .avx512 else { return fmaPeakGFLOPS(threads: threads, repeats: 1) }
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = now()
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let r = MachineProbeAVX512.fmaLoop(iterations, Float(t) + 1)
                if r == 12345 { print(r) }
            }
            best = max(best, Double(threads) * Double(iterations) * 512 / (now() - t0) / 1e9)
        }
        return best
    }
}

/// Resolves `--compute-dtype auto` once per process: bf16 where the machine's bf16 dot product
/// outruns its Float32 FMA by a clear margin (≥ 1.25×, measured), else f32.
public enum ComputeDTypeChoice {
    public struct Resolved: Sendable {
        public let dtype: ComputeDType
        /// What was measured / why, for the line the commands print.
        public let reason: String
    }

    /// The probe's result (one thread; about 50 ms), computed on first use.
    public static let probe: (bf16: Double, f32: Double) = {
        let f32 = MachineProbe.shortFMAPeakGFLOPS(threads: 1, repeats: 3, iterations: 2_000_000)
        let bf16 = MachineProbe.bf16PeakGFLOPS(threads: 1, repeats: 3, iterations: 1_000_000)
        return (bf16, f32)
    }()

    public static func resolve(_ requested: ComputeDType) -> Resolved {
        switch requested {
        case .f32: return Resolved(dtype: .f32, reason: "requested")
        case .bf16:
            return Resolved(dtype: .bf16, reason: BF16Variant.dotProductAvailable
                ? "requested; vdpbf16ps (AVX512-BF16)"
                : CPUFeatures.current.hasAVX512BF16
                    ? "requested; QLORA_ISA=\(KernelISA.best.userName) caps the kernels: Float32 FMA on bf16-rounded operands"
                    : "requested; this CPU lacks AVX512-BF16: Float32 FMA on bf16-rounded operands")
        case .int8:
            return Resolved(dtype: .f32, reason: "int8 inference: the products int8 does not cover run in f32")
        case .auto:
            guard BF16Variant.dotProductAvailable else {
                return Resolved(dtype: .f32, reason: CPUFeatures.current.hasAVX512BF16
                    ? "auto: QLORA_ISA=\(KernelISA.best.userName) caps the kernels below AVX512-BF16"
                    : "auto: this CPU lacks AVX512-BF16")
            }
            let p = probe
            let pick: ComputeDType = p.bf16 >= 1.25 * p.f32 ? .bf16 : .f32
            return Resolved(dtype: pick, reason: "auto: bf16 dot \(Int(p.bf16.rounded())) vs f32 FMA "
                                                        + "\(Int(p.f32.rounded())) GFLOP/s per core")
        }
    }
}
