import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// DoRA's layer (`LoRALinear+DoRA.swift`) against a Double reference written from PEFT's formula:
/// y = W·x + b + (g − 1) ⊙ W·x̃ + g ⊙ s·B·A·x̃ with g = m / ‖W + s·B·A‖_row, the norm detached (a
/// constant for the gradient). The gradients of L = Σ c ⊙ y (so dy = c) for A, B, m and x are
/// checked against central finite differences, on an NF4 and a dense-with-bias base, with and
/// without dropout.
@Suite struct DoRAGradientTests {
    static let h = 1e-6
    static let tolerance = 1e-3
    static let M = 3, O = 40, I = 64, r = 3
    static let scale: Float = 1.5

    struct Case: CustomStringConvertible, Sendable {
        var nf4: Bool, bias: Bool, dropout: Float
        var description: String { "nf4=\(nf4) bias=\(bias) dropout=\(dropout)" }
    }
    static let cases = [Case(nf4: true, bias: false, dropout: 0), Case(nf4: false, bias: true, dropout: 0),
                        Case(nf4: true, bias: false, dropout: 0.3), Case(nf4: false, bias: true, dropout: 0.3)]

    /// The layer, its base as Double (O, I), and the bias.
    struct Setup {
        let layer: LoRALinear
        let base: FrozenLinear
        let W: [Double]
        let bias: [Double]
        let x: [Float], c: [Float]
    }

    static func setup(_ k: Case) -> Setup {
        var rng = SeededRNG(seed: 21)
        func random(_ n: Int, _ s: Float = 1) -> [Float] { (0..<n).map { _ in rng.nextNormal() * s } }
        let w = random(O * I, 0.1)
        let q = FourBitCodec.quantize(w, shape: [O, I])
        let biasValues = k.bias ? random(O, 0.5) : nil
        let base = k.nf4 ? FrozenLinear(.nf4(NF4Matrix.make(q)), bias: biasValues)
            : FrozenLinear(.dense(DenseMatrix(rows: O, cols: I, values: w, storage: .f32)), bias: biasValues)
        let W = k.nf4 ? FourBitCodec.dequantize(q).map(Double.init) : w.map(Double.init)
        let a = Parameter(name: "A", shape: [r, I], values: random(r * I, 0.2))
        let b = Parameter(name: "B", shape: [O, r], values: random(O * r, 0.2))
        let m = Parameter(name: "m", shape: [O])
        let layer = LoRALinear(name: "t", a: a, b: b, magnitude: m, scale: scale, dropout: k.dropout)
        layer.maskSeed = 77
        layer.initializeMagnitude(base: base, threads: 2, workspace: KernelWorkspace())
        for j in 0..<O { layer.magnitude[j] *= 1 + 0.3 * rng.nextNormal() }   // away from the init
        return Setup(layer: layer, base: base, W: W, bias: (biasValues ?? []).map(Double.init),
                     x: random(M * I), c: random(M * O))
    }

    /// The reference: Σ c ⊙ y in Double, with the norm `n` given (detached).
    static func reference(_ s: Setup, A: [Double], B: [Double], m: [Double], x: [Double], n: [Double], dropout: Float) -> Double {
        let keep = 1 - dropout, threshold = DropoutMask.threshold(keep: keep)
        let xd = (0..<(M * I)).map { i -> Double in
            guard dropout > 0 else { return x[i] }
            return DropoutMask.bits(UInt32(i), seed: 77) < threshold ? x[i] / Double(keep) : 0
        }
        var L = 0.0
        for t in 0..<M {
            let u = (0..<r).map { k in (0..<I).reduce(0.0) { $0 + A[k * I + $1] * xd[t * I + $1] } }
            for j in 0..<O {
                let wx = (0..<I).reduce(0.0) { $0 + s.W[j * I + $1] * x[t * I + $1] }
                let wxd = (0..<I).reduce(0.0) { $0 + s.W[j * I + $1] * xd[t * I + $1] }
                let lora = Double(scale) * (0..<r).reduce(0.0) { $0 + B[j * r + $1] * u[$1] }
                let g = m[j] / n[j]
                let y = wx + (s.bias.isEmpty ? 0 : s.bias[j]) + (g - 1) * wxd + g * lora
                L += Double(s.c[t * O + j]) * y
            }
        }
        return L
    }

    static func norms(_ s: Setup, A: [Double], B: [Double]) -> [Double] {
        (0..<O).map { j in
            (0..<I).reduce(0.0) { acc, i in
                let v = s.W[j * I + i] + Double(scale) * (0..<r).reduce(0.0) { $0 + B[j * r + $1] * A[$1 * I + i] }
                return acc + v * v
            }.squareRoot()
        }
    }

    @Test(arguments: cases) func forwardMatchesTheFormulaAndNormDecomposes(_ k: Case) {
        let s = Self.setup(k)
        let ws = KernelWorkspace()
        let A = s.layer.aParameter.values.map(Double.init), B = s.layer.bParameter.values.map(Double.init)
        let n = Self.norms(s, A: A, B: B)
        let ours = s.layer.doraWeightNorm(base: s.base, threads: 2, workspace: ws)
        for j in 0..<Self.O { #expect(abs(Double(ours[j]) - n[j]) <= 1e-5 * n[j], "n[\(j)] \(ours[j]) vs \(n[j])") }
        var y = [Float](repeating: 0, count: Self.M * Self.O)
        s.base.forward(s.x, M: Self.M, &y, threads: 2, workspace: ws)
        s.layer.forward(s.x, M: Self.M, &y, base: s.base, blas: BLAS.shared!, threads: 2, workspace: ws)
        let L = zip(y, s.c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let ref = Self.reference(s, A: A, B: B, m: s.layer.magnitudeParameter!.values.map(Double.init),
                                 x: s.x.map(Double.init), n: n, dropout: k.dropout)
        #expect(abs(L - ref) <= 1e-4 * max(1, abs(ref)), "Σ c·y \(L) vs \(ref)")
    }

    @Test(arguments: cases) func gradientsMatchFiniteDifferences(_ k: Case) {
        let s = Self.setup(k)
        let ws = KernelWorkspace()
        let blas = BLAS.shared!
        var y = [Float](repeating: 0, count: Self.M * Self.O)
        s.base.forward(s.x, M: Self.M, &y, threads: 2, workspace: ws)
        s.layer.zeroGrad()
        s.layer.forward(s.x, M: Self.M, &y, base: s.base, blas: blas, threads: 2, workspace: ws)
        var dx = [Float](repeating: 0, count: Self.M * Self.I)
        s.layer.backward(s.c, s.x, M: Self.M, &dx, base: s.base, blas: blas, threads: 2, workspace: ws)
        var A = s.layer.aParameter.values.map(Double.init), B = s.layer.bParameter.values.map(Double.init)
        var m = s.layer.magnitudeParameter!.values.map(Double.init), x = s.x.map(Double.init)
        let n = Self.norms(s, A: A, B: B)   // detached: fixed while A and B are perturbed
        func L() -> Double { Self.reference(s, A: A, B: B, m: m, x: x, n: n, dropout: k.dropout) }
        /// Central difference of L along the entry that `nudge` moves by its argument.
        func fd(_ nudge: (Double) -> Void) -> Double {
            nudge(Self.h)
            let lp = L()
            nudge(-2 * Self.h)
            let lm = L()
            nudge(Self.h)
            return (lp - lm) / (2 * Self.h)
        }
        var largest = 0.0
        func expectClose(_ ours: Float, _ fd: Double, _ what: String) {
            largest = max(largest, abs(fd))
            #expect(abs(Double(ours) - fd) <= Self.tolerance * max(1, abs(fd)), "\(k) \(what): ours \(ours) fd \(fd)")
        }
        for i in stride(from: 0, to: A.count, by: 7) { expectClose(s.layer.dA[i], fd { A[i] += $0 }, "dA[\(i)]") }
        for i in stride(from: 0, to: B.count, by: 3) { expectClose(s.layer.dB[i], fd { B[i] += $0 }, "dB[\(i)]") }
        for i in 0..<Self.O { expectClose(s.layer.dMagnitude[i], fd { m[i] += $0 }, "dm[\(i)]") }
        for i in stride(from: 0, to: x.count, by: 5) { expectClose(dx[i], fd { x[i] += $0 }, "dx[\(i)]") }
        #expect(largest > 0.1, "the check must see real gradients, largest \(largest)")
    }
}
