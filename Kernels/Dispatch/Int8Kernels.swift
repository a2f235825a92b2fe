import CQLoRAInt8
import QLoRACore

/// Which int8 product kernels run (`--compute-dtype int8`, inference only). The numerics are the same
/// bit for bit on every variant (see Kernels/Int8/include/qlora_int8.h); only the speed differs.
public enum Int8Variant: String, CaseIterable, Sendable {
    /// Plain C: the reference every other variant is tested against.
    case reference
    /// AVX2: `vpmaddubsw` + `vpmaddwd` with the sign trick (llama.cpp's AVX2 route).
    case avx2
    /// AVX512-VNNI: `vpdpbusd`.
    case vnni

    var code: Int32 {
        switch self {
        case .reference: return Int32(QLORA_I8_REF)
        case .avx2: return Int32(QLORA_I8_AVX2)
        case .vnni: return Int32(QLORA_I8_VNNI)
        }
    }

    static let cpuBits = Int(qlora_i8_cpu_support())

    /// The CPU feature this variant needs and this CPU lacks, or nil when it can run.
    public var missingFeature: String? {
        switch self {
        case .reference: return nil
        case .avx2: return Self.cpuBits & 1 != 0 ? nil : "AVX2 with FMA"
        case .vnni: return Self.cpuBits & 2 != 0 ? nil : "AVX512-VNNI (with AVX-512 F/BW/VL)"
        }
    }

    public var isSupported: Bool { missingFeature == nil }

    /// The fastest variant this CPU runs.
    public static var best: Int8Variant { Int8Variant.vnni.isSupported ? .vnni : Int8Variant.avx2.isSupported ? .avx2 : .reference }

    /// The variant for this process: the best one, or the one the path override `QLORA_ISA`
    /// (`avx512`, `avx2`, `scalar`; parsed by `KernelISA.parseOverride`, as for every other kernel) names:
    /// `avx512` runs VNNI where the CPU has it and the AVX2 kernels on AVX-512 CPUs without it. A path
    /// the CPU lacks is refused.
    public static func selected(environment isa: String? = Environment.get("QLORA_ISA")) throws -> Int8Variant {
        switch KernelISA.parseOverride(isa) {
        case .failure(let e): throw e
        case .success(nil): return best
        case .success(.reference?): return .reference
        case .success(.avx2?):
            if let missing = Int8Variant.avx2.missingFeature {
                throw QLoRAError.invalid("QLORA_ISA=avx2: this CPU lacks \(missing)")
            }
            return .avx2
        case .success(.avx512?):
            return Int8Variant.vnni.isSupported ? .vnni : Int8Variant.avx2.isSupported ? .avx2 : .reference
        }
    }

    /// Rows per interleaved group of this variant's weight layout.
    public var groupRows: Int { Int(qlora_i8_group_rows(code)) }
}

/// An NF4 matrix repacked for the int8 products: the 4-bit codes of G rows interleaved per 64-block
/// and one Float32 scale per row and 64-block (the bitsandbytes absmax, double quantization resolved).
/// Built at load time from the kernels' NF4 layout; the checkpoint on disk keeps bitsandbytes' layout.
public final class Int8NF4Matrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let variant: Int8Variant
    let codes: UnsafeMutablePointer<UInt8>
    let scales: UnsafeMutablePointer<Float>
    let groups: Int

    /// The int8 levels of the 16 NF4 codes: round(127 · NF4[c]).
    public static let levels: [Int8] = {
        var l = [Int8](repeating: 0, count: 16)
        l.withUnsafeMutableBufferPointer { qlora_i8_levels($0.baseAddress!) }
        return l
    }()

    /// Nil where the int8 path does not apply (the caller keeps the Float32 kernels): a code table that
    /// is not NF4 (FP4), blocks smaller than 64, or rows not a whole number of 64-blocks.
    public init?(_ w: NF4MatrixRef, variant: Int8Variant, threads: Int = 1) {
        guard w.cols % 64 == 0, w.blockSize >= 64, w.rows > 0 else { return nil }
        for c in 0..<16 where w.code[c].bitPattern != QuantCodebooks.nf4Bits[c] { return nil }
        rows = w.rows
        cols = w.cols
        self.variant = variant
        let G = variant.groupRows, nb = cols / 64
        groups = (rows + G - 1) / G
        codes = .allocate(capacity: groups * nb * 32 * G)
        scales = .allocate(capacity: groups * nb * G)
        let blockScales = UnsafeMutablePointer<Float>.allocate(capacity: rows * nb)
        defer { blockScales.deallocate() }
        for r in 0..<rows {
            for b in 0..<nb { blockScales[r * nb + b] = w.scale(block: (r * cols + 64 * b) &>> w.blockShift) }
        }
        qlora_i8_repack(w.packed, blockScales, rows, cols, Int32(G), codes, scales)
    }

    deinit {
        codes.deallocate()
        scales.deallocate()
    }

    /// Bytes of the repacked codes and scales.
    public var storedBytes: Int { groups * (cols / 64) * variant.groupRows * (32 + 4) }
}

/// Int8 activations × int8 NF4 levels (inference): activations quantized per 64-block, exact integer
/// dot products per block, Float32 scaling by the weight block's absmax and the activation's scale.
public enum Int8Kernels {
    /// Y[M, N] = X[M, K] · Wᵀ (overwrites Y). X rows have stride `ldx`, Y rows `ldy`.
    public static func gemm(_ w: Int8NF4Matrix, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int, workspace: KernelWorkspace) {
        guard M > 0 else { return }
        let K = w.cols
        let (q, s, sums) = quantizeActivations(X, ldx: ldx, M: M, K: K, variant: w.variant, threads: threads,
                                               workspace: workspace)
        let v = w.variant.code
        Parallel.forChunks(w.groups, threads: threads) { _, lo, hi in
            qlora_i8_gemm(v, w.codes, w.scales, w.rows, K, lo, hi, q, s, sums, M, Y, ldy)
        }
    }
}

/// A dense matrix (the output layer) quantized to int8 per row and 64-block for the int8 products:
/// w = round(127 · v / absmax(block)), in the same interleaved groups of rows (llama.cpp's Q8_0 with
/// blocks of 64). 8.5 bits per weight: about half the bytes of bf16, a quarter of Float32.
public final class Int8RowMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let variant: Int8Variant
    let values: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let groups: Int

    /// Nil where rows are not whole 64-blocks. `row(r, into:)` yields row r as Float32.
    public init?(rows: Int, cols: Int, variant: Int8Variant, row: (Int, UnsafeMutablePointer<Float>) -> Void) {
        guard cols % 64 == 0, rows > 0 else { return nil }
        self.rows = rows
        self.cols = cols
        self.variant = variant
        let G = variant.groupRows, nb = cols / 64
        groups = (rows + G - 1) / G
        values = .allocate(capacity: groups * nb * 64 * G)
        scales = .allocate(capacity: groups * nb * G)
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: G * cols)
        defer { tmp.deallocate() }
        for g in 0..<groups {
            let n = min(G, rows - g * G)
            for i in 0..<n { row(g * G + i, tmp + i * cols) }
            qlora_i8_pack_rows(variant.code, tmp, cols, n, cols, values + g * nb * 64 * G, scales + g * nb * G)
        }
    }

    deinit {
        values.deallocate()
        scales.deallocate()
    }

    public var storedBytes: Int { groups * (cols / 64) * variant.groupRows * (64 + 4) }
}

extension Int8Kernels {
    static func quantizeActivations(_ X: UnsafePointer<Float>, ldx: Int, M: Int, K: Int, variant: Int8Variant,
                                    threads: Int, workspace: KernelWorkspace)
        -> (UnsafeMutablePointer<Int8>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int32>) {
        let nb = K / 64
        let qFloats = (M * K + 63) / 64 * 16
        let base = workspace.floats(qFloats + 2 * M * nb)
        let q = UnsafeMutableRawPointer(base).assumingMemoryBound(to: Int8.self)
        let s = base + qFloats
        let sums = UnsafeMutableRawPointer(base + qFloats + M * nb).assumingMemoryBound(to: Int32.self)
        let v = variant.code
        Parallel.forChunks(M, threads: M >= 64 ? threads : 1, granule: 16) { _, lo, hi in
            qlora_i8_quantize(v, X + lo * ldx, ldx, hi - lo, K, q + lo * K, s + lo * nb, sums + lo * nb)
        }
        return (q, s, sums)
    }

    /// Y[M, N] = X[M, K] · Wᵀ for an int8-per-row matrix (overwrites Y).
    public static func gemm(_ w: Int8RowMatrix, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int, workspace: KernelWorkspace) {
        guard M > 0 else { return }
        let (q, s, sums) = quantizeActivations(X, ldx: ldx, M: M, K: w.cols, variant: w.variant, threads: threads,
                                               workspace: workspace)
        let v = w.variant.code
        Parallel.forChunks(w.groups, threads: threads) { _, lo, hi in
            qlora_i8_gemm_w8(v, w.values, w.scales, w.rows, w.cols, lo, hi, q, s, sums, M, Y, ldy)
        }
    }
}
