import Foundation
#if canImport(Glibc)
import Glibc
#endif
import QLoRACore
import QLoRAKernels
import QLoRAQuant

/// The NF4 kernel microbenchmark behind `qlora bench kernels`: each kernel against OpenBLAS on the
/// dequantized Float32 weight and against "dequantize the whole matrix, then sgemm", timed in
/// alternating rounds in one process so the ratios share the machine's conditions, plus this
/// machine's own FMA peak and read bandwidth for roofline fractions.
public enum KernelBenchmark {
    public struct Machine: Codable, Sendable {
        public var cpuISA: String
        public var blasCore: String
        public var blasRequestedCore: String?
        public var fmaPeakGFLOPS1: Double
        public var fmaPeakGFLOPS2: Double
        public var readGBps1: Double
        public var readGBps2: Double
        /// `vdpbf16ps` peak (0 where the CPU lacks AVX512-BF16: bf16 then runs on the FMA units).
        public var bf16PeakGFLOPS1: Double = 0
        public var bf16PeakGFLOPS2: Double = 0

        enum CodingKeys: String, CodingKey {
            case cpuISA = "cpu_isa", blasCore = "blas_core", blasRequestedCore = "blas_requested_core"
            case fmaPeakGFLOPS1 = "fma_peak_gflops_1t", fmaPeakGFLOPS2 = "fma_peak_gflops_2t"
            case readGBps1 = "read_gbps_1t", readGBps2 = "read_gbps_2t"
            case bf16PeakGFLOPS1 = "bf16_peak_gflops_1t", bf16PeakGFLOPS2 = "bf16_peak_gflops_2t"
        }

        func peak(_ threads: Int) -> Double { threads <= 1 ? fmaPeakGFLOPS1 : fmaPeakGFLOPS2 * Double(threads) / 2 }
        func bandwidth(_ threads: Int) -> Double { threads <= 1 ? readGBps1 : readGBps2 }
        /// The bf16 products' arithmetic peak: vdpbf16ps where present, else the FMA peak.
        func bf16Peak(_ threads: Int) -> Double {
            guard bf16PeakGFLOPS1 > 0 else { return peak(threads) }
            return threads <= 1 ? bf16PeakGFLOPS1 : bf16PeakGFLOPS2 * Double(threads) / 2
        }
    }

    public struct Row: Codable, Sendable {
        public var kernel: String
        public var out: Int
        public var `in`: Int
        public var m: Int
        public var threads: Int
        public var seconds: Double
        public var gflops: Double
        public var weightGBps: Double
        public var baseline: String
        public var baselineSeconds: Double
        public var speedup: Double
        public var dequantSgemmSeconds: Double
        public var speedupVsDequantSgemm: Double
        public var rooflineFraction: Double
        public var rounds: Int
        /// The same product with `--compute-dtype bf16` (nil where bf16 runs the Float32 kernel: M ≤ 4 forward).
        public var bf16Seconds: Double? = nil
        /// OpenBLAS sgemm time / bf16 time (per round, median).
        public var bf16Speedup: Double? = nil
        /// Roofline fraction against the bf16 peak (`Machine.bf16Peak`).
        public var bf16RooflineFraction: Double? = nil

        enum CodingKeys: String, CodingKey {
            case kernel, out, `in`, m, threads, seconds, gflops, weightGBps = "weight_gbps", baseline
            case baselineSeconds = "baseline_seconds", speedup, dequantSgemmSeconds = "dequant_sgemm_seconds"
            case speedupVsDequantSgemm = "speedup_vs_dequant_sgemm", rooflineFraction = "roofline_fraction", rounds
            case bf16Seconds = "bf16_seconds", bf16Speedup = "bf16_speedup", bf16RooflineFraction = "bf16_roofline_fraction"
        }
    }

    public struct Report: Codable, Sendable {
        /// The kernel path the rows ran (`avx512`, `avx2` or `scalar`; `QLORA_ISA` chooses it).
        public var isa: String
        public var machine: Machine
        public var rows: [Row]

        public init(machine: Machine, rows: [Row]) {
            self.isa = machine.cpuISA
            self.machine = machine
            self.rows = rows
        }
    }

    public static let defaultShapes: [(Int, Int)] = [
        (1536, 576), (576, 1536), (4096, 4096), (11008, 4096), (4096, 11008), (28672, 8192),
    ]
    public static let defaultMs = [1, 16, 512]

    public static func measureMachine() -> Machine {
        let blas = BLAS.shared
        var m = Machine(cpuISA: KernelISA.best.userName, blasCore: blas?.coreName ?? "none",
                        blasRequestedCore: blas?.requestedCoreType,
                        fmaPeakGFLOPS1: MachineProbe.fmaPeakGFLOPS(threads: 1),
                        fmaPeakGFLOPS2: MachineProbe.fmaPeakGFLOPS(threads: 2),
                        readGBps1: MachineProbe.readBandwidthGBps(threads: 1),
                        readGBps2: MachineProbe.readBandwidthGBps(threads: 2))
        m.bf16PeakGFLOPS1 = MachineProbe.bf16PeakGFLOPS(threads: 1)
        m.bf16PeakGFLOPS2 = MachineProbe.bf16PeakGFLOPS(threads: 2)
        return m
    }

    /// Times `variants` in alternating rounds until each has `minRounds` rounds and `minSeconds` in all;
    /// returns each variant's median time per call and the median per-round ratio of variant 0 to
    /// the others. A sample repeats a fast call enough times to last ≥ 5 ms, so sub-millisecond
    /// kernels are timed in steady state (threads awake, caches warm) rather than as one cold call.
    static func race(_ variants: [() -> Void], minRounds: Int = 5, minSeconds: Double = 0.3,
                     maxRounds: Int = 51) -> (medians: [Double], ratios: [Double], rounds: Int) {
        var reps = [Int]()
        for v in variants {
            v()  // warm-up: page faults, caches, thread pools
            let t0 = MachineProbe.now()
            v()
            let dt = max(MachineProbe.now() - t0, 1e-7)
            reps.append(max(1, min(1000, Int((5e-3 / dt).rounded(.up)))))
        }
        var times = [[Double]](repeating: [], count: variants.count)
        var total = 0.0
        while times[0].count < maxRounds && (times[0].count < minRounds || total < minSeconds) {
            for (i, v) in variants.enumerated() {
                // No variant starts while another's idle threads still spin on the cores: ours park
                // at once, OpenBLAS's sleep ≈ 0.4 ms after their last call (`BLAS` caps their spin
                // with OPENBLAS_THREAD_TIMEOUT), so every variant, ours included, waits 1 ms first.
                WorkerPool.parkAll()
                usleep(1000)
                let t0 = MachineProbe.now()
                for _ in 0..<reps[i] { v() }
                let dt = MachineProbe.now() - t0
                times[i].append(dt / Double(reps[i]))
                total += dt
            }
        }
        func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }
        let ratios = (1..<variants.count).map { j in median(zip(times[j], times[0]).map { $0 / $1 }) }
        return (times.map(median), ratios, times[0].count)
    }

    /// One shape: every kernel × M × thread count asked for.
    public static func run(out N: Int, in K: Int, ms: [Int], threadCounts: [Int], machine: Machine,
                           progress: (String) -> Void = { _ in }) -> [Row] {
        guard let blas = BLAS.shared else { return [] }
        var rng = SeededRNG(seed: UInt64(N * 31 + K))
        let w = (0..<(N * K)).map { _ in rng.nextNormal() * 0.02 }
        let q = FourBitCodec.quantize(w, shape: [N, K], blockSize: 64, doubleQuant: true, threads: 2)
        let matrix = NF4Matrix.make(q)
        let ref = matrix.ref
        let wf = UnsafeMutablePointer<Float>.allocate(capacity: N * K)
        defer { wf.deallocate() }
        NF4Kernels.dequantize(ref, into: wf, threads: 2)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: N * K)  // for dequantize-then-sgemm
        defer { scratch.deallocate() }
        scratch.initialize(repeating: 0, count: N * K)
        let weightBytes = Double(matrix.storedBytes)
        var rows: [Row] = []
        let maxM = ms.max() ?? 1
        let X = UnsafeMutablePointer<Float>.allocate(capacity: maxM * max(N, K))
        let Y = UnsafeMutablePointer<Float>.allocate(capacity: maxM * max(N, K))
        defer { X.deallocate(); Y.deallocate() }
        for i in 0..<(maxM * max(N, K)) { X[i] = rng.nextNormal() }
        Y.initialize(repeating: 0, count: maxM * max(N, K))
        let ws = KernelWorkspace()
        for threads in threadCounts {
            blas.setThreadCount(threads)
            for M in ms {
                for kernel in ["gemv", "gemm", "gemm_t"] {
                    if kernel == "gemv" && M != 1 || kernel == "gemm" && M == 1 { continue }
                    progress("\(kernel) \(N)x\(K) M=\(M) threads=\(threads)")
                    let ours: () -> Void, base: () -> Void, deqBase: () -> Void
                    var bf16: (() -> Void)? = nil
                    let baseName: String
                    switch kernel {
                    case "gemv":
                        ours = { NF4Kernels.gemv(ref, x: X, y: Y, threads: threads) }
                        base = { blas.sgemv(trans: false, M: N, N: K, A: wf, lda: K, x: X, y: Y) }
                        deqBase = {
                            NF4Kernels.dequantize(ref, into: scratch, threads: threads)
                            blas.sgemv(trans: false, M: N, N: K, A: scratch, lda: K, x: X, y: Y)
                        }
                        baseName = "openblas_sgemv_f32"
                    case "gemm":
                        ours = { NF4Kernels.gemm(ref, X: X, ldx: K, M: M, Y: Y, ldy: N, threads: threads, workspace: ws) }
                        if M > 4 {
                            bf16 = { NF4Kernels.gemm(ref, X: X, ldx: K, M: M, Y: Y, ldy: N, threads: threads, dtype: .bf16, workspace: ws) }
                        }
                        base = { blas.sgemm(transA: false, transB: true, M: M, N: N, K: K, A: X, lda: K, B: wf, ldb: K, C: Y, ldc: N) }
                        deqBase = {
                            NF4Kernels.dequantize(ref, into: scratch, threads: threads)
                            blas.sgemm(transA: false, transB: true, M: M, N: N, K: K, A: X, lda: K, B: scratch, ldb: K, C: Y, ldc: N)
                        }
                        baseName = "openblas_sgemm_f32"
                    default:
                        ours = { NF4Kernels.gemmT(ref, dY: X, lddy: N, M: M, dX: Y, lddx: K, threads: threads, workspace: ws) }
                        if M > 4 {
                            bf16 = { NF4Kernels.gemmT(ref, dY: X, lddy: N, M: M, dX: Y, lddx: K, threads: threads, dtype: .bf16, workspace: ws) }
                        }
                        if M == 1 {
                            base = { blas.sgemv(trans: true, M: N, N: K, A: wf, lda: K, x: X, beta: 1, y: Y) }
                            deqBase = {
                                NF4Kernels.dequantize(ref, into: scratch, threads: threads)
                                blas.sgemv(trans: true, M: N, N: K, A: scratch, lda: K, x: X, beta: 1, y: Y)
                            }
                            baseName = "openblas_sgemv_t_f32"
                        } else {
                            base = { blas.sgemm(transA: false, transB: false, M: M, N: K, K: N, A: X, lda: N, B: wf, ldb: K, beta: 1, C: Y, ldc: K) }
                            deqBase = {
                                NF4Kernels.dequantize(ref, into: scratch, threads: threads)
                                blas.sgemm(transA: false, transB: false, M: M, N: K, K: N, A: X, lda: N, B: scratch, ldb: K, beta: 1, C: Y, ldc: K)
                            }
                            baseName = "openblas_sgemm_f32"
                        }
                    }
                    let r = race([ours, base, deqBase] + (bf16.map { [$0] } ?? []))
                    let flops = 2.0 * Double(M) * Double(N) * Double(K)
                    let seconds = r.medians[0]
                    let actBytes = 4.0 * Double(M) * Double(N + K)
                    let bound = max(flops / (machine.peak(threads) * 1e9),
                                    (weightBytes + actBytes) / (machine.bandwidth(threads) * 1e9))
                    var row = Row(kernel: kernel, out: N, in: K, m: M, threads: threads, seconds: seconds,
                                  gflops: flops / seconds / 1e9, weightGBps: weightBytes / seconds / 1e9,
                                  baseline: baseName, baselineSeconds: r.medians[1], speedup: r.ratios[0],
                                  dequantSgemmSeconds: r.medians[2], speedupVsDequantSgemm: r.ratios[1],
                                  rooflineFraction: bound / seconds, rounds: r.rounds)
                    if bf16 != nil {
                        let b = r.medians[3]
                        row.bf16Seconds = b
                        row.bf16Speedup = r.medians[1] / b
                        row.bf16RooflineFraction = max(flops / (machine.bf16Peak(threads) * 1e9),
                                                       (weightBytes + actBytes / 2) / (machine.bandwidth(threads) * 1e9)) / b
                    }
                    rows.append(row)
                }
            }
        }
        return rows
    }
}
