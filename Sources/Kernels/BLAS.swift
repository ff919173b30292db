// BLAS: the one door to OpenBLAS. Row-major sgemm with llm.c's weight layout (OC, C), and the
// thread count. The trainer runs two workers that each call single-threaded BLAS, so the engine
// sets `BLAS.setThreads(1)` before training; see ggml-blas.cpp for the same CblasRowMajor usage.
import CBLAS

public enum BLAS {
    /// Sets the number of OpenBLAS threads for every later call in this process.
    public static func setThreads(_ n: Int) {
        precondition(n >= 1, "BLAS thread count must be at least 1")
        openblas_set_num_threads(Int32(n))
    }

    /// The number of threads OpenBLAS will use.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C (M,N) = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is (M,K): A is (M,K) with leading dimension lda, or (K,M) if transA.
    /// op(B) is (K,N): B is (K,N) with leading dimension ldb, or (N,K) if transB.
    @inlinable
    public static func gemm(
        transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int, alpha: Float = 1,
        A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
        beta: Float, C: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if M == 0 || N == 0 { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }
}
