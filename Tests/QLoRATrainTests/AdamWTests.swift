import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// AdamW against hand-computed steps and the textbook formulas in Double.
@Suite struct AdamWTests {
    /// Float32 rounding over a few steps.
    static let relativeTolerance = 2e-6

    static func optimizer(_ p: Parameter, lr: Double, weightDecay: Double) throws -> Optimizer {
        try Optimizer(groups: ParameterGroup.single([p], weightDecay: weightDecay), algorithm: .adamW(),
                      learningRate: lr)
    }

    @Test func twoStepsMatchHandComputedValues() throws {
        // p = 1, lr 0.1, wd 0.01, β (0.9, 0.999), ε 1e-8.
        // Step 1, g = 0.5: p ← 0.999; m = 0.05; v = 0.00025; bc1 = 0.1, bc2 = 0.001;
        //   p ← 0.999 − (0.1/0.1)·0.05 / (√0.00025/√0.001 + 1e-8) = 0.999 − 0.05/0.50000001 = 0.89900000200
        // Step 2, g = −0.25: p ← 0.89900000200·0.999 = 0.89810100200; m = 0.02; v = 0.00031225;
        //   bc1 = 0.19, bc2 = 0.001999; denom = √0.00031225/√0.001999 + 1e-8 = 0.39522539…
        //   p ← 0.89810100200 − (0.1/0.19)·0.02/0.39522539 = 0.87146730…
        let p = Parameter(name: "w", shape: [1], values: [1])
        let opt = try Self.optimizer(p, lr: 0.1, weightDecay: 0.01)
        p.grad[0] = 0.5
        try opt.step(lrFactor: 1)
        #expect(abs(Double(p.value[0]) - 0.899000002) < 1e-7)
        #expect(try opt.state(parameter: 0, element: 0) == [0.05, 0.00025].map { Float($0) })
        p.grad[0] = -0.25
        try opt.step(lrFactor: 1)
        let denom = (0.00031225).squareRoot() / (0.001999).squareRoot() + 1e-8
        let expected = 0.899000002 * 0.999 - (0.1 / 0.19) * 0.02 / denom
        #expect(abs(Double(p.value[0]) - expected) < 1e-7)
        #expect(abs(expected - 0.8714673) < 1e-7)
    }

    /// Textbook AdamW (Loshchilov & Hutter, Algorithm 2 with PyTorch's lr-scaled decay) in Double.
    static func textbook(_ p0: [Double], _ grads: [[Double]], lr: Double, wd: Double,
                         b1: Double = 0.9, b2: Double = 0.999, eps: Double = 1e-8) -> [Double] {
        var p = p0, m = [Double](repeating: 0, count: p0.count), v = m
        for (t0, g) in grads.enumerated() {
            let t = Double(t0 + 1)
            for i in p.indices {
                p[i] *= 1 - lr * wd
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(b1, t)), vHat = v[i] / (1 - pow(b2, t))
                p[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
        return p
    }

    @Test(arguments: [0.0, 0.1])
    func manyStepsMatchTextbookFormulas(weightDecay: Double) throws {
        var rng = SeededRNG(seed: 11)
        let n = 37
        let start = (0..<n).map { _ in rng.nextNormal() }
        let grads = (0..<6).map { _ in (0..<n).map { _ in rng.nextNormal() } }
        let p = Parameter(name: "w", shape: [n], values: start)
        let opt = try Self.optimizer(p, lr: 1e-2, weightDecay: weightDecay)
        for g in grads {
            p.setGradient(g)
            try opt.step(lrFactor: 1)
        }
        let want = Self.textbook(start.map(Double.init), grads.map { $0.map(Double.init) }, lr: 1e-2, wd: weightDecay)
        for i in 0..<n {
            #expect(abs(Double(p.value[i]) - want[i]) <= Self.relativeTolerance * max(1, abs(want[i])))
        }
    }

    @Test func weightDecayIsDecoupledFromTheGradient() throws {
        // Zero gradient: m = v = 0, so the Adam term is 0/ε = 0 and only p·(1 − lr·wd) remains
        // (L2-regularised Adam would instead move p by about lr).
        let p = Parameter(name: "w", shape: [2], values: [2, -4])
        let opt = try Self.optimizer(p, lr: 0.1, weightDecay: 0.5)
        try opt.step(lrFactor: 1)
        #expect(p.values == [Float(2) * Float(0.95), Float(-4) * Float(0.95)])
    }

    @Test func biasCorrectionMakesTheFirstStepLR() throws {
        // After one step m̂ = g and v̂ = g², so every element moves by lr·g/(|g| + ε) ≈ lr·sign(g).
        let p = Parameter(name: "w", shape: [3], values: [0, 0, 0])
        let opt = try Self.optimizer(p, lr: 1e-3, weightDecay: 0)
        p.setGradient([0.01, -3, 250])
        try opt.step(lrFactor: 1)
        for (x, s) in zip(p.values, [-1.0, 1, -1]) { #expect(abs(Double(x) - 1e-3 * s) < 1e-8) }
    }

    @Test func scheduleFactorScalesTheStep() throws {
        let p = Parameter(name: "w", shape: [1], values: [0])
        let opt = try Self.optimizer(p, lr: 1e-3, weightDecay: 0)
        p.grad[0] = 1
        try opt.step(lrFactor: 0)  // warmup's first step: lr 0, yet the moments advance
        #expect(p.value[0] == 0)
        #expect(opt.stepCount == 1)
        try opt.step(lrFactor: 0.5)
        #expect(abs(Double(p.value[0]) + 5e-4) < 1e-9)
    }

    @Test(arguments: [0, 1, 7, 8, 9, 31, 1000])
    func simdKernelEqualsReferenceBitForBit(count: Int) {
        var rng = SeededRNG(seed: UInt64(count) + 3)
        func r() -> [Float] { (0..<count).map { _ in rng.nextNormal() } }
        let g = r(), p0 = r(), m0 = r(), v0 = r().map { $0 * $0 }
        let k = OptimizerKernels.AdamWConstants(decay: 0.999, oneMinusBeta1: 0.1, beta2: 0.999, oneMinusBeta2: 0.001,
                                                biasCorrection2Sqrt: 0.0447, eps: 1e-8, negStepSize: -0.0123)
        var (pa, ma, va) = (p0, m0, v0), (pb, mb, vb) = (p0, m0, v0)
        OptimizerKernels.adamW(value: &pa, grad: g, m: &ma, v: &va, count: count, k)
        OptimizerKernels.adamWReference(value: &pb, grad: g, m: &mb, v: &vb, count: count, k)
        #expect(pa.map(\.bitPattern) == pb.map(\.bitPattern))
        #expect(ma.map(\.bitPattern) == mb.map(\.bitPattern))
        #expect(va.map(\.bitPattern) == vb.map(\.bitPattern))
    }

    @Test func badHyperparametersAreOneLineErrors() {
        let p = Parameter(name: "w", shape: [1])
        #expect(throws: QLoRAError.invalid("AdamW betas must be in [0, 1), got (1.0, 0.999)")) {
            try Optimizer(groups: ParameterGroup.single([p]), algorithm: .adamW(beta1: 1), learningRate: 1e-3)
        }
        #expect(throws: QLoRAError.invalid("parameter 'w' appears twice in the optimizer's groups")) {
            try Optimizer(groups: ParameterGroup.single([p, p]), algorithm: .adamW(), learningRate: 1e-3)
        }
        #expect(throws: QLoRAError.invalid("unknown optimizer 'sgd' (expected adamw or lion)")) {
            try OptimizerAlgorithm.named("sgd")
        }
    }
}

extension Parameter {
    func setGradient(_ g: [Float]) {
        precondition(g.count == count)
        for i in 0..<count { grad[i] = g[i] }
    }
}
