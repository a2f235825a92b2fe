import ArgumentParser
import Foundation
import QLoRA

struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time the NF4 kernels against OpenBLAS on the dequantized Float32 weight.",
        discussion: """
            For each shape (out×in) and M: our kernel, OpenBLAS (sgemv for M = 1, sgemm otherwise) on the
            Float32 weight, and "dequantize the whole matrix, then sgemm", in alternating rounds; medians,
            GFLOP/s, weight bytes per second, ratios and the fraction of this machine's roofline (its own
            measured FMA peak and read bandwidth). The bf16 column runs the same product with bf16 operands
            (M > 4) and the int8 column the forward product with int8 activations and NF4 levels (inference's
            `--compute-dtype int8`), each against its own measured peak (vdpbf16ps; vpdpbusd or vpmaddubsw),
            with the int8 result's relative RMS error against the Float32 product.
            """
    )

    @Flag(help: "Print {\"machine\": …, \"rows\": […]} as JSON.")
    var json = false

    @Option(help: "Thread count (default: 1 and 2 for M = 1, 2 otherwise).")
    var threads: Int?

    @Option(help: "Only this shape, OUTxIN (e.g. 4096x4096).")
    var shape: String?

    @Option(help: "Only this M (rows of the activation).")
    var m: Int?

    @Flag(help: "Also time the int8 GEMV at M = 1 (--compute-dtype int8's kernels, the variant QLORA_ISA selects) as row gemv_int8.")
    var int8 = false

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw QLoRAError.invalid("--threads must be in 1…256") }
        if let m, !(1...65536).contains(m) { throw QLoRAError.invalid("--m must be in 1…65536") }
        if let shape, parseShape(shape) == nil { throw QLoRAError.invalid("--shape must look like 4096x4096") }
    }

    func parseShape(_ s: String) -> (Int, Int)? {
        let parts = s.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ (1...200_000).contains($0) }), parts[1] % 32 == 0 else { return nil }
        return (parts[0], parts[1])
    }

    func run() throws {
        guard BLAS.shared != nil else { throw QLoRAError(.notFound, "OpenBLAS not found (install libopenblas-dev)") }
        let shapes = shape.flatMap(parseShape).map { [$0] } ?? KernelBenchmark.defaultShapes
        let ms = m.map { [$0] } ?? KernelBenchmark.defaultMs
        let log = { (s: String) in if !json { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) } }
        log("measuring machine limits…")
        let machine = KernelBenchmark.measureMachine()
        var rows: [KernelBenchmark.Row] = []
        for (n, k) in shapes {
            for mm in ms {
                let threadCounts = threads.map { [$0] } ?? (mm == 1 ? [1, 2] : [2])
                rows += KernelBenchmark.run(out: n, in: k, ms: [mm], threadCounts: threadCounts, machine: machine,
                                            int8: int8, progress: log)
            }
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(KernelBenchmark.Report(machine: machine, rows: rows)), as: UTF8.self))
            return
        }
        print("""
            kernel path \(machine.cpuISA); OpenBLAS core \(machine.blasCore) (requested \(machine.blasRequestedCore ?? "none")); \
            FMA peak \(f1(machine.fmaPeakGFLOPS1)) GFLOP/s (1 thread), \(f1(machine.fmaPeakGFLOPS2)) (2); \
            read \(f1(machine.readGBps1)) GB/s (1), \(f1(machine.readGBps2)) (2); \
            bf16 dot peak \(machine.bf16PeakGFLOPS1 > 0 ? f1(machine.bf16PeakGFLOPS1) + " GFLOP/s (1 thread), " + f1(machine.bf16PeakGFLOPS2) + " (2)" : (CPUFeatures.current.hasAVX512BF16 ? "not used (QLORA_ISA caps the kernels below AVX512-BF16: bf16 runs on the FMA units)" : "none (no AVX512-BF16: bf16 runs on the FMA units)")); \
            int8 (\(machine.int8Variant)) peak \(f1(machine.int8PeakGOPS1)) GOP/s (1 thread), \(f1(machine.int8PeakGOPS2)) (2)
            """)
        let table = rows.map { r -> [String] in
            ["\(r.kernel)", "\(r.out)x\(r.in)", "\(r.m)", "\(r.threads)", String(format: "%.3f", r.seconds * 1e3),
             f1(r.gflops), f1(r.weightGBps), String(format: "%.3f", r.baselineSeconds * 1e3),
             String(format: "%.2fx", r.speedup), String(format: "%.2fx", r.speedupVsDequantSgemm),
             String(format: "%.0f%%", r.rooflineFraction * 100),
             r.bf16Seconds.map { String(format: "%.3f", $0 * 1e3) } ?? "-",
             r.bf16Speedup.map { String(format: "%.2fx", $0) } ?? "-",
             r.bf16RooflineFraction.map { String(format: "%.0f%%", $0 * 100) } ?? "-",
             r.int8Seconds.map { String(format: "%.3f", $0 * 1e3) } ?? "-",
             r.int8Speedup.map { String(format: "%.2fx", $0) } ?? "-",
             r.int8RooflineFraction.map { String(format: "%.0f%%", $0 * 100) } ?? "-",
             r.int8RelativeRMSError.map { String(format: "%.4f", $0) } ?? "-"]
        }
        print(TextTable.render(["kernel", "shape", "M", "thr", "ms", "GFLOP/s", "W GB/s", "BLAS ms", "vs BLAS",
                                "vs deq+BLAS", "roofline", "bf16 ms", "bf16 vs BLAS", "bf16 roofline",
                                "int8 ms", "int8 vs BLAS", "int8 roofline", "int8 rel err"], table))
    }

    func f1(_ x: Double) -> String { String(format: "%.1f", x) }
}
