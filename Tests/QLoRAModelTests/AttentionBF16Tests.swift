import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Attention with `dtype: .bf16` (bf16 pair products, causal half skipped) against the Float32 op on
/// the same inputs: forward output and the three input gradients.
///
/// Tolerance: every product rounds both operands to bf16 (relative error ≤ 2⁻⁹ each, so ≤ 2⁻⁸ per
/// term) and sums in Float32; an output passes through at most three such products (QKᵀ → softmax →
/// P·V; dP → dS → dQ/dK), so its error is a few times 2⁻⁸ of its magnitude. The check is
/// ‖bf16 − f32‖₂ ≤ 2⁻⁵ · ‖f32‖₂ (8× the per-product bound), per gradient. A dropped or misplaced
/// band of the causal skip, or a wrong pair layout, changes whole terms and misses it by far (the
/// kernel-level bound, with the rounding checked exactly, is `BF16ProductTests`); the bf16 result
/// must also differ from Float32 (the rounding happens).
@Suite struct AttentionBF16Tests {
    struct Case: CustomStringConvertible, Sendable {
        var B = 2, T = 40, start = 0, NH = 4, NKV = 2, HS = 32, window: Int? = nil, softcap: Float? = nil
        var description: String { "B=\(B) T=\(T) start=\(start) NH=\(NH) NKV=\(NKV) HS=\(HS) window=\(window.map(String.init) ?? "-") cap=\(softcap.map { "\($0)" } ?? "-")" }
    }

    static let cases: [Case] = [
        Case(),
        Case(T: 37, start: 5, NH: 6, NKV: 3, HS: 64),   // prefix keys before the queries, ragged T
        Case(T: 50, window: 7),
        Case(T: 33, softcap: 5),
    ]

    static func relative(_ a: [Float], _ b: [Float]) -> Double {
        var d = 0.0, n = 0.0
        for i in a.indices { d += pow(Double(a[i]) - Double(b[i]), 2); n += pow(Double(b[i]), 2) }
        return (d / max(n, .leastNormalMagnitude)).squareRoot()
    }

    @Test(arguments: cases) func bf16AgreesWithFloat32(_ c: Case) throws {
        let blas = try #require(BLAS.shared)
        let L = c.start + c.T
        var rng = SeededRNG(seed: UInt64(c.T * 7 + c.start))
        let qn = c.B * c.T * c.NH * c.HS, kvn = c.B * L * c.NKV * c.HS
        let q = (0..<qn).map { _ in rng.nextNormal() }, k = (0..<kvn).map { _ in rng.nextNormal() }
        let v = (0..<kvn).map { _ in rng.nextNormal() }, g = (0..<qn).map { _ in rng.nextNormal() }
        let shape = Attention.Shape(B: c.B, T: c.T, L: L, start: c.start, NH: c.NH, NKV: c.NKV, HS: c.HS,
                                    kvSequenceStride: L * c.NKV * c.HS, window: c.window, softcap: c.softcap)
        func run(_ dtype: ComputeDType, threads: Int) -> [[Float]] {
            var out = [Float](repeating: .nan, count: qn), probs = [Float](repeating: .nan, count: c.B * c.NH * c.T * L)
            Attention.forward(&out, &probs, q, k, v, shape, threads: threads, blas: blas, dtype: dtype)
            var dq = [Float](repeating: 0.5, count: qn), dk = [Float](repeating: 0.5, count: kvn)
            var dv = [Float](repeating: 0.5, count: kvn)
            Attention.backward(&dq, &dk, &dv, g, probs, q, k, v, shape, threads: threads, blas: blas, dtype: dtype)
            return [out, probs, dq, dk, dv]
        }
        let ref = run(.f32, threads: 1)
        for threads in [1, 2] {
            let got = run(.bf16, threads: threads)
            for (i, name) in ["out", "probs", "dq", "dk", "dv"].enumerated() {
                let finite = got[i].allSatisfy { $0.isFinite }
                #expect(finite, "\(c) \(name) threads=\(threads) not finite")
                let r = Self.relative(got[i], ref[i])
                #expect(r <= 1.0 / 32, "\(c) \(name) threads=\(threads): relative error \(r)")
                #expect(r > 0, "\(c) \(name): bf16 must round")
            }
            // Keys a query does not see keep probability 0 (the skipped half is masked, not garbage).
            for bh in 0..<(c.B * c.NH) {
                for t in 0..<c.T {
                    for j in (c.start + t + 1)..<L { #expect(got[1][(bh * c.T + t) * L + j] == 0) }
                }
            }
        }
    }

    /// Decode-sized queries (T ≤ 4) keep the Float32 products: bit-identical to `.f32`.
    @Test func decodeSizedStaysFloat32() throws {
        let blas = try #require(BLAS.shared)
        let (B, T, start, NH, NKV, HS) = (1, 2, 9, 4, 2, 16)
        let L = start + T
        var rng = SeededRNG(seed: 3)
        let q = (0..<(B * T * NH * HS)).map { _ in rng.nextNormal() }
        let k = (0..<(B * L * NKV * HS)).map { _ in rng.nextNormal() }, v = (0..<(B * L * NKV * HS)).map { _ in rng.nextNormal() }
        let shape = Attention.Shape(B: B, T: T, L: L, start: start, NH: NH, NKV: NKV, HS: HS, kvSequenceStride: L * NKV * HS)
        var a = [Float](repeating: 0, count: q.count), b = a
        Attention.forward(&a, nil, q, k, v, shape, threads: 1, blas: blas, dtype: .f32)
        Attention.forward(&b, nil, q, k, v, shape, threads: 1, blas: blas, dtype: .bf16)
        #expect(a == b)
    }
}
