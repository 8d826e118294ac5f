#if canImport(Glibc)
import Glibc
#endif

/// Ranking metrics of docs/CLLM4REC.md §7, for one user.
public enum RankingMetrics {
    /// Indices of the k highest scores, best first (lower index first on ties), skipping `excluded`.
    ///
    ///     topK([0.1, 0.9, 0.5, 0.9], k: 2, excluded: []) -> [1, 3]
    public static func topK(_ scores: UnsafeBufferPointer<Float>, k: Int, excluded: Set<Int>) -> [Int] {
        var heap: [(Float, Int)] = []  // the k best so far, worst first
        heap.reserveCapacity(k + 1)
        func worse(_ a: (Float, Int), _ b: (Float, Int)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 > b.1) }
        for (i, s) in scores.enumerated() where !excluded.contains(i) && !s.isNaN {
            if heap.count < k {
                heap.append((s, i))
                if heap.count == k { heap.sort(by: worse) }
            } else if worse(heap[0], (s, i)) {
                // replace the worst and restore order (k is small: insertion)
                heap[0] = (s, i)
                var j = 0
                while j + 1 < heap.count && worse(heap[j + 1], heap[j]) { heap.swapAt(j, j + 1); j += 1 }
            }
        }
        if heap.count < k { heap.sort(by: worse) }
        return heap.reversed().map(\.1)
    }

    /// hits in the top K / min(K, |relevant|).
    public static func recall(ranked: [Int], relevant: Set<Int>, k: Int) -> Double {
        guard !relevant.isEmpty else { return 0 }
        let hits = ranked.prefix(k).filter { relevant.contains($0) }.count
        return Double(hits) / Double(min(k, relevant.count))
    }

    /// DCG@K / IDCG@K with binary relevance; IDCG sums 1/log2(r + 1) for r = 1...min(K, |relevant|).
    public static func ndcg(ranked: [Int], relevant: Set<Int>, k: Int) -> Double {
        guard !relevant.isEmpty else { return 0 }
        var dcg = 0.0
        for (r, item) in ranked.prefix(k).enumerated() where relevant.contains(item) { dcg += 1 / log2(Double(r + 2)) }
        var idcg = 0.0
        for r in 1...min(k, relevant.count) { idcg += 1 / log2(Double(r + 1)) }
        return dcg / idcg
    }
}

/// Averages over users with at least one relevant item.
public struct MetricReport: Codable, Sendable, Equatable {
    public var users = 0
    public var values: [String: Double] = [:]

    public init() {}

    /// Recall@k for every k in `recallAt`, NDCG@k for every k in `ndcgAt`.
    public mutating func add(ranked: [Int], relevant: Set<Int>, recallAt: [Int], ndcgAt: [Int]) {
        guard !relevant.isEmpty else { return }
        users += 1
        for k in recallAt { values["recall@\(k)", default: 0] += RankingMetrics.recall(ranked: ranked, relevant: relevant, k: k) }
        for k in ndcgAt { values["ndcg@\(k)", default: 0] += RankingMetrics.ndcg(ranked: ranked, relevant: relevant, k: k) }
    }

    /// The sums of every process (users and the sums of the metrics named `keys`, which every
    /// process passes in the same order, whether or not it scored a user; call before `averaged`).
    public func summed(over collective: any Collective, keys: [String]) -> MetricReport {
        guard collective.isDistributed else { return self }
        let total = collective.sum([Double(users)] + keys.map { values[$0] ?? 0 })
        var r = self
        r.users = Int(total[0])
        for (k, key) in keys.enumerated() { r.values[key] = total[k + 1] }
        return r
    }

    /// The means (call once, after the last `add`).
    public func averaged() -> MetricReport {
        var r = self
        for (k, v) in values { r.values[k] = users > 0 ? v / Double(users) : 0 }
        return r
    }

    /// Recall@20 + Recall@40 + NDCG@100: the model-selection criterion of the reference.
    public var selectionScore: Double { (values["recall@20"] ?? 0) + (values["recall@40"] ?? 0) + (values["ndcg@100"] ?? 0) }
}
