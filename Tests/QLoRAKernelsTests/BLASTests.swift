import QLoRA
import QLoRATestSupport
import Testing

/// OpenBLAS as the engine loads it (its own core-type choice) computes correct products: older
/// OpenBLAS builds are known to miscompute on some CPUs with some core types.
@Suite struct BLASTests {
    static let u = Double(Float.ulpOfOne) / 2

    @Test func loadsWithTheCoreTypeChosenForThisCPU() throws {
        let blas = try #require(BLAS.shared)
        if let want = BLAS.chooseCoreType() {
            #expect(blas.coreName.lowercased() == want.lowercased(), "asked \(want), runs \(blas.coreName)")
        }
    }

    @Test(arguments: [(1, 7, 5), (3, 64, 33), (17, 130, 257), (64, 576, 192), (129, 96, 1536)])
    func sgemmMatchesDoubleForEveryTransposition(_ shape: (Int, Int, Int)) throws {
        let (M, N, K) = shape
        let blas = try #require(BLAS.shared)
        var rng = SeededRNG(seed: UInt64(M * N + K))
        let A = (0..<(M * K)).map { _ in rng.nextNormal() }
        let B = (0..<(K * N)).map { _ in rng.nextNormal() }
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            var C = [Float](repeating: 0, count: M * N)
            // A is stored [M, K] or [K, M]; B [K, N] or [N, K].
            blas.sgemm(transA: ta, transB: tb, M: M, N: N, K: K, A: A, lda: ta ? M : K, B: B, ldb: tb ? K : N,
                       C: &C, ldc: N)
            var worst = 0.0
            for i in 0..<M {
                for j in 0..<N {
                    var s = 0.0, mag = 0.0
                    for k in 0..<K {
                        let a = Double(ta ? A[k * M + i] : A[i * K + k])
                        let b = Double(tb ? B[j * K + k] : B[k * N + j])
                        s += a * b
                        mag += abs(a * b)
                    }
                    worst = max(worst, abs(Double(C[i * N + j]) - s) / (Double(K + 1) * Self.u * mag))
                }
            }
            #expect(worst <= 1, "transA=\(ta) transB=\(tb): error/bound \(worst)")
        }
    }

    @Test func sgemvMatchesDouble() throws {
        let blas = try #require(BLAS.shared)
        var rng = SeededRNG(seed: 5)
        let (M, N) = (300, 577)
        let A = (0..<(M * N)).map { _ in rng.nextNormal() }
        let x = (0..<max(M, N)).map { _ in rng.nextNormal() }
        for trans in [false, true] {
            let rows = trans ? N : M, len = trans ? M : N
            var y = [Float](repeating: 0, count: rows)
            blas.sgemv(trans: trans, M: M, N: N, A: A, lda: N, x: x, y: &y)
            for r in 0..<rows {
                var s = 0.0, mag = 0.0
                for c in 0..<len {
                    let a = Double(trans ? A[c * N + r] : A[r * N + c])
                    s += a * Double(x[c])
                    mag += abs(a * Double(x[c]))
                }
                #expect(abs(Double(y[r]) - s) <= Double(len + 1) * Self.u * mag)
            }
        }
    }
}
