/// The kernel path a run uses (`KernelISA.best`, after `QLORA_ISA`) and that path's own measured
/// limits on this machine, for the benchmarks' "% of peak" and roofline figures.
public struct PathPeaks: Sendable {
    /// `avx512`, `avx2` or `scalar`.
    public var isa: String
    public var threads: Int
    /// Float32 multiply-add peak of the path on `threads` cores, GFLOP/s.
    public var fmaPeakGFLOPS: Double
    /// Streaming read bandwidth on `threads` cores, GB/s.
    public var readGBps: Double

    /// Measures the running path's peaks (about a second).
    public static func measure(threads: Int) -> PathPeaks {
        let t = max(1, threads)
        return PathPeaks(isa: KernelISA.best.userName, threads: t,
                         fmaPeakGFLOPS: MachineProbe.fmaPeakGFLOPS(threads: t),
                         readGBps: MachineProbe.readBandwidthGBps(threads: t))
    }

    /// One line for the human-readable output.
    public var summary: String {
        "kernel path \(isa): Float32 peak \(Self.f1(fmaPeakGFLOPS)) GFLOP/s, read \(Self.f1(readGBps)) GB/s "
            + "(\(threads) thread\(threads == 1 ? "" : "s"), measured)"
    }

    /// Keys for a benchmark's JSON.
    public var jsonFields: [String: Any] {
        ["isa": isa, "peak_gflops": fmaPeakGFLOPS, "read_gbps": readGBps]
    }

    static func f1(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return String(describing: r)
    }
}
