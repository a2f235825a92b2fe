import QLoRACore
import QLoRAKernels

/// Float32 products for the adapters, split over the engine's threads with single-threaded
/// OpenBLAS calls on disjoint output blocks (so OpenBLAS's own threads never compete with ours).
enum SplitBLAS {
    /// C[M, N] = alpha · A[M, K] · op(B) + beta · C, split over rows of C.
    static func rows(_ blas: BLAS, transB: Bool, M: Int, N: Int, K: Int, alpha: Float = 1,
                     A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int, beta: Float,
                     C: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        Parallel.forChunks(M, threads: threads, granule: 16) { _, lo, hi in
            blas.sgemm(transA: false, transB: transB, M: hi - lo, N: N, K: K, alpha: alpha, A: A + lo * lda, lda: lda,
                       B: B, ldb: ldb, beta: beta, C: C + lo * ldc, ldc: ldc)
        }
    }

    /// C[M, N] += alpha · Aᵀ · B with A [K, M] and B [K, N] (a reduction over K), split over rows of C.
    static func transposedRows(_ blas: BLAS, M: Int, N: Int, K: Int, alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                               B: UnsafePointer<Float>, ldb: Int, C: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        Parallel.forChunks(M, threads: threads, granule: 4) { _, lo, hi in
            blas.sgemm(transA: true, transB: false, M: hi - lo, N: N, K: K, alpha: alpha, A: A + lo, lda: lda,
                       B: B, ldb: ldb, beta: 1, C: C + lo * ldc, ldc: ldc)
        }
    }

    /// C[M, N] += alpha · Aᵀ · B with A [K, M] and B [K, N], split over columns of C.
    static func transposedColumns(_ blas: BLAS, M: Int, N: Int, K: Int, alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                                  B: UnsafePointer<Float>, ldb: Int, C: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        Parallel.forChunks(N, threads: threads, granule: 16) { _, lo, hi in
            blas.sgemm(transA: true, transB: false, M: M, N: hi - lo, K: K, alpha: alpha, A: A, lda: lda,
                       B: B + lo, ldb: ldb, beta: 1, C: C + lo, ldc: ldc)
        }
    }
}
