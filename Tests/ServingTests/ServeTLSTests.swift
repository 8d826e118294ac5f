// HTTPS exists only with the TLS trait (the default).
#if TLS
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Serving
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A self-signed certificate for localhost and 127.0.0.1 (P-256, valid to 2126) and its key, made
/// for these tests only with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
/// -nodes -days 36500 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`, and an
/// unrelated key (`openssl genpkey -algorithm EC`).
enum TestTLSFiles {
    static let certificate = """
-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUC/sncv0gVob1aL3/O/SdlTT7M7gwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNjE2MTYxNFoYDzIxMjYxMTEy
MTYxNjE0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATCK74P5AdZh2G+/ewZk8jhVdHpIDen0wwZGtURapPhCoa83yKKvxLf
KnvoU0v3xGfWsC0hPS/waHl0WR9ZPJcOo28wbTAdBgNVHQ4EFgQU9wARjkeNXj5O
4HgCNmYmrY6Mo+AwHwYDVR0jBBgwFoAU9wARjkeNXj5O4HgCNmYmrY6Mo+AwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSQAwRgIhAKNJ4hKegasOSfLjewiM4fuFK9dqwQNv7ZKOYnKUPd8kAiEA
7OznBGF/bXzcVPXPZQ9yHzlwCNwQ4VRLMArbpjGPF6Y=
-----END CERTIFICATE-----
"""
    static let key = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgR6ekKoQ/Zd1DpYCp
IVY7MI+VAffdZuOu0skYiQlgHjOhRANCAATCK74P5AdZh2G+/ewZk8jhVdHpIDen
0wwZGtURapPhCoa83yKKvxLfKnvoU0v3xGfWsC0hPS/waHl0WR9ZPJcO
-----END PRIVATE KEY-----
"""
    static let otherKey = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ/DiTHVwkZE0u3Om
2nhR65Y/5dzhAvCpj/87AP16MMGhRANCAAQVAqlAWtO/xl2rND2WVx+isbHy3kXX
n7n/2cp/366V7fXTFH2/PvM5dVlLmHu8Wu11i4VN6IJvcn24pd4PZ2sM
-----END PRIVATE KEY-----
"""

    /// The three PEM files in a new folder: (certificate, key, other key).
    static func write(_ test: XCTestCase) throws -> (cert: String, key: String, other: String) {
        let dir = temporaryFolder(test, "tls")
        for (name, text) in [("cert.pem", certificate), ("key.pem", key), ("other.pem", otherKey)] {
            try (text + "\n").write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        return (dir + "/cert.pem", dir + "/key.pem", dir + "/other.pem")
    }
}

/// What a TLS client got from one request: the bytes until the server closed the connection.
final class CollectUntilClose: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var bytes: [UInt8] = []
    private let done: EventLoopPromise<[UInt8]>
    init(done: EventLoopPromise<[UInt8]>) { self.done = done }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        bytes += b.readBytes(length: b.readableBytes) ?? []
    }
    func channelInactive(context: ChannelHandlerContext) { done.succeed(bytes) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A close without TLS's close_notify after the answer is still the answer.
        if let e = error as? NIOSSLError, e == .uncleanShutdown { return }
        done.fail(error)
        context.close(promise: nil)
    }
}

/// One request over TLS to 127.0.0.1:`port`, trusting only `certificate` and checking it names
/// `serverName` (sent as SNI), or, without one, the address 127.0.0.1; the whole answer (the request
/// should say `Connection: close`).
func httpsExchange(port: Int, request: String, trusting certificate: String, serverName: String? = "localhost") async throws -> String {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
    let context = try NIOSSLContext(configuration: configuration)
    let group = MultiThreadedEventLoopGroup.singleton
    let done = group.next().makePromise(of: [UInt8].self)
    let channel: any Channel
    do {
        channel = try await ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                try channel.pipeline.syncOperations.addHandler(CollectUntilClose(done: done))
            }
        }.connect(host: "127.0.0.1", port: port).get()
    } catch {
        done.fail(error)
        throw error
    }
    try await channel.writeAndFlush(ByteBuffer(string: request)).get()
    return String(decoding: try await done.futureResult.get(), as: UTF8.self)
}

/// `serve --tls-cert/--tls-key`: HTTPS with the given certificate, files checked at start.
final class ServeTLSTests: XCTestCase {
    let folder = TinyRecommender.folder

    func testHTTPSAnswersWithTheGivenCertificateAndPlainHTTPGetsNoAnswer() async throws {
        let files = try TestTLSFiles.write(self)
        let s = try await ServerHandle(path: folder) { $0.tls = try! ServerTLS(certificate: files.cert, key: files.key) }
        let plain = try await ServerHandle(path: folder)
        let health = try await httpsExchange(port: s.port, request: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", trusting: files.cert)
        XCTAssertTrue(health.hasPrefix("HTTP/1.1 200"), health)
        XCTAssertTrue(health.hasSuffix("{\"status\":\"ok\"}"), health)
        // The same user's answer over HTTPS and over HTTP (the same items; scores to float rounding:
        // one server may have its head inputs precomputed, the other not yet).
        let path = "/v1/users/100/recommendations?k=5"
        let secure = try await httpsExchange(port: s.port, request: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", trusting: files.cert, serverName: nil)
        let clear = try await plain.call("GET", path)
        XCTAssertEqual(clear.status, 200)
        XCTAssertTrue(secure.hasPrefix("HTTP/1.1 200"), secure)
        let secureBody = ServerHandle.Reply(status: 200, body: Data(secure.components(separatedBy: "\r\n\r\n").last!.utf8), headers: [:])
        XCTAssertEqual(secureBody.items.map(\.0), clear.items.map(\.0), "HTTPS: \(secure)\nHTTP: \(clear.text)")
        XCTAssertFalse(secureBody.items.isEmpty)
        for (a, b) in zip(secureBody.items, clear.items) { XCTAssertEqual(a.1, b.1, accuracy: 1e-5) }
        // Plain HTTP on the TLS port: no HTTP answer (the TLS layer refuses the bytes and closes).
        let r = await RawExchange.run(port: s.port, head: "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", bodyBytes: 0, timeout: 5)
        XCTAssertFalse(r.response.contains("HTTP/1.1 200"), r.response)
        XCTAssertTrue(r.closedByServer, "the server closed the connection")
        XCTAssertLessThan(r.seconds, 4)
        await s.stop()
        await plain.stop()
    }

    func testTLSFilesAreCheckedAtStartWithTheFileNamed() throws {
        let files = try TestTLSFiles.write(self)
        let dir = (files.cert as NSString).deletingLastPathComponent
        try "not a certificate\n".write(toFile: dir + "/text.pem", atomically: true, encoding: .utf8)
        try "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".write(toFile: dir + "/broken.pem", atomically: true, encoding: .utf8)
        func failure(_ cert: String, _ key: String) -> ServerTLS.Failure? {
            do { _ = try ServerTLS(certificate: cert, key: key); return nil } catch { return error as? ServerTLS.Failure }
        }
        XCTAssertNil(failure(files.cert, files.key))
        XCTAssertEqual(failure(dir + "/none.pem", files.key), .unreadable(path: dir + "/none.pem", flag: "--tls-cert"))
        XCTAssertEqual(failure(files.cert, dir + "/none.pem"), .unreadable(path: dir + "/none.pem", flag: "--tls-key"))
        XCTAssertEqual(failure(dir + "/text.pem", files.key), .noCertificate(path: dir + "/text.pem"))
        guard case .badCertificate(dir + "/broken.pem", _)? = failure(dir + "/broken.pem", files.key) else { return XCTFail("\(String(describing: failure(dir + "/broken.pem", files.key)))") }
        guard case .badKey(files.cert, _)? = failure(files.cert, files.cert) else { return XCTFail("a certificate given as the key") }
        guard case .refusedTogether(files.other, files.cert, _)? = failure(files.cert, files.other) else { return XCTFail("another certificate's key") }

        // The command says it before loading anything, naming the file and the flag.
        let r = try CLI.run(["serve", folder, "--port", "0", "--tls-cert", files.cert, "--tls-key", files.other], in: dir)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("\(files.other) with \(files.cert): refused by the TLS library"), r.all)
        XCTAssertFalse(r.all.contains("loaded"), r.all)
        let half = try CLI.run(["serve", folder, "--port", "0", "--tls-cert", files.cert], in: dir)
        XCTAssertEqual(half.status, 64)
        XCTAssertTrue(half.err.contains("give --tls-cert and --tls-key together"), half.all)
    }
}

/// A request must arrive whole within `--read-timeout` of its first byte; a connection waiting for
/// its next request is not rushed by it.
final class RequestReadDeadlineTests: XCTestCase {
    let folder = TinyRecommender.folder

    /// Sends `parts` `gap` seconds apart on one connection and returns how long until the server
    /// closed it (nil: still open when the parts ran out and `wait` more seconds passed).
    static func dribble(port: Int, parts: [String], gap: Double, wait: Double) -> Double? {
        guard let c = RawConnection(port: port, timeout: wait) else { return nil }
        let start = Date()
        for p in parts where !c.send(p) || c.closes(within: gap) { return Date().timeIntervalSince(start) }
        return c.closes(within: wait) ? Date().timeIntervalSince(start) : nil
    }

    func testSlowHeadsAndSlowBodiesAreCutAtTheDeadlineNotAtTheIdleTimeout() async throws {
        let s = try await ServerHandle(path: folder) { $0.readTimeout = .milliseconds(600); $0.idleTimeout = .seconds(60) }
        // A head a line every 0.25 s: each line is traffic, but the head is not whole after 0.6 s.
        let head = ["GET /healthz HTTP/1.1\r\n"] + (0..<12).map { "X-Line-\($0): 1\r\n" } + ["\r\n"]
        let slowHead = Self.dribble(port: s.port, parts: head, gap: 0.25, wait: 10)
        XCTAssertNotNil(slowHead, "a slow head was not cut")
        if let t = slowHead { XCTAssertGreaterThanOrEqual(t, 0.5); XCTAssertLessThan(t, 2.5) }
        // A body a few bytes every 0.25 s (the head came at once).
        let body = #"{"history": ["200", "201"], "k": 3}"#
        let chunks = stride(from: 0, to: body.count, by: 3).map { String(body.dropFirst($0).prefix(3)) }
        let slowBody = Self.dribble(
            port: s.port, parts: ["POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"] + chunks,
            gap: 0.25, wait: 10)
        XCTAssertNotNil(slowBody, "a slow body was not cut")
        if let t = slowBody { XCTAssertGreaterThanOrEqual(t, 0.5); XCTAssertLessThan(t, 2.5) }
        // The same requests sent at once are answered.
        let ok = try await s.call("POST", "/v1/recommendations", body: body)
        XCTAssertEqual(ok.status, 200)
        await s.stop()
    }

    func testAKeepAliveConnectionMayWaitLongerThanTheDeadlineForItsNextRequest() async throws {
        let s = try await ServerHandle(path: folder) { $0.readTimeout = .milliseconds(300); $0.idleTimeout = .seconds(60) }
        let next = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        let c = try XCTUnwrap(RawConnection(port: s.port, timeout: 5))
        var r = ""
        for _ in 0..<2 {
            c.send(next)
            r += c.read(until: "{\"status\":\"ok\"}")  // head and body may come apart
            try await Task.sleep(for: .seconds(1))  // idle, over three read deadlines
        }
        XCTAssertEqual(r.components(separatedBy: "HTTP/1.1 200").count - 1, 2, r)
        await s.stop()
    }
}
#endif
