import CLLM4Rec
import Dispatch
import Foundation
import Hummingbird
import HummingbirdCore
#if TLS
import HummingbirdTLS
#endif
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `cllm4rec serve`: a recommender folder behind the JSON API, loaded once.
///
/// Stops gracefully on SIGTERM and SIGINT (requests in flight finish); SIGHUP reloads the folder
/// (`RecommendationEngine.reload`: requests never see half a model; a folder that fails to load
/// leaves the old one serving).
public final class RecommendationServer: Sendable {
    public struct Settings: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Required for every endpoint but /healthz and /openapi.json when set.
        public var token: String?
        public var engine = RecommendationEngine.Settings()
        public var limits = RequestLimits()
        public var version = "cllm4rec"
        /// A connection with no traffic for this long is closed.
        public var idleTimeout: Duration = .seconds(30)
        /// A request must arrive whole (head and body) within this long of its first byte, or its
        /// connection is closed (`RequestReadDeadline`).
        public var readTimeout: Duration = .seconds(10)
        /// HTTPS instead of HTTP when set.
        public var tls: ServerTLS?
        /// Most open connections; more are closed as they arrive.
        public var maxConnections = 512
        /// After SIGTERM/SIGINT, requests in flight get this long to finish; then the server stops
        /// anyway (a second signal stops it at once).
        public var shutdownTimeout: Duration = .seconds(10)
        public init() {}
    }

    public let engine: RecommendationEngine
    public let settings: Settings
    let logger: Logger
    let connections: ConnectionLimiter
    let metrics = ServerMetrics()

    public init(path: String, settings: Settings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        engine = try RecommendationEngine(path: path, settings: settings.engine)
        connections = ConnectionLimiter(max: settings.maxConnections, logger: logger)
    }

    /// Whether `host` is a loopback address (binding elsewhere needs a token or an explicit opt-out):
    /// "localhost", or an address literal in 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. Decided on the
    /// parsed address, so a name such as "127.0.0.1.example.com" is not loopback.
    public static func isLoopback(_ host: String) -> Bool {
        var h = host.lowercased()
        if h.hasSuffix(".") { h.removeLast() }
        if h == "localhost" { return true }
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, h, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, h, &v6) == 1 {
            let b = withUnsafeBytes(of: v6) { Array($0) }
            if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }  // ::1
            return b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff && b[12] == 127  // ::ffff:127.x.x.x
        }
        return false
    }

    public func makeRouter() -> Router<ServingContext> {
        let router = Router(context: ServingContext.self)
        let connections = self.connections
        router.add(middleware: ConnectionActivityMiddleware(limiter: connections))
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: BodyDrainMiddleware(maxBytes: settings.limits.drainBytes, channel: { $0.channel }))
        router.add(middleware: JSONErrorMiddleware())
        if let token = settings.token {
            router.add(middleware: BearerTokenMiddleware(token: Array(token.utf8)))
        } else if Self.isLoopback(settings.host) {
            // Without a token, a loopback server trusts whoever reaches it; a web page can reach it
            // through a name that resolves to 127.0.0.1 (DNS rebinding), which the Host header shows.
            router.add(middleware: LoopbackHostMiddleware())
        }
        Routes(engine: engine, limits: settings.limits, version: settings.version, clientLeft: { connections.hasLeft($0) }).add(to: router)
        let metrics = self.metrics, engine = self.engine
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.text(engine: engine, connections: connections))))
        }
        return router
    }

    /// Reloads the folder, logging the outcome; the old model keeps serving on failure.
    public func reloadLogged() async {
        do {
            let m = try await engine.reload()
            logger.info("reloaded \(m.path): model version \(m.version), \(m.rec.dataset.users.count) users, \(m.rec.dataset.items.count) items")
        } catch {
            logger.error("reload of \(engine.path) failed, still serving model version \(engine.current.version): \(error)")
        }
    }

    /// Serves until SIGTERM or SIGINT (or, with `signals` false, until the task is cancelled).
    /// `onListening` gets the bound port (useful with port 0).
    public func run(signals: Bool = true, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let logger = self.logger
        let connections = self.connections
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [connections.handler(), RequestReadDeadline.Parts()],
                                               idleTimeout: .nanoseconds(Int64(settings.idleTimeout.milliseconds * 1e6)))
        let readTimeout = TimeAmount.nanoseconds(Int64(settings.readTimeout.milliseconds * 1e6))
        let tls = settings.tls
        // TLS outermost, then the read deadline (it sees decrypted bytes; a slow handshake is
        // bounded by the idle timeout), then HTTP/1.1.
        let server = HTTPServerBuilder { responder in
            let plain = ReadDeadlineChannel(base: HTTP1Channel(responder: responder, configuration: http1), timeout: readTimeout)
            #if TLS
            guard let tls else { return plain }
            return try TLSChannel(plain, tlsConfiguration: tls.configuration)
            #else
            return plain  // without the TLS trait a ServerTLS cannot be made
            #endif
        }
        let scheme = tls == nil ? "http" : "https"
        let app = Application(
            router: makeRouter(),
            server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: settings.version),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("listening on \(scheme)://\(channel.localAddress?.ipAddress ?? "?"):\(port)")
                await onListening(port)
            },
            logger: logger)
        var hangup: (any DispatchSourceSignal)?
        if signals {
            signal(SIGHUP, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            source.setEventHandler { [self] in
                logger.info("SIGHUP: reloading \(engine.path)")
                Task { await self.reloadLogged() }
            }
            source.resume()
            hangup = source
        }
        defer { hangup?.cancel() }
        if signals {
            var group = ServiceGroupConfiguration(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            group.maximumGracefulShutdownDuration = settings.shutdownTimeout
            // A second SIGTERM or SIGINT during the graceful stop: stop now.
            let stops = SignalCount()
            let forced = [SIGTERM, SIGINT].map { sig in
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    if stops.increment() >= 2 { logger.warning("second stop signal: exiting without waiting for requests in flight"); exit(1) }
                }
                source.resume()
                return source
            }
            defer { forced.forEach { $0.cancel() } }
            try await ServiceGroup(configuration: group).run()
        } else {
            try await app.run()
        }
        logger.info("stopped")
    }
}

/// Stop signals received so far.
final class SignalCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.withLock { n += 1; return n } }
}
