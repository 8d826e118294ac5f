import RecData
import Tensor

/// Full-ranking evaluation over all J items (docs/CLLM4REC.md §7).
public struct Evaluator {
    public var recallAt = [20, 40]
    public var ndcgAt = [100]
    /// Users scored per forward pass.
    public var batch = 32

    public init(recallAt: [Int] = [20, 40], ndcgAt: [Int] = [100], batch: Int = 32) {
        self.recallAt = recallAt; self.ndcgAt = ndcgAt; self.batch = batch
    }

    var depth: Int { (recallAt + ndcgAt).max() ?? 100 }

    /// The model: prompt = all training items (shuffled with `seed`), training items excluded
    /// from the ranking, `relevant[u]` the held-out items.
    public func evaluate(model: RecModel, corpora: Corpora, dataset: PreparedDataset, relevant: [[Int]], copy: IDEmbeddings.Copy,
                         seed: UInt64, progress: ((Int, Int) -> Void)? = nil) -> MetricReport {
        var report = MetricReport()
        var rng = SplitMix64(seed: seed)
        let users = Array(0..<dataset.users.count).filter { !relevant[$0].isEmpty }
        var start = 0
        while start < users.count {
            let chunk = Array(users[start..<min(users.count, start + batch)])
            let prompts = chunk.map { u in
                corpora.finetunePrompt(userToken: model.firstUser + u, items: dataset.train[u].shuffled(using: &rng).map { model.firstItem + $0 })
            }
            let scores = model.scores(prompts: prompts, copy: copy)
            scores.withUnsafeBufferPointer { s in
                for (k, u) in chunk.enumerated() {
                    let row = UnsafeBufferPointer(rebasing: s[(k * model.items)..<((k + 1) * model.items)])
                    let ranked = RankingMetrics.topK(row, k: depth, excluded: Set(dataset.train[u]))
                    report.add(ranked: ranked, relevant: Set(relevant[u]), recallAt: recallAt, ndcgAt: ndcgAt)
                }
            }
            start += chunk.count
            progress?(start, users.count)
        }
        return report.averaged()
    }

    /// The most-popular baseline: items ranked by their number of training interactions.
    public func popularity(dataset: PreparedDataset, relevant: [[Int]]) -> MetricReport {
        var counts = [Float](repeating: 0, count: dataset.items.count)
        for t in dataset.train { for i in t { counts[i] += 1 } }
        var report = MetricReport()
        counts.withUnsafeBufferPointer { c in
            for u in 0..<dataset.users.count where !relevant[u].isEmpty {
                report.add(ranked: RankingMetrics.topK(c, k: depth, excluded: Set(dataset.train[u])), relevant: Set(relevant[u]),
                           recallAt: recallAt, ndcgAt: ndcgAt)
            }
        }
        return report.averaged()
    }
}
