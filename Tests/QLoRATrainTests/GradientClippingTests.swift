import QLoRA
import Testing

/// Global-norm clipping with clip_grad_norm_ semantics.
@Suite struct GradientClippingTests {
    static func params() -> [Parameter] {
        let a = Parameter(name: "a", shape: [2]), b = Parameter(name: "b", shape: [1, 1])
        a.grad[0] = 3; a.grad[1] = 4; b.grad[0] = 12  // total norm √(9 + 16 + 144) = 13
        return [a, b]
    }

    @Test func scalesAllGradientsByOneCoefficient() {
        let ps = Self.params()
        let norm = GradientClipping.clipGlobalNorm(ps, maxNorm: 6.5)
        #expect(norm == 13)
        let coef = Float(6.5) / (Float(13) + 1e-6)
        #expect(ps[0].gradient == [3 * coef, 4 * coef])
        #expect(ps[1].gradient == [12 * coef])
        #expect(abs(Double(GradientClipping.globalNorm(ps)) - 6.5) < 1e-5)
    }

    @Test func belowTheBoundNothingChanges() {
        let ps = Self.params()
        #expect(GradientClipping.clipGlobalNorm(ps, maxNorm: 13.01) == 13)
        #expect(ps[0].gradient == [3, 4] && ps[1].gradient == [12])
    }

    @Test func nonFiniteNormIsReportedAndGradientsKept() {
        let ps = Self.params()
        ps[1].grad[0] = .infinity
        #expect(GradientClipping.clipGlobalNorm(ps, maxNorm: 1) == .infinity)
        #expect(ps[0].gradient == [3, 4])
    }
}
