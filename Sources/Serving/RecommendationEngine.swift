import Backbone
import CLLM4Rec
import Foundation
import RecData

/// Runs all model work of the server on one thread, in arrival order, and batches it.
///
/// The engine's buffers belong to the model and its matrix products already use every core, so
/// model work is serial. Recommendation requests that arrive together are answered by one batch:
/// a request waits at most `maxWait` for others, and a batch holds at most `maxBatch` requests
/// (1 turns batching off). In a batch, the new users' histories are folded in together (each Adam
/// step one forward and backward pass over all of them), then every prompt, known users' and new
/// users', is scored in one forward pass. Reviews run as single jobs on the same thread. Requests
/// waiting behind a long job are batched when it ends.
public final class RecommendationEngine: @unchecked Sendable {
    public struct Settings: Sendable {
        public var maxBatch = 32
        public var maxWait: Duration = .milliseconds(2)
        /// Known users' answers kept per model (0: no cache).
        public var cacheCapacity = 100_000
        public var foldIn = FoldInOptions()
        public init() {}
    }

    public let settings: Settings
    public let path: String
    private let queue = DispatchQueue(label: "cllm4rec.model", qos: .userInitiated)
    private let reloads = DispatchQueue(label: "cllm4rec.reload")
    private let lock = NSLock()
    private var model: ServedModel
    private var pending: [Pending] = []
    private var flushScheduled = false
    private var batchCounts: [Int: Int] = [:]

    private struct Pending {
        let model: ServedModel
        let request: RecommendationRequest
        /// A new user's request: `request.who` is filled in by the batch's fold-in.
        let foldIn: Bool
        let done: CheckedContinuation<[Recommendation], Never>
    }

    public init(path: String, settings: Settings) throws {
        self.path = path
        self.settings = settings
        model = try ServedModel(path: path, version: 1, cacheCapacity: settings.cacheCapacity)
    }

    /// The model new requests use.
    public var current: ServedModel { lock.withLock { model } }

    /// How many batches of each size were scored (for tests and the load benchmark).
    public var batchSizes: [Int: Int] { lock.withLock { batchCounts } }

    /// Loads the folder again, away from the model thread, and swaps it in whole; on failure the
    /// old model keeps serving and the error is thrown. Reloads run one at a time.
    @discardableResult
    public func reload() async throws -> ServedModel {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<ServedModel, any Error>) in
            reloads.async {
                do {
                    let next = try ServedModel(path: self.path, version: self.current.version + 1, cacheCapacity: self.settings.cacheCapacity)
                    self.lock.withLock { self.model = next }
                    c.resume(returning: next)
                } catch {
                    c.resume(throwing: error)
                }
            }
        }
    }

    /// Top items for a known user of `model`, batched with the requests that arrive within `maxWait`.
    public func recommend(_ request: RecommendationRequest, model: ServedModel) async -> [Recommendation] {
        await enqueue(request, foldIn: false, model: model)
    }

    /// Top items for a new user with `history` (item indices): folded in with the configured
    /// options and scored, batched with the requests that arrive within `maxWait`; the history and
    /// `exclude` are left out. Alone in its batch, the answer is `cllm4rec generate --history`'s.
    public func recommendForNewUser(history: [Int], k: Int, exclude: Set<Int>, model: ServedModel) async -> [Recommendation] {
        await enqueue(RecommendationRequest(who: .new(row: []), history: history, k: k, exclude: Set(history).union(exclude), seed: 0),
                      foldIn: true, model: model)
    }

    private func enqueue(_ request: RecommendationRequest, foldIn: Bool, model: ServedModel) async -> [Recommendation] {
        await withCheckedContinuation { (c: CheckedContinuation<[Recommendation], Never>) in
            let flushNow: Bool, schedule: Bool
            (flushNow, schedule) = lock.withLock {
                pending.append(Pending(model: model, request: request, foldIn: foldIn, done: c))
                if pending.count >= settings.maxBatch || settings.maxWait <= .zero {
                    flushScheduled = true
                    return (true, false)
                }
                if flushScheduled { return (false, false) }
                flushScheduled = true
                return (false, true)
            }
            if flushNow {
                queue.async { self.flush() }
            } else if schedule {
                queue.asyncAfter(deadline: .now() + .nanoseconds(Int(settings.maxWait.milliseconds * 1e6))) { self.flush() }
            }
        }
    }

    /// Scores up to `maxBatch` waiting requests, one forward pass per model among them.
    private func flush() {
        let (batch, more): ([Pending], Bool) = lock.withLock {
            let taken = Array(pending.prefix(settings.maxBatch))
            pending.removeFirst(taken.count)
            // What is left (more than a batch arrived) is scored right after this batch.
            flushScheduled = !pending.isEmpty
            if !taken.isEmpty { batchCounts[taken.count, default: 0] += 1 }
            return (taken, flushScheduled)
        }
        if more { queue.async { self.flush() } }
        guard !batch.isEmpty else { return }
        var groups: [ObjectIdentifier: [Pending]] = [:], order: [ObjectIdentifier] = []
        for p in batch {
            let id = ObjectIdentifier(p.model)
            if groups[id] == nil { order.append(id) }
            groups[id, default: []].append(p)
        }
        for id in order {
            let group = groups[id]!, rec = group[0].model.rec
            var requests = group.map(\.request)
            let newUsers = group.indices.filter { group[$0].foldIn }
            if !newUsers.isEmpty {
                let rows = rec.model.foldIn(histories: newUsers.map { requests[$0].history }, corpora: rec.corpora, options: settings.foldIn, seed: 0)
                for (i, row) in zip(newUsers, rows) { requests[i].who = .new(row: row) }
            }
            let answers = rec.model.recommend(requests, corpora: rec.corpora)
            for (p, a) in zip(group, answers) { p.done.resume(returning: a) }
        }
    }

    /// A review by user `u` of item `j`, generated on the model thread; each token is passed to
    /// `onToken` as it is chosen. Generation stops early once `options.isCancelled` says so.
    public func review(user u: Int, item j: Int, options: SamplingOptions, model: ServedModel,
                       onToken: @escaping @Sendable (Int) -> Void) async -> [Int] {
        await withCheckedContinuation { c in
            queue.async {
                let out = model.rec.model.review(user: u, item: j, tokenizer: model.rec.tokenizer, options: options, onToken: onToken)
                c.resume(returning: out)
            }
        }
    }
}
