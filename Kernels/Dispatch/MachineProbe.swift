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

    /// Peak FMA throughput in GFLOP/s on `threads` cores of the path `isa` runs (best of `repeats`):
    /// 16-lane FMAs for AVX-512, 8-lane for AVX2, scalar multiply-adds for the scalar path.
    public static func fmaPeakGFLOPS(threads: Int, repeats: Int = 5, isa: KernelISA = .best) -> Double {
        let iterations = isa == .reference ? 5_000_000 : 20_000_000
        let flopsPerIteration: Double = isa == .avx512 ? 512 : isa == .avx2 ? 192 : 24
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = now()
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let r: Float
                switch isa {
                case .avx512: r = MachineProbeAVX512.fmaLoop(iterations, Float(t) + 1)
                case .avx2: r = MachineProbeAVX2.fmaLoop(iterations, Float(t) + 1)
                case .reference: r = scalarMulAddLoop(iterations, Float(t) + 1)
                }
                if r == 12345 { print(r) }  // keep the result alive
            }
            let dt = now() - t0
            best = max(best, Double(threads) * Double(iterations) * flopsPerIteration / dt / 1e9)
        }
        return best
    }

    /// `iterations` × 12 independent scalar multiply-adds (24 flops), built for baseline x86-64.
    @inline(never)
    static func scalarMulAddLoop(_ iterations: Int, _ seed: Float) -> Float {
        let m: Float = 0.999_999, a: Float = 1e-7
        var c = (seed, seed, seed, seed, seed, seed, seed, seed, seed, seed, seed, seed)
        for _ in 0..<iterations {
            c.0 = c.0 * m + a; c.1 = c.1 * m + a; c.2 = c.2 * m + a; c.3 = c.3 * m + a
            c.4 = c.4 * m + a; c.5 = c.5 * m + a; c.6 = c.6 * m + a; c.7 = c.7 * m + a
            c.8 = c.8 * m + a; c.9 = c.9 * m + a; c.10 = c.10 * m + a; c.11 = c.11 * m + a
        }
        return c.0 + c.1 + c.2 + c.3 + c.4 + c.5 + c.6 + c.7 + c.8 + c.9 + c.10 + c.11
    }

    /// Read bandwidth in GB/s streaming a 256 MiB buffer on `threads` cores (best of `repeats`).
    public static func readBandwidthGBps(threads: Int, repeats: Int = 5, isa: KernelISA = .best) -> Double {
        let count = 64 << 20
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buf.deallocate() }
        buf.initialize(repeating: 1, count: count)
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = now()
            Parallel.forChunks(count, threads: threads, granule: 64) { _, lo, hi in
                var s: Float = 0
                switch isa {
                case .avx512: s = MachineProbeAVX512.readSum(buf + lo, hi - lo)
                case .avx2: s = MachineProbeAVX2.readSum(buf + lo, hi - lo)
                case .reference:
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
