import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Gemma's ops against central finite differences of a Double forward (as OpGradientTests): the
/// (1 + w) RMSNorm, GeGLU with tanh-GELU, tanh soft-capping, and attention with a score scale other
/// than 1/√HS and soft-capped scores (with and without a sliding window).
@Suite struct GemmaOpGradientTests {
    typealias G = OpGradientTests

    @Test func rmsNormOnePlusW() {
        var rng = SeededRNG(seed: 21)
        let (M, C) = (3, 17)
        let x = G.random(M * C, &rng), w = G.random(C, &rng).map { 0.3 * $0 }, g = G.random(M * C, &rng)
        var y = [Float](repeating: 0, count: M * C), inv = [Float](repeating: 0, count: M)
        RMSNorm.forward(&y, &inv, x, w, M, C, eps: 1e-6, offset: 1)
        // The offset is in the forward: (1 + w) times the plain norm of w = 0.
        var plain = [Float](repeating: 0, count: M * C)
        RMSNorm.forward(&plain, nil, x, [Float](repeating: 1, count: C), M, C, eps: 1e-6)
        #expect((0..<(M * C)).allSatisfy { abs(y[$0] - plain[$0] * (1 + w[$0 % C])) <= 1e-6 * max(1, abs(y[$0])) })
        var dx = [Float](repeating: 0, count: M * C)
        RMSNorm.backward(&dx, g, x, w, inv, M, C, offset: 1)
        G.check(x, dx, "rmsnorm(1+w)") { xd in
            var L = 0.0
            for t in 0..<M {
                let ms = (0..<C).reduce(0.0) { $0 + xd[t * C + $1] * xd[t * C + $1] } / Double(C)
                let r = 1 / (ms + Double(Float(1e-6))).squareRoot()
                for c in 0..<C { L += Double(g[t * C + c]) * (1 + Double(w[c])) * xd[t * C + c] * r }
            }
            return L
        }
    }

    static func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }

    @Test func geglu() {
        var rng = SeededRNG(seed: 22)
        let n = 40
        let gate = G.random(n, &rng).map { 2 * $0 }, up = G.random(n, &rng), g = G.random(n, &rng)
        var h = [Float](repeating: 0, count: n)
        GeGLU.forward(&h, gate, up, n)
        #expect((0..<n).allSatisfy { abs(Double(h[$0]) - Self.gelu(Double(gate[$0])) * Double(up[$0])) <= 1e-5 })
        var dgate = [Float](repeating: 0, count: n), dup = [Float](repeating: 0, count: n)
        GeGLU.backward(&dgate, &dup, g, gate, up, n)
        G.check(gate, dgate, "geglu.gate") { gd in (0..<n).reduce(0.0) { $0 + Double(g[$1]) * Self.gelu(gd[$1]) * Double(up[$1]) } }
        G.check(up, dup, "geglu.up") { ud in (0..<n).reduce(0.0) { $0 + Double(g[$1]) * Self.gelu(Double(gate[$1])) * ud[$1] } }
    }

    @Test func softCap() {
        var rng = SeededRNG(seed: 23)
        let n = 30, cap: Float = 2
        let x = G.random(n, &rng).map { 3 * $0 }, g = G.random(n, &rng)
        var y = x
        SoftCap.forward(&y, n, cap: cap)
        #expect(y.allSatisfy { abs($0) < cap } && x.contains { abs($0) > cap })
        var dx = g
        SoftCap.backward(&dx, y, n, cap: cap)
        G.check(x, dx, "softcap") { xd in (0..<n).reduce(0.0) { $0 + Double(g[$1]) * 2 * tanh(xd[$1] / 2) } }
    }

    /// Attention with Gemma's score scale (1/√query_pre_attn_scalar) and soft-capped scores; the cap is
    /// small enough to bite (the largest |score| exceeds it).
    @Test(arguments: [0, 2]) func scaledSoftCappedAttention(_ window: Int) throws {
        let (B, T, NH, NKV, HS) = (2, 4, 4, 2, 8)
        let scale: Float = 1 / 5, cap: Float = 1.5
        var rng = SeededRNG(seed: 24)
        let q = G.random(B * T * NH * HS, &rng), k = G.random(B * T * NKV * HS, &rng)
        let v = G.random(B * T * NKV * HS, &rng), g = G.random(B * T * NH * HS, &rng)
        let blas = try #require(BLAS.shared)
        let shape = Attention.Shape(B: B, T: T, L: T, start: 0, NH: NH, NKV: NKV, HS: HS, kvSequenceStride: T * NKV * HS,
                                    window: window > 0 ? window : nil, scale: scale, softcap: cap)
        var out = [Float](repeating: 0, count: q.count), probs = [Float](repeating: 0, count: B * NH * T * T)
        Attention.forward(&out, &probs, q, k, v, shape, threads: 2, blas: blas)
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = [Float](repeating: 0, count: v.count)
        Attention.backward(&dq, &dk, &dv, g, probs, q, k, v, shape, threads: 2, blas: blas)
        var largestScore = 0.0
        func L(_ qd: [Double], _ kd: [Double], _ vd: [Double]) -> Double {
            var total = 0.0
            for b in 0..<B {
                for h in 0..<NH {
                    let gi = h / (NH / NKV)
                    for t in 0..<T {
                        let keys = Array((window > 0 ? max(0, t + 1 - window) : 0)...t)
                        var s = keys.map { j in
                            let raw = (0..<HS).reduce(0.0) { $0 + qd[(b * T + t) * NH * HS + h * HS + $1] * kd[(b * T + j) * NKV * HS + gi * HS + $1] }
                                * Double(scale)
                            largestScore = max(largestScore, abs(raw))
                            return Double(cap) * tanh(raw / Double(cap))
                        }
                        let mx = s.max()!
                        s = s.map { exp($0 - mx) }
                        let z = s.reduce(0, +)
                        for d in 0..<HS {
                            let o = keys.indices.reduce(0.0) { $0 + s[$1] / z * vd[(b * T + keys[$1]) * NKV * HS + gi * HS + d] }
                            total += Double(g[(b * T + t) * NH * HS + h * HS + d]) * o
                        }
                    }
                }
            }
            return total
        }
        let qd = q.map(Double.init), kd = k.map(Double.init), vd = v.map(Double.init)
        var forward = 0.0
        for i in 0..<out.count { forward += Double(g[i]) * Double(out[i]) }
        #expect(abs(forward - L(qd, kd, vd)) <= 1e-4 * max(1, abs(forward)), "forward \(forward) vs \(L(qd, kd, vd))")
        #expect(largestScore > Double(cap), "the cap never bites: largest |score| \(largestScore)")
        G.check(q, dq, "attention.q") { L($0, kd, vd) }
        G.check(k, dk, "attention.k") { L(qd, $0, vd) }
        G.check(v, dv, "attention.v") { L(qd, kd, $0) }
    }
}
