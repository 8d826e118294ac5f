/// The LAPACK routines of OpenBLAS that this project uses, in Double precision.
public enum LAPACK {
    /// Replaces the symmetric positive-definite matrix `a` [n, n] by its inverse, in place: a
    /// Cholesky factorisation (`dpotrf`) and the inverse from it (`dpotri`), which fill one
    /// triangle; the other is then copied from it. Row- or column-major alike (symmetric).
    ///
    ///     var a = [4.0, 2, 2, 3]; try LAPACK.invertSPD(&a, n: 2)   // [0.375, -0.25, -0.25, 0.5]
    public static func invertSPD(_ a: UnsafeMutablePointer<Double>, n: Int) throws(BLASError) {
        guard n > 0 else { return }
        guard let potrf = OpenBLAS.entryPoints.dpotrf, let potri = OpenBLAS.entryPoints.dpotri else {
            throw BLASError("the OpenBLAS library that was opened has no LAPACK (dpotrf_, dpotri_)")
        }
        guard n <= Int(Int32.max) else { throw BLASError("matrix of order \(n) is too large for LAPACK's 32-bit indices") }
        var order = Int32(n), info: Int32 = 0
        // Column-major "L" is the row-major upper triangle.
        potrf("L", &order, a, &order, &info, 1)
        guard info == 0 else {
            throw BLASError(info > 0 ? "the matrix is not positive definite (leading minor \(info))" : "dpotrf: argument \(-info) is invalid")
        }
        potri("L", &order, a, &order, &info, 1)
        guard info == 0 else { throw BLASError(info > 0 ? "the matrix is singular (element \(info))" : "dpotri: argument \(-info) is invalid") }
        // Row-major upper triangle (column-major lower) holds the inverse: mirror it below.
        for r in 1..<n { for c in 0..<r { a[r * n + c] = a[c * n + r] } }
    }

    /// `invertSPD` on an array.
    public static func invertSPD(_ a: inout [Double], n: Int) throws(BLASError) {
        precondition(a.count == n * n, "invertSPD needs an n x n array")
        try a.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<Double>) throws(BLASError) in
            try invertSPD(p.baseAddress!, n: n)
        }
    }

    /// The eigenvalues (ascending) and eigenvectors of the symmetric matrix `a` [n, n] (`dsyev`):
    /// on return `a[j * n ..< (j + 1) * n]` holds the unit eigenvector of eigenvalue j.
    ///
    ///     var a = [2.0, 1, 1, 2]; try LAPACK.symmetricEigen(&a, n: 2)   // [1, 3]; rows ±[0.707, -0.707], ±[0.707, 0.707]
    @discardableResult
    public static func symmetricEigen(_ a: inout [Double], n: Int) throws(BLASError) -> [Double] {
        precondition(a.count == n * n, "symmetricEigen needs an n x n array")
        guard n > 0 else { return [] }
        guard let syev = OpenBLAS.entryPoints.dsyev else { throw BLASError("the OpenBLAS library that was opened has no LAPACK (dsyev_)") }
        guard n <= 46_340 else { throw BLASError("matrix of order \(n) is too large for LAPACK's 32-bit indices") }
        var order = Int32(n), info: Int32 = 0, query = Int32(-1), size = 0.0
        var values = [Double](repeating: 0, count: n)
        // Column-major "L" reads the row-major upper triangle: the same symmetric matrix.
        a.withUnsafeMutableBufferPointer { syev("V", "L", &order, $0.baseAddress!, &order, &values, &size, &query, &info, 1, 1) }
        var work = [Double](repeating: 0, count: max(1, Int(size)))
        var length = Int32(work.count)
        a.withUnsafeMutableBufferPointer { syev("V", "L", &order, $0.baseAddress!, &order, &values, &work, &length, &info, 1, 1) }
        guard info == 0 else {
            throw BLASError(info > 0 ? "dsyev: \(info) off-diagonal elements did not converge" : "dsyev: argument \(-info) is invalid")
        }
        return values
    }
}
