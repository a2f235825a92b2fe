#if canImport(Glibc)
import Glibc
#endif
import QLoRACore

/// OpenBLAS, loaded at first use with the core type chosen from this CPU's features.
///
/// OpenBLAS picks its kernels once, when the library loads, from `OPENBLAS_CORETYPE` or its own CPU
/// detection; Debian's 0.3.21 misdetects recent Xeons as Prescott (its slowest kernels). Linking it
/// normally would load it before `main` runs, too early to choose, so the engine opens it with
/// `dlopen` after setting the variable: AVX-512 (F/BW/DQ/VL) → SkylakeX, AVX2+FMA → Haswell.
/// The choice follows the kernel path (`QLORA_ISA`); `QLORA_BLAS_CORETYPE` overrides it.
public final class BLAS: @unchecked Sendable {
    public typealias SgemmFn = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
        UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    public typealias SgemvFn = @convention(c) (
        Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
        Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SetThreadsFn = @convention(c) (Int32) -> Void
    typealias CoreNameFn = @convention(c) () -> UnsafePointer<CChar>?

    public let sgemmFn: SgemmFn
    public let sgemvFn: SgemvFn
    let setThreads: SetThreadsFn?
    /// The kernel set OpenBLAS runs ("SkylakeX", "Haswell", …) and what the engine asked for.
    public let coreName: String
    public let requestedCoreType: String?
    public let libraryName: String

    static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    /// The process-wide instance (loaded on first use); nil if no BLAS library could be opened.
    public static let shared: BLAS? = try? BLAS()

    /// The core type the engine chooses for the kernel path that runs (`KernelISA.best`, so
    /// `QLORA_ISA=avx2` also keeps OpenBLAS on its AVX2 kernels).
    public static func chooseCoreType() -> String? {
        if let forced = Environment.get("QLORA_BLAS_CORETYPE"), !forced.isEmpty { return forced }
        switch KernelISA.best {
        case .avx512: return "SkylakeX"
        case .avx2: return "Haswell"
        // Scalar path forced: OpenBLAS's SSE kernels; a CPU without AVX2: OpenBLAS's own detection.
        case .reference: return KernelISA.hardwareBest == .reference ? nil : "Prescott"
        }
    }

    init() throws {
        let core = Self.chooseCoreType()
        if let core { setenv("OPENBLAS_CORETYPE", core, 1) }
        // An idle OpenBLAS worker calls sched_yield in a loop for 2^28 TSC cycles (≈ 0.1 s) after each
        // call before it sleeps, taking a share of the core from whatever runs next: `bench kernels`
        // measured our 2-thread kernels 2× slower right after a 2-thread sgemm (576×1536, M = 512,
        // forced AVX2, Zen 4: 9.5 ms against 4.7 ms with the spin capped). 2^20 cycles (≈ 0.4 ms at
        // 2.6 GHz) still keeps the workers awake between back-to-back calls. The engine itself runs
        // OpenBLAS single-threaded; only `qlora bench` raises its thread count. A user's setting wins.
        if Environment.get("OPENBLAS_THREAD_TIMEOUT") == nil && Environment.get("GOTO_THREAD_TIMEOUT") == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", "20", 1)
        }
        requestedCoreType = core
        var handle: UnsafeMutableRawPointer?
        var opened = ""
        for name in ["libopenblas.so.0", "libopenblas.so", "libblas.so.3"] {
            handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)
            if handle != nil { opened = name; break }
        }
        guard let handle else {
            throw QLoRAError(.notFound, "OpenBLAS not found (install libopenblas-dev)")
        }
        libraryName = opened
        guard let g = dlsym(handle, "cblas_sgemm"), let v = dlsym(handle, "cblas_sgemv") else {
            throw QLoRAError(.notFound, "\(opened): no cblas_sgemm/cblas_sgemv")
        }
        sgemmFn = unsafeBitCast(g, to: SgemmFn.self)
        sgemvFn = unsafeBitCast(v, to: SgemvFn.self)
        setThreads = dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: SetThreadsFn.self) }
        // The engine calls OpenBLAS single-threaded from inside its own parallel loops, from any
        // thread; OpenBLAS's own threads stay off (changing the count while another thread is in a
        // BLAS call corrupts its buffers). Only `qlora bench` raises it, for its baselines.
        setThreads?(1)
        if let c = dlsym(handle, "openblas_get_corename") {
            let fn = unsafeBitCast(c, to: CoreNameFn.self)
            coreName = fn().map { String(cString: $0) } ?? "unknown"
        } else {
            coreName = "unknown"
        }
    }

    /// OpenBLAS's own thread count. Call only when no other thread can be inside a BLAS call
    /// (the kernel benchmark does, for its multi-threaded baselines).
    public func setThreadCount(_ n: Int) { setThreads?(Int32(max(1, n))) }

    /// C[M, N] = alpha · op(A) · op(B) + beta · C, row-major; op(A) is [M, K], op(B) is [K, N].
    public func sgemm(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Float = 1,
                      A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemmFn(Self.rowMajor, transA ? Self.trans : Self.noTrans, transB ? Self.trans : Self.noTrans,
                Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }

    /// y[M] = alpha · A[M, N] · x + beta · y (or Aᵀ·x when `trans`), row-major.
    public func sgemv(trans: Bool, M: Int, N: Int, alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                      x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        sgemvFn(Self.rowMajor, trans ? Self.trans : Self.noTrans, Int32(M), Int32(N), alpha, A, Int32(lda),
                x, 1, beta, y, 1)
    }
}
