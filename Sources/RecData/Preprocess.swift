import Tensor

/// The reference preprocessing (docs/CLLM4REC.md §6), each step a flag.
public struct PrepareOptions: Codable, Sendable {
    /// Keep interactions rated strictly above this; nil keeps all (implicit feedback).
    public var minRating: Double? = 3
    /// Every user and item keeps at least this many interactions (repeated until stable); 0 is off.
    public var kcore = 5
    public var seed: UInt64 = 98765
    /// Users kept entirely out of training, for strong-generalization evaluation (nil: none).
    public var heldoutUsers: Int? = nil
    /// Where the split came from when it was read, not made: the folder of RecBole benchmark files.
    public var splitFrom: String? = nil
    /// The fraction of items made cold (`ColdItems`), when any.
    public var coldItems: Double? = nil
    public init(minRating: Double? = 3, kcore: Int = 5, seed: UInt64 = 98765, heldoutUsers: Int? = nil) {
        self.minRating = minRating; self.kcore = kcore; self.seed = seed; self.heldoutUsers = heldoutUsers
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
    /// Held-out users (strong generalization) and their interactions, outside the counts above.
    public var heldoutUsers: Int? = nil, heldoutInteractions: Int? = nil
    /// Cold items (`ColdItems`) and the interactions diverted to their evaluation, outside the counts above.
    public var coldItems: Int? = nil, coldInteractions: Int? = nil
    /// Items added to the trained recommender (`add-items`), included in `items`.
    public var addedItems: Int? = nil
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
    /// Users kept out of training (strong generalization): their external ids, and per user the
    /// items folded in (about 80%, oldest first) and the items to predict (the other 20%).
    public var heldout = HeldoutUsers()
    /// Items kept out of training for the cold-start evaluation (nil: none).
    public var cold: ColdItems? = nil

    init(name: String, users: [String], items: [String], train: [[Int]], validation: [[Int]], test: [[Int]],
         reviews: [(user: Int, item: Int, text: String)], itemText: [String?], userText: [String?],
         statistics: DatasetStatistics, options: PrepareOptions, heldout: HeldoutUsers = HeldoutUsers(), cold: ColdItems? = nil) {
        self.name = name; self.users = users; self.items = items; self.train = train; self.validation = validation
        self.test = test; self.reviews = reviews; self.itemText = itemText; self.userText = userText
        self.statistics = statistics; self.options = options; self.heldout = heldout; self.cold = cold
    }

    /// Items with at least one training interaction, ascending: what a map from content to the
    /// head's rows can be fitted on (the cold-start rules, `add-items`).
    public func itemsWithTrainingInteractions() -> [Int] {
        var interacted = [Bool](repeating: false, count: items.count)
        for list in train { for j in list { interacted[j] = true } }
        return (0..<items.count).filter { interacted[$0] }
    }

    /// Every item user `u` interacted with (training, validation, test and the cold halves): what a
    /// recommendation for that user leaves out.
    public func seen(user u: Int) -> Set<Int> {
        var all = Set(train[u] + validation[u] + test[u])
        if let cold { all.formUnion(cold.validation[u]); all.formUnion(cold.test[u]) }
        return all
    }

    /// Filters, k-cores, numbers and splits `raw` (see `PrepareOptions`).
    ///
    /// Split of a user with n interactions (chosen at random, seeded): n_test = n_val =
    /// max(1, floor(0.1 n)), the rest train; users with fewer than 3 interactions keep all of them
    /// in training.
    public init(_ raw: RawDataset, options: PrepareOptions) throws {
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
        // 5. per user, oldest first (file order on ties); 6. a random hold-out, seeded
        let histories = userOrder.map { u in
            byUser[ExactString(u)]!.sorted { ($0.1.timestamp ?? 0, $0.order) < ($1.1.timestamp ?? 0, $1.order) }
                .map { UserInteraction(item: $0.1.item, text: $0.1.text, part: nil) }
        }
        try self.init(name: raw.name, userOrder: userOrder, histories: histories, raw: raw, options: options, statistics: stats)
    }

    /// Numbers, splits and holds out: users shuffled (seeded), items numbered as first met when the
    /// kept users' histories are read in that order, then the held-out users' (the last
    /// `options.heldoutUsers` of the shuffled order, so that every other user's split is the one
    /// made without held-out users). An interaction with a `part` keeps it (a split read from
    /// files); the others are split at random: n_test = n_val = max(1, floor(0.1 n)) for n >= 3.
    init(name: String, userOrder: [String], histories: [[UserInteraction]], raw: RawDataset, options: PrepareOptions,
         statistics: DatasetStatistics) throws {
        self.name = name
        self.options = options
        var stats = statistics
        var rng = SplitMix64(seed: options.seed)
        var order = Array(0..<userOrder.count)
        order.shuffle(using: &rng)
        let heldoutCount = options.heldoutUsers ?? 0
        guard heldoutCount < order.count else {
            throw RecDataError.empty("--heldout-users \(heldoutCount) leaves no user to train on (\(order.count) users after filtering)")
        }
        let kept = order.prefix(order.count - heldoutCount), out = order.suffix(heldoutCount)
        users = kept.map { userOrder[$0] }
        var itemIndex: [ExactString: Int] = [:]
        var itemNames: [String] = []
        func index(_ item: String) -> Int {
            let key = ExactString(item)
            if let k = itemIndex[key] { return k }
            itemIndex[key] = itemNames.count
            itemNames.append(item)
            return itemNames.count - 1
        }
        train = []; validation = []; test = []; reviews = []
        for u in kept {
            let history = histories[u]
            let indices = history.map { index($0.item) }
            let n = history.count
            var parts = history.map(\.part)
            if parts.contains(nil) {
                let hold = n >= 3 ? max(1, n / 10) : 0
                var positions = Array(0..<n)
                positions.shuffle(using: &rng)
                for p in positions.prefix(hold) { parts[p] = .test }
                for p in positions.dropFirst(hold).prefix(hold) { parts[p] = .validation }
                for p in 0..<n where parts[p] == nil { parts[p] = .train }
            }
            var tr: [Int] = [], va: [Int] = [], te: [Int] = []
            for p in 0..<n {
                switch parts[p]! {
                case .test: te.append(indices[p])
                case .validation: va.append(indices[p])
                case .train:
                    tr.append(indices[p])
                    if let t = history[p].text, !t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                        reviews.append((train.count, indices[p], t))
                    }
                }
            }
            train.append(tr); validation.append(va); test.append(te)
        }
        // Held-out users: every interaction, split 80/20 at random into fold-in and test items.
        for u in out {
            let indices = histories[u].map { index($0.item) }
            let hide = max(1, Int(Double(indices.count) * 0.2))
            var positions = Array(0..<indices.count)
            positions.shuffle(using: &rng)
            let hidden = Set(positions.prefix(hide))
            heldout.users.append(userOrder[u])
            heldout.foldIn.append((0..<indices.count).filter { !hidden.contains($0) }.map { indices[$0] })
            heldout.test.append((0..<indices.count).filter { hidden.contains($0) }.map { indices[$0] })
        }
        items = itemNames
        itemText = items.map { raw.itemText[ExactString($0)] }
        userText = users.map { raw.userText[ExactString($0)] }
        stats.users = users.count
        stats.items = items.count
        stats.train = train.reduce(0) { $0 + $1.count }
        stats.validation = validation.reduce(0) { $0 + $1.count }
        stats.test = test.reduce(0) { $0 + $1.count }
        stats.reviews = reviews.count
        if heldoutCount > 0 {
            stats.heldoutUsers = heldoutCount
            stats.heldoutInteractions = heldout.foldIn.reduce(0) { $0 + $1.count } + heldout.test.reduce(0) { $0 + $1.count }
        }
        self.statistics = stats
    }
}

/// One interaction of a user's history, oldest first; `part` is set when the split is given.
struct UserInteraction {
    var item: String
    var text: String?
    var part: SplitPart?
}

/// The three parts of a per-user split.
public enum SplitPart: String, CaseIterable, Sendable { case train, validation, test }

/// Users kept entirely out of training (Liang et al. 2018, "strong generalization"): their ids, the
/// items that are folded in and the items that are then predicted, per user.
public struct HeldoutUsers: Codable, Equatable, Sendable {
    public var users: [String] = []
    public var foldIn: [[Int]] = []
    public var test: [[Int]] = []
    public init() {}
    enum CodingKeys: String, CodingKey { case users, foldIn = "fold_in", test }
}

import Foundation
