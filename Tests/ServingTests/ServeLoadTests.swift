import Backbone
import CLLM4Rec
import Foundation
@testable import Serving
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A raw loopback connection the test drives by hand (send, read, see whether the server closed).
final class RawConnection {
    let fd: Int32

    init?(port: Int, timeout: Double = 8) {
        guard let fd = connectLoopback(port: port, timeout: timeout) else { return nil }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads until the server closes or the timeout: what came, and whether the server closed.
    func readToEnd() -> (text: String, closed: Bool, seconds: Double) {
        let start = Date()
        var received: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno == ECONNRESET) { return (String(decoding: received, as: UTF8.self), true, Date().timeIntervalSince(start)) }
            if n < 0 { return (String(decoding: received, as: UTF8.self), false, Date().timeIntervalSince(start)) }
            received += buffer[0..<n]
        }
    }

    /// Whether the server closes the connection within `seconds` (what it sends meanwhile is dropped).
    func closes(within seconds: Double) -> Bool {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            return n == 0 || errno == ECONNRESET
        }
    }

    /// Reads until `marker` arrives (or the server closes, or the timeout).
    func read(until marker: String) -> String {
        var received: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 1 << 14)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

/// Holds the engine's model thread busy until `release()`, so that tests can fill its queue.
final class ModelThreadGate: @unchecked Sendable {
    private let gate = DispatchSemaphore(value: 0)
    private let entered = DispatchSemaphore(value: 0)

    init(_ engine: RecommendationEngine) {
        engine.onModelThread { [gate, entered] in entered.signal(); gate.wait() }
        entered.wait()
    }

    func release() { gate.signal() }
}

/// `cllm4rec serve` of the tiny recommender as its own process on a free port, its output in a file.
struct ServeProcess {
    let process = Process()
    let port: Int
    /// The output so far.
    let log: @Sendable () -> String

    init(_ test: XCTestCase, _ extra: [String]) throws {
        let path = temporaryFolder(test, "serve-log") + "/out"
        FileManager.default.createFile(atPath: path, contents: nil)
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["serve", TinyRecommender.folder, "--port", "0"] + extra
        process.standardOutput = FileHandle(forWritingAtPath: path)
        process.standardError = FileHandle(forWritingAtPath: path)
        try process.run()
        let read: @Sendable () -> String = { String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        log = read
        _ = waitUntil(30) { read().contains("listening on") }
        guard let r = read().range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(read()[r].split(separator: ":").last!) else {
            process.terminate()
            XCTFail("no listening line:\n\(read())")
            throw CocoaError(.fileReadUnknown)
        }
        self.port = port
    }

    /// The output once it holds `text` (or after 30 s).
    @discardableResult
    func waitFor(_ text: String) -> String {
        _ = waitUntil(30) { log().contains(text) }
        return log()
    }
}

/// Polls `condition` every 10 ms for up to `seconds`, blocking the thread (for code on the model thread).
func waitUntil(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end { if condition() { return true }; Thread.sleep(forTimeInterval: 0.01) }
    return condition()
}

/// Polls `condition` every 10 ms for up to `seconds`, suspending.
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end { if condition() { return true }; try? await Task.sleep(for: .milliseconds(10)) }
    return condition()
}

/// Load the server cannot carry is shed (503 with Retry-After), work nobody waits for is not
/// computed, reviews do not hold recommendations back, and the connection-level limits hold.
final class ServeLoadTests: XCTestCase {
    var folder: String { TinyRecommender.folder }

    func testAFullQueueIsRefusedAtOnceAndReadinessSaysSo() async throws {
        let s = try await ServerHandle(path: folder) { $0.engine.cacheBytes = 0; $0.engine.precomputeUsers = false; $0.engine.maxQueue = 2; $0.engine.maxWait = .zero }
        let ready = try await s.call("GET", "/readyz")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.json["status"] as? String, "ready")
        let gate = ModelThreadGate(s.server.engine)
        let waiting = (0..<2).map { i in Task { try await s.call("GET", "/v1/users/\(100 + i)/recommendations?k=3") } }
        let settled1 = await eventually { s.server.engine.queueDepth == 2 }
        XCTAssertTrue(settled1, "two requests wait for the busy model")
        let full = try await s.call("GET", "/v1/users/105/recommendations?k=3")
        XCTAssertEqual(full.status, 503)
        XCTAssertEqual(full.error.code, "overloaded")
        XCTAssertEqual(full.headers["retry-after"], "1")
        let newUser = try await s.call("POST", "/v1/recommendations", body: #"{"history": ["203"]}"#)
        XCTAssertEqual(newUser.status, 503, "new users share the bound")
        let notReady = try await s.call("GET", "/readyz")
        XCTAssertEqual(notReady.status, 503)
        XCTAssertEqual(notReady.json["queue"] as? Int, 2)
        XCTAssertEqual(notReady.json["max_queue"] as? Int, 2)
        let alive = try await s.call("GET", "/healthz")
        XCTAssertEqual(alive.status, 200, "liveness does not depend on the queue")
        gate.release()
        for t in waiting {
            let r = try await t.value
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.items.count, 3)
        }
        let readyAgain = try await s.call("GET", "/readyz")
        XCTAssertEqual(readyAgain.status, 200)
        await s.stop()
    }

    func testARequestPastItsDeadlineIsDroppedWithoutAForwardPass() async throws {
        let s = try await ServerHandle(path: folder) { $0.engine.cacheBytes = 0; $0.engine.precomputeUsers = false; $0.engine.requestTimeout = .milliseconds(200); $0.engine.maxWait = .zero }
        let gate = ModelThreadGate(s.server.engine)
        let late = Task { try await s.call("GET", "/v1/users/100/recommendations?k=3") }
        let settled2 = await eventually { s.server.engine.queueDepth == 1 }
        XCTAssertTrue(settled2)
        try await Task.sleep(for: .milliseconds(400))
        gate.release()
        let r = try await late.value
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.error.code, "deadline_exceeded")
        XCTAssertEqual(r.headers["retry-after"], "1")
        XCTAssertEqual(s.server.engine.droppedCounts["deadline"], 1)
        XCTAssertEqual(s.server.engine.batchSizes, [:], "no forward pass was spent on it")
        let inTime = try await s.call("GET", "/v1/users/100/recommendations?k=3")
        XCTAssertEqual(inTime.status, 200)
        await s.stop()
    }

    func testARequestWhoseClientLeftIsNotComputed() async throws {
        let s = try await ServerHandle(path: folder) { $0.engine.cacheBytes = 0; $0.engine.precomputeUsers = false; $0.engine.maxWait = .zero }
        let gate = ModelThreadGate(s.server.engine)
        var c: RawConnection? = RawConnection(port: s.port)
        XCTAssertNotNil(c)
        c?.send("GET /v1/users/100/recommendations?k=3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let settled3 = await eventually { s.server.engine.queueDepth == 1 }
        XCTAssertTrue(settled3)
        c = nil  // the client leaves
        try await Task.sleep(for: .milliseconds(300))  // the server sees the connection close
        gate.release()
        let settled4 = await eventually { s.server.engine.droppedCounts["client_gone"] == 1 }
        XCTAssertTrue(settled4, "\(s.server.engine.droppedCounts)")
        XCTAssertEqual(s.server.engine.batchSizes, [:], "no forward pass was spent on it")
        await s.stop()
    }

    func testRecommendationsAreScoredBetweenAReviewsTokens() async throws {
        let s = try await ServerHandle(path: folder) { $0.engine.cacheBytes = 0; $0.engine.precomputeUsers = false; $0.engine.maxWait = .zero }
        let engine = s.server.engine, m = engine.current
        let answered = Flag()
        var options = SamplingOptions(temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 5, maxNewTokens: 12, stopTokens: [])
        options.isCancelled = nil
        let tokens = TokenLog()
        let slot = try engine.admitReview()
        let out = await engine.review(slot, user: 0, item: 3, options: options, model: m) { _ in
            // By the third token, the answer (scored after the first) has reached its caller.
            if tokens.count == 2 { _ = waitUntil(5) { answered.isSet } }
            let n = tokens.add(answered.isSet)
            if n == 1 {
                // A recommendation arrives while the review is being written...
                Task { _ = try? await engine.recommend(RecommendationRequest(who: .known(user: 1), history: m.rec.dataset.train[1], k: 3, exclude: m.seen(1), seed: 0), model: m); answered.set() }
                _ = waitUntil { engine.queueDepth == 1 }
            }
        }
        XCTAssertEqual(out.count, 12)
        // ...and is answered before the review's third token, not after its twelfth.
        XCTAssertEqual(tokens.answeredAt.first, false, "asked during the first token")
        XCTAssertEqual(tokens.answeredAt[2], true, "answered between tokens: \(tokens.answeredAt)")
        XCTAssertEqual(engine.batchSizes, [1: 1])
    }

    func testReviewsBeyondTheirBoundAre503BeforeAnyStream() async throws {
        let s = try await ServerHandle(path: folder) { $0.engine.maxReviews = 1 }
        var held: RecommendationEngine.ReviewSlot? = try s.server.engine.admitReview()
        XCTAssertNotNil(held)
        XCTAssertThrowsError(try s.server.engine.admitReview()) { XCTAssertEqual($0 as? EngineRefusal, .reviewsFull(bound: 1)) }
        let body = #"{"user": "100", "item": "203", "max_new_tokens": 3}"#
        let full = try await s.call("POST", "/v1/reviews", body: body)
        XCTAssertEqual(full.status, 503)
        XCTAssertEqual(full.error.code, "overloaded")
        XCTAssertEqual(full.headers["retry-after"], "2")
        XCTAssertEqual(s.server.engine.reviewsActive, 1)
        held = nil  // released: the slot is given back
        XCTAssertEqual(s.server.engine.reviewsActive, 0)
        let ok = try await s.call("POST", "/v1/reviews", body: body)
        XCTAssertEqual(ok.status, 200)
        XCTAssertTrue(ok.text.contains("event: done"))
        let settled5 = await eventually { s.server.engine.reviewsActive == 0 }
        XCTAssertTrue(settled5, "the slot of a finished review is given back")
        await s.stop()
    }

    func testAnswersRevealLittleAndInfoNoPaths() async throws {
        let s = try await ServerHandle(path: folder)
        let big = try await s.call("GET", "/v1/users/100/recommendations?k=101")
        XCTAssertEqual(big.status, 400, "k is bounded by --max-k (100 by default)")
        XCTAssertEqual(big.error.field, "k")
        let info = try await s.call("GET", "/v1/info")
        XCTAssertFalse(info.text.contains(folder), "no absolute path of the folder")
        XCTAssertFalse(info.text.contains("\"/"), "no absolute path at all: \(info.text)")
        XCTAssertEqual((info.json["model"] as? [String: Any])?["name"] as? String, "rec")
        let unknown = try await s.call("GET", "/v1/users/nobody/recommendations")
        let message = (unknown.json["error"] as? [String: Any])?["message"] as? String ?? ""
        for id in 100...111 { XCTAssertFalse(message.contains("\"\(id)\""), "an error names no valid id: \(message)") }
        await s.stop()
    }

    func testLoopbackServerRefusesForeignHostHeaders() async throws {
        let s = try await ServerHandle(path: folder)
        for (host, status) in [("evil.example", 403), ("127.0.0.1.evil.example:80", 403), ("localhost:\(s.port)", 200), ("127.0.0.1", 200), ("[::1]:\(s.port)", 200)] {
            let c = RawConnection(port: s.port)!
            c.send("GET /v1/info HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            let r = c.readToEnd().text
            XCTAssertTrue(r.hasPrefix("HTTP/1.1 \(status)"), "Host \(host): \(r.prefix(80))")
            if status == 403 { XCTAssertTrue(r.contains("bad_host"), r) }
        }
        // With a token the token decides, whatever the Host.
        let t = try await ServerHandle(path: folder) { $0.token = "a-token-of-some-length" }
        let c = RawConnection(port: t.port)!
        c.send("GET /v1/info HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer a-token-of-some-length\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(c.readToEnd().text.hasPrefix("HTTP/1.1 200"))
        await s.stop(); await t.stop()
    }

    func testBearerSchemeIsCaseInsensitive() async throws {
        let token = "s3cret-token-of-some-length"
        let s = try await ServerHandle(path: folder) { $0.token = token }
        for (header, status) in [("bearer " + token, 200), ("BEARER  " + token, 200), ("Bearer " + token, 200), ("Basic " + token, 401), ("Bearer", 401), ("Bearer  ", 401), ("Bearer" + token, 401)] {
            let r = try await s.call("GET", "/v1/info", headers: ["Authorization": header])
            XCTAssertEqual(r.status, status, header)
        }
        await s.stop()
    }

    func testANewConnectionOverTheLimitTakesTheOldestIdlePlace() async throws {
        let s = try await ServerHandle(path: folder) { $0.maxConnections = 2; $0.engine.precomputeUsers = false; $0.engine.cacheBytes = 0 }
        let a = RawConnection(port: s.port)!
        XCTAssertTrue(a.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        XCTAssertTrue(a.read(until: "\"ok\"").contains("200 OK"), "a connection within the limit is served")
        let b = RawConnection(port: s.port)!
        b.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  // a head that never ends (slowloris)
        try await Task.sleep(for: .milliseconds(200))
        // A third: it takes the place of the oldest connection without a request in flight (a).
        let c = RawConnection(port: s.port)!
        c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(c.readToEnd().text.contains("200 OK"), "a new client is served")
        XCTAssertTrue(a.readToEnd().closed, "the oldest idle connection was closed for it")
        // A fourth: the slow head is the oldest idle one now.
        let d = RawConnection(port: s.port)!
        d.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(d.readToEnd().text.contains("200 OK"))
        XCTAssertTrue(b.readToEnd().closed, "the slow client was closed for it")
        // A body still arriving is not a request in flight either: a slow body (older) goes before
        // an idle keep-alive connection.
        let h = RawConnection(port: s.port)!
        h.send("POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"hist")
        try await Task.sleep(for: .milliseconds(200))
        let i = RawConnection(port: s.port)!
        i.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        XCTAssertTrue(i.read(until: "\"ok\"").contains("200 OK"))
        let j = RawConnection(port: s.port)!
        j.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(j.readToEnd().text.contains("200 OK"))
        XCTAssertTrue(h.readToEnd().closed, "the slow body was closed for it")

        // A request in flight is never cut: with both places busy, a new connection is closed.
        let gate = ModelThreadGate(s.server.engine)
        let e = RawConnection(port: s.port)!, f = RawConnection(port: s.port)!
        e.send("GET /v1/users/100/recommendations?k=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        f.send("GET /v1/users/101/recommendations?k=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let queued = await eventually { s.server.engine.queueDepth == 2 }
        XCTAssertTrue(queued)
        let g = RawConnection(port: s.port)!
        g.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let refused = g.readToEnd()
        XCTAssertTrue(refused.closed)
        XCTAssertEqual(refused.text, "", "closed without an answer")
        gate.release()
        XCTAssertTrue(e.readToEnd().text.contains("200 OK"), "the requests in flight are answered")
        XCTAssertTrue(f.readToEnd().text.contains("200 OK"))
        XCTAssertEqual(s.server.connections.counts.refused, 1)
        await s.stop()
    }

    func testMetricsCountRequestsShedLoadAndReloads() async throws {
        let s = try await ServerHandle(path: folder) { $0.engine.cacheBytes = 0; $0.engine.precomputeUsers = false; $0.engine.maxQueue = 1; $0.engine.maxWait = .zero }
        _ = try await s.call("GET", "/healthz")
        _ = try await s.call("GET", "/v1/users/100/recommendations?k=2")
        _ = try await s.call("GET", "/v1/users/nobody/recommendations")
        let gate = ModelThreadGate(s.server.engine)
        let waiting = Task { try await s.call("GET", "/v1/users/101/recommendations?k=2") }
        let queued = await eventually { s.server.engine.queueDepth == 1 }
        XCTAssertTrue(queued)
        let shed = try await s.call("GET", "/v1/users/102/recommendations?k=2")
        XCTAssertEqual(shed.status, 503)
        gate.release()
        _ = try await waiting.value
        try await s.server.engine.reload()
        let m = try await s.call("GET", "/metrics")
        XCTAssertEqual(m.status, 200)
        XCTAssertEqual(m.headers["content-type"], "text/plain; version=0.0.4")
        let lines = Set(m.text.split(separator: "\n").map(String.init))
        for expected in [
            #"cllm4rec_http_requests_total{route="/healthz",status="200"} 1"#,
            #"cllm4rec_http_requests_total{route="/v1/users/{id}/recommendations",status="200"} 2"#,
            #"cllm4rec_http_requests_total{route="/v1/users/{id}/recommendations",status="404"} 1"#,
            #"cllm4rec_http_requests_total{route="/v1/users/{id}/recommendations",status="503"} 1"#,
            #"cllm4rec_http_request_duration_seconds_count{route="/v1/users/{id}/recommendations"} 4"#,
            #"cllm4rec_http_request_duration_seconds_bucket{route="/v1/users/{id}/recommendations",le="+Inf"} 4"#,
            #"cllm4rec_shed_total{reason="queue_full"} 1"#,
            #"cllm4rec_batches_total{size="1"} 2"#,
            #"cllm4rec_reloads_total{outcome="ok"} 1"#,
            "cllm4rec_queue_depth 0", "cllm4rec_queue_capacity 1", "cllm4rec_model_version 2",
            "# TYPE cllm4rec_http_request_duration_seconds histogram",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in:\n\(m.text)")
        }
        // Every sample line is `name{labels} value` or `name value` with a number.
        for l in lines where !l.hasPrefix("#") && !l.isEmpty {
            XCTAssertNotNil(Double(l.split(separator: " ").last ?? ""), l)
        }
        await s.stop()
    }

    func testIdleConnectionsTimeOut() async throws {
        let s = try await ServerHandle(path: folder) { $0.idleTimeout = .milliseconds(1500) }
        let a = RawConnection(port: s.port)!
        let idle = a.readToEnd()
        XCTAssertTrue(idle.closed, "an idle connection is closed")
        XCTAssertLessThan(idle.seconds, 7)
        await s.stop()
    }
}

/// The tool under SIGTERM with a request that never finishes (its body never comes): the
/// shutdown deadline stops it, and a second signal stops it at once.
final class ServeShutdownTests: XCTestCase {
    func startServer(_ extra: [String]) throws -> (Process, Int, () -> String) {
        let server = try ServeProcess(self, ["--threads", "1"] + extra)
        return (server.process, server.port, server.log)
    }

    /// Opens a connection holding a request whose body never comes.
    func stalledRequest(_ port: Int) -> RawConnection {
        let c = RawConnection(port: port)!
        c.send("POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"history\"")
        return c
    }

    func testTheShutdownDeadlineEndsAStalledRequest() throws {
        let (p, port, log) = try startServer(["--shutdown-timeout", "1", "--idle-timeout", "120"])
        let c = stalledRequest(port)
        Thread.sleep(forTimeInterval: 0.5)
        let start = Date()
        kill(p.processIdentifier, SIGTERM)
        let stopped = waitUntil(20) { !p.isRunning }
        XCTAssertTrue(stopped, "still running 20 s after SIGTERM with --shutdown-timeout 1:\n\(log())")
        if !stopped { p.terminate() }
        p.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, log())
        _ = c
    }

    func testASecondSignalStopsAtOnce() throws {
        let (p, port, log) = try startServer(["--shutdown-timeout", "300", "--idle-timeout", "300"])
        let c = stalledRequest(port)
        Thread.sleep(forTimeInterval: 0.5)
        kill(p.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertTrue(p.isRunning, "the graceful stop waits for the request in flight")
        kill(p.processIdentifier, SIGTERM)
        let stopped = waitUntil(20) { !p.isRunning }
        XCTAssertTrue(stopped, log())
        if !stopped { p.terminate() }
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1)
        XCTAssertTrue(log().contains("second stop signal"), log())
        _ = c
    }
}

final class ServingLimitsUnitTests: XCTestCase {
    func testLoopbackIsDecidedOnTheParsedAddress() {
        for host in ["127.0.0.1", "127.255.3.4", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost", "LOCALHOST", "localhost."] {
            XCTAssertTrue(RecommendationServer.isLoopback(host), host)
        }
        for host in ["0.0.0.0", "::", "::2", "128.0.0.1", "10.0.0.1", "127.0.0.1.example.com", "127.example", "localhost.example.com", "::ffff:10.0.0.1", ""] {
            XCTAssertFalse(RecommendationServer.isLoopback(host), host)
        }
    }

    func testBearerTokenParsing() {
        typealias M = BearerTokenMiddleware<ServingContext>
        XCTAssertEqual(M.bearerToken("Bearer abc"), Array("abc".utf8))
        XCTAssertEqual(M.bearerToken("bEaReR   abc"), Array("abc".utf8))
        XCTAssertNil(M.bearerToken("Bearer"))
        XCTAssertNil(M.bearerToken("Bearer   "))
        XCTAssertNil(M.bearerToken("Bearerabc"))
        XCTAssertNil(M.bearerToken("Basic abc"))
        XCTAssertNil(M.bearerToken(""))
    }

    func testHostPart() {
        typealias M = LoopbackHostMiddleware<ServingContext>
        XCTAssertEqual(M.hostPart("localhost:8080"), "localhost")
        XCTAssertEqual(M.hostPart("[::1]:8080"), "[::1]")
        XCTAssertEqual(M.hostPart("[::1]"), "[::1]")
        XCTAssertEqual(M.hostPart("127.0.0.1"), "127.0.0.1")
    }

    func testLRUListEvictsTheLeastRecentlyUsedByCost() {
        var l = LRUList<String, Int>()
        l.put("a", 1, cost: 10); l.put("b", 2, cost: 20); l.put("c", 3, cost: 30)
        XCTAssertEqual(l.keysByRecency, ["c", "b", "a"])
        XCTAssertEqual(l.cost, 60)
        XCTAssertEqual(l.get("a"), 1)
        XCTAssertEqual(l.keysByRecency, ["a", "c", "b"])
        l.removeOldest()
        XCTAssertNil(l.get("b"))
        XCTAssertEqual(l.cost, 40)
        l.put("c", 33, cost: 5)  // replaced: new cost, most recent
        XCTAssertEqual(l.keysByRecency, ["c", "a"])
        XCTAssertEqual(l.cost, 15)
        l.put("d", 4, cost: 1)  // reuses the freed slot
        XCTAssertEqual(l.keysByRecency, ["d", "c", "a"])
        l.removeOldest(); l.removeOldest(); l.removeOldest(); l.removeOldest()
        XCTAssertEqual(l.count, 0)
        XCTAssertEqual(l.cost, 0)
        XCTAssertEqual(l.keysByRecency, [])
    }

    func testAnswerCacheIsBoundedInBytes() {
        let one = AnswerCache.bytes(count: 10)
        let cache = AnswerCache(maxBytes: 3 * one)
        let answer = (0..<10).map { Recommendation(item: $0, score: Float($0)) }
        for u in 0..<3 { cache.put(user: u, k: 10, answer) }
        XCTAssertEqual(cache.count, 3)
        XCTAssertNotNil(cache.get(user: 0, k: 10))  // 0 is now the most recent
        cache.put(user: 3, k: 10, answer)
        XCTAssertEqual(cache.count, 3)
        XCTAssertLessThanOrEqual(cache.bytes, 3 * one)
        XCTAssertNil(cache.get(user: 1, k: 10), "the least recently used went first")
        XCTAssertNotNil(cache.get(user: 0, k: 10))
        XCTAssertNotNil(cache.get(user: 3, k: 10))
        XCTAssertNil(cache.get(user: 3, k: 11), "k is part of the key")
        let huge = (0..<1000).map { Recommendation(item: $0, score: 0) }
        cache.put(user: 9, k: 1000, huge)
        XCTAssertNil(cache.get(user: 9, k: 1000), "an answer over the whole budget is not kept")
        XCTAssertEqual(cache.count, 3)
        XCTAssertNil(AnswerCache(maxBytes: 0).get(user: 0, k: 1))
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

final class TokenLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var answeredAt: [Bool] = []
    var count: Int { lock.withLock { answeredAt.count } }
    /// Records whether the recommendation was answered when this token came; returns the count.
    func add(_ answered: Bool) -> Int { lock.withLock { answeredAt.append(answered); return answeredAt.count } }
}
