import QLoRA
import QLoRATestSupport
import Testing

/// Dropout masks: the vector lanes equal the scalar hash, the kept fraction is `keep`, seeds give
/// independent masks, and the gradient goes through exactly the forward's mask.
@Suite struct DropoutMaskTests {
    static func ramp(_ n: Int) -> [Float] { (0..<n).map { Float($0 % 97) * 0.25 - 11 } }

    @Test(arguments: [1, 15, 16, 17, 250, 4099], KernelISA.allCases.filter(\.isSupported))
    func vectorLanesEqualTheScalarHash(_ n: Int, _ isa: KernelISA) {
        let x = Self.ramp(n)
        var out = [Float](repeating: .nan, count: n)
        let seed: UInt64 = 0xDEAD_BEEF_1234_5678, keep: Float = 0.9
        DropoutMask.apply(x, &out, count: n, seed: seed, keep: keep, isa: isa)
        let t = DropoutMask.threshold(keep: keep)
        for i in 0..<n {
            let want: Float = DropoutMask.bits(UInt32(i), seed: seed) < t ? x[i] / keep : 0
            #expect(abs(out[i] - want) <= 1e-6 * max(1, abs(want)), "element \(i)")
        }
    }

    @Test(arguments: [Float(0.95), 0.5, 0.1])
    func keptFractionIsKeep(_ keep: Float) {
        let n = 1 << 20
        let ones = [Float](repeating: 1, count: n)
        var out = [Float](repeating: 0, count: n)
        DropoutMask.apply(ones, &out, count: n, seed: 7, keep: keep)
        let kept = out.filter { $0 != 0 }.count
        // Binomial standard deviation is ≤ 0.0005 here; 0.003 is six of them.
        #expect(abs(Double(kept) / Double(n) - Double(keep)) < 0.003)
        // Inverted dropout: the mean is preserved.
        #expect(abs(out.reduce(0, +) / Float(n) - 1) < 0.01)
    }

    @Test func neighbouringSeedsGiveIndependentMasks() {
        let n = 1 << 18
        let ones = [Float](repeating: 1, count: n)
        var a = [Float](repeating: 0, count: n), b = a
        DropoutMask.apply(ones, &a, count: n, seed: 41, keep: 0.5)
        DropoutMask.apply(ones, &b, count: n, seed: 42, keep: 0.5)
        let agree = zip(a, b).filter { ($0 != 0) == ($1 != 0) }.count
        #expect(abs(Double(agree) / Double(n) - 0.5) < 0.01, "masks of seeds 41 and 42 agree on \(agree) of \(n)")
        DropoutMask.apply(ones, &b, count: n, seed: 41 | (1 << 32), keep: 0.5)
        let agreeHigh = zip(a, b).filter { ($0 != 0) == ($1 != 0) }.count
        #expect(abs(Double(agreeHigh) / Double(n) - 0.5) < 0.01, "the seed's high half matters")
    }

    @Test func gradientGoesThroughTheSameMask() {
        let n = 1001
        let g = Self.ramp(n)
        var forward = [Float](repeating: 0, count: n)
        DropoutMask.apply(g, &forward, count: n, seed: 99, keep: 0.7)
        var dx = [Float](repeating: 1, count: n)
        DropoutMask.accumulate(g, into: &dx, count: n, seed: 99, keep: 0.7)
        for i in 0..<n { #expect(abs(dx[i] - (1 + forward[i])) < 1e-5, "element \(i)") }
    }
}
