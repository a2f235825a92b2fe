import QLoRA
import QLoRATestSupport
import Testing

/// The bf16 products (`--compute-dtype bf16`) of every variant the dispatcher has — `vdpbf16ps`
/// (AVX512-BF16), the AVX-512 and AVX2 Float32 kernels on bf16-rounded operands, and the scalar
/// reference — against a Double product of the bf16-rounded operands. Products of two bf16 values
/// are exact in Float32, so every variant must meet the same summation bound γ_K · Σ|w·x| as the
/// Float32 kernels; a variant that skipped a rounding would miss it by orders of magnitude.
@Suite struct BF16KernelTests {
    static let u = Double(Float.ulpOfOne) / 2
    static func gamma(_ k: Int) -> Double { Double(k + 2) * u / (1 - Double(k + 2) * u) }

    @Test func roundingIsNearestEvenAndKeepsNaN() {
        #expect(BF16.bits(1.0) == 0x3F80)
        #expect(BF16.bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)   // tie, even stays
        #expect(BF16.bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)   // tie, odd rounds up
        #expect(BF16.bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(BF16.bits(Float(bitPattern: 0x3F80_7FFF)) == 0x3F80)
        #expect(BF16.bits(-2.0) == 0xC000)
        #expect(BF16.bits(.infinity) == 0x7F80)
        #expect(BF16.round(.nan).isNaN)
        #expect(BF16.round(Float(bitPattern: 0x7FFF_FFFF)).isNaN)
        #expect(BF16.round(.greatestFiniteMagnitude) == .infinity)
        var rng = SeededRNG(seed: 9)
        var values = (0..<256).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        values += [.nan, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude]
        values += Array(repeating: 1, count: (16 - values.count % 16) % 16)
        for i in stride(from: 0, to: values.count, by: 16) {
            let v = SIMD16<Float>((0..<16).map { values[i + $0] })
            let b = BF16.bits16(v)
            for l in 0..<16 { #expect(UInt16(b[l]) == BF16.bits(v[l]), "\(v[l].bitPattern)") }
        }
    }

    struct Case: CustomStringConvertible, Sendable {
        let out: Int, inn: Int, m: Int
        var description: String { "\(out)x\(inn) M=\(m)" }
    }

    static let cases: [Case] = [
        Case(out: 64, inn: 64, m: 5),
        Case(out: 37, inn: 96, m: 13),       // odd N: the transposed product's pair tail
        Case(out: 130, inn: 256, m: 70),
        Case(out: 96, inn: 1056, m: 33),     // K past one 1024 panel
        Case(out: 2050, inn: 64, m: 12),     // N past one 2048 transposed panel
        Case(out: 40, inn: 70, m: 9),        // not group-aligned: reference loops
        Case(out: 50, inn: 160, m: 3),       // M ≤ 4: forward stays Float32 GEMV
    ]

    /// Checks NF4 and dense (f32, bf16 storage) products of `variant` on every case, 1 and 2 threads.
    static func check(_ variant: BF16Variant) {
        for c in cases {
            var rng = SeededRNG(seed: UInt64(c.out * 7 + c.inn * 3 + c.m))
            let w = (0..<(c.out * c.inn)).map { _ in rng.nextNormal() * 0.02 }
            let X = (0..<(c.m * c.inn)).map { _ in rng.nextNormal() }
            let dY = (0..<(c.m * c.out)).map { _ in rng.nextNormal() }
            let q = FourBitCodec.quantize(w, shape: [c.out, c.inn], blockSize: 64, doubleQuant: true)
            let nf4 = NF4Matrix.make(q)
            let nf4W = FourBitCodec.dequantize(q)
            let dense = [DenseMatrixRef.Storage.f32, .bf16].map { DenseMatrix(rows: c.out, cols: c.inn, values: w, storage: $0) }
            // (name, Float32 weight values, forward, transposed)
            typealias Fwd = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
            typealias Bwd = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
            var weights: [(String, [Float], Fwd, Bwd)] = [(
                "nf4", nf4W,
                { x, y, t in NF4Kernels.gemm(nf4.ref, X: x, ldx: c.inn, M: c.m, Y: y, ldy: c.out, threads: t, dtype: .bf16, variant: variant) },
                { dy, dx, t in NF4Kernels.gemmT(nf4.ref, dY: dy, lddy: c.out, M: c.m, dX: dx, lddx: c.inn, threads: t, dtype: .bf16, variant: variant) }
            )]
            for d in dense {
                weights.append((
                    "dense \(d.ref.storage)", (0..<(c.out * c.inn)).map { d.ref.element($0 / c.inn, $0 % c.inn) },
                    { x, y, t in DenseKernels.gemm(d.ref, X: x, ldx: c.inn, M: c.m, Y: y, ldy: c.out, threads: t, dtype: .bf16, variant: variant) },
                    { dy, dx, t in DenseKernels.gemmT(d.ref, dY: dy, lddy: c.out, M: c.m, dX: dx, lddx: c.inn, threads: t, dtype: .bf16, variant: variant) }
                ))
            }
            // M ≤ 4 forward products stay Float32 (decode-sized); everything else rounds both operands.
            let forwardRounds = c.m > 4
            for (name, wf, forward, transposed) in weights {
                let Wr = wf.map { Double(BF16.round($0)) }
                let Wf = wf.map(Double.init)
                for threads in [1, 2] {
                    var Y = [Float](repeating: .nan, count: c.m * c.out)
                    X.withUnsafeBufferPointer { x in Y.withUnsafeMutableBufferPointer { forward(x.baseAddress!, $0.baseAddress!, threads) } }
                    var worst = 0.0
                    for m in 0..<c.m {
                        for r in 0..<c.out {
                            var exact = 0.0, mag = 0.0
                            for k in 0..<c.inn {
                                let p = forwardRounds ? Wr[r * c.inn + k] * Double(BF16.round(X[m * c.inn + k]))
                                                      : Wf[r * c.inn + k] * Double(X[m * c.inn + k])
                                exact += p; mag += abs(p)
                            }
                            worst = max(worst, abs(Double(Y[m * c.out + r]) - exact) / max(gamma(c.inn) * mag, .leastNormalMagnitude))
                        }
                    }
                    #expect(worst <= 1, "\(variant) \(name) \(c) forward threads=\(threads): error/bound = \(worst)")

                    var dX = [Float](repeating: 1, count: c.m * c.inn)
                    dY.withUnsafeBufferPointer { dy in dX.withUnsafeMutableBufferPointer { transposed(dy.baseAddress!, $0.baseAddress!, threads) } }
                    worst = 0
                    for m in 0..<c.m {
                        for k in 0..<c.inn {
                            var exact = 1.0, mag = 1.0
                            for r in 0..<c.out {
                                let p = Double(BF16.round(dY[m * c.out + r])) * Wr[r * c.inn + k]
                                exact += p; mag += abs(p)
                            }
                            worst = max(worst, abs(Double(dX[m * c.inn + k]) - exact) / (gamma(c.out + 1) * mag))
                        }
                    }
                    #expect(worst <= 1, "\(variant) \(name) \(c) transposed threads=\(threads): error/bound = \(worst)")
                }
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

    @Test func f32RequestIsTheFloat32PathBitForBit() {
        let c = Case(out: 130, inn: 256, m: 70)
        var rng = SeededRNG(seed: 4)
        let w = (0..<(c.out * c.inn)).map { _ in rng.nextNormal() * 0.02 }
        let X = (0..<(c.m * c.inn)).map { _ in rng.nextNormal() }
        let nf4 = NF4Matrix.make(FourBitCodec.quantize(w, shape: [c.out, c.inn], blockSize: 64, doubleQuant: true))
        var a = [Float](repeating: 0, count: c.m * c.out), b = a, h = a
        NF4Kernels.gemm(nf4.ref, X: X, ldx: c.inn, M: c.m, Y: &a, ldy: c.out, threads: 2)
        NF4Kernels.gemm(nf4.ref, X: X, ldx: c.inn, M: c.m, Y: &b, ldy: c.out, threads: 2, dtype: .f32)
        NF4Kernels.gemm(nf4.ref, X: X, ldx: c.inn, M: c.m, Y: &h, ldy: c.out, threads: 2, dtype: .bf16)
        #expect(a == b)
        #expect(a != h, "bf16 rounding must change the result")
    }

    /// The CPU decides, capped by `QLORA_ISA` like every kernel: a forced AVX2 or scalar path never runs
    /// `vdpbf16ps` (its bf16 products use that path's Float32 tiles), and `auto` never picks bf16 there.
    @Test func bestVariantFollowsTheCPUAndTheForcedPath() {
        #expect(BF16Variant.best.isSupported)
        let dot = CPUFeatures.current.hasAVX512BF16 && KernelISA.best == .avx512
        #expect((BF16Variant.best == .avx512bf16) == dot)
        #expect(CPUFeatures.current.usesBF16DotProduct == dot, "the planner and the kernels must agree")
        if KernelISA.best != .avx512 { #expect(BF16Variant.best.rawValue == KernelISA.best.rawValue) }
        let auto = ComputeDTypeChoice.resolve(.auto)
        if !dot { #expect(auto.dtype == .f32) }
        #expect(auto.dtype != .auto && !auto.reason.isEmpty)
    }
}
