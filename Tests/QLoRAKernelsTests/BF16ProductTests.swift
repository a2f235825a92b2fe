import QLoRA
import QLoRATestSupport
import Testing

/// `BF16Products` (attention's bf16 products) on every variant the dispatcher has — `vdpbf16ps`, the
/// AVX-512 and AVX2 Float32 tiles on the bf16-rounded pairs, the scalar loop — against a Double
/// product of the bf16-rounded operands. A product of two bf16 values is exact in Float32, so the
/// only error is the Float32 summation (γ_K · Σ|a·b|) and the final α-scaling and accumulation
/// (2u · (|α|·Σ|a·b| + |C|)); a skipped rounding or a wrong pair would miss that by orders of magnitude.
@Suite struct BF16ProductTests {
    static let u = Double(Float.ulpOfOne) / 2
    static func gamma(_ k: Int) -> Double { Double(k + 2) * u / (1 - Double(k + 2) * u) }

    struct Case: CustomStringConvertible, Sendable {
        let M: Int, N: Int, K: Int, transA: Bool, transB: Bool, alpha: Float, accumulate: Bool, band: ProductBand
        var description: String { "M=\(M) N=\(N) K=\(K) tA=\(transA) tB=\(transB) α=\(alpha) acc=\(accumulate) \(band)" }
    }

    static let cases: [Case] = [
        Case(M: 13, N: 37, K: 9, transA: false, transB: true, alpha: 0.125, accumulate: false, band: .full),
        Case(M: 25, N: 64, K: 64, transA: false, transB: false, alpha: 1, accumulate: true, band: .full),
        Case(M: 12, N: 32, K: 1, transA: true, transB: false, alpha: -0.7, accumulate: true, band: .full),
        Case(M: 1, N: 70, K: 33, transA: true, transB: true, alpha: 1, accumulate: false, band: .full),
        Case(M: 40, N: 100, K: 257, transA: false, transB: false, alpha: 0.3, accumulate: false, band: .full),
        Case(M: 37, N: 45, K: 16, transA: false, transB: true, alpha: 0.125, accumulate: false, band: .outputLower(0)),
        Case(M: 30, N: 70, K: 20, transA: false, transB: true, alpha: 1, accumulate: false, band: .outputLower(33)),
        Case(M: 37, N: 33, K: 37, transA: false, transB: false, alpha: 1, accumulate: false, band: .aLower(0)),
        Case(M: 26, N: 64, K: 60, transA: false, transB: false, alpha: 0.125, accumulate: true, band: .aLower(31)),
        Case(M: 37, N: 33, K: 37, transA: true, transB: false, alpha: 1, accumulate: true, band: .aUpper(0)),
        Case(M: 61, N: 40, K: 29, transA: true, transB: false, alpha: 0.125, accumulate: true, band: .aUpper(32)),
        Case(M: 3, N: 5, K: 7, transA: true, transB: true, alpha: 2, accumulate: true, band: .aUpper(1)),
    ]

    /// op(A)[i, k] is forced to 0 where the band says so; C entries past an output band may be the product or 0.
    static func check(_ variant: BF16Variant) {
        for c in cases {
            var rng = SeededRNG(seed: UInt64(c.M * 131 + c.N * 17 + c.K))
            // Stored A is M × K (or K × M when transposed), row stride + 3; B likewise K × N (N × K).
            let (aRows, aCols) = c.transA ? (c.K, c.M) : (c.M, c.K)
            let (bRows, bCols) = c.transB ? (c.N, c.K) : (c.K, c.N)
            let lda = aCols + 3, ldb = bCols + 2, ldc = c.N + 5
            var A = (0..<(aRows * lda)).map { _ in rng.nextNormal() }
            let B = (0..<(bRows * ldb)).map { _ in rng.nextNormal() }
            func opA(_ i: Int, _ k: Int) -> Int { c.transA ? k * lda + i : i * lda + k }
            func opB(_ k: Int, _ j: Int) -> Int { c.transB ? j * ldb + k : k * ldb + j }
            for i in 0..<c.M {
                for k in 0..<c.K {
                    switch c.band {
                    case .aLower(let off) where k > i + off: A[opA(i, k)] = 0
                    case .aUpper(let off) where k < i - off: A[opA(i, k)] = 0
                    default: break
                    }
                }
            }
            let C0 = (0..<(c.M * ldc)).map { _ in rng.nextNormal() }
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: BF16Products.scratchFloats(M: c.M, N: c.N, K: c.K, threads: 2))
            defer { scratch.deallocate() }
            for threads in [1, 2] {
                var C = C0
                A.withUnsafeBufferPointer { a in
                    B.withUnsafeBufferPointer { b in
                        C.withUnsafeMutableBufferPointer { cc in
                            BF16Products.gemm(transA: c.transA, transB: c.transB, M: c.M, N: c.N, K: c.K, alpha: c.alpha,
                                              A: a.baseAddress!, lda: lda, B: b.baseAddress!, ldb: ldb,
                                              accumulate: c.accumulate, C: cc.baseAddress!, ldc: ldc, band: c.band,
                                              threads: threads, variant: variant, scratch: scratch)
                        }
                    }
                }
                var worst = 0.0
                for i in 0..<c.M {
                    for j in 0..<ldc {
                        let got = Double(C[i * ldc + j])
                        if j >= c.N {   // padding columns are never written
                            #expect(C[i * ldc + j] == C0[i * ldc + j], "\(variant) \(c): wrote past N at (\(i), \(j))")
                            continue
                        }
                        var exact = 0.0, mag = 0.0
                        for k in 0..<c.K {
                            let p = Double(BF16.round(A[opA(i, k)])) * Double(BF16.round(B[opB(k, j)]))
                            exact += p; mag += abs(p)
                        }
                        let alpha = Double(c.alpha), base = c.accumulate ? Double(C0[i * ldc + j]) : 0
                        let want = base + alpha * exact
                        if case .outputLower(let off) = c.band, j > i + off, !c.accumulate, got == 0 { continue }
                        let bound = abs(alpha) * gamma(c.K) * mag + 2 * u * (abs(alpha) * mag + abs(base)) + 1e-30
                        worst = max(worst, abs(got - want) / bound)
                    }
                }
                #expect(worst <= 1, "\(variant) \(c) threads=\(threads): error/bound = \(worst)")
            }
        }
    }

    @Test func reference() { Self.check(.reference) }

    @Test(.enabled(if: BF16Variant.avx2.isSupported, "this CPU lacks AVX2+FMA"))
    func avx2RoundedOperands() { Self.check(.avx2) }

    @Test(.enabled(if: BF16Variant.avx512.isSupported, "this CPU lacks AVX-512 F/BW/DQ/VL"))
    func avx512RoundedOperands() { Self.check(.avx512) }

    @Test(.enabled(if: BF16Variant.avx512bf16.isSupported, "this CPU lacks AVX512-BF16 (vdpbf16ps)"))
    func avx512bf16DotProducts() { Self.check(.avx512bf16) }

    /// The rounding really happens: an operand that is not a bf16 value gives a different product than Float32.
    @Test func roundsBothOperands() {
        let a: [Float] = [1 + 1.0 / 1024, 1, 1, 1], b: [Float] = [1, 1, 1, 1 + 1.0 / 512]
        var c: [Float] = [0]
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: BF16Products.scratchFloats(M: 1, N: 1, K: 4))
        defer { scratch.deallocate() }
        BF16Products.gemm(transA: false, transB: true, M: 1, N: 1, K: 4, A: a, lda: 4, B: b, ldb: 4, C: &c, ldc: 1,
                          scratch: scratch)
        // bf16 keeps 8 significant bits: 1 + 2⁻¹⁰ and 1 + 2⁻⁹ are below half a bf16 ulp of 1 (2⁻⁸), so both round
        // to 1; in Float32 the product would be 4 + 2⁻¹⁰ + 2⁻⁹.
        #expect(c[0] == 4)
    }
}
