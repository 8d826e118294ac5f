import Tensor
import XCTest

@testable import CLLM4Rec

final class MetricsTests: XCTestCase {
    func testTopKOrderTiesAndExclusion() {
        let s: [Float] = [0.1, 0.9, 0.5, 0.9, 0.7, -.infinity]
        s.withUnsafeBufferPointer { p in
            XCTAssertEqual(RankingMetrics.topK(p, k: 2, excluded: []), [1, 3])
            XCTAssertEqual(RankingMetrics.topK(p, k: 3, excluded: [1]), [3, 4, 2])
            XCTAssertEqual(RankingMetrics.topK(p, k: 10, excluded: [0]), [1, 3, 4, 2, 5])
        }
    }

    /// Hand-computed: ranking [5, 2, 9, 1], relevant {2, 1, 7}.
    func testRecallAndNDCGByHand() {
        let ranked = [5, 2, 9, 1], relevant: Set = [2, 1, 7]
        // Recall@2: one hit (2) / min(2, 3) = 0.5; Recall@4: two hits / min(4, 3) = 2/3.
        XCTAssertEqual(RankingMetrics.recall(ranked: ranked, relevant: relevant, k: 2), 0.5)
        XCTAssertEqual(RankingMetrics.recall(ranked: ranked, relevant: relevant, k: 4), 2.0 / 3.0, accuracy: 1e-12)
        // DCG@4 = 1/log2(3) + 1/log2(5); IDCG@4 = 1/log2(2) + 1/log2(3) + 1/log2(4).
        let dcg = 1 / log2(3.0) + 1 / log2(5.0), idcg = 1 + 1 / log2(3.0) + 0.5
        XCTAssertEqual(RankingMetrics.ndcg(ranked: ranked, relevant: relevant, k: 4), dcg / idcg, accuracy: 1e-12)
        // NDCG@1: the first item is not relevant.
        XCTAssertEqual(RankingMetrics.ndcg(ranked: ranked, relevant: relevant, k: 1), 0)
        // A perfect ranking scores 1.
        XCTAssertEqual(RankingMetrics.ndcg(ranked: [2, 1, 7, 3], relevant: relevant, k: 100), 1, accuracy: 1e-12)
    }

    func testReportAveragesOverUsersWithRelevantItems() {
        var r = MetricReport()
        r.add(ranked: [1, 2], relevant: [1], recallAt: [1], ndcgAt: [2])
        r.add(ranked: [1, 2], relevant: [2], recallAt: [1], ndcgAt: [2])
        r.add(ranked: [1, 2], relevant: [], recallAt: [1], ndcgAt: [2])  // ignored
        let a = r.averaged()
        XCTAssertEqual(a.users, 2)
        XCTAssertEqual(a.values["recall@1"], 0.5)
        XCTAssertEqual(a.values["ndcg@2"]!, (1 + 1 / log2(3.0)) / 2, accuracy: 1e-12)
    }
}

final class PopularityTests: XCTestCase {
    /// Equal counts rank by external id: integers numerically ("9" before "10"), then other ids by
    /// their bytes ("a" before "b"); a higher count always first.
    func testTiesGoToTheSmallerExternalId() {
        let ids = ["b", "10", "a", "9", "7"]
        let train = [[0, 1, 2, 3], [4], [4]]  // "7" twice, the others once
        let e = Evaluator(recallAt: [1, 2, 3, 4], ndcgAt: [])
        func hitsAt(_ relevant: Int) -> [Double] {
            let r = e.popularity(train: train, itemIds: ids, histories: [[]], relevant: [[relevant]])
            return [1, 2, 3, 4].map { r.values["recall@\($0)"]! }
        }
        XCTAssertEqual(hitsAt(4), [1, 1, 1, 1])  // "7": most popular
        XCTAssertEqual(hitsAt(3), [0, 1, 1, 1])  // "9"
        XCTAssertEqual(hitsAt(1), [0, 0, 1, 1])  // "10"
        XCTAssertEqual(hitsAt(2), [0, 0, 0, 1])  // "a"
    }
}

final class EASETests: XCTestCase {
    /// LAPACK's Cholesky inverse: G · G⁻¹ = I on a small and a 60 x 60 random SPD matrix.
    func testInverseOfSPDMatrices() throws {
        for n in [3, 60] {
            var g = [Double](repeating: 0, count: n * n)
            if n == 3 {
                g = [4, 2, 0, 2, 3, 1, 0, 1, 2]
            } else {
                var rng = SplitMix64(seed: 3)
                let x = (0..<(n * n)).map { _ in Double(rng.next() % 1000) / 1000 - 0.5 }
                for r in 0..<n { for c in 0..<n { g[r * n + c] = (0..<n).reduce(0.0) { $0 + x[r * n + $1] * x[c * n + $1] } + (r == c ? 1 : 0) } }
            }
            var p = g
            try LAPACK.invertSPD(&p, n: n)
            for r in 0..<n {
                for c in 0..<n {
                    var v = 0.0
                    for m in 0..<n { v += g[r * n + m] * p[m * n + c] }
                    XCTAssertEqual(v, r == c ? 1 : 0, accuracy: 1e-9, "n \(n) (\(r), \(c))")
                }
            }
        }
    }

    func testNotPositiveDefiniteIsAnError() {
        var a: [Double] = [1, 2, 2, 1]  // eigenvalues 3 and -1
        XCTAssertThrowsError(try LAPACK.invertSPD(&a, n: 2)) { XCTAssertTrue("\($0)".contains("not positive definite"), "\($0)") }
    }

    /// Two users {0, 1} and {1, 2}, λ = 1: XᵀX + I = [[2,1,0],[1,3,1],[0,1,2]], whose inverse is
    /// [[5,-2,1],[-2,4,-2],[1,-2,5]] / 8 (by cofactors), so B[r][c] = -P[r][c] / P[c][c].
    func testWeightsByHand() throws {
        let e = try EASE(train: [[0, 1], [1, 2]], items: 3, lambda: 1)
        let expected: [Double] = [0, 0.5, -0.2, 0.4, 0, 0.4, -0.2, 0.5, 0]
        for k in 0..<9 { XCTAssertEqual(e.weights[k], expected[k], accuracy: 1e-12, "B[\(k / 3)][\(k % 3)]") }
        var s = [Float](repeating: 0, count: 3)
        s.withUnsafeMutableBufferPointer { e.scores(history: [0], into: $0) }
        XCTAssertEqual(s, [0, 0.5, -0.2])
    }
}
