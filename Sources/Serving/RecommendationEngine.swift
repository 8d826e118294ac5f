import Backbone
import CLLM4Rec
import Foundation
import RecData

/// Why the engine did not answer a request: the server sheds what it cannot carry instead of
/// queueing it forever.
public enum EngineRefusal: Error, Sendable, Equatable {
    /// `bound` requests of this kind wait already (`Settings.maxQueue`).
    case queueFull(kind: String, bound: Int)
    /// `bound` reviews are being written or wait (`Settings.maxReviews`).
    case reviewsFull(bound: Int)
    /// The request waited longer than `Settings.requestTimeout` (in seconds) before its batch.
    case deadlineExceeded(seconds: Double)
    /// The client closed its connection before the request reached the model: not computed.
    case clientGone
}

/// Runs all model work of the server on one thread, in arrival order, and batches it.
///
/// The engine's buffers belong to the model and its matrix products already use every core, so
/// model work is serial. Recommendation requests that arrive together are answered by one batch:
/// a request waits at most `maxWait` for others, and a batch holds at most `maxBatch` requests
/// (1 turns batching off). In a batch, the new users' histories are folded in together (each Adam
/// step one forward and backward pass over all of them), then every prompt, known users' and new
/// users', is scored in one forward pass.
///
/// Load is bounded: at most `maxQueue` recommendation requests wait (more are refused at once), a
/// request that waited `requestTimeout` or whose client left is dropped before it costs a forward
/// pass, and at most `maxReviews` reviews are written or wait. A review is written token by token
/// on the model thread, and the recommendations that arrive meanwhile are scored between two of
/// its tokens: a review holds them back by one decoding step, not by the whole review.
public final class RecommendationEngine: @unchecked Sendable {
    public struct Settings: Sendable {
        public var maxBatch = 32
        public var maxWait: Duration = .milliseconds(2)
        /// Known users' answers kept per model, in bytes of answers (0: no cache).
        public var cacheBytes = 64 << 20
        /// Most recommendation requests waiting for the model; more are refused (503).
        public var maxQueue = 256
        /// Longest a recommendation request waits for its batch before it is dropped (503).
        public var requestTimeout: Duration = .seconds(10)
        /// Most reviews being written or waiting; more are refused (503).
        public var maxReviews = 4
        /// Compute every known user's head input in the background after each load (in batches of
        /// `maxBatch`, between requests), so that known users are answered without a forward pass.
        public var precomputeUsers = true
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
    private var reviewsInFlight = 0
    private var dropped: [String: Int] = [:]
    private var reloadOutcomes: [String: Int] = [:]

    /// Reloads by outcome (`ok`, `failed`).
    public var reloadCounts: [String: Int] { lock.withLock { reloadOutcomes } }

    private struct Pending {
        let model: ServedModel
        let request: RecommendationRequest
        /// A new user's request: `request.who` is filled in by the batch's fold-in.
        let foldIn: Bool
        /// A known user's own prompt (training history, seed 0): its head input is kept.
        let remember: Int?
        let deadline: ContinuousClock.Instant
        /// False once the client has gone.
        let isWanted: @Sendable () -> Bool
        let done: CheckedContinuation<Result<[Recommendation], EngineRefusal>, Never>
    }

    public init(path: String, settings: Settings) throws {
        self.path = path
        self.settings = settings
        model = try ServedModel(path: path, version: 1, cacheBytes: settings.cacheBytes)
        if settings.precomputeUsers { precompute(model) }
    }

    /// Fills `model.knownInputs` for every known user, one batch of `maxBatch` users per job on the
    /// model thread, so that requests arriving meanwhile wait for one batch at most. Stops when the
    /// model is replaced by a reload.
    private func precompute(_ model: ServedModel, from start: Int = 0) {
        queue.async {
            guard self.current === model else { return }
            let d = model.rec.dataset, n = d.users.count
            var users: [Int] = []
            var u = start
            while u < n && users.count < self.settings.maxBatch {
                if !model.knownInputs.contains(u) { users.append(u) }
                u += 1
            }
            if !users.isEmpty {
                let requests = users.map { RecommendationRequest(who: .known(user: $0), history: d.train[$0], k: 1, exclude: [], seed: 0) }
                let inputs = model.rec.model.recommendWithHeadInputs(requests, corpora: model.rec.corpora).headInputs
                self.keep(inputs, rows: Array(users.enumerated()), model: model)
            }
            if u < n { self.precompute(model, from: u) }
        }
    }

    /// Keeps known users' head inputs: row `b` of `inputs` ([prompts, width]) is user `u`'s, for
    /// each `(b, u)` of `rows`.
    private func keep(_ inputs: [Float], rows: [(offset: Int, element: Int)], model: ServedModel) {
        let c = model.knownInputs.width
        inputs.withUnsafeBufferPointer { x in
            for (b, u) in rows { model.knownInputs.put(u, UnsafeBufferPointer(rebasing: x[(b * c)..<((b + 1) * c)])) }
        }
    }

    /// The model new requests use.
    public var current: ServedModel { lock.withLock { model } }

    /// How many batches of each size were scored (for tests and the load benchmark).
    public var batchSizes: [Int: Int] { lock.withLock { batchCounts } }

    /// Recommendation requests waiting for the model.
    public var queueDepth: Int { lock.withLock { pending.count } }

    /// Reviews being written or waiting.
    public var reviewsActive: Int { lock.withLock { reviewsInFlight } }

    /// Whether a new recommendation request would be taken (`/readyz`).
    public var isReady: Bool { lock.withLock { pending.count < settings.maxQueue } }

    /// Requests refused or dropped before reaching the model, by reason (`queue_full`,
    /// `reviews_full`, `deadline`, `client_gone`).
    public var droppedCounts: [String: Int] { lock.withLock { dropped } }

    /// Runs `work` on the model thread, ahead of nothing and behind everything queued (tests use it
    /// to hold the model busy).
    public func onModelThread(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }

    /// Loads the folder again, away from the model thread, and swaps it in whole; on failure the
    /// old model keeps serving and the error is thrown. Reloads run one at a time.
    @discardableResult
    public func reload() async throws -> ServedModel {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<ServedModel, any Error>) in
            reloads.async {
                do {
                    let next = try ServedModel(path: self.path, version: self.current.version + 1, cacheBytes: self.settings.cacheBytes)
                    self.lock.withLock { self.model = next; self.reloadOutcomes["ok", default: 0] += 1 }
                    if self.settings.precomputeUsers { self.precompute(next) }
                    c.resume(returning: next)
                } catch {
                    self.lock.withLock { self.reloadOutcomes["failed", default: 0] += 1 }
                    c.resume(throwing: error)
                }
            }
        }
    }

    /// Top items for a known user of `model`, batched with the requests that arrive within `maxWait`.
    public func recommend(_ request: RecommendationRequest, model: ServedModel,
                          isWanted: @escaping @Sendable () -> Bool = { true }) async throws(EngineRefusal) -> [Recommendation] {
        try await enqueue(request, foldIn: false, remember: nil, model: model, isWanted: isWanted)
    }

    /// Top `k` items for known user `u` with the prompt of `cllm4rec generate --user` (the training
    /// history shuffled with seed 0), everything the user has seen left out. Once the user's head
    /// input is known (precomputed, or kept from an earlier request) the answer is one product with
    /// the item table on the caller's thread: no queue, no forward pass.
    public func recommendKnownUser(_ u: Int, k: Int, model: ServedModel,
                                   isWanted: @escaping @Sendable () -> Bool = { true }) async throws(EngineRefusal) -> [Recommendation] {
        if let x = model.knownInputs.get(u) {
            return x.withUnsafeBufferPointer { model.rec.model.recommend(headInput: $0, k: k, exclude: model.seen(u)) }
        }
        let request = RecommendationRequest(who: .known(user: u), history: model.rec.dataset.train[u], k: k, exclude: model.seen(u), seed: 0)
        return try await enqueue(request, foldIn: false, remember: u, model: model, isWanted: isWanted)
    }

    /// Top items for a new user with `history` (item indices): folded in with the configured
    /// options and scored, batched with the requests that arrive within `maxWait`; the history and
    /// `exclude` are left out. Alone in its batch, the answer is `cllm4rec generate --history`'s.
    public func recommendForNewUser(history: [Int], k: Int, exclude: Set<Int>, model: ServedModel,
                                    isWanted: @escaping @Sendable () -> Bool = { true }) async throws(EngineRefusal) -> [Recommendation] {
        try await enqueue(RecommendationRequest(who: .new(row: []), history: history, k: k, exclude: Set(history).union(exclude), seed: 0),
                          foldIn: true, remember: nil, model: model, isWanted: isWanted)
    }

    private func enqueue(_ request: RecommendationRequest, foldIn: Bool, remember: Int?, model: ServedModel,
                         isWanted: @escaping @Sendable () -> Bool) async throws(EngineRefusal) -> [Recommendation] {
        let deadline = ContinuousClock.now + settings.requestTimeout
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<[Recommendation], EngineRefusal>, Never>) in
            let flushNow: Bool, schedule: Bool, refused: Bool
            (flushNow, schedule, refused) = lock.withLock {
                guard pending.count < settings.maxQueue else { dropped["queue_full", default: 0] += 1; return (false, false, true) }
                pending.append(Pending(model: model, request: request, foldIn: foldIn, remember: remember, deadline: deadline, isWanted: isWanted, done: c))
                if pending.count >= settings.maxBatch || settings.maxWait <= .zero {
                    flushScheduled = true
                    return (true, false, false)
                }
                if flushScheduled { return (false, false, false) }
                flushScheduled = true
                return (false, true, false)
            }
            if refused {
                c.resume(returning: .failure(.queueFull(kind: "recommendation requests", bound: settings.maxQueue)))
            } else if flushNow {
                queue.async { self.flush() }
            } else if schedule {
                queue.asyncAfter(deadline: .now() + .nanoseconds(Int(settings.maxWait.milliseconds * 1e6))) { self.flush() }
            }
        }
        return try result.get()
    }

    /// Scores up to `maxBatch` waiting requests, one forward pass per model among them.
    private func flush() {
        let (taken, more): ([Pending], Bool) = lock.withLock {
            let taken = Array(pending.prefix(settings.maxBatch))
            pending.removeFirst(taken.count)
            // What is left (more than a batch arrived) is scored right after this batch.
            flushScheduled = !pending.isEmpty
            return (taken, flushScheduled)
        }
        if more { queue.async { self.flush() } }
        // Work nobody waits for any more costs no forward pass.
        let now = ContinuousClock.now
        var batch: [Pending] = []
        for p in taken {
            if now > p.deadline {
                lock.withLock { dropped["deadline", default: 0] += 1 }
                let seconds = Double(settings.requestTimeout.components.seconds) + Double(settings.requestTimeout.components.attoseconds) / 1e18
                p.done.resume(returning: .failure(.deadlineExceeded(seconds: seconds)))
            } else if !p.isWanted() {
                lock.withLock { dropped["client_gone", default: 0] += 1 }
                p.done.resume(returning: .failure(.clientGone))
            } else {
                batch.append(p)
            }
        }
        guard !batch.isEmpty else { return }
        lock.withLock { batchCounts[batch.count, default: 0] += 1 }
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
            let (answers, inputs) = rec.model.recommendWithHeadInputs(requests, corpora: rec.corpora)
            keep(inputs, rows: group.enumerated().compactMap { b, p in p.remember.map { (b, $0) } }, model: group[0].model)
            for (p, a) in zip(group, answers) { p.done.resume(returning: .success(a)) }
        }
    }

    /// A place among the `maxReviews` reviews being written or waiting, taken before the server
    /// answers 200 (so that a refusal can still be a 503) and given back when it is released: after
    /// its review, or unused.
    public final class ReviewSlot: @unchecked Sendable {
        private let engine: RecommendationEngine
        fileprivate init(_ engine: RecommendationEngine) { self.engine = engine }
        deinit { engine.lock.withLock { engine.reviewsInFlight -= 1 } }
    }

    /// A review slot, or `.reviewsFull` when `maxReviews` are taken.
    public func admitReview() throws(EngineRefusal) -> ReviewSlot {
        let taken = lock.withLock {
            guard reviewsInFlight < settings.maxReviews else { dropped["reviews_full", default: 0] += 1; return false }
            reviewsInFlight += 1
            return true
        }
        guard taken else { throw .reviewsFull(bound: settings.maxReviews) }
        return ReviewSlot(self)
    }

    /// A review by user `u` of item `j`, generated on the model thread; each token is passed to
    /// `onToken` as it is chosen, and the recommendation requests waiting then are scored before the
    /// next token. Generation stops early once `options.isCancelled` says so.
    public func review(_ slot: ReviewSlot, user u: Int, item j: Int, options: SamplingOptions, model: ServedModel,
                       onToken: @escaping @Sendable (Int) -> Void) async -> [Int] {
        await withCheckedContinuation { c in
            queue.async {
                let out = withExtendedLifetime(slot) {
                    model.rec.model.review(user: u, item: j, tokenizer: model.rec.tokenizer, options: options) { token in
                        onToken(token)
                        // Between two decoding steps: the generation's state is its own KV cache, and
                        // the next step recomputes everything else, so a batch can run here.
                        if self.queueDepth > 0 { self.flush() }
                    }
                }
                c.resume(returning: out)
            }
        }
    }
}
