import CQLoRAInt8
import Dispatch

extension MachineProbe {
    /// Peak integer dot-product rate in GOP/s (a multiply and an add are one op each, as for GFLOP/s) on
    /// `threads` cores, with the instructions `variant`'s int8 products use (best of `repeats`):
    /// `vpdpbusd` for VNNI, `vpmaddubsw` + `vpmaddwd` for AVX2, scalar int32 multiply-adds for the reference.
    public static func int8PeakGOPS(threads: Int, variant: Int8Variant = .best, repeats: Int = 5) -> Double {
        guard variant.isSupported else { return 0 }
        let iterations = variant == .reference ? 5_000_000 : 10_000_000
        let ops = Double(qlora_i8_peak_ops_per_iteration(variant.code))
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = now()
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let r = qlora_i8_peak_loop(variant.code, iterations, Int32(t + 1))
                if r == 12345 { print(r) }  // keep the result alive
            }
            let dt = now() - t0
            best = max(best, Double(threads) * Double(iterations) * ops / dt / 1e9)
        }
        return best
    }
}
