import CLLM4Rec
import Foundation
import RecData
import WeightIO

/// One recommender folder as the server uses it: loaded once, with id lookups, each user's seen
/// items, and a cache of known users' answers. A reload builds a new one and swaps it in whole;
/// a request keeps the one it started with, so no request sees half a model, and the cache goes
/// with the model it was filled from.
public final class ServedModel: @unchecked Sendable {
    public let rec: LoadedRecommender
    public let path: String
    /// 1 for the folder loaded at start, one more at each reload.
    public let version: Int
    public let loadedAt: Date
    /// False for a folder that was pretrained only: it is scored with its collaborative embeddings.
    public let finetuned: Bool
    /// The folder's training and test summaries (`training-pretrain.json`, `training-finetune.json`,
    /// `evaluation-test.json` as `evaluation_test`), read with the model: `/v1/info` describes the
    /// model that answers, not files written since.
    public let training: [String: JSON]
    private let userIndex: [String: Int], itemIndex: [String: Int]
    let cache: AnswerCache
    /// Known users' recommendation-head inputs, filled as they are computed: a known user's prompt
    /// is fixed, so once its input is known an answer is one product with the item table.
    public let knownInputs: HeadInputTable

    public init(path: String, version: Int, cacheBytes: Int) throws {
        let rec = try LoadedRecommender(path: path)
        finetuned = rec.prepareRecommendationRows()
        self.rec = rec
        self.path = path
        self.version = version
        loadedAt = Date()
        userIndex = Dictionary(rec.dataset.users.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        itemIndex = Dictionary(rec.dataset.items.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        cache = AnswerCache(maxBytes: cacheBytes)
        knownInputs = HeadInputTable(rows: rec.dataset.users.count, width: rec.model.width)
        var training: [String: JSON] = [:]
        for (key, file) in [("pretrain", "training-pretrain.json"), ("finetune", "training-finetune.json"), ("evaluation_test", EvaluationOutcome.fileName(.test))] {
            if let data = FileManager.default.contents(atPath: rec.folder.file(file)), let v = try? JSONParser.parse(Array(data)) {
                training[key] = JSON(v)
            }
        }
        self.training = training
    }

    public func user(_ id: String) -> Int? { userIndex[id] }
    public func item(_ id: String) -> Int? { itemIndex[id] }

    /// Every item the user interacted with (training, validation and test): never recommended back.
    public func seen(_ u: Int) -> Set<Int> { rec.dataset.seen(user: u) }

    /// The item's text (title and attributes as in the dataset), or "" when it has none.
    public func title(_ j: Int) -> String { rec.dataset.itemText[j] ?? "" }
}

/// One head input (width floats) per row, each absent until put; safe from any thread.
public final class HeadInputTable: @unchecked Sendable {
    public let rows: Int, width: Int
    private let lock = NSLock()
    private var values: [Float]
    private var present: [Bool]
    private var filled = 0

    init(rows: Int, width: Int) {
        self.rows = rows; self.width = width
        // Allocated at the first put: users x width floats, as much as one user-embedding table.
        values = []
        present = [Bool](repeating: false, count: rows)
    }

    /// Row `r`'s input, or nil if not computed yet.
    public func get(_ r: Int) -> [Float]? {
        lock.withLock { present[r] ? Array(values[(r * width)..<((r + 1) * width)]) : nil }
    }

    public func contains(_ r: Int) -> Bool { lock.withLock { present[r] } }

    func put(_ r: Int, _ x: UnsafeBufferPointer<Float>) {
        precondition(x.count == width)
        lock.withLock {
            if values.isEmpty { values = [Float](repeating: 0, count: rows * width) }
            values.withUnsafeMutableBufferPointer { v in (v.baseAddress! + r * width).update(from: x.baseAddress!, count: width) }
            if !present[r] { present[r] = true; filled += 1 }
        }
    }

    /// Rows computed so far.
    public var count: Int { lock.withLock { filled } }
}

/// Known users' answers by (user, k), bounded in bytes: past `maxBytes` the least recently used
/// answers go first (a reload drops the whole cache with its model).
final class AnswerCache: @unchecked Sendable {
    private struct Key: Hashable { let user: Int, k: Int }
    private let lock = NSLock()
    private var lru = LRUList<Key, [Recommendation]>()
    private var hits = 0, misses = 0
    let maxBytes: Int

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// What an answer of `count` items holds in memory (its array and the cache's own entry).
    static func bytes(count: Int) -> Int { count * MemoryLayout<Recommendation>.stride + 96 }

    func get(user u: Int, k: Int) -> [Recommendation]? {
        guard maxBytes > 0 else { return nil }
        return lock.withLock {
            let hit = lru.get(Key(user: u, k: k))
            if hit == nil { misses += 1 } else { hits += 1 }
            return hit
        }
    }

    /// Lookups answered from the cache and not.
    var lookups: (hits: Int, misses: Int) { lock.withLock { (hits, misses) } }

    func put(user u: Int, k: Int, _ recs: [Recommendation]) {
        let cost = Self.bytes(count: recs.count)
        guard maxBytes > 0, cost <= maxBytes else { return }
        lock.withLock {
            lru.put(Key(user: u, k: k), recs, cost: cost)
            while lru.cost > maxBytes { lru.removeOldest() }
        }
    }

    var count: Int { lock.withLock { lru.count } }
    var bytes: Int { lock.withLock { lru.cost } }
}

/// A map that remembers the order its entries were last used in (a doubly linked list over an
/// array of nodes, free slots reused), with the summed cost of its entries. Not thread-safe.
struct LRUList<Key: Hashable, Value> {
    private struct Node { var key: Key; var value: Value?; var cost: Int; var newer = -1, older = -1 }
    private var nodes: [Node] = []
    private var free: [Int] = []
    private var index: [Key: Int] = [:]
    private var newest = -1, oldest = -1
    private(set) var cost = 0
    var count: Int { index.count }

    /// The value, now the most recently used; nil if absent.
    mutating func get(_ key: Key) -> Value? {
        guard let i = index[key] else { return nil }
        touch(i)
        return nodes[i].value
    }

    /// Adds or replaces the value of `key`, as the most recently used.
    mutating func put(_ key: Key, _ value: Value, cost c: Int) {
        if let i = index[key] {
            cost += c - nodes[i].cost
            nodes[i].value = value; nodes[i].cost = c
            touch(i)
            return
        }
        let node = Node(key: key, value: value, cost: c)
        let i: Int
        if let f = free.popLast() { nodes[f] = node; i = f } else { nodes.append(node); i = nodes.count - 1 }
        index[key] = i
        cost += c
        link(i)
    }

    /// Drops the least recently used entry (none when empty).
    mutating func removeOldest() {
        guard oldest >= 0 else { return }
        let i = oldest
        unlink(i)
        index[nodes[i].key] = nil
        cost -= nodes[i].cost
        nodes[i].value = nil
        free.append(i)
    }

    /// Keys from the most to the least recently used (for tests).
    var keysByRecency: [Key] {
        var out: [Key] = [], i = newest
        while i >= 0 { out.append(nodes[i].key); i = nodes[i].older }
        return out
    }

    private mutating func touch(_ i: Int) {
        guard i != newest else { return }
        unlink(i); link(i)
    }

    private mutating func link(_ i: Int) {
        nodes[i].older = newest; nodes[i].newer = -1
        if newest >= 0 { nodes[newest].newer = i }
        newest = i
        if oldest < 0 { oldest = i }
    }

    private mutating func unlink(_ i: Int) {
        let (n, o) = (nodes[i].newer, nodes[i].older)
        if n >= 0 { nodes[n].older = o } else { newest = o }
        if o >= 0 { nodes[o].newer = n } else { oldest = n }
        nodes[i].newer = -1; nodes[i].older = -1
    }
}
