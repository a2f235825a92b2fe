import QLoRACore

/// Which implementation runs the bf16 products: `avx512bf16` (`vdpbf16ps`), or — on CPUs without
/// AVX512-BF16 — the Float32 kernels of `isa` on bf16-rounded operands (same products, exact in
/// Float32; only the summation order differs), or the scalar reference.
public enum BF16Variant: String, CaseIterable, Sendable {
    case reference, avx2, avx512, avx512bf16

    /// Whether `vdpbf16ps` may run: the CPU has AVX512-BF16 and `QLORA_ISA` does not cap the kernels below
    /// AVX-512 (under `QLORA_ISA=avx2|scalar` the bf16 products run that path's Float32 tiles on rounded operands,
    /// as on a CPU without the instruction).
    public static var dotProductAvailable: Bool { CPUFeatures.current.hasAVX512BF16 && KernelISA.avx512.isSupported }

    public static let best: BF16Variant = {
        if dotProductAvailable { return .avx512bf16 }
        switch KernelISA.best {
        case .avx512: return .avx512
        case .avx2: return .avx2
        case .reference: return .reference
        }
    }()

    public var isSupported: Bool {
        switch self {
        case .reference: return true
        case .avx2: return KernelISA.avx2.isSupported
        case .avx512: return KernelISA.avx512.isSupported
        case .avx512bf16: return BF16Variant.dotProductAvailable
        }
    }

    /// The CPU feature this variant needs, for skip messages.
    public var requiredFeature: String {
        switch self {
        case .reference: return "none"
        case .avx2: return "AVX2+FMA"
        case .avx512: return "AVX-512 F/BW/DQ/VL"
        case .avx512bf16: return "AVX512-BF16"
        }
    }

    /// The Float32 ISA an emulating variant uses.
    var floatISA: KernelISA {
        switch self {
        case .reference: return .reference
        case .avx2: return .avx2
        case .avx512, .avx512bf16: return .avx512
        }
    }
}

/// The bf16 products (`--compute-dtype bf16`): Y = bf16(X)·bf16(W)ᵀ and dX += bf16(dY)·bf16(W), with
/// Float32 accumulation. Decode-sized forward products (M ≤ 4) stay on the Float32 GEMV: they are
/// bound by reading W, not by arithmetic, so bf16 would only cost accuracy there.
public enum BF16Kernels {
    /// Y[M, N] = bf16(X) · bf16(W)ᵀ for a weight given as Float32 row segments.
    static func gemm(_ w: PanelSource, fullRow: (Int, UnsafeMutablePointer<Float>) -> Void, X: UnsafePointer<Float>,
                     ldx: Int, M: Int, Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int, variant: BF16Variant,
                     workspace: KernelWorkspace) {
        let N = w.rows, K = w.cols
        if variant == .avx512bf16 && variant.isSupported && K % 32 == 0 {
            PanelGEMMBF16.forward(w, X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads, workspace: workspace)
            return
        }
        let xr = roundedCopy(X, ldx, rows: M, cols: K)
        defer { xr.deallocate() }
        if K % 32 == 0, let tiles = TileKernels.forISA(variant.floatISA) {
            let src = PanelSource(rows: N, cols: K) { r, c0, n, dst in
                w.rowSegment(r, c0, n, dst)
                BF16.roundInPlace(dst, n)
            }
            PanelGEMM.forward(src, tiles, X: xr, ldx: K, M: M, Y: Y, ldy: ldy, threads: threads, workspace: workspace)
            return
        }
        Parallel.forChunks(N, threads: threads) { _, lo, hi in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, K))
            defer { row.deallocate() }
            for r in lo..<hi {
                fullRow(r, row)
                BF16.roundInPlace(row, K)
                for m in 0..<M {
                    var s: Float = 0
                    let x = xr + m * K
                    for c in 0..<K { s += row[c] * x[c] }
                    Y[m * ldy + r] = s
                }
            }
        }
    }

    /// dX[M, K] += bf16(dY) · bf16(W).
    static func gemmT(_ w: PanelSource, fullRow: (Int, UnsafeMutablePointer<Float>) -> Void, dY: UnsafePointer<Float>,
                      lddy: Int, M: Int, dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int, variant: BF16Variant,
                      workspace: KernelWorkspace) {
        let N = w.rows, K = w.cols
        if variant == .avx512bf16 && variant.isSupported && K % 32 == 0 && N % 2 == 0 {
            PanelGEMMBF16.transposed(w, dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads,
                                     workspace: workspace)
            return
        }
        let dyr = roundedCopy(dY, lddy, rows: M, cols: N)
        defer { dyr.deallocate() }
        if let tiles = TileKernels.forISA(variant.floatISA), K % tiles.tNR == 0 {
            let src = PanelSource(rows: N, cols: K) { r, c0, n, dst in
                w.rowSegment(r, c0, n, dst)
                BF16.roundInPlace(dst, n)
            }
            PanelGEMM.transposed(src, tiles, dY: dyr, lddy: N, M: M, dX: dX, lddx: lddx, threads: threads,
                                 workspace: workspace)
            return
        }
        Parallel.forChunks(K, threads: threads) { _, lo, hi in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, K))
            defer { row.deallocate() }
            for r in 0..<N {
                fullRow(r, row)
                BF16.roundInPlace(row, K)
                for m in 0..<M {
                    let g = dyr[m * N + r]
                    let d = dX + m * lddx
                    for c in lo..<hi { d[c] += g * row[c] }
                }
            }
        }
    }

    /// A dense bf16-rounded copy (rows × cols) of a strided Float32 matrix; the caller deallocates.
    static func roundedCopy(_ A: UnsafePointer<Float>, _ lda: Int, rows: Int, cols: Int) -> UnsafeMutablePointer<Float> {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * cols))
        for m in 0..<rows {
            (out + m * cols).update(from: A + m * lda, count: cols)
            BF16.roundInPlace(out + m * cols, cols)
        }
        return out
    }
}

extension NF4Kernels {
    static func bf16Source(_ w: NF4MatrixRef, _ variant: BF16Variant) -> PanelSource {
        if let (d, _) = decode(variant.floatISA, w) { return panels(w, d) }
        // Reference decode: whole rows only (the reference loops ask for c0 = 0, count = cols).
        return PanelSource(rows: w.rows, cols: w.cols) { r, c0, n, dst in
            for c in 0..<n { dst[c] = w.element(r * w.cols + c0 + c) }
        }
    }

    /// Y[M, N] = X[M, K] · Wᵀ in `dtype` (overwrites Y). `.f32` is `gemm` unchanged.
    public static func gemm(_ w: NF4MatrixRef, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = 1, dtype: ComputeDType,
                            variant: BF16Variant = .best, workspace: KernelWorkspace? = nil) {
        guard dtype == .bf16, M > 4, w.rows > 0 else {
            gemm(w, X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads, workspace: workspace)
            return
        }
        BF16Kernels.gemm(bf16Source(w, variant), fullRow: { r, dst in NF4Reference.dequantizeRow(w, r, dst) },
                         X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads, variant: variant,
                         workspace: workspace ?? KernelWorkspace())
    }

    /// dX[M, K] += dY[M, N] · W in `dtype`. `.f32` is `gemmT` unchanged.
    public static func gemmT(_ w: NF4MatrixRef, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                             dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int = 1, dtype: ComputeDType,
                             variant: BF16Variant = .best, workspace: KernelWorkspace? = nil) {
        guard dtype == .bf16, M > 0, w.rows > 0 else {
            gemmT(w, dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads, workspace: workspace)
            return
        }
        BF16Kernels.gemmT(bf16Source(w, variant), fullRow: { r, dst in NF4Reference.dequantizeRow(w, r, dst) },
                          dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads, variant: variant,
                          workspace: workspace ?? KernelWorkspace())
    }
}

extension DenseKernels {
    static func bf16Source(_ w: DenseMatrixRef, _ variant: BF16Variant) -> PanelSource {
        if let (k, _) = rows(variant.floatISA, w) {
            return PanelSource(rows: w.rows, cols: w.cols) { r, c0, n, dst in k.rowSegment(w, r, c0, n, dst) }
        }
        return PanelSource(rows: w.rows, cols: w.cols) { r, c0, n, dst in
            for c in 0..<n { dst[c] = w.element(r, c0 + c) }
        }
    }

    /// Y[M, N] = X[M, K] · Wᵀ in `dtype` (overwrites Y). `.f32` is `gemm` unchanged.
    public static func gemm(_ w: DenseMatrixRef, X: UnsafePointer<Float>, ldx: Int, M: Int,
                            Y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = 1, dtype: ComputeDType,
                            variant: BF16Variant = .best, workspace: KernelWorkspace? = nil) {
        guard dtype == .bf16, M > 4, w.rows > 0 else {
            gemm(w, X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads, workspace: workspace)
            return
        }
        BF16Kernels.gemm(bf16Source(w, variant), fullRow: { r, dst in for c in 0..<w.cols { dst[c] = w.element(r, c) } },
                         X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, threads: threads, variant: variant,
                         workspace: workspace ?? KernelWorkspace())
    }

    /// dX[M, K] += dY[M, N] · W in `dtype`. `.f32` is `gemmT` unchanged.
    public static func gemmT(_ w: DenseMatrixRef, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                             dX: UnsafeMutablePointer<Float>, lddx: Int, threads: Int = 1, dtype: ComputeDType,
                             variant: BF16Variant = .best, workspace: KernelWorkspace? = nil) {
        guard dtype == .bf16, M > 0, w.rows > 0 else {
            gemmT(w, dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads, workspace: workspace)
            return
        }
        BF16Kernels.gemmT(bf16Source(w, variant), fullRow: { r, dst in for c in 0..<w.cols { dst[c] = w.element(r, c) } },
                          dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, threads: threads, variant: variant,
                          workspace: workspace ?? KernelWorkspace())
    }
}
