import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The int8 inference products (`--compute-dtype int8`): every variant against exact integer sums
/// computed here, against the reference variant bit for bit, and against the Float32 NF4 product within
/// the error bound of the two roundings the int8 path adds, on ragged shapes.
@Suite struct Int8KernelTests {
    struct Case: CustomStringConvertible, Sendable {
        let out: Int, inn: Int, m: Int, doubleQuant: Bool, blockSize: Int
        var description: String { "\(out)x\(inn) M=\(m) dq=\(doubleQuant) bs=\(blockSize)" }
    }

    /// Rows not a multiple of 16 or 8, 1…9 blocks per row, token counts around the 8- and 6-token tiles.
    static let cases: [Case] = [
        Case(out: 1, inn: 64, m: 1, doubleQuant: false, blockSize: 64),
        Case(out: 7, inn: 128, m: 3, doubleQuant: true, blockSize: 64),
        Case(out: 17, inn: 192, m: 9, doubleQuant: true, blockSize: 64),
        Case(out: 37, inn: 576, m: 13, doubleQuant: true, blockSize: 64),
        Case(out: 64, inn: 320, m: 8, doubleQuant: false, blockSize: 64),
        Case(out: 100, inn: 64, m: 1, doubleQuant: true, blockSize: 64),
        Case(out: 45, inn: 256, m: 7, doubleQuant: true, blockSize: 128),
        Case(out: 200, inn: 1536, m: 2, doubleQuant: true, blockSize: 64),
        Case(out: 33, inn: 576, m: 50, doubleQuant: false, blockSize: 256),
    ]

    static func randomMatrix(_ c: Case, unitScales: Bool, seed: UInt64) -> NF4Matrix {
        var rng = SeededRNG(seed: seed)
        var w = (0..<(c.out * c.inn)).map { _ in rng.nextNormal() * 0.02 }
        if unitScales {  // every block's absmax exactly 1: the weights are the NF4 values themselves
            w = w.map { max(-1, min(1, $0 * 40)) }
            for b in stride(from: 0, to: w.count, by: c.blockSize) { w[b] = b % 3 == 0 ? -1 : 1 }
        }
        let q = FourBitCodec.quantize(w, shape: [c.out, c.inn], blockSize: c.blockSize,
                                      doubleQuant: unitScales ? false : c.doubleQuant)
        return NF4Matrix.make(q)
    }

    static func run(_ m: Int8NF4Matrix, _ X: [Float], _ M: Int, threads: Int = 1) -> [Float] {
        var Y = [Float](repeating: .nan, count: M * m.rows)
        X.withUnsafeBufferPointer { x in
            Y.withUnsafeMutableBufferPointer { y in
                Int8Kernels.gemm(m, X: x.baseAddress!, ldx: m.cols, M: M, Y: y.baseAddress!, ldy: m.rows,
                                 threads: threads, workspace: KernelWorkspace())
            }
        }
        return Y
    }

    @Test func levelsAreNF4Times127Rounded() {
        #expect(Int8NF4Matrix.levels.count == 16)
        for c in 0..<16 {
            #expect(Int(Int8NF4Matrix.levels[c]) == Int((127 * Double(QuantCodebooks.nf4[c])).rounded()))
        }
    }

    /// Weights with absmax 1 (weight scale 1/127) and activations 127·n (n in -127…127) whose block
    /// maximum is 127² (activation scale 127, q = n) make every product scale 1, so the product is the
    /// exact integer sum Σ level[code]·n, computed here in Int.
    func exactIntegerSums(_ variant: Int8Variant) {
        for c in Self.cases {
            let w = Self.randomMatrix(c, unitScales: true, seed: UInt64(c.out * 7 + c.inn))
            let ref = w.ref
            var rng = SeededRNG(seed: UInt64(c.m * 31 + c.out))
            var n = (0..<(c.m * c.inn)).map { _ in Int(rng.next() % 255) - 127 }
            for b in stride(from: 0, to: n.count, by: 64) { n[b + Int(rng.next() % 64)] = rng.next() % 2 == 0 ? 127 : -127 }
            let X = n.map { Float(127 * $0) }
            guard let m = Int8NF4Matrix(ref, variant: variant) else { Issue.record("\(c): no int8 form"); continue }
            for threads in [1, 2] {
                let Y = Self.run(m, X, c.m, threads: threads)
                var bad = 0
                for t in 0..<c.m {
                    for r in 0..<c.out {
                        var dot = 0
                        for k in 0..<c.inn {
                            dot += Int(Int8NF4Matrix.levels[ref.nibble(r * c.inn + k)]) * n[t * c.inn + k]
                        }
                        if Y[t * c.out + r] != Float(dot) { bad += 1 }
                    }
                }
                #expect(bad == 0, "\(variant) \(c) threads \(threads): \(bad) sums differ")
            }
        }
    }

    /// Random scales (double quantization included): every variant equals the reference bit for bit,
    /// and stays within the bound of the int8 roundings from the Float32 NF4 product:
    /// |Δy| ≤ Σ_k |w_k|·s_b/2 + (|x_k| + s_b/2)·a_b/254, with s_b the activation block's scale and a_b
    /// the weight block's absmax (activation rounding, then level rounding), plus Float32 roundoff.
    func matchesReferenceAndFloat32(_ variant: Int8Variant) {
        for c in Self.cases {
            let w = Self.randomMatrix(c, unitScales: false, seed: UInt64(c.out * 13 + c.inn + c.m))
            let ref = w.ref
            var rng = SeededRNG(seed: UInt64(c.m * 17 + c.inn))
            let X = (0..<(c.m * c.inn)).map { _ in rng.nextNormal() * (rng.next() % 16 == 0 ? 8 : 1) }
            guard let m = Int8NF4Matrix(ref, variant: variant), let r0 = Int8NF4Matrix(ref, variant: .reference) else {
                Issue.record("\(c): no int8 form")
                continue
            }
            let Y = Self.run(m, X, c.m, threads: 2), Yref = Self.run(r0, X, c.m)
            #expect(Y == Yref, "\(variant) \(c): differs from the reference variant")
            var Yf = [Float](repeating: 0, count: c.m * c.out)
            X.withUnsafeBufferPointer { x in
                Yf.withUnsafeMutableBufferPointer { y in
                    NF4Kernels.gemm(ref, X: x.baseAddress!, ldx: c.inn, M: c.m, Y: y.baseAddress!, ldy: c.out,
                                    isa: .reference)
                }
            }
            var worst = 0.0, sqErr = 0.0, sqY = 0.0
            for t in 0..<c.m {
                var sb = [Double](repeating: 0, count: c.inn / 64)
                for b in 0..<sb.count {
                    sb[b] = Double((0..<64).map { abs(X[t * c.inn + 64 * b + $0]) }.max()!) / 127
                }
                for r in 0..<c.out {
                    var bound = 0.0, mag = 0.0
                    for k in 0..<c.inn {
                        let j = r * c.inn + k
                        let a = Double(ref.scale(block: j >> ref.blockShift)), s = sb[k / 64]
                        let wk = Double(ref.element(j)), xk = Double(X[t * c.inn + k])
                        bound += abs(wk) * s / 2 + (abs(xk) + s / 2) * a / 254
                        mag += abs(wk * xk)
                    }
                    bound += 1e-5 * mag + 1e-7
                    let d = abs(Double(Y[t * c.out + r]) - Double(Yf[t * c.out + r]))
                    worst = max(worst, d / bound)
                    sqErr += d * d
                    sqY += Double(Yf[t * c.out + r]) * Double(Yf[t * c.out + r])
                }
            }
            #expect(worst <= 1, "\(variant) \(c): error \(worst)× the bound")
            // And typically far inside it: relative RMS error of a few percent at most.
            #expect((sqErr / max(sqY, 1e-30)).squareRoot() < 0.05, "\(variant) \(c)")
        }
    }

    @Test func referenceExactIntegerSums() { exactIntegerSums(.reference) }
    @Test func referenceMatchesFloat32() { matchesReferenceAndFloat32(.reference) }

    @Test(.enabled(if: Int8Variant.avx2.isSupported, "this CPU lacks AVX2 with FMA: the AVX2 int8 kernels are not run"))
    func avx2ExactIntegerSums() { exactIntegerSums(.avx2) }

    @Test(.enabled(if: Int8Variant.avx2.isSupported, "this CPU lacks AVX2 with FMA: the AVX2 int8 kernels are not run"))
    func avx2MatchesReferenceAndFloat32() { matchesReferenceAndFloat32(.avx2) }

    /// Activation rounding ties (x · 127/amax exactly k + ½): every supported variant's quantizer rounds
    /// them as the reference's `lrintf` does (to even), so the products agree bit for bit; one token and
    /// three, 2 threads.
    @Test func activationRoundingTiesMatchTheReference() {
        let c = Case(out: 19, inn: 256, m: 3, doubleQuant: false, blockSize: 64)
        let w = Self.randomMatrix(c, unitScales: false, seed: 99)
        var rng = SeededRNG(seed: 7)
        // Each 64-block's absmax is 127, so the scale 127/amax is exactly 1 and x itself is rounded.
        let X = (0..<(c.m * c.inn)).map { i -> Float in
            i % 64 == 5 ? 127 : Float(Int(rng.next() % 253) - 126) + (i % 2 == 0 ? 0.5 : -0.5)
        }
        guard let r0 = Int8NF4Matrix(w.ref, variant: .reference) else { Issue.record("no int8 form"); return }
        for variant in Int8Variant.allCases where variant != .reference && variant.isSupported {
            guard let m = Int8NF4Matrix(w.ref, variant: variant) else { Issue.record("\(variant): no int8 form"); continue }
            for M in [1, 3] {
                let Y = Self.run(m, X, M, threads: 2), Yref = Self.run(r0, X, M)
                #expect(Y == Yref, "\(variant) M=\(M): rounding of ties differs from the reference")
            }
        }
    }

    /// Non-finite activations: a NaN or ±inf anywhere in a 64-block (first, last, a middle lane, every element)
    /// makes that token's outputs NaN on every variant, as in the Float32 product, and the tokens without one
    /// are untouched and bit-identical to the reference. (The AVX2 quantizer's `vmaxps` used to keep or drop
    /// a NaN depending on its lane and order, where the reference's `fmaxf` skipped it.)
    @Test func nonFiniteActivationsGiveNaNOnEveryVariant() {
        let c = Case(out: 21, inn: 256, m: 7, doubleQuant: true, blockSize: 64)
        let w = Self.randomMatrix(c, unitScales: false, seed: 5)
        var rng = SeededRNG(seed: 11)
        var X = (0..<(c.m * c.inn)).map { _ in rng.nextNormal() }
        // token 0: clean; 1: NaN first in block 0; 2: NaN last in block 3; 3: NaN in lane 13 of block 1, beside a
        // large value; 4: +inf; 5: -inf and a NaN in another block; 6: a whole block of NaN.
        X[1 * c.inn + 0] = .nan
        X[2 * c.inn + 255] = .nan
        X[3 * c.inn + 64 + 13] = .nan
        X[3 * c.inn + 64 + 14] = 1e30
        X[4 * c.inn + 100] = .infinity
        X[5 * c.inn + 7] = -.infinity
        X[5 * c.inn + 200] = -.nan
        for k in 128..<192 { X[6 * c.inn + k] = .nan }
        guard let r0 = Int8NF4Matrix(w.ref, variant: .reference) else { Issue.record("no int8 form"); return }
        let Yref = Self.run(r0, X, c.m)
        for t in 0..<c.m {
            let row = Yref[(t * c.out)..<((t + 1) * c.out)]
            #expect(t == 0 ? row.allSatisfy(\.isFinite) : row.allSatisfy(\.isNaN), "reference token \(t): \(Array(row))")
        }
        for variant in Int8Variant.allCases where variant != .reference && variant.isSupported {
            guard let m = Int8NF4Matrix(w.ref, variant: variant) else { Issue.record("\(variant): no int8 form"); continue }
            for M in [1, c.m] {
                let Y = Self.run(m, X, M, threads: 2)
                for i in 0..<(M * c.out) where !(Y[i].isNaN && Yref[i].isNaN) && Y[i].bitPattern != Yref[i].bitPattern {
                    Issue.record("\(variant) M=\(M) token \(i / c.out) row \(i % c.out): \(Y[i]) vs the reference's \(Yref[i])")
                }
            }
        }
        // The output layer's int8 form quantizes its activations the same way.
        let K = 128
        let W = (0..<(5 * K)).map { _ in rng.nextNormal() }
        var x2 = (0..<(2 * K)).map { _ in rng.nextNormal() }
        x2[K + 70] = .nan
        for variant in Int8Variant.allCases where variant.isSupported {
            let m = Int8RowMatrix(rows: 5, cols: K, variant: variant) { r, dst in for k in 0..<K { dst[k] = W[r * K + k] } }!
            var Y = [Float](repeating: 0, count: 10)
            x2.withUnsafeBufferPointer { x in
                Y.withUnsafeMutableBufferPointer { y in
                    Int8Kernels.gemm(m, X: x.baseAddress!, ldx: K, M: 2, Y: y.baseAddress!, ldy: 5, threads: 1, workspace: KernelWorkspace())
                }
            }
            #expect(Y[0..<5].allSatisfy(\.isFinite) && Y[5..<10].allSatisfy(\.isNaN), "\(variant) output layer: \(Y)")
        }
    }

    @Test(.enabled(if: Int8Variant.vnni.isSupported, "this CPU lacks AVX512-VNNI: the VNNI int8 kernels are not run"))
    func vnniExactIntegerSums() { exactIntegerSums(.vnni) }

    @Test(.enabled(if: Int8Variant.vnni.isSupported, "this CPU lacks AVX512-VNNI: the VNNI int8 kernels are not run"))
    func vnniMatchesReferenceAndFloat32() { matchesReferenceAndFloat32(.vnni) }

    /// The int8 output layer (per row and 64-block): every variant equals the reference bit for bit and
    /// stays within the bound of its two roundings from the Float32 product (weight block scale r_b,
    /// activation block scale s_b).
    func rowMatrixMatches(_ variant: Int8Variant) {
        for (N, K, M) in [(1, 64, 1), (37, 192, 3), (100, 576, 9), (53, 128, 17)] {
            var rng = SeededRNG(seed: UInt64(N * 11 + K + M))
            let W = (0..<(N * K)).map { _ in rng.nextNormal() }
            let X = (0..<(M * K)).map { _ in rng.nextNormal() }
            func make(_ v: Int8Variant) -> Int8RowMatrix {
                Int8RowMatrix(rows: N, cols: K, variant: v) { r, dst in for k in 0..<K { dst[k] = W[r * K + k] } }!
            }
            func run(_ m: Int8RowMatrix) -> [Float] {
                var Y = [Float](repeating: .nan, count: M * N)
                X.withUnsafeBufferPointer { x in
                    Y.withUnsafeMutableBufferPointer { y in
                        Int8Kernels.gemm(m, X: x.baseAddress!, ldx: K, M: M, Y: y.baseAddress!, ldy: N, threads: 2,
                                         workspace: KernelWorkspace())
                    }
                }
                return Y
            }
            let Y = run(make(variant)), Yref = run(make(.reference))
            #expect(Y == Yref, "\(variant) \(N)x\(K) M=\(M)")
            for t in 0..<M {
                for r in 0..<N {
                    var exact = 0.0, bound = 1e-6
                    for k in 0..<K {
                        let rs = Double((0..<64).map { abs(W[r * K + (k / 64) * 64 + $0]) }.max()!) / 127
                        let s = Double((0..<64).map { abs(X[t * K + (k / 64) * 64 + $0]) }.max()!) / 127
                        let w = Double(W[r * K + k]), x = Double(X[t * K + k])
                        exact += w * x
                        bound += abs(w) * s / 2 + (abs(x) + s / 2) * rs / 2 + 1e-6 * abs(w * x)
                    }
                    #expect(abs(Double(Y[t * N + r]) - exact) <= bound, "\(variant) \(N)x\(K) row \(r)")
                }
            }
        }
    }

    @Test func referenceRowMatrix() { rowMatrixMatches(.reference) }

    @Test(.enabled(if: Int8Variant.avx2.isSupported, "this CPU lacks AVX2 with FMA: the AVX2 int8 kernels are not run"))
    func avx2RowMatrix() { rowMatrixMatches(.avx2) }

    @Test(.enabled(if: Int8Variant.vnni.isSupported, "this CPU lacks AVX512-VNNI: the VNNI int8 kernels are not run"))
    func vnniRowMatrix() { rowMatrixMatches(.vnni) }

    @Test func shapesTheInt8PathDoesNotTakeStayFloat32() {
        let ragged = Self.randomMatrix(Case(out: 5, inn: 96, m: 1, doubleQuant: false, blockSize: 64), unitScales: false, seed: 1)
        #expect(Int8NF4Matrix(ragged.ref, variant: .reference) == nil)  // 96 columns: not whole 64-blocks
        let small = Self.randomMatrix(Case(out: 5, inn: 128, m: 1, doubleQuant: false, blockSize: 32), unitScales: false, seed: 2)
        #expect(Int8NF4Matrix(small.ref, variant: .reference) == nil)  // 32-blocks
        let w = (0..<(4 * 128)).map { Float($0 % 7) - 3 }
        let fp4 = NF4Matrix.make(FourBitCodec.quantize(w, shape: [4, 128], type: .fp4, blockSize: 64, doubleQuant: false))
        #expect(Int8NF4Matrix(fp4.ref, variant: .reference) == nil)  // not the NF4 table
    }

    @Test func pathOverrideIsParsedAndRefusedByName() throws {
        #expect(try Int8Variant.selected(environment: nil) == Int8Variant.best)
        #expect(try Int8Variant.selected(environment: "scalar") == .reference)
        #expect(throws: QLoRAError.self) { try Int8Variant.selected(environment: "sse2") }
        if Int8Variant.avx2.isSupported { #expect(try Int8Variant.selected(environment: "avx2") == .avx2) }
        if Int8Variant.vnni.isSupported { #expect(try Int8Variant.selected(environment: "avx512") == .vnni) }
    }
}
