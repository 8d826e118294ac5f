import COpenBLAS

#if canImport(Glibc)
import Glibc
#endif

/// Row-major single-precision matrix products, through the library `ProductLibrary` chose: Intel's
/// MKL on an Intel CPU where it is installed, else OpenBLAS (with its kernel set chosen for the CPU).
///
/// The library is opened at first use (`ProductLibrary.shared`); a program that wants a clean error
/// instead of a stop calls `ProductLibrary.load()` first.
public enum BLAS {
    /// The entry points of the library that runs the products, resolved once.
    static let products = ProductLibrary.shared.products

    // CBLAS enumerations (cblas.h, the same in MKL's mkl_cblas.h): CblasRowMajor, CblasNoTrans, CblasTrans.
    static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    /// C[M, N] = alpha * op(A) op(B) + beta * C, row-major; op is a transpose when `transA`/`transB`.
    /// `lda`, `ldb`, `ldc` are row strides, so column blocks of wider matrices (one attention head of
    /// a fused qkv row) can be used in place.
    @inline(__always)
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        products.sgemm(rowMajor, transA ? trans : noTrans, transB ? trans : noTrans,
                       Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[N] = alpha * x[K] W[K, N] + beta * y: one row times a matrix stored [in, out] (Conv1D layout).
    @inline(__always)
    public static func rowTimesMatrix(k: Int, n: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, ldw: Int,
                                      beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        products.sgemv(rowMajor, trans, Int32(k), Int32(n), 1, w, Int32(ldw), x, 1, beta, y, 1)
    }

    /// y[M] = A[M, K] x[K] + beta * y.
    @inline(__always)
    public static func matrixTimesVector(m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                                         beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        products.sgemv(rowMajor, noTrans, Int32(m), Int32(k), 1, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// Threads for each product (and for `Parallel`'s loops between products, and OpenBLAS's LAPACK
    /// when MKL runs the products).
    public static var threads: Int {
        get { Int(products.getThreads()) }
        set {
            setLibraryThreads(Int32(max(1, newValue)))
            Parallel.threads = max(1, newValue)
        }
    }

    /// Sets the thread count of every library that runs products: with MKL, OpenBLAS runs the
    /// matrix-vector products and LAPACK (see `ProductLibrary`).
    static func setLibraryThreads(_ n: Int32) {
        products.setThreads(n)
        if ProductLibrary.shared.kind != .openblas { OpenBLAS.entryPoints.products.setThreads(n) }
    }
}

/// Why a product library could not be opened, was refused, or did not take the settings it was asked for.
public struct BLASError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Result where Failure == BLASError {
    /// A library opened once: the library, or a stop with why it could not be opened (for code
    /// that runs after the program's `load()` call has already turned that into an error message).
    var valueOrStop: Success {
        switch self {
        case .success(let library): return library
        case .failure(let error): fatalError(error.description)
        }
    }
}

/// The value of environment variable `name`, without Foundation.
func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

extension String {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
