import Foundation
import RecData
import Tensor

/// Full-ranking evaluation over all J items (docs/CLLM4REC.md §7): for every user with held-out
/// items, the items of their history are the prompt's input and are left out of the ranking.
public struct Evaluator {
    public var recallAt = [20, 40]
    public var ndcgAt = [100]
    /// Users scored per forward pass.
    public var batch = 32

    public init(recallAt: [Int] = [20, 40], ndcgAt: [Int] = [100], batch: Int = 32) {
        precondition(batch > 0, "evaluation batch must be positive")
        self.recallAt = recallAt; self.ndcgAt = ndcgAt; self.batch = batch
    }

    var depth: Int { (recallAt + ndcgAt).max() ?? 100 }

    /// Items never ranked, whoever the user (the complement of `rankOnly`'s candidates).
    var neverRanked: Set<Int> = []
    public var neverRankedCount: Int { neverRanked.count }

    /// Ranks only `candidates` of the `items` (the cold-start protocol ranks the cold items of one
    /// half among themselves); every other item is left out of every ranking.
    public mutating func rankOnly(_ candidates: [Int], of items: Int) {
        neverRanked = Set(0..<items).subtracting(candidates)
    }

    /// Adds one user's ranking to `report`.
    func add(_ scores: UnsafeBufferPointer<Float>, history: [Int], relevant: [Int], to report: inout MetricReport) {
        let ranked = RankingMetrics.topK(scores, k: depth, excluded: neverRanked.isEmpty ? Set(history) : neverRanked.union(history))
        report.add(ranked: ranked, relevant: Set(relevant), recallAt: recallAt, ndcgAt: ndcgAt)
    }

    /// The model on known users: prompt = the user's training items (shuffled with `seed`), training
    /// items excluded from the ranking, `relevant[u]` the held-out items. With several processes,
    /// batch b of users goes to process b mod size and the metric sums are summed over processes
    /// (every process shuffles every prompt, so each user's prompt does not depend on the split).
    ///
    /// The report also carries the collapse diagnostic (`CollapseDiagnostic`): the mean overlap of
    /// each user's top 20 with the most-popular top 20 of the items that user has not seen
    /// (`popularity_overlap@20`), and the effective rank and shared share of the head's inputs
    /// (`head_input_rank`, `head_input_shared`).
    public func evaluate(model: RecModel, corpora: Corpora, dataset: PreparedDataset, relevant: [[Int]], copy: IDEmbeddings.Copy,
                         seed: UInt64, collective: any Collective = SingleProcess(), progress: ((Int, Int) -> Void)? = nil) -> MetricReport {
        evaluate(model: model, corpora: corpora, dataset: dataset, relevant: relevant, copy: copy, itemTables: [nil],
                 seed: seed, collective: collective, progress: progress)[0]
    }

    /// `evaluate` with several item tables scored from the same head inputs (one forward pass per
    /// user batch): entry t of the result ranks with `itemTables[t]` [J, width] (nil: the model's
    /// own `copy` table). The cold-start rules are compared this way.
    public func evaluate(model: RecModel, corpora: Corpora, dataset: PreparedDataset, relevant: [[Int]], copy: IDEmbeddings.Copy,
                         itemTables: [[Float]?], seed: UInt64, collective: any Collective = SingleProcess(),
                         headInputs: ((Int, ArraySlice<Float>) -> Void)? = nil,
                         progress: ((Int, Int) -> Void)? = nil) -> [MetricReport] {
        var reports = [MetricReport](repeating: MetricReport(), count: itemTables.count)
        let popular = Evaluator.popularityOrder(train: dataset.train, itemIds: dataset.items)
        var inputs = HeadInputMoments(width: model.width)
        var rng = SplitMix64(seed: seed)
        let users = Array(0..<dataset.users.count).filter { !relevant[$0].isEmpty }
        let j = model.items, c = model.width
        var start = 0, chunkIndex = 0
        while start < users.count {
            let chunk = Array(users[start..<min(users.count, start + batch)])
            let prompts = chunk.map { u in
                corpora.finetunePrompt(userToken: model.firstUser + u, items: dataset.train[u].shuffled(using: &rng).map { model.firstItem + $0 })
            }
            defer { chunkIndex += 1 }
            guard chunkIndex % collective.size == collective.rank else { start += chunk.count; continue }
            let (own, h) = model.scoresAndHeadInputs(prompts: prompts, copy: copy)
            h.withUnsafeBufferPointer { inputs.add($0.baseAddress!, rows: chunk.count) }
            if let headInputs { for (k, u) in chunk.enumerated() { headInputs(u, h[(k * c)..<((k + 1) * c)]) } }
            for (t, table) in itemTables.enumerated() {
                var scores = own
                if let table {
                    precondition(table.count == j * c, "an item table is [items, width]")
                    h.withUnsafeBufferPointer { x in
                        table.withUnsafeBufferPointer { v in
                            scores.withUnsafeMutableBufferPointer { o in
                                BLAS.gemm(transB: true, m: chunk.count, n: j, k: c, a: x.baseAddress!, lda: c, b: v.baseAddress!, ldb: c,
                                          c: o.baseAddress!, ldc: j)
                            }
                        }
                    }
                }
                scores.withUnsafeBufferPointer { s in
                    for (k, u) in chunk.enumerated() {
                        let row = UnsafeBufferPointer(rebasing: s[(k * j)..<((k + 1) * j)])
                        let history = dataset.train[u], seen = Set(history)
                        add(row, history: history, relevant: relevant[u], to: &reports[t])
                        let overlap = CollapseDiagnostic.overlap(RankingMetrics.topK(row, k: CollapseDiagnostic.depth, excluded: seen),
                                                                 popularityOrder: popular, history: seen)
                        reports[t].values[CollapseDiagnostic.overlapKey, default: 0] += overlap
                    }
                }
            }
            start += chunk.count
            progress?(start, users.count)
        }
        inputs.sum(over: collective)
        let diagnostic = inputs.diagnostic()
        return reports.map { report in
            var out = report.summed(over: collective, keys: recallAt.map { "recall@\($0)" } + ndcgAt.map { "ndcg@\($0)" } + [CollapseDiagnostic.overlapKey])
                .averaged()
            if let d = diagnostic {
                out.values[CollapseDiagnostic.rankKey] = d.effectiveRank
                out.values[CollapseDiagnostic.sharedKey] = d.sharedShare
            }
            return out
        }
    }

    /// The model on users it never saw (strong generalization): each history is folded in
    /// (`FoldInOptions`), then scored with its items left out; `relevant` are the items to find.
    /// Also returns the mean fold-in time per user in seconds (scoring excluded).
    public func evaluateNewUsers(model: RecModel, corpora: Corpora, histories: [[Int]], relevant: [[Int]], foldIn: FoldInOptions,
                                 seed: UInt64, progress: ((Int, Int) -> Void)? = nil) -> (report: MetricReport, foldInSeconds: Double) {
        var report = MetricReport()
        let users = Array(0..<histories.count).filter { !relevant[$0].isEmpty }
        var foldInTime = 0.0
        var start = 0
        while start < users.count {
            let chunk = Array(users[start..<min(users.count, start + batch)])
            let t0 = Date()
            let rows = chunk.map { u in model.foldIn(history: histories[u], corpora: corpora, options: foldIn, seed: seed &+ UInt64(u)) }
            foldInTime += Date().timeIntervalSince(t0)
            let scores = model.scores(newUsers: rows, histories: chunk.map { histories[$0] }, corpora: corpora, seed: seed)
            scores.withUnsafeBufferPointer { s in
                for (k, u) in chunk.enumerated() {
                    add(UnsafeBufferPointer(rebasing: s[(k * model.items)..<((k + 1) * model.items)]), history: histories[u],
                        relevant: relevant[u], to: &report)
                }
            }
            start += chunk.count
            progress?(start, users.count)
        }
        return (report.averaged(), users.isEmpty ? 0 : foldInTime / Double(users.count))
    }

    /// The most-popular baseline: items ranked by their number of training interactions, each
    /// user's history left out. Ties go to the smaller external id (numerically when both ids are
    /// integers; numbers before other ids, those by their bytes), as `numpy.unique` numbering with a
    /// stable sort ranks them: the ranking then depends on the data only, not on how this tool
    /// numbered the items.
    public func popularity(train: [[Int]], itemIds: [String], histories: [[Int]], relevant: [[Int]]) -> MetricReport {
        let j = itemIds.count
        let order = Evaluator.popularityOrder(train: train, itemIds: itemIds)
        // Scores that rank as `order` does (exact in Float for up to 2^24 items).
        var scores = [Float](repeating: 0, count: j)
        for (position, i) in order.enumerated() { scores[i] = Float(j - position) }
        var report = MetricReport()
        scores.withUnsafeBufferPointer { c in
            for u in 0..<histories.count where !relevant[u].isEmpty { add(c, history: histories[u], relevant: relevant[u], to: &report) }
        }
        return report.averaged()
    }

    /// Items by number of training interactions, most first, ties as `popularity` ranks them.
    public static func popularityOrder(train: [[Int]], itemIds: [String]) -> [Int] {
        var counts = [Int](repeating: 0, count: itemIds.count)
        for t in train { for i in t { counts[i] += 1 } }
        let numeric = itemIds.map { Int($0) }
        return (0..<itemIds.count).sorted { a, b in
            if counts[a] != counts[b] { return counts[a] > counts[b] }
            switch (numeric[a], numeric[b]) {
            case let (x?, y?): return x != y ? x < y : a < b
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return itemIds[a].utf8.lexicographicallyPrecedes(itemIds[b].utf8)
            }
        }
    }

    /// Any scoring rule over all `items` (`score(history, out)` fills one user's scores), each
    /// history left out: the content baselines of the cold-start evaluation.
    public func evaluate(items: Int, histories: [[Int]], relevant: [[Int]],
                         score: ([Int], UnsafeMutableBufferPointer<Float>) -> Void) -> MetricReport {
        var report = MetricReport()
        var scores = [Float](repeating: 0, count: items)
        for u in 0..<histories.count where !relevant[u].isEmpty {
            scores.withUnsafeMutableBufferPointer { score(histories[u], $0) }
            scores.withUnsafeBufferPointer { add($0, history: histories[u], relevant: relevant[u], to: &report) }
        }
        return report.averaged()
    }

    /// EASE fitted on the training interactions, each history scored and left out (a new user's
    /// history is folded in by construction: scores are a sum over its items).
    public func ease(_ model: EASE, histories: [[Int]], relevant: [[Int]]) -> MetricReport {
        var report = MetricReport()
        var scores = [Float](repeating: 0, count: model.items)
        for u in 0..<histories.count where !relevant[u].isEmpty {
            scores.withUnsafeMutableBufferPointer { model.scores(history: histories[u], into: $0) }
            scores.withUnsafeBufferPointer { add($0, history: histories[u], relevant: relevant[u], to: &report) }
        }
        return report.averaged()
    }
}
