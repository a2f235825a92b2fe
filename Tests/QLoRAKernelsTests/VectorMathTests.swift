import Foundation
import QLoRA
import Testing

@Suite struct VectorMathTests {
    /// exp on the softmax range (x − max ≤ 0, down to underflow) within a few ulp of Double's.
    @Test func expShiftedSumIsAccurate() {
        for isa in KernelISA.allCases where isa.isSupported {
            var x = (0..<1003).map { Float($0) * -0.1 + 5 }  // 5 … −95, odd count for the tail
            let ref = x.map { exp(Double($0) - 5) }
            let sum = VectorMath.expShiftedSum(&x, x.count, shift: 5, isa: isa)
            for i in 0..<x.count {
                let r = ref[i]
                #expect(abs(Double(x[i]) - r) <= 4 * Double(Float(r).ulp) + 1e-44, "\(isa) x[\(i)]: \(x[i]) vs \(r)")
            }
            #expect(abs(Double(sum) - ref.reduce(0, +)) <= 1e-6 * ref.reduce(0, +))
            #expect(VectorMath.maximum([1, 7, -3, 7.5, 2], 5, isa: isa) == 7.5)
        }
    }
}
