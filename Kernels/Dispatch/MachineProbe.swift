import Dispatch
import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

#if canImport(Glibc)
import Glibc
#endif

/// Measures this machine's Float32 FMA peak and memory read bandwidth, for roofline fractions.
public enum MachineProbe {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Peak FMA throughput in GFLOP/s on `threads` cores (best of `repeats`).
    public static func fmaPeakGFLOPS(threads: Int, repeats: Int = 5) -> Double {
        let isa = KernelISA.best
        let iterations = 20_000_000
        let flopsPerIteration: Double = isa == .avx512 ? 512 : isa == .avx2 ? 192 : 0
        guard flopsPerIteration > 0 else { return 0 }
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = now()
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let r = isa == .avx512 ? MachineProbeAVX512.fmaLoop(iterations, Float(t) + 1)
                    : MachineProbeAVX2.fmaLoop(iterations, Float(t) + 1)
                if r == 12345 { print(r) }  // keep the result alive
            }
            let dt = now() - t0
            best = max(best, Double(threads) * Double(iterations) * flopsPerIteration / dt / 1e9)
        }
        return best
    }

    /// Read bandwidth in GB/s streaming a 256 MiB buffer on `threads` cores (best of `repeats`).
    public static func readBandwidthGBps(threads: Int, repeats: Int = 5) -> Double {
        let count = 64 << 20
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buf.deallocate() }
        buf.initialize(repeating: 1, count: count)
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = now()
            Parallel.forChunks(count, threads: threads, granule: 64) { _, lo, hi in
                var s: Float = 0
                if KernelISA.best == .avx512 {
                    s = MachineProbeAVX512.readSum(buf + lo, hi - lo)
                } else {
                    var i = lo
                    while i < hi { s += buf[i]; i += 16 }
                }
                if s == -1 { print(s) }
            }
            let dt = now() - t0
            best = max(best, Double(count * 4) / dt / 1e9)
        }
        return best
    }
}
