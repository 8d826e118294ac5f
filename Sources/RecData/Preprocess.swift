import Tensor

/// The reference preprocessing (docs/CLLM4REC.md §6), each step a flag.
public struct PrepareOptions: Codable, Sendable {
    /// Keep interactions rated strictly above this; nil keeps all (implicit feedback).
    public var minRating: Double? = 3
    /// Every user and item keeps at least this many interactions (repeated until stable); 0 is off.
    public var kcore = 5
    public var seed: UInt64 = 98765
    public init(minRating: Double? = 3, kcore: Int = 5, seed: UInt64 = 98765) {
        self.minRating = minRating; self.kcore = kcore; self.seed = seed
    }
}

/// What preprocessing kept and dropped, for `dataset.json` and the printed summary.
public struct DatasetStatistics: Codable, Equatable, Sendable {
    public var rawInteractions = 0
    public var duplicatesDropped = 0
    public var droppedByRating = 0
    public var droppedByKCore = 0
    public var users = 0, items = 0
    public var train = 0, validation = 0, test = 0
    public var reviews = 0
    public var sparsity: Double { users * items == 0 ? 1 : 1 - Double(train + validation + test) / Double(users * items) }
}

/// A filtered, split, numbered dataset. Users are numbered in shuffled order; items in order of
/// first appearance when the users' interactions are read in that order, oldest first.
public struct PreparedDataset: Sendable {
    public var name: String
    public var users: [String]
    public var items: [String]
    /// Per user, item indices, oldest first.
    public var train: [[Int]], validation: [[Int]], test: [[Int]]
    /// Training pairs that carry review text (no validation or test text ever reaches a corpus).
    public var reviews: [(user: Int, item: Int, text: String)]
    public var itemText: [String?]
    public var userText: [String?]
    public var statistics: DatasetStatistics
    public var options: PrepareOptions

    init(name: String, users: [String], items: [String], train: [[Int]], validation: [[Int]], test: [[Int]],
         reviews: [(user: Int, item: Int, text: String)], itemText: [String?], userText: [String?],
         statistics: DatasetStatistics, options: PrepareOptions) {
        self.name = name; self.users = users; self.items = items; self.train = train; self.validation = validation
        self.test = test; self.reviews = reviews; self.itemText = itemText; self.userText = userText
        self.statistics = statistics; self.options = options
    }

    /// Filters, k-cores, numbers and splits `raw` (see `PrepareOptions`).
    ///
    /// Split of a user with n interactions (chosen at random, seeded): n_test = n_val =
    /// max(1, floor(0.1 n)), the rest train; users with fewer than 3 interactions keep all of them
    /// in training.
    public init(_ raw: RawDataset, options: PrepareOptions) throws {
        self.options = options
        name = raw.name
        var stats = DatasetStatistics()
        stats.rawInteractions = raw.interactions.count
        // 1. one interaction per (user, item): the first one in the file
        // Ids are matched byte for byte (ExactString), as the files and the reference do.
        var seenPairs = Set<ExactString>()
        var rows: [(order: Int, RawInteraction)] = []
        rows.reserveCapacity(raw.interactions.count)
        for (k, x) in raw.interactions.enumerated() {
            if seenPairs.insert(ExactString(x.user + "\u{1F}" + x.item)).inserted { rows.append((k, x)) } else { stats.duplicatesDropped += 1 }
        }
        // 2. explicit ratings above the threshold
        if let threshold = options.minRating, raw.hasRatings {
            let before = rows.count
            rows = rows.filter { ($0.1.rating ?? -.infinity) > threshold }
            stats.droppedByRating = before - rows.count
        }
        // 3. k-core until stable
        if options.kcore > 1 {
            let before = rows.count
            while true {
                var uc: [ExactString: Int] = [:], ic: [ExactString: Int] = [:]
                for (_, x) in rows { uc[ExactString(x.user), default: 0] += 1; ic[ExactString(x.item), default: 0] += 1 }
                let kept = rows.filter { uc[ExactString($0.1.user)]! >= options.kcore && ic[ExactString($0.1.item)]! >= options.kcore }
                if kept.count == rows.count { break }
                rows = kept
            }
            stats.droppedByKCore = before - rows.count
        }
        guard !rows.isEmpty else {
            throw RecDataError.empty("no interaction is left after filtering (\(stats.droppedByRating) dropped by rating, \(stats.droppedByKCore) by the \(options.kcore)-core)")
        }
        // 4. users in first-appearance order, then shuffled
        var byUser: [ExactString: [(order: Int, RawInteraction)]] = [:]
        var userOrder: [String] = []
        for r in rows {
            let u = ExactString(r.1.user)
            if byUser[u] == nil { userOrder.append(r.1.user) }
            byUser[u, default: []].append(r)
        }
        var rng = SplitMix64(seed: options.seed)
        userOrder.shuffle(using: &rng)
        users = userOrder
        // 5. items numbered as first met, each user's history oldest first (file order on ties)
        var itemIndex: [ExactString: Int] = [:]
        items = []
        train = []; validation = []; test = []; reviews = []
        for u in userOrder {
            let history = byUser[ExactString(u)]!.sorted { ($0.1.timestamp ?? 0, $0.order) < ($1.1.timestamp ?? 0, $1.order) }
            var indices: [Int] = []
            for (_, x) in history {
                let key = ExactString(x.item)
                if itemIndex[key] == nil { itemIndex[key] = items.count; items.append(x.item) }
                indices.append(itemIndex[key]!)
            }
            // 6. random hold-out, seeded
            let n = history.count
            let hold = n >= 3 ? max(1, n / 10) : 0
            var positions = Array(0..<n)
            positions.shuffle(using: &rng)
            let testSet = Set(positions.prefix(hold)), valSet = Set(positions.dropFirst(hold).prefix(hold))
            var tr: [Int] = [], va: [Int] = [], te: [Int] = []
            for p in 0..<n {
                if testSet.contains(p) { te.append(indices[p]) } else if valSet.contains(p) { va.append(indices[p]) } else {
                    tr.append(indices[p])
                    if let t = history[p].1.text, !t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                        reviews.append((train.count, indices[p], t))
                    }
                }
            }
            train.append(tr); validation.append(va); test.append(te)
        }
        itemText = items.map { raw.itemText[ExactString($0)] }
        userText = users.map { raw.userText[ExactString($0)] }
        stats.users = users.count
        stats.items = items.count
        stats.train = train.reduce(0) { $0 + $1.count }
        stats.validation = validation.reduce(0) { $0 + $1.count }
        stats.test = test.reduce(0) { $0 + $1.count }
        stats.reviews = reviews.count
        statistics = stats
    }
}

import Foundation
