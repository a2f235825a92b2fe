import QLoRA
import QLoRATestSupport
import Testing

/// The dense (Float32 / bf16) weight products against Double, for every ISA variant.
@Suite struct DenseKernelTests {
    static let u = Double(Float.ulpOfOne) / 2

    @Test(arguments: [(1, 64, 96), (3, 33, 64), (17, 130, 256), (40, 50, 70)])
    func productsMatchDouble(_ shape: (Int, Int, Int)) {
        let (M, N, K) = shape
        var rng = SeededRNG(seed: UInt64(M + N + K))
        let w = (0..<(N * K)).map { _ in rng.nextNormal() }
        let X = (0..<(M * K)).map { _ in rng.nextNormal() }
        let dY = (0..<(M * N)).map { _ in rng.nextNormal() }
        for storage in [DenseMatrixRef.Storage.f32, .bf16] {
            let m = DenseMatrix(rows: N, cols: K, values: w, storage: storage)
            let W = (0..<(N * K)).map { Double(m.ref.element($0 / K, $0 % K)) }
            for isa in KernelISA.allCases where isa.isSupported {
                var Y = [Float](repeating: .nan, count: M * N)
                DenseKernels.gemm(m.ref, X: X, ldx: K, M: M, Y: &Y, ldy: N, threads: 2, isa: isa)
                for i in 0..<M {
                    for n in 0..<N {
                        var s = 0.0, mag = 0.0
                        for k in 0..<K { let p = W[n * K + k] * Double(X[i * K + k]); s += p; mag += abs(p) }
                        #expect(abs(Double(Y[i * N + n]) - s) <= Double(K + 2) * Self.u * mag, "\(storage) \(isa)")
                    }
                }
                var dX = [Float](repeating: 0.5, count: M * K)
                DenseKernels.gemmT(m.ref, dY: dY, lddy: N, M: M, dX: &dX, lddx: K, threads: 2, isa: isa)
                for i in 0..<M {
                    for k in 0..<K {
                        var s = 0.5, mag = 0.5
                        for n in 0..<N { let p = Double(dY[i * N + n]) * W[n * K + k]; s += p; mag += abs(p) }
                        #expect(abs(Double(dX[i * K + k]) - s) <= Double(N + 3) * Self.u * mag, "\(storage) \(isa)")
                    }
                }
            }
        }
    }
}
