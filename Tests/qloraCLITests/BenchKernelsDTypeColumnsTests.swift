import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora bench kernels --json` carries the bf16 column (M > 4) and the int8 column (forward products at M = 1 and M > 1, none for the
/// transposed product) and the int8 peak of the variant it ran, and the int8 result stays within the int8
/// path's error of the Float32 product on the benchmark's own inputs.
@Suite struct BenchKernelsDTypeColumnsTests {
    /// The built CLI bounded to 120 s, so a hang fails the test instead of stalling the suite.
    static func bench(_ args: [String]) throws -> [String: Any] {
        let r = try CLIRunner.run(["bench", "kernels"] + args + ["--json"], timeout: 120)
        #expect(r.status == 0, "bench kernels \(args) exited with \(r.status): \(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    @Test func int8ColumnsAndPeak() throws {
        guard BLAS.shared != nil else {
            print("skipped: OpenBLAS not found (bench kernels needs it)")
            return
        }
        for m in [1, 16] {
            let report = try Self.bench(["--shape", "96x192", "--m", "\(m)", "--threads", "1"])
            let machine = try #require(report["machine"] as? [String: Any])
            let variant = try #require(machine["int8_variant"] as? String)
            #expect(variant == (try Int8Variant.selected()).rawValue)
            #expect((machine["int8_peak_gops_1t"] as? Double ?? 0) > 0)
            #expect((machine["int8_peak_gops_2t"] as? Double ?? 0) > 0)
            let rows = try #require(report["rows"] as? [[String: Any]])
            #expect(rows.count == 2, "M = \(m): \(rows.count) rows")
            for row in rows {
                let kernel = row["kernel"] as? String ?? "?"
                // bf16 runs the products with M > 4 (forward and transposed); M = 1 keeps the Float32 kernel.
                if m > 4 {
                    #expect((row["bf16_seconds"] as? Double ?? 0) > 0, "\(kernel) M = \(m)")
                    #expect((row["bf16_roofline_fraction"] as? Double ?? 0) > 0, "\(kernel) M = \(m)")
                } else {
                    #expect(row["bf16_seconds"] == nil, "\(kernel) M = \(m)")
                }
                if kernel == "gemm_t" {
                    #expect(row["int8_seconds"] == nil, "gemm_t has no int8 form")
                    continue
                }
                #expect((row["int8_seconds"] as? Double ?? 0) > 0, "\(kernel) M = \(m)")
                #expect((row["int8_gops"] as? Double ?? 0) > 0, "\(kernel) M = \(m)")
                #expect((row["int8_speedup"] as? Double ?? 0) > 0, "\(kernel) M = \(m)")
                #expect((row["int8_roofline_fraction"] as? Double ?? 0) > 0, "\(kernel) M = \(m)")
                let err = try #require(row["int8_relative_rms_error"] as? Double, "\(kernel) M = \(m)")
                // Int8KernelTests bounds every element; here the whole product: a few percent at most,
                // and not zero (the int8 roundings do change the result).
                #expect(err > 0 && err < 0.05, "\(kernel) M = \(m): int8 relative RMS error \(err)")
            }
        }
    }
}
