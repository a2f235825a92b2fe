import QLoRA
import QLoRATestSupport
import Testing

/// The scalar path (`QLORA_ISA=scalar`, and shapes the SIMD kernels do not take) against the
/// references it replaces for speed: the same sums in the same order, so every output is
/// bit-identical to `NF4Reference`'s and `DenseReference`'s, on ragged shapes and 1 or 2 threads.
@Suite struct ScalarKernelTests {
    struct Case: CustomStringConvertible, Sendable {
        let out: Int, inn: Int, m: Int, blockSize: Int, doubleQuant: Bool
        var description: String { "\(out)x\(inn) M=\(m) bs=\(blockSize) dq=\(doubleQuant)" }
    }

    static let cases: [Case] = [
        Case(out: 64, inn: 64, m: 1, blockSize: 64, doubleQuant: true),
        Case(out: 37, inn: 96, m: 3, blockSize: 64, doubleQuant: true),     // blocks cross rows
        Case(out: 33, inn: 35, m: 5, blockSize: 64, doubleQuant: true),     // groups cross rows
        Case(out: 100, inn: 70, m: 17, blockSize: 32, doubleQuant: false),
        Case(out: 130, inn: 256, m: 9, blockSize: 64, doubleQuant: true),
        Case(out: 19, inn: 1100, m: 6, blockSize: 128, doubleQuant: false), // K past one 1024-row panel (transposed N)
        Case(out: 1030, inn: 45, m: 7, blockSize: 256, doubleQuant: true),  // N past one transposed panel
    ]

    static func data(_ c: Case) -> (NF4Matrix, [Float], [Float], [Float]) {
        var rng = SeededRNG(seed: UInt64(c.out * 7919 + c.inn * 31 + c.m))
        let w = (0..<(c.out * c.inn)).map { _ in rng.nextNormal() * 0.02 }
        let q = FourBitCodec.quantize(w, shape: [c.out, c.inn], blockSize: c.blockSize, doubleQuant: c.doubleQuant)
        let X = (0..<(c.m * c.inn)).map { _ in Float(rng.nextNormal()) }
        let dY = (0..<(c.m * c.out)).map { _ in Float(rng.nextNormal()) }
        return (NF4Matrix.make(q), w, X, dY)
    }

    /// Y's row m = gemv(X's row m), for each m.
    static func rowByRow(_ X: [Float], _ c: Case, _ Y: inout [Float],
                         _ gemv: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        X.withUnsafeBufferPointer { x in
            Y.withUnsafeMutableBufferPointer { y in
                for m in 0..<c.m { gemv(x.baseAddress! + m * c.inn, y.baseAddress! + m * c.out) }
            }
        }
    }

    @Test(arguments: cases) func nf4ProductsEqualTheReferenceBitForBit(_ c: Case) {
        let (matrix, _, X, dY) = Self.data(c)
        let w = matrix.ref
        var want = [Float](repeating: 0, count: c.m * c.out)
        Self.rowByRow(X, c, &want) { x, y in NF4Reference.gemvRows(w, x, y, 0, c.out) }
        var wantT = [Float](repeating: 0.5, count: c.m * c.inn)
        NF4Reference.gemmTColumns(w, dY, c.out, c.m, &wantT, c.inn, 0, c.inn)
        for threads in [1, 2] {
            var Y = [Float](repeating: .nan, count: c.m * c.out)
            NF4Kernels.gemm(w, X: X, ldx: c.inn, M: c.m, Y: &Y, ldy: c.out, threads: threads, isa: .reference)
            #expect(Y.map(\.bitPattern) == want.map(\.bitPattern), "gemm threads=\(threads)")
            var y = [Float](repeating: .nan, count: c.out)
            NF4Kernels.gemv(w, x: X, y: &y, threads: threads, isa: .reference)
            #expect(y.map(\.bitPattern) == Array(want[0..<c.out]).map(\.bitPattern), "gemv threads=\(threads)")
            var dX = [Float](repeating: 0.5, count: c.m * c.inn)
            NF4Kernels.gemmT(w, dY: dY, lddy: c.out, M: c.m, dX: &dX, lddx: c.inn, threads: threads, isa: .reference)
            #expect(dX.map(\.bitPattern) == wantT.map(\.bitPattern), "gemmT threads=\(threads)")
        }
    }

    @Test(arguments: cases) func denseProductsEqualTheReferenceBitForBit(_ c: Case) {
        let (_, w32, X, dY) = Self.data(c)
        let bf16 = w32.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
        for (storage, raw) in [(DenseMatrixRef.Storage.f32, w32.withUnsafeBytes { [UInt8]($0) }),
                               (.bf16, bf16.withUnsafeBytes { [UInt8]($0) })] {
            raw.withUnsafeBytes { bytes in
                let w = DenseMatrixRef(rows: c.out, cols: c.inn, storage: storage, data: bytes.baseAddress!)
                var want = [Float](repeating: 0, count: c.m * c.out)
                Self.rowByRow(X, c, &want) { x, y in DenseReference.gemvRows(w, x, y, 0, c.out) }
                var wantT = [Float](repeating: -0.25, count: c.m * c.inn)
                DenseReference.gemmTColumns(w, dY, c.out, c.m, &wantT, c.inn, 0, c.inn)
                for threads in [1, 2] {
                    var Y = [Float](repeating: .nan, count: c.m * c.out)
                    DenseKernels.gemm(w, X: X, ldx: c.inn, M: c.m, Y: &Y, ldy: c.out, threads: threads, isa: .reference)
                    #expect(Y.map(\.bitPattern) == want.map(\.bitPattern), "\(storage) gemm threads=\(threads)")
                    var y = [Float](repeating: .nan, count: c.out)
                    DenseKernels.gemv(w, x: X, y: &y, threads: threads, isa: .reference)
                    #expect(y.map(\.bitPattern) == Array(want[0..<c.out]).map(\.bitPattern), "\(storage) gemv threads=\(threads)")
                    var dX = [Float](repeating: -0.25, count: c.m * c.inn)
                    DenseKernels.gemmT(w, dY: dY, lddy: c.out, M: c.m, dX: &dX, lddx: c.inn, threads: threads, isa: .reference)
                    #expect(dX.map(\.bitPattern) == wantT.map(\.bitPattern), "\(storage) gemmT threads=\(threads)")
                }
            }
        }
    }
}
