import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Each op's forward on tiny random shapes against a straightforward Double-precision reference.
@Suite struct OpTests {
    static let tolerance = 2e-5

    static func random(_ n: Int, _ rng: inout SeededRNG, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in rng.nextNormal() * scale }
    }

    @Test func rmsNormMatchesDouble() {
        var rng = SeededRNG(seed: 1)
        let (M, C) = (5, 37)
        let x = Self.random(M * C, &rng), w = Self.random(C, &rng)
        var out = [Float](repeating: 0, count: M * C), inv = [Float](repeating: 0, count: M)
        RMSNorm.forward(&out, &inv, x, w, M, C, eps: 1e-5)
        for t in 0..<M {
            let ms = (0..<C).reduce(0.0) { $0 + Double(x[t * C + $1]) * Double(x[t * C + $1]) } / Double(C)
            let r = 1 / (ms + 1e-5).squareRoot()
            #expect(abs(Double(inv[t]) - r) <= Self.tolerance * r)
            for c in 0..<C { #expect(abs(Double(out[t * C + c]) - Double(w[c]) * Double(x[t * C + c]) * r) <= Self.tolerance) }
        }
    }

    @Test func ropeRotatesPairsByPosition() throws {
        let config = try LlamaConfig(vocabSize: 10, hiddenSize: 32, intermediateSize: 8, numHiddenLayers: 1,
                                     numAttentionHeads: 2, numKeyValueHeads: 1, ropeTheta: 10000)
        let rope = RoPE(config: config)
        var rng = SeededRNG(seed: 2)
        let (T, H, HS) = (6, 2, 16)
        let x = Self.random(T * H * HS, &rng)
        var y = x
        rope.forward(&y, rows: T, heads: H, stride: H * HS, start: 3, period: T)
        for t in 0..<T {
            for h in 0..<H {
                for i in 0..<(HS / 2) {
                    let inv = 1 / pow(10000.0, Double(2 * i) / Double(HS))
                    let a = Double(3 + t) * inv
                    let x1 = Double(x[t * H * HS + h * HS + i]), x2 = Double(x[t * H * HS + h * HS + i + HS / 2])
                    #expect(abs(Double(y[t * H * HS + h * HS + i]) - (x1 * cos(a) - x2 * sin(a))) <= 1e-5)
                    #expect(abs(Double(y[t * H * HS + h * HS + i + HS / 2]) - (x2 * cos(a) + x1 * sin(a))) <= 1e-5)
                }
            }
        }
    }

    @Test func llama3RopeScalingFollowsTheFormula() throws {
        let config = try LlamaConfig(vocabSize: 10, hiddenSize: 128, intermediateSize: 8, numHiddenLayers: 1,
                                     numAttentionHeads: 1, ropeTheta: 500000,
                                     ropeScaling: .init(ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
                                                        originalMaxPositionEmbeddings: 8192))
        let inv = RoPE.inverseFrequencies(config)
        for (i, f) in inv.enumerated() {
            let base = 1 / pow(500000.0, Double(2 * i) / 128)
            let wavelen = 2 * Double.pi / base
            let expect: Double
            if wavelen < 8192 / 4 { expect = base } else if wavelen > 8192 { expect = base / 8 } else {
                let s = (8192 / wavelen - 1) / 3
                expect = (1 - s) * base / 8 + s * base
            }
            #expect(abs(Double(f) - expect) <= 1e-6 * expect)
        }
    }

    @Test(arguments: [(1, 5, 0), (2, 4, 0), (1, 3, 4)])
    func causalGQAAttentionMatchesDouble(_ c: (Int, Int, Int)) throws {
        let (B, T, start) = c
        let (NH, NKV, HS) = (4, 2, 8)
        let L = start + T
        var rng = SeededRNG(seed: UInt64(B * 10 + T + start))
        let q = Self.random(B * T * NH * HS, &rng), k = Self.random(B * L * NKV * HS, &rng), v = Self.random(B * L * NKV * HS, &rng)
        var out = [Float](repeating: 0, count: B * T * NH * HS)
        let blas = try #require(BLAS.shared)
        Attention.forward(&out, nil, q, k, v, .init(B: B, T: T, L: L, start: start, NH: NH, NKV: NKV, HS: HS,
                                                   kvSequenceStride: L * NKV * HS), threads: 2, blas: blas)
        for b in 0..<B {
            for h in 0..<NH {
                let g = h / (NH / NKV)
                for t in 0..<T {
                    var scores = [Double]()
                    for j in 0...(start + t) {
                        var s = 0.0
                        for d in 0..<HS {
                            s += Double(q[(b * T + t) * NH * HS + h * HS + d]) * Double(k[(b * L + j) * NKV * HS + g * HS + d])
                        }
                        scores.append(s / Double(HS).squareRoot())
                    }
                    let mx = scores.max()!
                    let e = scores.map { exp($0 - mx) }
                    let z = e.reduce(0, +)
                    for d in 0..<HS {
                        var o = 0.0
                        for j in 0..<e.count { o += e[j] / z * Double(v[(b * L + j) * NKV * HS + g * HS + d]) }
                        #expect(abs(Double(out[(b * T + t) * NH * HS + h * HS + d]) - o) <= 1e-5)
                    }
                }
            }
        }
    }

    @Test func swigluAndCrossEntropyMatchDouble() {
        var rng = SeededRNG(seed: 3)
        let n = 50
        let g = Self.random(n, &rng, scale: 3), u = Self.random(n, &rng)
        var h = [Float](repeating: 0, count: n)
        SwiGLU.forward(&h, g, u, n)
        for i in 0..<n {
            let gi = Double(g[i])
            #expect(abs(Double(h[i]) - gi / (1 + exp(-gi)) * Double(u[i])) <= 1e-5)
        }
        let (M, V) = (3, 11)
        let logits = Self.random(M * V, &rng, scale: 4)
        let targets: [Int32] = [2, -1, 10]
        var losses = [Float](repeating: 9, count: M)
        CrossEntropy.forward(&losses, logits, targets, M, V)
        #expect(losses[1] == 0)
        for t in [0, 2] {
            let row = (0..<V).map { Double(logits[t * V + $0]) }
            let lse = log(row.map { exp($0) }.reduce(0, +))
            #expect(abs(Double(losses[t]) - (lse - row[Int(targets[t])])) <= 1e-5)
        }
    }

    @Test func embeddingLooksUpRowsInEitherStorage() {
        var rng = SeededRNG(seed: 4)
        let (V, C) = (9, 32)
        let table = Self.random(V * C, &rng)
        for storage in [DenseMatrixRef.Storage.f32, .bf16] {
            let m = DenseMatrix(rows: V, cols: C, values: table, storage: storage)
            let ids: [Int32] = [3, 0, 8, 3]
            var out = [Float](repeating: 0, count: ids.count * C)
            Embedding.forward(&out, ids, ids.count, m.ref)
            for (t, id) in ids.enumerated() {
                for c in 0..<C {
                    let want = storage == .f32 ? table[Int(id) * C + c]
                        : HalfFloat.bf16ToFloat(HalfFloat.floatToBF16(table[Int(id) * C + c]))
                    #expect(out[t * C + c] == want)
                }
            }
        }
    }
}
