import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Each op's backward against central finite differences of a Double forward of the same op, on tiny
/// random shapes: the checked quantity is L = Σ g ⊙ op(x) for a fixed random g, so dL/dx is exactly
/// what backward computes from dy = g.
@Suite struct OpGradientTests {
    static let h = 1e-6
    static let tolerance = 1e-3

    static func random(_ n: Int, _ rng: inout SeededRNG) -> [Float] { (0..<n).map { _ in rng.nextNormal() } }

    /// Checks every entry of `ours` (dL/dx) against finite differences of `f` (a Double forward
    /// returning L) at x.
    static func check(_ x: [Float], _ ours: [Float], _ name: String, _ f: ([Double]) -> Double) {
        var xd = x.map(Double.init)
        for i in 0..<x.count {
            let x0 = xd[i]
            xd[i] = x0 + h
            let lp = f(xd)
            xd[i] = x0 - h
            let lm = f(xd)
            xd[i] = x0
            let fd = (lp - lm) / (2 * h)
            #expect(abs(Double(ours[i]) - fd) <= tolerance * max(1, abs(fd)), "\(name)[\(i)]: \(ours[i]) vs \(fd)")
        }
    }

    @Test func rmsNorm() {
        var rng = SeededRNG(seed: 1)
        let (M, C) = (3, 17)
        let x = Self.random(M * C, &rng), w = Self.random(C, &rng), g = Self.random(M * C, &rng)
        var y = [Float](repeating: 0, count: M * C), inv = [Float](repeating: 0, count: M)
        RMSNorm.forward(&y, &inv, x, w, M, C, eps: 1e-5)
        var dx = [Float](repeating: 0, count: M * C)
        RMSNorm.backward(&dx, g, x, w, inv, M, C)
        Self.check(x, dx, "rmsnorm") { xd in
            var L = 0.0
            for t in 0..<M {
                let ms = (0..<C).reduce(0.0) { $0 + xd[t * C + $1] * xd[t * C + $1] } / Double(C)
                let r = 1 / (ms + Double(Float(1e-5))).squareRoot()
                for c in 0..<C { L += Double(g[t * C + c]) * Double(w[c]) * xd[t * C + c] * r }
            }
            return L
        }
    }

    @Test func swiglu() {
        var rng = SeededRNG(seed: 2)
        let n = 40
        let gate = Self.random(n, &rng), up = Self.random(n, &rng), g = Self.random(n, &rng)
        var dgate = [Float](repeating: 0, count: n), dup = [Float](repeating: 0, count: n)
        SwiGLU.backward(&dgate, &dup, g, gate, up, n)
        Self.check(gate, dgate, "swiglu.gate") { gd in
            (0..<n).reduce(0.0) { $0 + Double(g[$1]) * gd[$1] / (1 + exp(-gd[$1])) * Double(up[$1]) }
        }
        Self.check(up, dup, "swiglu.up") { ud in
            (0..<n).reduce(0.0) { $0 + Double(g[$1]) * Double(gate[$1]) / (1 + exp(-Double(gate[$1]))) * ud[$1] }
        }
    }

    @Test func rope() throws {
        let config = try LlamaConfig(vocabSize: 10, hiddenSize: 32, intermediateSize: 8, numHiddenLayers: 1,
                                     numAttentionHeads: 2, ropeTheta: 10000)
        let r = RoPE(config: config)
        var rng = SeededRNG(seed: 3)
        let (T, H, HS) = (4, 2, 16)
        let x = Self.random(T * H * HS, &rng), g = Self.random(T * H * HS, &rng)
        var dx = g
        r.backward(&dx, rows: T, heads: H, stride: H * HS, start: 0, period: T)
        Self.check(x, dx, "rope") { xd in
            var L = 0.0
            for t in 0..<T {
                for h in 0..<H {
                    for i in 0..<(HS / 2) {
                        let a = Double(Float(t) * r.invFreq[i])
                        let b = t * H * HS + h * HS
                        let x1 = xd[b + i], x2 = xd[b + i + HS / 2]
                        L += Double(g[b + i]) * (x1 * cos(a) - x2 * sin(a)) + Double(g[b + i + HS / 2]) * (x2 * cos(a) + x1 * sin(a))
                    }
                }
            }
            return L
        }
    }

    /// Full causal attention (window 0) and a sliding window of 2 keys (Mistral's mask).
    @Test(arguments: [0, 2]) func attention(_ window: Int) throws {
        let (B, T, NH, NKV, HS) = (2, 4, 4, 2, 8)
        var rng = SeededRNG(seed: 4)
        let q = Self.random(B * T * NH * HS, &rng), k = Self.random(B * T * NKV * HS, &rng)
        let v = Self.random(B * T * NKV * HS, &rng), g = Self.random(B * T * NH * HS, &rng)
        let blas = try #require(BLAS.shared)
        let shape = Attention.Shape(B: B, T: T, L: T, start: 0, NH: NH, NKV: NKV, HS: HS, kvSequenceStride: T * NKV * HS,
                                    window: window > 0 ? window : nil)
        var out = [Float](repeating: 0, count: q.count), probs = [Float](repeating: 0, count: B * NH * T * T)
        Attention.forward(&out, &probs, q, k, v, shape, threads: 2, blas: blas)
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = [Float](repeating: 0, count: v.count)
        Attention.backward(&dq, &dk, &dv, g, probs, q, k, v, shape, threads: 2, blas: blas)
        func L(_ qd: [Double], _ kd: [Double], _ vd: [Double]) -> Double {
            var total = 0.0
            for b in 0..<B {
                for h in 0..<NH {
                    let gi = h / (NH / NKV)
                    for t in 0..<T {
                        let keys = Array((window > 0 ? max(0, t + 1 - window) : 0)...t)
                        var s = keys.map { j in
                            (0..<HS).reduce(0.0) { $0 + qd[(b * T + t) * NH * HS + h * HS + $1] * kd[(b * T + j) * NKV * HS + gi * HS + $1] }
                                / Double(HS).squareRoot()
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
        Self.check(q, dq, "attention.q") { L($0, kd, vd) }
        Self.check(k, dk, "attention.k") { L(qd, $0, vd) }
        Self.check(v, dv, "attention.v") { L(qd, kd, $0) }
        if window > 0 {  // the window really masks: the last query puts no weight on key 0
            #expect(probs[(T - 1) * T] == 0)
        }
    }

    /// Partial RoPE (Phi-3/4's `partial_rotary_factor`) with yarn's attention factor on cos/sin:
    /// the first RD dimensions of each head rotate (scaled), the rest pass through.
    @Test func partialRotaryWithAttentionFactor() throws {
        var config = try LlamaConfig(vocabSize: 10, hiddenSize: 32, intermediateSize: 8, numHiddenLayers: 1,
                                     numAttentionHeads: 2, maxPositionEmbeddings: 64, ropeTheta: 10000,
                                     ropeScaling: .init(ropeType: "yarn", factor: 4, originalMaxPositionEmbeddings: 16))
        config.partialRotaryFactor = 0.75
        try config.validate()
        let r = RoPE(config: config)
        #expect(r.rotaryDim == 12 && r.attentionFactor > 1)
        var rng = SeededRNG(seed: 3)
        let (T, H, HS, RD) = (4, 2, 16, 12)
        let x = Self.random(T * H * HS, &rng), g = Self.random(T * H * HS, &rng)
        var dx = g
        r.backward(&dx, rows: T, heads: H, stride: H * HS, start: 1, period: T)
        let m = Double(r.attentionFactor)
        Self.check(x, dx, "partial rope") { xd in
            var L = 0.0
            for t in 0..<T {
                for h in 0..<H {
                    let b = t * H * HS + h * HS
                    for i in 0..<(RD / 2) {
                        let a = Double(Float(t + 1) * r.invFreq[i])
                        let x1 = xd[b + i], x2 = xd[b + i + RD / 2]
                        L += m * (Double(g[b + i]) * (x1 * cos(a) - x2 * sin(a)) + Double(g[b + i + RD / 2]) * (x2 * cos(a) + x1 * sin(a)))
                    }
                    for i in RD..<HS { L += Double(g[b + i]) * xd[b + i] }
                }
            }
            return L
        }
    }

    /// Qwen3's q/k norm: RMSNorm over each head of a (T, NH·HS) projection, one weight (HS) shared by
    /// the heads — the RMSNorm op run on T·NH rows of HS.
    @Test func perHeadQKNorm() {
        var rng = SeededRNG(seed: 6)
        let (T, NH, HS) = (3, 4, 8)
        let x = Self.random(T * NH * HS, &rng), w = Self.random(HS, &rng), g = Self.random(T * NH * HS, &rng)
        var y = [Float](repeating: 0, count: x.count), inv = [Float](repeating: 0, count: T * NH)
        RMSNorm.forward(&y, &inv, x, w, T * NH, HS, eps: 1e-6)
        var dx = [Float](repeating: 0, count: x.count)
        RMSNorm.backward(&dx, g, x, w, inv, T * NH, HS)
        Self.check(x, dx, "qk norm") { xd in
            var L = 0.0
            for t in 0..<T {
                for h in 0..<NH {
                    let b = t * NH * HS + h * HS
                    let ms = (0..<HS).reduce(0.0) { $0 + xd[b + $1] * xd[b + $1] } / Double(HS)
                    let r = 1 / (ms + Double(Float(1e-6))).squareRoot()
                    for i in 0..<HS { L += Double(g[b + i]) * Double(w[i]) * xd[b + i] * r }
                }
            }
            return L
        }
    }

    @Test func crossEntropy() {
        var rng = SeededRNG(seed: 5)
        let (M, V) = (3, 9)
        let logits = Self.random(M * V, &rng)
        let targets: [Int32] = [4, -1, 0]
        var d = logits
        let sum = CrossEntropy.forwardBackward(&d, targets, M, V, scale: 0.5)
        Self.check(logits, d, "cross-entropy") { ld in
            var L = 0.0
            for t in 0..<M where targets[t] >= 0 {
                let row = (0..<V).map { ld[t * V + $0] }
                let mx = row.max()!
                L += 0.5 * (log(row.reduce(0) { $0 + exp($1 - mx) }) + mx - row[Int(targets[t])])
            }
            return L
        }
        #expect(sum > 0)
    }

    @Test(arguments: [true, false]) func frozenLinearInputGradient(_ nf4: Bool) {
        var rng = SeededRNG(seed: 6)
        let (M, O, I) = (3, 40, 64)
        let w = Self.random(O * I, &rng).map { $0 * 0.1 }
        let q = FourBitCodec.quantize(w, shape: [O, I])
        let lin = nf4 ? FrozenLinear(.nf4(NF4Matrix.make(q))) : FrozenLinear(.dense(DenseMatrix(rows: O, cols: I, values: w, storage: .f32)))
        let W = nf4 ? FourBitCodec.dequantize(q).map(Double.init) : w.map(Double.init)
        let x = Self.random(M * I, &rng), g = Self.random(M * O, &rng)
        var dx = [Float](repeating: 0, count: M * I)
        lin.backwardInput(g, M: M, &dx, threads: 2, workspace: KernelWorkspace())
        Self.check(x, dx, nf4 ? "nf4-linear" : "dense-linear") { xd in
            var L = 0.0
            for m in 0..<M { for o in 0..<O { for i in 0..<I { L += Double(g[m * O + o]) * W[o * I + i] * xd[m * I + i] } } }
            return L
        }
    }
}
