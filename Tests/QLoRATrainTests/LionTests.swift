import QLoRA
import QLoRATestSupport
import Testing

/// Lion against hand-computed steps.
@Suite struct LionTests {
    @Test func twoStepsMatchHandComputedValues() throws {
        // p = 1, lr 0.01, wd 0.1, β (0.9, 0.99).
        // Step 1, g = 0.5: p ← 0.999; c = 0.05 > 0 → p ← 0.999 − 0.01 = 0.989; m = 0.005.
        // Step 2, g = −0.2: p ← 0.989·0.999 = 0.988011; c = 0.0045 − 0.02 < 0 → p ← 0.998011;
        //   m = 0.99·0.005 + 0.01·(−0.2) = 0.00295.
        let p = Parameter(name: "w", shape: [1], values: [1])
        let opt = try Optimizer(groups: ParameterGroup.single([p], weightDecay: 0.1), algorithm: .lion(),
                                learningRate: 0.01)
        p.grad[0] = 0.5
        try opt.step(lrFactor: 1)
        #expect(abs(Double(p.value[0]) - 0.989) < 1e-7)
        #expect(abs(Double(try opt.state(parameter: 0, element: 0)[0]) - 0.005) < 1e-9)
        p.grad[0] = -0.2
        try opt.step(lrFactor: 1)
        #expect(abs(Double(p.value[0]) - 0.998011) < 1e-7)
        #expect(abs(Double(try opt.state(parameter: 0, element: 0)[0]) - 0.00295) < 1e-9)
    }

    @Test func zeroInterpolationLeavesOnlyDecay() throws {
        let p = Parameter(name: "w", shape: [2], values: [3, -1])
        let opt = try Optimizer(groups: ParameterGroup.single([p], weightDecay: 0.5), algorithm: .lion(),
                                learningRate: 0.1)
        try opt.step(lrFactor: 1)
        #expect(p.values == [Float(3) * Float(0.95), Float(-1) * Float(0.95)])
    }

    @Test(arguments: [0, 5, 8, 13, 64, 1001])
    func simdKernelEqualsReferenceBitForBit(count: Int) {
        var rng = SeededRNG(seed: UInt64(count) + 9)
        func r() -> [Float] { (0..<count).map { _ in rng.nextNormal() } }
        var g = r()
        if count > 3 { g[1] = 0; g[2] = .nan }
        let p0 = r(), m0 = r().map { $0 * 0 }
        let k = OptimizerKernels.LionConstants(decay: 0.99, beta1: 0.9, oneMinusBeta1: 0.1, beta2: 0.99,
                                               oneMinusBeta2: 0.01, negLR: -1e-4)
        var (pa, ma) = (p0, m0), (pb, mb) = (p0, m0)
        OptimizerKernels.lion(value: &pa, grad: g, m: &ma, count: count, k)
        OptimizerKernels.lionReference(value: &pb, grad: g, m: &mb, count: count, k)
        #expect(pa.map(\.bitPattern) == pb.map(\.bitPattern))
        #expect(ma.map(\.bitPattern) == mb.map(\.bitPattern))
        if count > 3 {
            #expect(pa[1] == p0[1] * 0.99)  // sign(0) = 0: decay only
            #expect(pa[2].isNaN)            // a NaN gradient shows in the parameter
        }
    }
}
