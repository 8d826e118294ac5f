import Foundation
import Hummingbird

/// Request counts and latencies by route and status, kept for `GET /metrics` (Prometheus text
/// format 0.0.4). Routes are the API's paths with ids replaced (`/v1/users/{id}/recommendations`),
/// so that the number of series stays fixed.
final class ServerMetrics: @unchecked Sendable {
    /// Upper bounds of the latency histogram, in seconds.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    private struct Series: Hashable { let route: String, status: Int }
    private let lock = NSLock()
    private var counts: [Series: Int] = [:]
    private var histograms: [String: (buckets: [Int], sum: Double, count: Int)] = [:]

    /// The route label of a path.
    ///
    ///     ServerMetrics.route("/v1/users/196/recommendations")  // "/v1/users/{id}/recommendations"
    static func route(_ path: String) -> String {
        if Routes.allowedMethods(path) == nil { return "other" }
        return path.hasPrefix("/v1/users/") ? "/v1/users/{id}/recommendations" : path
    }

    func record(path: String, status: Int, seconds: Double) {
        let route = Self.route(path)
        lock.withLock {
            counts[Series(route: route, status: status), default: 0] += 1
            var h = histograms[route] ?? (Array(repeating: 0, count: Self.buckets.count), 0, 0)
            for (i, b) in Self.buckets.enumerated() where seconds <= b { h.buckets[i] += 1 }
            h.sum += seconds; h.count += 1
            histograms[route] = h
        }
    }

    /// The exposition text: these request series, then the engine's and connections' figures.
    func text(engine: RecommendationEngine, connections: ConnectionLimiter) -> String {
        var out = ""
        func line(_ s: String) { out += s + "\n" }
        let (c, h) = lock.withLock { (counts, histograms) }
        line("# HELP cllm4rec_http_requests_total HTTP requests answered, by route and status.")
        line("# TYPE cllm4rec_http_requests_total counter")
        for (k, v) in c.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
            line("cllm4rec_http_requests_total{route=\"\(k.route)\",status=\"\(k.status)\"} \(v)")
        }
        line("# HELP cllm4rec_http_request_duration_seconds Time to the response head, by route.")
        line("# TYPE cllm4rec_http_request_duration_seconds histogram")
        for (route, x) in h.sorted(by: { $0.key < $1.key }) {
            for (i, b) in Self.buckets.enumerated() {
                line("cllm4rec_http_request_duration_seconds_bucket{route=\"\(route)\",le=\"\(b)\"} \(x.buckets[i])")
            }
            line("cllm4rec_http_request_duration_seconds_bucket{route=\"\(route)\",le=\"+Inf\"} \(x.count)")
            line("cllm4rec_http_request_duration_seconds_sum{route=\"\(route)\"} \(x.sum)")
            line("cllm4rec_http_request_duration_seconds_count{route=\"\(route)\"} \(x.count)")
        }
        let m = engine.current
        let gauges: [(String, String, Int)] = [
            ("cllm4rec_queue_depth", "Recommendation requests waiting for the model.", engine.queueDepth),
            ("cllm4rec_queue_capacity", "Their bound (--max-queue).", engine.settings.maxQueue),
            ("cllm4rec_reviews_active", "Reviews being written or waiting.", engine.reviewsActive),
            ("cllm4rec_connections_open", "Open connections.", connections.openCount),
            ("cllm4rec_model_version", "1 at start, one more per reload.", m.version),
            ("cllm4rec_precomputed_users", "Known users whose head input is computed.", m.knownInputs.count),
        ]
        for (name, help, v) in gauges { line("# HELP \(name) \(help)"); line("# TYPE \(name) gauge"); line("\(name) \(v)") }
        func counter(_ name: String, _ help: String, _ label: String, _ values: [String: Int]) {
            line("# HELP \(name) \(help)"); line("# TYPE \(name) counter")
            for (k, v) in values.sorted(by: { $0.key < $1.key }) { line("\(name){\(label)=\"\(k)\"} \(v)") }
        }
        counter("cllm4rec_shed_total", "Requests refused or dropped before the model, by reason.", "reason", engine.droppedCounts)
        counter("cllm4rec_batches_total", "Forward passes over recommendation requests, by batch size.", "size",
                Dictionary(uniqueKeysWithValues: engine.batchSizes.map { ("\($0.key)", $0.value) }))
        counter("cllm4rec_reloads_total", "Reloads of the folder, by outcome.", "outcome", engine.reloadCounts)
        let (hits, misses) = m.cache.lookups
        counter("cllm4rec_answer_cache_lookups_total", "Known-user answer cache lookups of the current model.", "result", ["hit": hits, "miss": misses])
        let (evicted, refused) = connections.counts
        counter("cllm4rec_connections_closed_total", "Connections closed by --max-connections.", "why", ["evicted_idle": evicted, "refused_all_busy": refused])
        return out
    }
}

/// Records every request's route, status and time to the response head in `ServerMetrics`.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.record(path: request.uri.path, status: response.status.code, seconds: (ContinuousClock.now - start).milliseconds / 1000)
        return response
    }
}
