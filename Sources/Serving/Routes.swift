import Backbone
import CLLM4Rec
import Foundation
import Hummingbird
import Logging
import NIOCore
import RecData
import Tokenizer

/// Limits on what a client may ask; every value outside them is a 400 naming the field.
public struct RequestLimits: Sendable {
    /// Largest request body, in bytes.
    public var maxBodyBytes = 64 * 1024
    /// What is read and thrown away of a body the server answered early (over `maxBodyBytes`, or
    /// refused before it was read) so that the client, still sending, gets the answer; past it the
    /// connection is closed.
    public var drainBytes = 64 << 20
    /// Most items in a fold-in history (the prompt must also fit the backbone's context).
    public var maxHistory = 500
    /// Most items in one answer. Every unseen item a user is shown reveals, by its absence, what
    /// the user has seen: with k near the catalog's size an answer is the complement of the user's
    /// history, so k stays well below it.
    public var maxK = 100
    /// Most tokens of one review.
    public var maxNewTokens = 512
    public init() {}
}

/// The JSON API (described in `openapi.json`, served at `/openapi.json`).
struct Routes: Sendable {
    let engine: RecommendationEngine
    let limits: RequestLimits
    let version: String
    /// Whether the client of a connection has gone (its work is then dropped).
    let clientLeft: @Sendable (any Channel) -> Bool

    /// The methods each path answers (for 405 and its Allow header).
    static func allowedMethods(_ path: String) -> [String]? {
        switch path {
        case "/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/info": return ["GET"]
        case "/v1/recommendations", "/v1/reviews": return ["POST"]
        default:
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 5, parts[1] == "v1", parts[2] == "users", !parts[3].isEmpty, parts[4] == "recommendations" { return ["GET"] }
            return nil
        }
    }

    func add(to router: Router<ServingContext>) {
        router.get("/healthz") { _, _ in JSON.object(["status": .string("ok")]).response() }
        router.get("/readyz") { _, _ in ready() }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        router.get("/v1/info") { _, _ in info() }
        router.get("/v1/users/:id/recommendations") { request, context in try await knownUser(request, context) }
        router.post("/v1/recommendations") { request, context in try await newUser(request, context) }
        router.post("/v1/reviews") { request, context in try await review(request, context) }
    }

    /// `GET /readyz`: 200 while a recommendation request would be taken (the model is loaded and
    /// the queue below its bound), 503 otherwise; either way the queue's figures.
    func ready() -> Response {
        let ready = engine.isReady, s = engine.settings
        return JSON.object([
            "status": .string(ready ? "ready" : "overloaded"), "model_version": .int(engine.current.version),
            "queue": .int(engine.queueDepth), "max_queue": .int(s.maxQueue),
            "reviews": .int(engine.reviewsActive), "max_reviews": .int(s.maxReviews),
        ]).response(status: ready ? .ok : .serviceUnavailable)
    }

    func info() -> Response {
        let m = engine.current, rec = m.rec, b = rec.model.backbone
        let s = engine.settings
        return JSON.object([
            "version": .string(version),
            "model": .object([
                "name": .string(URL(fileURLWithPath: m.path).lastPathComponent), "version": .int(m.version), "loaded_at": .string(ISO8601DateFormatter().string(from: m.loadedAt)),
                "finetuned": .bool(m.finetuned),
            ]),
            "backbone": .object([
                "architecture": .string(b.architecture), "layers": .int(b.layerCount), "width": .int(b.width),
                "vocabulary": .int(b.vocabSize), "context": .int(b.contextLength), "name": .string(URL(fileURLWithPath: rec.folder.backbonePath(rec.manifest)).lastPathComponent),
                "adapter": .bool(b.adapter != nil),
            ]),
            "users": .int(rec.dataset.users.count), "items": .int(rec.dataset.items.count),
            "precomputed_users": .int(m.knownInputs.count),
            "training": .object(m.training),
            "serving": .object([
                "max_batch": .int(s.maxBatch), "max_wait_ms": .double(s.maxWait.milliseconds),
                "cache_bytes": .int(s.cacheBytes), "max_queue": .int(s.maxQueue), "max_reviews": .int(s.maxReviews),
                "request_timeout_s": .double(s.requestTimeout.milliseconds / 1000), "precompute_users": .bool(s.precomputeUsers), "fold_in_steps": .int(s.foldIn.steps), "fold_in_lr": .double(Double(s.foldIn.learningRate)),
                "max_history": .int(limits.maxHistory), "max_k": .int(limits.maxK), "max_body_bytes": .int(limits.maxBodyBytes),
            ]),
        ]).response()
    }

    func items(_ recs: [Recommendation], _ m: ServedModel) -> JSON {
        .array(recs.map { r in
            .object(["id": .string(m.rec.dataset.items[r.item]), "title": .string(m.title(r.item)), "score": .float(r.score)])
        })
    }

    func k(_ request: Request) throws(APIError) -> Int {
        guard let raw = request.uri.queryParameters["k"] else { return 20 }
        guard let k = Int(raw) else { throw APIError.badField("k", "expected an integer, found \"\(raw)\"") }
        guard (1...limits.maxK).contains(k) else { throw APIError.badField("k", "\(k) is out of range 1...\(limits.maxK)") }
        return k
    }

    /// `GET /v1/users/{id}/recommendations?k=20`: the user's training items as the prompt (shuffled
    /// with seed 0, as `cllm4rec generate --user`), everything the user has seen left out.
    func knownUser(_ request: Request, _ context: ServingContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let m = engine.current
        guard let u = m.user(id) else {
            throw APIError(.notFound, "unknown_user", "unknown user \"\(id)\" (ids as in the dataset)", field: "id")
        }
        let k = try k(request)
        let recs: [Recommendation]
        if let cached = m.cache.get(user: u, k: k) {
            recs = cached
        } else {
            let channel = context.channel
            do {
                recs = try await engine.recommendKnownUser(u, k: k, model: m, isWanted: { [clientLeft] in !clientLeft(channel) })
            } catch { throw APIError(error) }
            m.cache.put(user: u, k: k, recs)
        }
        return JSON.object(["user": .string(id), "items": items(recs, m)]).response()
    }

    /// The body of a POST as bytes: JSON content type and size checked.
    func body(_ request: Request) async throws -> [UInt8] {
        let type = request.headers[.contentType] ?? ""
        guard type.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "application/json" else {
            throw APIError(.unsupportedMediaType, "bad_content_type", "the body must be application/json, not \"\(type)\"", field: "Content-Type")
        }
        do {
            let buffer = try await request.body.collect(upTo: limits.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the body is over \(limits.maxBodyBytes) bytes")
        }
    }

    /// Item indices of ids in `field` (each must be an item of the model).
    func itemIndices(_ ids: [String], field: String, _ m: ServedModel) throws(APIError) -> [Int] {
        var out: [Int] = []
        for (k, id) in ids.enumerated() {
            guard let j = m.item(id) else {
                throw APIError(.notFound, "unknown_item", "\(field)[\(k)]: unknown item \"\(id)\"", field: "\(field)[\(k)]")
            }
            out.append(j)
        }
        return out
    }

    /// `POST /v1/recommendations {"history": [...], "k": 20, "exclude": [...]}`: a user the model
    /// never saw, folded in from the history (as `cllm4rec generate --history`); the history and
    /// `exclude` are left out of the answer.
    func newUser(_ request: Request, _ context: ServingContext) async throws -> Response {
        let body = try RequestBody(try await body(request), allowed: ["history", "k", "exclude"])
        let m = engine.current
        guard let ids = try body.ids("history") else { throw APIError.badField("history", "required") }
        guard !ids.isEmpty else { throw APIError.badField("history", "empty: give at least one item") }
        guard ids.count <= limits.maxHistory else { throw APIError.badField("history", "\(ids.count) items; at most \(limits.maxHistory)") }
        let history = try itemIndices(ids, field: "history", m)
        let exclude = try itemIndices(try body.ids("exclude") ?? [], field: "exclude", m)
        let k = try body.int("k", default: 20, in: 1...limits.maxK)
        let rec = m.rec, promptLength = rec.corpora.finetunePrompt(userToken: rec.model.firstUser, items: history.map { rec.model.firstItem + $0 }).count
        guard promptLength <= rec.model.backbone.contextLength else {
            throw APIError.badField("history", "\(ids.count) items make a prompt of \(promptLength) tokens; the model's context is \(rec.model.backbone.contextLength)")
        }
        let channel = context.channel, recs: [Recommendation]
        do {
            recs = try await engine.recommendForNewUser(history: history, k: k, exclude: Set(exclude), model: m, isWanted: { [clientLeft] in !clientLeft(channel) })
        } catch { throw APIError(error) }
        return JSON.object(["items": items(recs, m)]).response()
    }

    /// `POST /v1/reviews {"user", "item", "max_new_tokens", "temperature", "top_k", "top_p",
    /// "repetition_penalty", "seed"}`: the review streamed as server-sent events, one `token` event
    /// per token (`{"token": id, "text": "..."}`, text holding only whole characters) and a last
    /// `done` event with the whole text. Sampling as `cllm4rec generate --review`, same defaults.
    func review(_ request: Request, _ context: ServingContext) async throws -> Response {
        let body = try RequestBody(try await body(request),
                                   allowed: ["user", "item", "max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed"])
        let m = engine.current, rec = m.rec
        let userId = try body.id("user"), itemId = try body.id("item")
        guard let u = m.user(userId) else { throw APIError(.notFound, "unknown_user", "user: unknown user \"\(userId)\"", field: "user") }
        guard let j = m.item(itemId) else { throw APIError(.notFound, "unknown_item", "item: unknown item \"\(itemId)\"", field: "item") }
        let maxNew = try body.int("max_new_tokens", default: 50, in: 1...limits.maxNewTokens)
        let base = rec.tokenizer.base
        let promptLength = rec.tokenizer.encode(PromptTemplates.review(user: u, item: j)).count
        let cancelled = CancelFlag()
        var sampling = SamplingOptions(
            temperature: try body.float("temperature", default: 1, 0, 100), topK: try body.int("top_k", default: 0, in: 0...base.count),
            topP: try body.float("top_p", default: 1, 1e-6, 1),
            repetitionPenalty: try body.float("repetition_penalty", default: 1, 1e-6, 100),
            seed: try body.uint64("seed", default: 0),
            maxNewTokens: min(maxNew, rec.model.backbone.contextLength - promptLength), stopTokens: [base.endOfTextId])
        let channel = context.channel
        sampling.isCancelled = { [clientLeft] in cancelled.isSet || clientLeft(channel) }
        // The slot is taken before the 200, so that a full server can still answer 503.
        let slot: RecommendationEngine.ReviewSlot
        do { slot = try engine.admitReview() } catch { throw APIError(error) }
        let engine = self.engine, logger = context.logger, options = sampling
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (stream, continuation) = AsyncStream<Int>.makeStream()
            let generation = Task {
                let out = await engine.review(slot, user: u, item: j, options: options, model: m) { continuation.yield($0) }
                continuation.finish()
                return out
            }
            var text = UTF8Pieces(tokenizer: base)
            var count = 0
            do {
                for await token in stream {
                    count += 1
                    let piece = text.add(token)
                    try await writer.write(ByteBuffer(string: "event: token\ndata: " + JSON.object(["token": .int(token), "text": .string(piece)]).text + "\n\n"))
                }
                let out = await generation.value
                let reason = out.last == base.endOfTextId ? "end_of_text" : "max_new_tokens"
                try await writer.write(ByteBuffer(string: "event: done\ndata: " + JSON.object([
                    "text": .string(text.all), "tokens": .int(count), "stop": .string(reason),
                ]).text + "\n\n"))
                try await writer.finish(nil)
            } catch {
                // The client left: stop generating at the next token.
                cancelled.set()
                logger.info("review stream of user \(userId), item \(itemId) closed by the client after \(count) tokens")
                throw error
            }
        })
    }
}

/// A flag set once from any thread.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Generated tokens turned into text piece by piece, each piece whole UTF-8 characters (one
/// character may span several tokens); the end-of-text token adds nothing.
struct UTF8Pieces {
    let tokenizer: BPETokenizer
    private var pending: [UInt8] = []
    private(set) var bytes: [UInt8] = []

    init(tokenizer: BPETokenizer) { self.tokenizer = tokenizer }

    mutating func add(_ token: Int) -> String {
        guard token != tokenizer.endOfTextId, token < tokenizer.count else { return "" }
        pending += tokenizer.tokenBytes[token]
        bytes += tokenizer.tokenBytes[token]
        let n = completeUTF8Prefix(pending)
        defer { pending.removeFirst(n) }
        return String(decoding: pending[..<n], as: UTF8.self)
    }

    /// Everything so far as text (an unfinished character at the end becomes U+FFFD).
    var all: String { String(decoding: bytes, as: UTF8.self) }
}
