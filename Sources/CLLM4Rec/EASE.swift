import RecData

/// EASE (Steck, WWW 2019), the strong linear baseline of the reference anchors: item-item weights
/// B = I - P diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ and a zero diagonal; a user's scores are x_u B.
public enum EASE {
    /// Item-item weights [J, J] (row-major, Double) from the training interactions.
    public static func weights(train: [[Int]], items j: Int, lambda: Double) -> [Double] {
        var g = [Double](repeating: 0, count: j * j)
        for row in train {
            for a in row { for b in row { g[a * j + b] += 1 } }
        }
        for i in 0..<j { g[i * j + i] += lambda }
        let p = inverseSPD(g, n: j)
        var b = [Double](repeating: 0, count: j * j)
        for r in 0..<j { for c in 0..<j where r != c { b[r * j + c] = -p[r * j + c] / p[c * j + c] } }
        return b
    }

    /// Inverse of a symmetric positive-definite matrix by Cholesky (G = L Lᵀ, then L⁻¹ and L⁻ᵀ L⁻¹).
    static func inverseSPD(_ a: [Double], n: Int) -> [Double] {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for k in 0...i {
                var s = a[i * n + k]
                for m in 0..<k { s -= l[i * n + m] * l[k * n + m] }
                l[i * n + k] = i == k ? s.squareRoot() : s / l[k * n + k]
            }
        }
        // inv(L): lower triangular
        var li = [Double](repeating: 0, count: n * n)
        for c in 0..<n {
            li[c * n + c] = 1 / l[c * n + c]
            for r in (c + 1)..<max(n, c + 1) {
                var s = 0.0
                for m in c..<r { s -= l[r * n + m] * li[m * n + c] }
                li[r * n + c] = s / l[r * n + r]
            }
        }
        // inv(G) = inv(L)ᵀ inv(L)
        var out = [Double](repeating: 0, count: n * n)
        for r in 0..<n {
            for c in r..<n {
                var s = 0.0
                for m in c..<n { s += li[m * n + r] * li[m * n + c] }
                out[r * n + c] = s
                out[c * n + r] = s
            }
        }
        return out
    }
}

extension Evaluator {
    /// EASE with regularization `lambda` (200 in the reference anchors), training items excluded.
    public func ease(dataset: PreparedDataset, relevant: [[Int]], lambda: Double = 200) -> MetricReport {
        let j = dataset.items.count
        let b = EASE.weights(train: dataset.train, items: j, lambda: lambda)
        var report = MetricReport()
        var scores = [Float](repeating: 0, count: j)
        for u in 0..<dataset.users.count where !relevant[u].isEmpty {
            for c in 0..<j { scores[c] = 0 }
            for i in dataset.train[u] { for c in 0..<j { scores[c] += Float(b[i * j + c]) } }
            scores.withUnsafeBufferPointer { s in
                report.add(ranked: RankingMetrics.topK(s, k: depth, excluded: Set(dataset.train[u])), relevant: Set(relevant[u]),
                           recallAt: recallAt, ndcgAt: ndcgAt)
            }
        }
        return report.averaged()
    }
}
