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
        /// The int8 products' variant (`vnni`, `avx2` or `reference`; `QLORA_ISA` chooses it) and its
        /// integer dot-product peak in GOP/s (`MachineProbe.int8PeakGOPS`).
        public var int8Variant: String = Int8Variant.reference.rawValue
        public var int8PeakGOPS1: Double = 0
        public var int8PeakGOPS2: Double = 0

        enum CodingKeys: String, CodingKey {
            case cpuISA = "cpu_isa", blasCore = "blas_core", blasRequestedCore = "blas_requested_core"
            case fmaPeakGFLOPS1 = "fma_peak_gflops_1t", fmaPeakGFLOPS2 = "fma_peak_gflops_2t"
            case readGBps1 = "read_gbps_1t", readGBps2 = "read_gbps_2t"
            case bf16PeakGFLOPS1 = "bf16_peak_gflops_1t", bf16PeakGFLOPS2 = "bf16_peak_gflops_2t"
            case int8Variant = "int8_variant", int8PeakGOPS1 = "int8_peak_gops_1t", int8PeakGOPS2 = "int8_peak_gops_2t"
        }

        func peak(_ threads: Int) -> Double { threads <= 1 ? fmaPeakGFLOPS1 : fmaPeakGFLOPS2 * Double(threads) / 2 }
        func bandwidth(_ threads: Int) -> Double { threads <= 1 ? readGBps1 : readGBps2 }
        /// The bf16 products' arithmetic peak: vdpbf16ps where present, else the FMA peak.
        func bf16Peak(_ threads: Int) -> Double {
            guard bf16PeakGFLOPS1 > 0 else { return peak(threads) }
            return threads <= 1 ? bf16PeakGFLOPS1 : bf16PeakGFLOPS2 * Double(threads) / 2
        }
        /// The int8 products' integer peak (0 when it was not measured).
        func int8Peak(_ threads: Int) -> Double { threads <= 1 ? int8PeakGOPS1 : int8PeakGOPS2 * Double(threads) / 2 }
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
        /// The same forward product with `--compute-dtype int8` (activations quantized per 64-block, NF4
        /// codes as int8 levels, `Int8Kernels.gemm`, the quantization of X included); nil for the
        /// transposed product (int8 is inference only) and where the weight has no int8 form.
        public var int8Seconds: Double? = nil
        /// 2·M·N·K / int8 time, in GOP/s.
        public var int8GOPS: Double? = nil
        /// OpenBLAS Float32 time / int8 time (per round, median).
        public var int8Speedup: Double? = nil
        /// Roofline fraction against the int8 peak (`Machine.int8Peak`) and the repacked weight's bytes.
        public var int8RooflineFraction: Double? = nil
        /// ‖Y_int8 − Y_f32‖ / ‖Y_f32‖ against our Float32 NF4 product on the same inputs (the int8 roundings'
        /// cost; the kernel tests bound it per element and at 5% relative RMS).
        public var int8RelativeRMSError: Double? = nil

        enum CodingKeys: String, CodingKey {
            case kernel, out, `in`, m, threads, seconds, gflops, weightGBps = "weight_gbps", baseline
            case baselineSeconds = "baseline_seconds", speedup, dequantSgemmSeconds = "dequant_sgemm_seconds"
            case speedupVsDequantSgemm = "speedup_vs_dequant_sgemm", rooflineFraction = "roofline_fraction", rounds
            case bf16Seconds = "bf16_seconds", bf16Speedup = "bf16_speedup", bf16RooflineFraction = "bf16_roofline_fraction"
            case int8Seconds = "int8_seconds", int8GOPS = "int8_gops", int8Speedup = "int8_speedup"
            case int8RooflineFraction = "int8_roofline_fraction", int8RelativeRMSError = "int8_relative_rms_error"
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
        let v = int8Variant
        m.int8Variant = v.rawValue
        m.int8PeakGOPS1 = MachineProbe.int8PeakGOPS(threads: 1, variant: v)
        m.int8PeakGOPS2 = MachineProbe.int8PeakGOPS(threads: 2, variant: v)
        return m
    }

    /// The int8 variant `--compute-dtype int8` runs in this process (after `QLORA_ISA`).
    static var int8Variant: Int8Variant { (try? Int8Variant.selected()) ?? .best
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

    /// ‖y − a‖ / ‖a‖ over a's elements.
    static func relativeRMS(_ a: [Float], _ y: UnsafePointer<Float>) -> Double {
        var d = 0.0, n = 0.0
        for i in a.indices {
            let x = Double(a[i]), e = Double(y[i]) - x
            d += e * e
            n += x * x
        }
        return n > 0 ? (d / n).squareRoot() : (d > 0 ? .infinity : 0)
    }

    /// One shape: every kernel × M × thread count asked for.
    /// `int8`: also time the int8 GEMV (`--compute-dtype int8`: int8 activations × NF4 levels, the
    /// variant `QLORA_ISA` selects) at M = 1, as row `gemv_int8`; its weight bytes and roofline are
    /// those of its own repacked matrix (4.5 bits per weight).
    public static func run(out N: Int, in K: Int, ms: [Int], threadCounts: [Int], machine: Machine,
                           int8: Bool = false, progress: (String) -> Void = { _ in }) -> [Row] {
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
        let int8Matrix = Int8NF4Matrix(ref, variant: int8Variant, threads: 2)
        let int8Workspace = KernelWorkspace()
        var rows: [Row] = []
        let maxM = ms.max() ?? 1
        let X = UnsafeMutablePointer<Float>.allocate(capacity: maxM * max(N, K))
        let Y = UnsafeMutablePointer<Float>.allocate(capacity: maxM * max(N, K))
        defer { X.deallocate(); Y.deallocate() }
        for i in 0..<(maxM * max(N, K)) { X[i] = rng.nextNormal() }
        Y.initialize(repeating: 0, count: maxM * max(N, K))
        let ws = KernelWorkspace()
        // `--int8`'s row: the same repacked matrix as the int8 column (the variant `QLORA_ISA` selects).
        let int8GEMVMatrix = int8 && ms.contains(1) ? int8Matrix : nil
        for threads in threadCounts {
            blas.setThreadCount(threads)
            for M in ms {
                for kernel in ["gemv", "gemv_int8", "gemm", "gemm_t"] {
                    if kernel == "gemv" && M != 1 || kernel == "gemm" && M == 1 { continue }
                    if kernel == "gemv_int8" && (M != 1 || int8GEMVMatrix == nil) { continue }
                    progress("\(kernel) \(N)x\(K) M=\(M) threads=\(threads)")
                    let ours: () -> Void, base: () -> Void, deqBase: () -> Void
                    var bf16: (() -> Void)? = nil
                    var int8: (() -> Void)? = nil
                    let baseName: String
                    switch kernel {
                    case "gemv":
                        ours = { NF4Kernels.gemv(ref, x: X, y: Y, threads: threads) }
                        if let int8Matrix {
                            int8 = { Int8Kernels.gemm(int8Matrix, X: X, ldx: K, M: 1, Y: Y, ldy: N, threads: threads, workspace: int8Workspace) }
                        }
                        base = { blas.sgemv(trans: false, M: N, N: K, A: wf, lda: K, x: X, y: Y) }
                        deqBase = {
                            NF4Kernels.dequantize(ref, into: scratch, threads: threads)
                            blas.sgemv(trans: false, M: N, N: K, A: scratch, lda: K, x: X, y: Y)
                        }
                        baseName = "openblas_sgemv_f32"
                    case "gemv_int8":
                        let m8 = int8GEMVMatrix!
                        ours = { Int8Kernels.gemm(m8, X: X, ldx: K, M: 1, Y: Y, ldy: N, threads: threads, workspace: ws) }
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
                        if let int8Matrix {
                            int8 = { Int8Kernels.gemm(int8Matrix, X: X, ldx: K, M: M, Y: Y, ldy: N, threads: threads, workspace: int8Workspace) }
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
                    let r = race([ours, base, deqBase] + (bf16.map { [$0] } ?? []) + (int8.map { [$0] } ?? []))
                    let flops = 2.0 * Double(M) * Double(N) * Double(K)
                    let seconds = r.medians[0]
                    let actBytes = 4.0 * Double(M) * Double(N + K)
                    let bytes = kernel == "gemv_int8" ? Double(int8GEMVMatrix!.storedBytes) : weightBytes
                    let bound = max(flops / (machine.peak(threads) * 1e9),
                                    (bytes + actBytes) / (machine.bandwidth(threads) * 1e9))
                    var row = Row(kernel: kernel, out: N, in: K, m: M, threads: threads, seconds: seconds,
                                  gflops: flops / seconds / 1e9, weightGBps: bytes / seconds / 1e9,
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
                    if let int8, let int8Matrix {
                        let t = r.medians[bf16 == nil ? 3 : 4]
                        row.int8Seconds = t
                        row.int8GOPS = flops / t / 1e9
                        row.int8Speedup = r.medians[1] / t
                        let peak = machine.int8Peak(threads)
                        let bytes = (Double(int8Matrix.storedBytes) + actBytes) / (machine.bandwidth(threads) * 1e9)
                        row.int8RooflineFraction = max(peak > 0 ? flops / (peak * 1e9) : 0, bytes) / t
                        ours()
                        let f32 = Array(UnsafeBufferPointer(start: Y, count: M * N))
                        int8()
                        row.int8RelativeRMSError = relativeRMS(f32, Y)
                    }
                    rows.append(row)
                }
            }
        }
        return rows
    }
}
