import Tensor

/// Signs that the recommendation head ranks every user alike (a "popularity-like collapse"), read
/// next to Recall and NDCG by `evaluate`, in every validation line of `metrics.jsonl` and on the
/// report page:
///
/// - `popularity_overlap@20`: the mean share of each user's top 20 that is also in the most-popular
///   top 20 of the items that user has not seen. Most-popular itself scores 1; a model that
///   personalises scores well below (a random GPT-2 backbone's run: about 0.24).
/// - `head_input_rank`: the effective rank (participation ratio (Σλ)² / Σλ² of the covariance's
///   eigenvalues) of the head's inputs f(h) over the users: how many directions the users differ
///   in. A handful means the head can tell users apart along a handful of directions only.
/// - `head_input_shared`: |mean f(h)|² / mean |f(h)|², the share of the inputs' energy that every user
///   has in common (near 0 after standardization on prompts like the training ones; what grows
///   there is the drift of h since the standardization was measured).
public enum CollapseDiagnostic {
    public static let depth = 20
    public static let overlapKey = "popularity_overlap@20", rankKey = "head_input_rank", sharedKey = "head_input_shared"

    /// |top ∩ most-popular top `depth` of the unseen items| / `depth`.
    ///
    ///     overlap([5, 1, 9], popularityOrder: [1, 2, 5, 7], history: [2])  // with depth 3: {1, 5, 7} ∩ {5, 1, 9} = 2/3
    public static func overlap(_ top: [Int], popularityOrder: [Int], history: Set<Int>, depth: Int = depth) -> Double {
        var popular = Set<Int>()
        for i in popularityOrder where !history.contains(i) {
            popular.insert(i)
            if popular.count == depth { break }
        }
        return Double(top.prefix(depth).filter { popular.contains($0) }.count) / Double(depth)
    }
}

/// The first and second moments of a set of rows [n, width]: Σx (Double) and Σxxᵀ (accumulated
/// by products, batch by batch), enough for the covariance's participation ratio and the shared
/// share; summed over the processes of a data-parallel evaluation.
public struct HeadInputMoments {
    public let width: Int
    public private(set) var rows = 0
    var sum: [Double]
    var outer: [Float]

    public init(width: Int) {
        self.width = width
        sum = [Double](repeating: 0, count: width)
        outer = [Float](repeating: 0, count: width * width)
    }

    public mutating func add(_ x: UnsafePointer<Float>, rows n: Int) {
        guard n > 0 else { return }
        let c = width
        for r in 0..<n { for k in 0..<c { sum[k] += Double(x[r * c + k]) } }
        outer.withUnsafeMutableBufferPointer { o in
            BLAS.gemm(transA: true, m: c, n: c, k: n, a: x, lda: c, b: x, ldb: c, beta: 1, c: o.baseAddress!, ldc: c)
        }
        rows += n
    }

    /// Sums every process's moments (each process then holds the totals).
    public mutating func sum(over collective: any Collective) {
        guard collective.isDistributed else { return }
        let total = collective.sum([Double(rows)] + sum)
        rows = Int(total[0])
        sum = Array(total[1...])
        outer.withUnsafeMutableBufferPointer { collective.sum($0.baseAddress!, count: $0.count) }
    }

    /// The participation ratio of the covariance and the shared share; nil for fewer than 2 rows.
    public func diagnostic() -> (effectiveRank: Double, sharedShare: Double)? {
        guard rows > 1 else { return nil }
        let n = Double(rows), c = width
        let mean = sum.map { $0 / n }
        var trace = 0.0, frobenius = 0.0, secondMoment = 0.0
        for i in 0..<c {
            for j in 0..<c {
                let cov = Double(outer[i * c + j]) / n - mean[i] * mean[j]
                frobenius += cov * cov
                if i == j { trace += cov; secondMoment += Double(outer[i * c + j]) / n }
            }
        }
        let meanEnergy = mean.reduce(0) { $0 + $1 * $1 }
        return (frobenius > 0 ? trace * trace / frobenius : 0, secondMoment > 0 ? meanEnergy / secondMoment : 0)
    }
}
