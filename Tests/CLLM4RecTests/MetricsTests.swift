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

final class EASETests: XCTestCase {
    func testInverseAndWeights() {
        // G = [[4, 2, 0], [2, 3, 1], [0, 1, 2]]: G · inverse(G) = I.
        let g: [Double] = [4, 2, 0, 2, 3, 1, 0, 1, 2]
        let p = EASE.inverseSPD(g, n: 3)
        for r in 0..<3 {
            for c in 0..<3 {
                let v = (0..<3).reduce(0.0) { $0 + g[r * 3 + $1] * p[$1 * 3 + c] }
                XCTAssertEqual(v, r == c ? 1 : 0, accuracy: 1e-12)
            }
        }
        // Two users: {0, 1} and {1, 2}; XᵀX = [[1,1,0],[1,2,1],[0,1,1]], λ = 1.
        let b = EASE.weights(train: [[0, 1], [1, 2]], items: 3, lambda: 1)
        let q = EASE.inverseSPD([2, 1, 0, 1, 3, 1, 0, 1, 2], n: 3)
        for r in 0..<3 { for c in 0..<3 { XCTAssertEqual(b[r * 3 + c], r == c ? 0 : -q[r * 3 + c] / q[c * 3 + c], accuracy: 1e-12) } }
        XCTAssertGreaterThan(b[0 * 3 + 1], 0)  // items bought together attract
    }
}
