import COpenBLAS

/// Row-major single-precision matrix products, all through OpenBLAS.
public enum BLAS {
    /// C[M, N] = alpha * op(A) op(B) + beta * C, row-major; op is a transpose when `transA`/`transB`.
    /// `lda`, `ldb`, `ldc` are row strides, so column blocks of wider matrices (one attention head of
    /// a fused qkv row) can be used in place.
    @inline(__always)
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[N] = alpha * x[K] W[K, N] + beta * y: one row times a matrix stored [in, out] (Conv1D layout).
    @inline(__always)
    public static func rowTimesMatrix(k: Int, n: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, ldw: Int,
                                      beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, w, Int32(ldw), x, 1, beta, y, 1)
    }

    /// y[M] = A[M, K] x[K] + beta * y.
    @inline(__always)
    public static func matrixTimesVector(m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                                         beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), 1, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// Threads OpenBLAS uses for each product.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}
