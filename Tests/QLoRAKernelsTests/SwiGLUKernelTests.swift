import Foundation
import QLoRA
import Testing

/// The vectorized SwiGLU loops of each path against Double, on a ragged length that covers the
/// vector body and the scalar tail, over the whole range of gate values (saturating both ends).
@Suite struct SwiGLUKernelTests {
    @Test func everyPathMatchesDouble() {
        let n = 1003
        let gate = (0..<n).map { Float($0 - 501) * 0.23 }  // −115 … 115
        let up = (0..<n).map { Float($0 % 17) * 0.3 - 2.4 }
        let dh = (0..<n).map { Float($0 % 11) * 0.2 - 1 }
        for isa in KernelISA.allCases where isa.isSupported {
            var out = [Float](repeating: .nan, count: n)
            SwiGLUKernels.forward(&out, gate, up, n, isa: isa)
            var dg = [Float](repeating: 0.5, count: n), du = [Float](repeating: -0.5, count: n)
            SwiGLUKernels.backward(&dg, &du, dh, gate, up, n, isa: isa)
            for i in 0..<n {
                let g = Double(gate[i]), u = Double(up[i]), d = Double(dh[i])
                let s = 1 / (1 + exp(-g))
                let want = g * s * u
                #expect(abs(Double(out[i]) - want) <= 1e-6 * max(1, abs(want)), "\(isa) h[\(i)]")
                let wantG = 0.5 + d * u * s * (1 + g * (1 - s))
                #expect(abs(Double(dg[i]) - wantG) <= 1e-5 * max(1, abs(wantG)), "\(isa) dgate[\(i)]")
                let wantU = -0.5 + d * g * s
                #expect(abs(Double(du[i]) - wantU) <= 1e-5 * max(1, abs(wantU)), "\(isa) dup[\(i)]")
            }
        }
    }
}
