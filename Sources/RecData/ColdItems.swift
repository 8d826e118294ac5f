import Tensor

/// Items kept out of every training signal for the item-cold-start protocol (DropoutNet, CLCRec,
/// Heater): a seeded fraction of the catalog loses **all** its interactions from the training,
/// validation and test parts (and from the review corpus), and keeps its content (item text). Half
/// of those items (by item) are cold-validation items, the other half cold-test items; each user's
/// diverted interactions are what `evaluate --split cold-items[-val]` asks the model to find among
/// the cold items of that half only.
public struct ColdItems: Codable, Equatable, Sendable {
    /// The fraction of items asked for, and the seed that drew them.
    public var fraction: Double
    public var seed: UInt64
    /// The cold items of each half, ascending item indices.
    public var validationItems: [Int]
    public var testItems: [Int]
    /// Per user (the dataset's user order), their interactions with the cold items of each half.
    public var validation: [[Int]]
    public var test: [[Int]]
    /// Users whose whole history was on cold items: they keep no training interaction, and their
    /// cold interactions are not evaluated (there is no history to rank from: a cold user as well).
    public var usersWithoutWarmHistory: Int

    public init(fraction: Double, seed: UInt64, validationItems: [Int], testItems: [Int], validation: [[Int]], test: [[Int]],
                usersWithoutWarmHistory: Int) {
        self.fraction = fraction; self.seed = seed; self.validationItems = validationItems; self.testItems = testItems
        self.validation = validation; self.test = test; self.usersWithoutWarmHistory = usersWithoutWarmHistory
    }

    /// Every cold item, both halves.
    public var allItems: Set<Int> { Set(validationItems + testItems) }

    enum CodingKeys: String, CodingKey {
        case fraction, seed, validation, test
        case validationItems = "validation_items", testItems = "test_items"
        case usersWithoutWarmHistory = "users_without_warm_history"
    }
}

extension PreparedDataset {
    /// The dataset with `fraction` of its items made cold (see `ColdItems`): the items are drawn at
    /// random (seeded), every interaction with them leaves `train`, `validation` and `test` for the
    /// cold halves, and reviews of them are dropped. Item numbering, item text and every other
    /// interaction are unchanged. At least one item per half; at least one item must stay warm.
    public func holdingOutColdItems(fraction: Double, seed: UInt64) throws -> PreparedDataset {
        guard fraction > 0, fraction < 1 else { throw RecDataError.empty("--cold-items \(fraction): the fraction must be in (0, 1)") }
        let j = items.count
        let count = max(2, Int((Double(j) * fraction).rounded()))
        guard count < j else {
            throw RecDataError.empty("--cold-items \(fraction) makes \(count) of \(j) items cold: at least two cold items and one warm item are needed")
        }
        var rng = SplitMix64(seed: seed ^ 0xC01D_17E5)
        var order = Array(0..<j)
        order.shuffle(using: &rng)
        let drawn = order.prefix(count)
        return holdingOutColdItems(validationItems: Array(drawn.prefix(count / 2)), testItems: Array(drawn.dropFirst(count / 2)),
                                   fraction: fraction, seed: seed)
    }

    /// The dataset with the given items made cold (a split read with its cold files, or drawn by
    /// `holdingOutColdItems(fraction:seed:)`).
    func holdingOutColdItems(validationItems: [Int], testItems: [Int], fraction: Double, seed: UInt64) -> PreparedDataset {
        let validationItems = validationItems.sorted(), testItems = testItems.sorted(), count = validationItems.count + testItems.count
        let isValidation = Set(validationItems), isTest = Set(testItems)

        var out = self
        var coldValidation: [[Int]] = [], coldTest: [[Int]] = []
        var emptied = 0
        for u in 0..<users.count {
            let all = train[u] + validation[u] + test[u]
            out.train[u] = train[u].filter { !isValidation.contains($0) && !isTest.contains($0) }
            out.validation[u] = validation[u].filter { !isValidation.contains($0) && !isTest.contains($0) }
            out.test[u] = test[u].filter { !isValidation.contains($0) && !isTest.contains($0) }
            if out.train[u].isEmpty {
                // Nothing to rank from: such a user is cold too, outside this protocol.
                if all.contains(where: { isValidation.contains($0) || isTest.contains($0) }) { emptied += 1 }
                coldValidation.append([]); coldTest.append([])
            } else {
                coldValidation.append(all.filter { isValidation.contains($0) })
                coldTest.append(all.filter { isTest.contains($0) })
            }
        }
        out.reviews = reviews.filter { !isValidation.contains($0.item) && !isTest.contains($0.item) }
        out.cold = ColdItems(fraction: fraction, seed: seed, validationItems: validationItems, testItems: testItems,
                             validation: coldValidation, test: coldTest, usersWithoutWarmHistory: emptied)
        out.statistics.train = out.train.reduce(0) { $0 + $1.count }
        out.statistics.validation = out.validation.reduce(0) { $0 + $1.count }
        out.statistics.test = out.test.reduce(0) { $0 + $1.count }
        out.statistics.reviews = out.reviews.count
        out.statistics.coldItems = count
        out.statistics.coldInteractions = coldValidation.reduce(0) { $0 + $1.count } + coldTest.reduce(0) { $0 + $1.count }
        out.options.coldItems = fraction
        return out
    }
}
