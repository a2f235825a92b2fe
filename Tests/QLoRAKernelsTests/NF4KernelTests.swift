import QLoRA
import QLoRATestSupport
import Testing

/// Every NF4 kernel (each ISA variant and the reference) against a Double-precision product of the
/// dequantized weight, on shapes with ragged tails.
@Suite struct NF4KernelTests {
    /// Unit roundoff of Float32.
    static let u = Double(Float.ulpOfOne) / 2
    /// Any summation order of a length-K dot product errs by at most γ_K · Σ|w·x| (Higham, Accuracy and
    /// Stability of Numerical Algorithms, §3.1); the kernels' per-block scaling adds two roundings.
    static func gamma(_ k: Int) -> Double { Double(k + 2) * u / (1 - Double(k + 2) * u) }

    static let isas: [KernelISA] = KernelISA.allCases.filter(\.isSupported)

    struct Case: CustomStringConvertible, Sendable {
        let out: Int, inn: Int, m: Int, doubleQuant: Bool, blockSize: Int
        var description: String { "\(out)x\(inn) M=\(m) dq=\(doubleQuant) bs=\(blockSize)" }
    }

    static let cases: [Case] = [
        Case(out: 64, inn: 64, m: 1, doubleQuant: true, blockSize: 64),
        Case(out: 37, inn: 96, m: 3, doubleQuant: true, blockSize: 64),      // in % 64 ≠ 0: blocks cross rows
        Case(out: 50, inn: 160, m: 17, doubleQuant: false, blockSize: 64),
        Case(out: 33, inn: 35, m: 5, doubleQuant: true, blockSize: 64),      // odd count, not group-aligned
        Case(out: 100, inn: 70, m: 17, doubleQuant: false, blockSize: 64),   // not group-aligned
        Case(out: 130, inn: 256, m: 512, doubleQuant: true, blockSize: 64),
        Case(out: 96, inn: 576, m: 40, doubleQuant: true, blockSize: 128),
        Case(out: 77, inn: 320, m: 13, doubleQuant: false, blockSize: 32),
        Case(out: 300, inn: 288, m: 29, doubleQuant: true, blockSize: 256),
        Case(out: 45, inn: 320, m: 2, doubleQuant: true, blockSize: 64),     // few-token paths, 256-column tail
        Case(out: 70, inn: 1024, m: 1, doubleQuant: false, blockSize: 64),
        Case(out: 133, inn: 192, m: 1, doubleQuant: true, blockSize: 64),    // GEMV: 2-row passes + 1-row tail
        Case(out: 39, inn: 704, m: 3, doubleQuant: false, blockSize: 64),    // odd block count per row
        Case(out: 301, inn: 192, m: 1, doubleQuant: true, blockSize: 64),    // transposed GEMV: 3 row passes, ragged
        Case(out: 23, inn: 384, m: 1, doubleQuant: true, blockSize: 128),   // byte-plane GEMV, blocks of 128
        Case(out: 18, inn: 576, m: 2, doubleQuant: false, blockSize: 256),  // byte-plane GEMV, odd 64-chunks, blocks of 256
        // Byte-plane GEMV's scale tables (one per nested block of 256 scales): nested blocks that end
        // mid-row, 5 chunks per row (a 1-chunk tail), and blocks of 256 crossing rows.
        Case(out: 700, inn: 320, m: 1, doubleQuant: true, blockSize: 64),
        Case(out: 410, inn: 320, m: 1, doubleQuant: true, blockSize: 256),
        // AVX2 transposed GEMV over two row slabs (an odd number of 64-column strips; 301×192 and
        // 700×320 above take it too): two tokens, Float32 absmax, SmolLM2's 576 columns.
        Case(out: 520, inn: 576, m: 2, doubleQuant: false, blockSize: 64),
        // Large enough (≈ 20 MFLOP) that the measured thread cost gives the panel products 2 threads;
        // every smaller case runs them on one. Ragged in N, and M = 46 takes the 8- and 2-row
        // transposed tails on AVX-512, the 4-row tail on AVX2 (M = 512 the 8- / 2-row, 17 and 29 the 4-row).
        Case(out: 389, inn: 544, m: 46, doubleQuant: true, blockSize: 64),
    ]

    struct Fixture {
        let matrix: NF4Matrix
        let W: [Double]  // dequantized, [out, in]
        let X: [Float]   // [M, in]
        let dY: [Float]  // [M, out]
    }

    static func fixture(_ c: Case) -> Fixture {
        var rng = SeededRNG(seed: UInt64(c.out * 1000 + c.inn + c.m))
        let w = (0..<(c.out * c.inn)).map { _ in rng.nextNormal() * 0.02 }
        let q = FourBitCodec.quantize(w, shape: [c.out, c.inn], blockSize: c.blockSize, doubleQuant: c.doubleQuant)
        let W = FourBitCodec.dequantize(q).map(Double.init)
        let X = (0..<(c.m * c.inn)).map { _ in rng.nextNormal() }
        let dY = (0..<(c.m * c.out)).map { _ in rng.nextNormal() }
        return Fixture(matrix: NF4Matrix.make(q), W: W, X: X, dY: dY)
    }

    @Test(arguments: cases) func repackedElementsEqualBitsandbytesDequantization(_ c: Case) {
        let f = Self.fixture(c)
        let ref = f.matrix.ref
        for j in 0..<(c.out * c.inn) { #expect(Double(ref.element(j)) == f.W[j]) }
    }

    @Test(arguments: cases) func forwardProductsMatchDouble(_ c: Case) {
        let f = Self.fixture(c)
        for isa in Self.isas {
            for threads in [1, 2] {
                var Y = [Float](repeating: .nan, count: c.m * c.out)
                f.X.withUnsafeBufferPointer { x in
                    Y.withUnsafeMutableBufferPointer { y in
                        if c.m == 1 {
                            NF4Kernels.gemv(f.matrix.ref, x: x.baseAddress!, y: y.baseAddress!, threads: threads, isa: isa)
                        } else {
                            NF4Kernels.gemm(f.matrix.ref, X: x.baseAddress!, ldx: c.inn, M: c.m, Y: y.baseAddress!,
                                            ldy: c.out, threads: threads, isa: isa)
                        }
                    }
                }
                var worst = 0.0
                for m in 0..<c.m {
                    for r in 0..<c.out {
                        var exact = 0.0, mag = 0.0
                        for k in 0..<c.inn {
                            let p = f.W[r * c.inn + k] * Double(f.X[m * c.inn + k])
                            exact += p
                            mag += abs(p)
                        }
                        let err = abs(Double(Y[m * c.out + r]) - exact)
                        worst = max(worst, err / max(Self.gamma(c.inn) * mag, .leastNormalMagnitude))
                    }
                }
                #expect(worst <= 1, "\(isa) threads=\(threads): error/bound = \(worst)")
            }
        }
    }

    @Test(arguments: cases) func transposedProductMatchesDoubleAndAccumulates(_ c: Case) {
        let f = Self.fixture(c)
        for isa in Self.isas {
            for threads in [1, 2] {
                // dX starts at 1: the kernel must add into it.
                var dX = [Float](repeating: 1, count: c.m * c.inn)
                f.dY.withUnsafeBufferPointer { dy in
                    dX.withUnsafeMutableBufferPointer { dx in
                        NF4Kernels.gemmT(f.matrix.ref, dY: dy.baseAddress!, lddy: c.out, M: c.m, dX: dx.baseAddress!,
                                         lddx: c.inn, threads: threads, isa: isa)
                    }
                }
                var worst = 0.0
                for m in 0..<c.m {
                    for k in 0..<c.inn {
                        var exact = 1.0, mag = 1.0
                        for r in 0..<c.out {
                            let p = Double(f.dY[m * c.out + r]) * f.W[r * c.inn + k]
                            exact += p
                            mag += abs(p)
                        }
                        let err = abs(Double(dX[m * c.inn + k]) - exact)
                        worst = max(worst, err / (Self.gamma(c.out + 1) * mag))
                    }
                }
                #expect(worst <= 1, "\(isa) threads=\(threads): error/bound = \(worst)")
            }
        }
    }

    /// The products give the same bits at 1, 2 and 3 threads on every ISA: threads split output tiles (or,
    /// in the AVX2 transposed GEMV over an odd number of 64-column strips, row slabs fixed by the shape),
    /// never the order of a sum, so a run's result and a resume's continuation do not depend on --threads.
    /// (A row split that followed the thread count gave other bits at 2 threads than at 1.)
    @Test(arguments: cases) func productsDoNotDependOnTheThreadCount(_ c: Case) {
        let f = Self.fixture(c)
        for isa in Self.isas {
            var forward: [[Float]] = [], transposed: [[Float]] = []
            for threads in [1, 2, 3] {
                var Y = [Float](repeating: .nan, count: c.m * c.out)
                var dX = [Float](repeating: 1, count: c.m * c.inn)
                f.X.withUnsafeBufferPointer { x in
                    Y.withUnsafeMutableBufferPointer { y in
                        NF4Kernels.gemm(f.matrix.ref, X: x.baseAddress!, ldx: c.inn, M: c.m, Y: y.baseAddress!,
                                        ldy: c.out, threads: threads, isa: isa)
                    }
                }
                f.dY.withUnsafeBufferPointer { dy in
                    dX.withUnsafeMutableBufferPointer { dx in
                        NF4Kernels.gemmT(f.matrix.ref, dY: dy.baseAddress!, lddy: c.out, M: c.m, dX: dx.baseAddress!,
                                         lddx: c.inn, threads: threads, isa: isa)
                    }
                }
                forward.append(Y)
                transposed.append(dX)
            }
            func differing(_ a: [Float], _ b: [Float]) -> Int { zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count }
            for t in 1..<3 {
                let f = differing(forward[t], forward[0]), b = differing(transposed[t], transposed[0])
                #expect(f == 0, "\(isa) forward: \(f) of \(forward[0].count) values differ at \(t + 1) threads from 1")
                #expect(b == 0, "\(isa) transposed: \(b) of \(transposed[0].count) values differ at \(t + 1) threads from 1")
            }
        }
    }

    /// Whole-matrix dequantization (each ISA's panel or row decode) is bit-identical to bitsandbytes'.
    @Test(arguments: cases) func dequantizeEqualsReferenceExactly(_ c: Case) {
        let f = Self.fixture(c)
        for isa in Self.isas {
            for threads in [1, 2] {
                var W = [Float](repeating: .nan, count: c.out * c.inn)
                W.withUnsafeMutableBufferPointer { NF4Kernels.dequantize(f.matrix.ref, into: $0.baseAddress!, threads: threads, isa: isa) }
                let bad = (0..<W.count).filter { Double(W[$0]) != f.W[$0] }.count
                #expect(bad == 0, "\(isa) threads=\(threads): \(bad) elements differ")
            }
        }
    }

    /// The transposed product with a one-hot dY (row m picks W's row (7m + 3) % out) and dX = 0 returns
    /// those rows of W exactly: every panel element lands at its own column, with its own block's scale
    /// (M = 16 takes the 6-row tiles and the 4-row tail on AVX2; odd row counts, rows not whole 64-blocks).
    @Test(arguments: [(37, 96, 64), (77, 320, 32), (300, 288, 256), (389, 544, 64), (2051, 64, 64), (45, 128, 128)])
    func transposedOneHotReturnsRowsExactly(_ shape: (Int, Int, Int)) {
        let (out, inn, bs) = shape
        let m = 16
        let f = Self.fixture(Case(out: out, inn: inn, m: m, doubleQuant: true, blockSize: bs))
        var dY = [Float](repeating: 0, count: m * out)
        for i in 0..<m { dY[i * out + (7 * i + 3) % out] = 1 }
        for isa in Self.isas {
            for threads in [1, 2] {
                var dX = [Float](repeating: 0, count: m * inn)
                dY.withUnsafeBufferPointer { dy in
                    dX.withUnsafeMutableBufferPointer { dx in
                        NF4Kernels.gemmT(f.matrix.ref, dY: dy.baseAddress!, lddy: out, M: m, dX: dx.baseAddress!,
                                         lddx: inn, threads: threads, isa: isa)
                    }
                }
                var bad = 0
                for i in 0..<m {
                    let r = (7 * i + 3) % out
                    for k in 0..<inn where Double(dX[i * inn + k]) != f.W[r * inn + k] { bad += 1 }
                }
                #expect(bad == 0, "\(isa) threads=\(threads): \(bad) elements differ")
            }
        }
    }

    @Test func everyISAVariantIsExercisedOnThisMachine() {
        // The reference always runs; AVX2 runs on any x86-64-v3 CPU, AVX-512 where present, up to the
        // path QLORA_ISA chooses.
        #expect(Self.isas.contains(.reference))
        if CPUFeatures.current.hasAVX2 && KernelISA.best != .reference { #expect(Self.isas.contains(.avx2)) }
        if CPUFeatures.current.hasAVX512 && KernelISA.best == .avx512 { #expect(Self.isas.contains(.avx512)) }
        // A path above the chosen one never runs.
        if KernelISA.best != .avx512 { #expect(!Self.isas.contains(.avx512)) }
        if KernelISA.best == .reference { #expect(Self.isas == [.reference]) }
    }
}
