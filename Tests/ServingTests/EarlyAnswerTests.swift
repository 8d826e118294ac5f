import Foundation
import Serving
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection to 127.0.0.1:`port` with send and receive timeouts, or nil.
func connectLoopback(port: Int, timeout: Double) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard connected == 0 else { close(fd); return nil }
    return fd
}

/// One HTTP/1.1 exchange over a raw loopback socket, as a client that sends its whole body before
/// reading (Python's urllib does): what came back, whether the body went out whole, and whether the
/// server closed the connection. Runs on its own thread, so a blocked socket never holds a thread
/// of the pool the server's handlers run on.
struct RawExchange {
    var response = ""
    var sentAll = false
    var closedByServer = false
    var seconds = 0.0

    static func run(port: Int, head: String, bodyBytes: Int, then second: String? = nil, timeout: Double = 8) async -> RawExchange {
        await withCheckedContinuation { done in
            Thread { done.resume(returning: exchange(port: port, head: head, bodyBytes: bodyBytes, then: second, timeout: timeout)) }.start()
        }
    }

    static func exchange(port: Int, head: String, bodyBytes: Int, then second: String?, timeout: Double) -> RawExchange {
        var r = RawExchange()
        let start = Date()
        guard let fd = connectLoopback(port: port, timeout: timeout) else { return r }
        defer { close(fd) }
        func sendAll(_ bytes: [UInt8]) -> Bool {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        var ok = sendAll(Array(head.utf8))
        let chunk = [UInt8](repeating: UInt8(ascii: "["), count: 1 << 16)
        var left = bodyBytes
        while ok && left > 0 { ok = sendAll(Array(chunk.prefix(left))); left -= min(left, chunk.count) }
        r.sentAll = ok && left == 0
        if r.sentAll, let second { _ = sendAll(Array(second.utf8)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { r.closedByServer = true; break }
            if n < 0 { if errno == ECONNRESET { r.closedByServer = true }; break }
            received += buffer[0..<n]
            // With a second request pipelined, stop once both answers are in.
            if second != nil, String(decoding: received, as: UTF8.self).components(separatedBy: "HTTP/1.1 ").count > 2,
               String(decoding: received, as: UTF8.self).hasSuffix("}") { break }
        }
        r.response = String(decoding: received, as: UTF8.self)
        r.seconds = Date().timeIntervalSince(start)
        return r
    }
}

/// Answers given before a request body is read (413 over the limit, 415, 401) reach a client that
/// sends its whole body first, with `Connection: close` or keep-alive, and the server closes what
/// it cannot drain.
final class EarlyAnswerTests: XCTestCase {
    let folder = TinyRecommender.folder

    func head(_ bytes: Int, close: Bool, type: String = "application/json", extra: String = "") -> String {
        "POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(type)\r\nContent-Length: \(bytes)\r\n"
            + (close ? "Connection: close\r\n" : "") + extra + "\r\n"
    }

    func testOversizedBodyWithConnectionCloseGets413AndTheConnectionCloses() async throws {
        let s = try await ServerHandle(path: folder) { $0.limits.maxBodyBytes = 64 * 1024 }
        let r = await RawExchange.run(port: s.port, head: head(5_000_000, close: true), bodyBytes: 5_000_000)
        XCTAssertTrue(r.sentAll, "the server read the whole body")
        XCTAssertTrue(r.response.hasPrefix("HTTP/1.1 413"), r.response)
        XCTAssertTrue(r.response.contains("body_too_large"), r.response)
        XCTAssertTrue(r.closedByServer, "the connection is closed after the answer")
        XCTAssertLessThan(r.seconds, 5, "answered at once (8 s is the client's own limit)")
        await s.stop()
    }

    func testOversizedBodyWithKeepAliveGets413AndTheConnectionServesTheNextRequest() async throws {
        let s = try await ServerHandle(path: folder) { $0.limits.maxBodyBytes = 64 * 1024 }
        let next = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        let r = await RawExchange.run(port: s.port, head: head(1_000_000, close: false), bodyBytes: 1_000_000, then: next)
        XCTAssertTrue(r.sentAll)
        XCTAssertTrue(r.response.hasPrefix("HTTP/1.1 413"), r.response)
        XCTAssertTrue(r.response.contains("{\"status\":\"ok\"}"), "the same connection answers the next request: \(r.response)")
        await s.stop()
    }

    func testBodyBeyondTheDrainLimitClosesTheConnection() async throws {
        let s = try await ServerHandle(path: folder) { $0.limits.maxBodyBytes = 64 * 1024; $0.limits.drainBytes = 256 * 1024 }
        for close in [true, false] {
            let r = await RawExchange.run(port: s.port, head: head(50_000_000, close: close), bodyBytes: 50_000_000)
            // With keep-alive Hummingbird reads on until the close, so a fast client may get it all out.
            if close { XCTAssertFalse(r.sentAll, "the server stopped reading") }
            XCTAssertTrue(r.closedByServer, "and closed the connection instead of leaving it open (Connection: close \(close))")
            XCTAssertLessThan(r.seconds, 5, "Connection: close \(close)")
        }
        let ok = try await s.call("GET", "/healthz")
        XCTAssertEqual(ok.status, 200, "still serving")
        await s.stop()
    }

    func testAnswersBeforeTheBodyIsReadReachTheClient() async throws {
        let s = try await ServerHandle(path: folder) { $0.limits.maxBodyBytes = 64 * 1024 }
        let wrongType = await RawExchange.run(port: s.port, head: head(2_000_000, close: true, type: "text/plain"), bodyBytes: 2_000_000)
        XCTAssertTrue(wrongType.response.hasPrefix("HTTP/1.1 415"), wrongType.response)
        XCTAssertTrue(wrongType.closedByServer)
        await s.stop()
        let token = "a-token-of-sufficient-length"
        let t = try await ServerHandle(path: folder) { $0.token = token }
        let unauthorized = await RawExchange.run(port: t.port, head: head(2_000_000, close: true), bodyBytes: 2_000_000)
        XCTAssertTrue(unauthorized.response.hasPrefix("HTTP/1.1 401"), unauthorized.response)
        XCTAssertTrue(unauthorized.closedByServer)
        let notFound = await RawExchange.run(port: t.port, head: head(2_000_000, close: true).replacingOccurrences(of: "/v1/recommendations", with: "/v1/nothing"),
                                             bodyBytes: 2_000_000)
        XCTAssertTrue(notFound.response.hasPrefix("HTTP/1.1 401"), "\(notFound)")
        XCTAssertTrue(notFound.closedByServer)
        // A small body within the limit is read and answered as before (20 brackets: not JSON).
        let small = await RawExchange.run(port: t.port, head: head(20, close: true, extra: "Authorization: Bearer \(token)\r\n"), bodyBytes: 20)
        XCTAssertTrue(small.response.hasPrefix("HTTP/1.1 400") && small.response.contains("bad_json"), small.response)
        await t.stop()
    }
}
