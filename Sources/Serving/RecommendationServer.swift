import CLLM4Rec
import Dispatch
import Foundation
import Hummingbird
import Logging
import NIOCore

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
        public init() {}
    }

    public let engine: RecommendationEngine
    public let settings: Settings
    let logger: Logger

    public init(path: String, settings: Settings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        engine = try RecommendationEngine(path: path, settings: settings.engine)
    }

    /// Whether `host` is a loopback address (binding elsewhere needs a token or an explicit opt-out).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public func makeRouter() -> Router<ServingContext> {
        let router = Router(context: ServingContext.self)
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: BodyDrainMiddleware(maxBytes: settings.limits.drainBytes, channel: { $0.channel }))
        router.add(middleware: JSONErrorMiddleware())
        if let token = settings.token { router.add(middleware: BearerTokenMiddleware(token: Array(token.utf8))) }
        Routes(engine: engine, limits: settings.limits, version: settings.version).add(to: router)
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
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: settings.version),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("listening on http://\(channel.localAddress?.ipAddress ?? "?"):\(port)")
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
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } else {
            try await app.run()
        }
        logger.info("stopped")
    }
}
