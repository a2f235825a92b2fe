import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `bench train-step` measures a step against the peak of the instruction that ran its frozen products:
/// `vdpbf16ps` for bf16 on AVX512-BF16, the Float32 FMA otherwise (also bf16's fallback); the Float32 peak
/// stays in the JSON under its own name.
@Suite(.serialized) struct BenchTrainStepPeakTests {
    static func step(_ dtype: String, isa: String? = nil) throws -> [String: Any] {
        let r = try CLIRunner.run(["bench", "train-step", "--model", TrainCommandTests.tiny, "--compute-dtype", dtype,
                                   "--steps", "1", "--seq", "16", "--batch", "2", "--rank", "4", "--threads", "1", "--json"],
                                  environment: isa.map { ["QLORA_ISA": $0] } ?? [:])
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
    }

    static func expectFractionOfItsPeak(_ o: [String: Any]) throws {
        let peak = try #require(o["peak_gflops"] as? Double), achieved = try #require(o["achieved_gflops"] as? Double)
        let fraction = try #require(o["peak_fraction"] as? Double)
        #expect(peak > 0 && (o["f32_peak_gflops"] as? Double ?? 0) > 0, "\(o)")
        #expect(abs(fraction - achieved / peak) <= 1e-12 * max(1, fraction), "\(o)")
    }

    @Test func bf16OnTheDotProductIsMeasuredAgainstItsPeak() throws {
        let o = try Self.step("bf16")
        try Self.expectFractionOfItsPeak(o)
        #expect(o["compute_dtype"] as? String == "bf16")
        if BF16Variant.best == .avx512bf16 {
            #expect(o["peak_kind"] as? String == "vdpbf16ps", "\(o)")
            // The bf16 probe is its own measurement, not the Float32 one copied.
            #expect(o["peak_gflops"] as? Double != o["f32_peak_gflops"] as? Double, "\(o)")
        } else {
            #expect(o["peak_kind"] as? String == "fma", "\(o)")
            #expect(o["peak_gflops"] as? Double == o["f32_peak_gflops"] as? Double, "\(o)")
        }
    }

    /// f32, and bf16 forced onto the Float32 fallback, use the FMA peak.
    @Test func fmaPathsUseTheFloat32Peak() throws {
        var runs = [try Self.step("f32")]
        if KernelISA.avx2.isAvailable { runs.append(try Self.step("bf16", isa: "avx2")) }
        for o in runs {
            try Self.expectFractionOfItsPeak(o)
            #expect(o["peak_kind"] as? String == "fma", "\(o)")
            #expect(o["peak_gflops"] as? Double == o["f32_peak_gflops"] as? Double, "\(o)")
        }
    }
}
