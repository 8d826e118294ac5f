import RecData
import Tensor

/// EASE (Steck, WWW 2019), the strong linear baseline of the reference anchors: item-item weights
/// B = I - P diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ and a zero diagonal; a user's scores are x_u B.
///
/// One J x J Double buffer holds XᵀX + λI, then P (LAPACK's Cholesky inverse, in place), then B.
public final class EASE: @unchecked Sendable {
    public let items: Int
    /// B [J, J], row-major.
    public let weights: UnsafeMutableBufferPointer<Double>

    /// Fits B on the training interactions (lists of item indices) with regularization `lambda`.
    public init(train: [[Int]], items j: Int, lambda: Double) throws {
        precondition(lambda > 0, "EASE needs lambda > 0")
        items = j
        weights = .allocate(capacity: j * j)
        let w = weights.baseAddress!
        w.initialize(repeating: 0, count: j * j)
        for row in train {
            for a in row { for b in row { w[a * j + b] += 1 } }
        }
        for i in 0..<j { w[i * j + i] += lambda }
        do { try LAPACK.invertSPD(w, n: j) } catch { throw CLLM4RecError.invalidArgument("EASE: \(error.description)") }
        let diagonal = (0..<j).map { w[$0 * j + $0] }
        for r in 0..<j {
            let row = w + r * j
            for c in 0..<j { row[c] = r == c ? 0 : -row[c] / diagonal[c] }
        }
    }

    deinit { weights.deallocate() }

    /// Scores of every item for a user with these items: the sum of their rows of B.
    public func scores(history: [Int], into out: UnsafeMutableBufferPointer<Float>) {
        let j = items
        var sum = [Double](repeating: 0, count: j)
        for i in history {
            let row = weights.baseAddress! + i * j
            for c in 0..<j { sum[c] += row[c] }
        }
        for c in 0..<j { out[c] = Float(sum[c]) }
    }
}
