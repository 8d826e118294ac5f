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

    public init(path: String, version: Int, cacheCapacity: Int) throws {
        let rec = try LoadedRecommender(path: path)
        finetuned = rec.model.embeddings.has(.recommendation)
        if !finetuned { rec.model.embeddings.copy(.collaborative, to: .recommendation) }
        self.rec = rec
        self.path = path
        self.version = version
        loadedAt = Date()
        userIndex = Dictionary(rec.dataset.users.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        itemIndex = Dictionary(rec.dataset.items.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        cache = AnswerCache(capacity: cacheCapacity)
        var training: [String: JSON] = [:]
        for (key, file) in [("pretrain", "training-pretrain.json"), ("finetune", "training-finetune.json"), ("evaluation_test", "evaluation-test.json")] {
            if let data = FileManager.default.contents(atPath: rec.folder.file(file)), let v = try? JSONParser.parse(Array(data)) {
                training[key] = JSON(v)
            }
        }
        self.training = training
    }

    public func user(_ id: String) -> Int? { userIndex[id] }
    public func item(_ id: String) -> Int? { itemIndex[id] }

    /// Every item the user interacted with (training, validation and test): never recommended back.
    public func seen(_ u: Int) -> Set<Int> {
        let d = rec.dataset
        return Set(d.train[u] + d.validation[u] + d.test[u])
    }

    /// The item's text (title and attributes as in the dataset), or "" when it has none.
    public func title(_ j: Int) -> String { rec.dataset.itemText[j] ?? "" }
}

/// Known users' answers by (user, k), bounded: when full it starts again empty (answers are cheap
/// to recompute, and a reload drops the whole cache with its model).
final class AnswerCache: @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [Int: [Recommendation]] = [:]
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    private func key(_ u: Int, _ k: Int) -> Int { u &* 4096 &+ k }

    func get(user u: Int, k: Int) -> [Recommendation]? {
        guard capacity > 0 else { return nil }
        return lock.withLock { answers[key(u, k)] }
    }

    func put(user u: Int, k: Int, _ recs: [Recommendation]) {
        guard capacity > 0 else { return }
        lock.withLock {
            if answers.count >= capacity { answers.removeAll(keepingCapacity: true) }
            answers[key(u, k)] = recs
        }
    }

    var count: Int { lock.withLock { answers.count } }
}
