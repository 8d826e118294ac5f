import ArgumentParser
import CLLM4Rec
import Foundation
import Logging
import Serving

/// `cllm4rec serve`: recommendations and reviews over HTTP.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a recommender folder over HTTP (JSON API; OpenAPI document at /openapi.json).",
        discussion: """
            Endpoints: GET /healthz, GET /v1/info, GET /v1/users/{id}/recommendations?k=20, \
            POST /v1/recommendations {"history": [ids], "k": 20, "exclude": [ids]} (a new user, folded in), \
            POST /v1/reviews {"user", "item", "max_new_tokens", "temperature", "top_k", "top_p", "seed"} \
            (server-sent events). Answers equal `cllm4rec generate` for the same user or history. \
            Requests that arrive within --max-wait-ms of each other are scored in one batched forward \
            pass of up to --max-batch prompts. One log line per request goes to standard output. \
            SIGTERM or SIGINT stops the server once requests in flight are answered; SIGHUP reloads the \
            folder (after a new finetune, say): requests never see half a model, and a folder that fails \
            to load leaves the old one serving. With --tls-cert and --tls-key it speaks HTTPS (TLS 1.2 \
            or later; the files are read once, at start). The server binds to loopback unless --host says \
            otherwise; any other address needs --token-file (clients then send `Authorization: Bearer \
            TOKEN`) or an explicit --insecure-no-auth. Load it cannot carry is shed, not queued: past \
            --max-queue waiting requests, --max-reviews reviews or --request-timeout seconds of waiting a \
            request is answered 503 with Retry-After (GET /readyz turns 503 meanwhile; GET /healthz stays \
            200), and a request whose client left is dropped before it is computed.
            """)

    @Argument(help: "A recommender folder (from extend-vocab, pretrain, finetune).")
    var recommender: String

    @Option(help: "Address to bind (127.0.0.1, ::1 and localhost are loopback; 0.0.0.0 is every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port, printed at start).")
    var port = 8080

    @OptionGroup var engine: EngineOptions

    @Option(help: "Most prompts scored in one forward pass (1: no batching).")
    var maxBatch = 32

    @Option(help: "Longest a recommendation request waits for others to share its forward pass, in milliseconds (0: never waits; requests that queue up behind a running pass are still batched).")
    var maxWaitMs: Double = 2

    @Option(help: "Memory for known users' answers, in MiB (0: no cache); past it the least recently used go first; the cache is dropped on reload.")
    var cacheMb = 64

    @Option(help: "Most recommendation requests waiting for the model; more are answered 503 with Retry-After at once (/readyz turns 503 too).")
    var maxQueue = 256

    @Option(help: "Seconds a recommendation request may wait for the model; then it is answered 503 without being computed.")
    var requestTimeout: Double = 10

    @Option(help: "Most reviews being written or waiting; more are answered 503. Recommendations are scored between a review's tokens, so reviews delay them by one decoding step each.")
    var maxReviews = 4

    @Option(help: "Most items one answer may hold (the k of a request). Each answer shows, by what it leaves out, part of the user's history: keep it well below the catalog's size.")
    var maxK = 100

    @Flag(inversion: .prefixedNo, help: "Compute every known user's recommendation-head input in the background after each load, so that known users are answered with one product with the item table instead of a forward pass (without it, each user's first request keeps it).")
    var precomputeUsers = true

    @Option(help: "Seconds a connection may stay without traffic before the server closes it.")
    var idleTimeout: Double = 30

    @Option(help: "Seconds a request may take to arrive whole, head and body, from its first byte; then its connection is closed (a connection waiting for its next request is bounded by --idle-timeout instead).")
    var readTimeout: Double = 10

    @Option(help: "A PEM file with the server's certificate chain (its certificate first): serve HTTPS instead of HTTP. Needs --tls-key.")
    var tlsCert: String?

    @Option(help: "A PEM file with the private key of --tls-cert's certificate.")
    var tlsKey: String?

    @Option(help: "Most open connections; more are closed as they arrive.")
    var maxConnections = 512

    @Option(help: "Seconds requests in flight get to finish after SIGTERM or SIGINT; then the server stops anyway (a second signal stops it at once).")
    var shutdownTimeout: Double = 10

    @Option(help: "A file holding the bearer token clients must send (required to bind to a non-loopback address).")
    var tokenFile: String?

    @Flag(help: "Bind to a non-loopback address without a token (anyone who reaches the port can use the API).")
    var insecureNoAuth = false

    @Option(help: "Most items in a POST /v1/recommendations history.")
    var maxHistory = 500

    @Option(help: "Largest request body, in bytes.")
    var maxBodyBytes = 64 * 1024

    @Option(help: "Adam steps that fit a new user's embedding from its history (0: the mean user).")
    var foldInSteps = FoldInOptions().steps

    @OptionGroup var foldIn: FoldInRate

    func validate() throws {
        guard !host.isEmpty else { throw ValidationError("--host is empty") }
        try FlagRules.inRange(0...65535, port, "--port")
        try FlagRules.inRange(1...1024, maxBatch, "--max-batch")
        try FlagRules.between(maxWaitMs, 0, 1000, "--max-wait-ms", includingLower: true, includingUpper: true)
        try FlagRules.inRange(0...1_000_000, cacheMb, "--cache-mb")
        try FlagRules.inRange(1...1_000_000, maxQueue, "--max-queue")
        try FlagRules.between(requestTimeout, 0, 3600, "--request-timeout", includingLower: false, includingUpper: true)
        try FlagRules.inRange(1...1024, maxReviews, "--max-reviews")
        try FlagRules.inRange(1...100_000, maxK, "--max-k")
        try FlagRules.between(idleTimeout, 0, 86_400, "--idle-timeout", includingLower: false, includingUpper: true)
        try FlagRules.between(readTimeout, 0, 3600, "--read-timeout", includingLower: false, includingUpper: true)
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("give --tls-cert and --tls-key together (HTTPS needs both), or neither") }
        try FlagRules.inRange(1...1_000_000, maxConnections, "--max-connections")
        try FlagRules.between(shutdownTimeout, 0, 3600, "--shutdown-timeout", includingLower: false, includingUpper: true)
        try FlagRules.inRange(1...100_000, maxHistory, "--max-history")
        try FlagRules.inRange(256...(64 << 20), maxBodyBytes, "--max-body-bytes")
        try FlagRules.inRange(0...10_000, foldInSteps, "--fold-in-steps")
        if tokenFile != nil && insecureNoAuth { throw ValidationError("give --token-file or --insecure-no-auth, not both") }
        if !RecommendationServer.isLoopback(host) && tokenFile == nil && !insecureNoAuth {
            throw ValidationError("--host \(host) is not loopback: give --token-file FILE (clients send `Authorization: Bearer TOKEN`), or --insecure-no-auth to serve without one")
        }
    }

    /// The token in --token-file: its text without surrounding whitespace, at least 16 characters.
    func token() throws -> String? {
        guard let tokenFile else { return nil }
        guard let data = FileManager.default.contents(atPath: tokenFile) else { throw CLIError("\(tokenFile): cannot be read (--token-file)") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(tokenFile): not UTF-8 text (--token-file)") }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16 else { throw CLIError("\(tokenFile): the token has \(token.count) characters; use at least 16 (--token-file)") }
        guard !token.contains(where: { $0.isWhitespace || $0.isNewline }) else { throw CLIError("\(tokenFile): the token holds whitespace (--token-file)") }
        return token
    }

    func run() async throws {
        var settings = RecommendationServer.Settings()
        settings.host = host; settings.port = port
        settings.token = try token()
        settings.engine.maxBatch = maxBatch
        settings.engine.maxWait = .microseconds(Int64((maxWaitMs * 1000).rounded()))
        settings.engine.cacheBytes = cacheMb << 20
        settings.engine.maxQueue = maxQueue
        settings.engine.requestTimeout = .milliseconds(Int64((requestTimeout * 1000).rounded()))
        settings.engine.maxReviews = maxReviews
        settings.engine.precomputeUsers = precomputeUsers
        settings.limits.maxK = maxK
        settings.idleTimeout = .milliseconds(Int64((idleTimeout * 1000).rounded()))
        settings.readTimeout = .milliseconds(Int64((readTimeout * 1000).rounded()))
        settings.maxConnections = maxConnections
        if let tlsCert, let tlsKey {
            do { settings.tls = try ServerTLS(certificate: tlsCert, key: tlsKey) } catch { throw CLIError("\(error)") }
        }
        settings.shutdownTimeout = .milliseconds(Int64((shutdownTimeout * 1000).rounded()))
        settings.engine.foldIn = FoldInOptions(steps: foldInSteps, learningRate: foldIn.foldInLr)
        settings.limits.maxHistory = maxHistory
        settings.limits.maxBodyBytes = maxBodyBytes
        settings.version = CLLM4RecCommand.configuration.version
        try engine.apply()
        LoggingSystem.bootstrap { StreamLogHandler.standardOutput(label: $0) }
        var logger = Logger(label: "cllm4rec.serve")
        logger.logLevel = .info
        let server: RecommendationServer
        do { server = try RecommendationServer(path: recommender, settings: settings, logger: logger) } catch {
            throw CLIError("\(error)")
        }
        let m = server.engine.current
        let note = m.finetuned ? "" : "; not finetuned: scoring with the collaborative embeddings"
        logger.info("loaded \(recommender): \(m.rec.dataset.users.count) users, \(m.rec.dataset.items.count) items, \(m.rec.model.backbone.architecture) backbone, \(engine.threads) threads\(note)")
        if insecureNoAuth {
            logger.warning("--insecure-no-auth: serving \(host):\(port) WITHOUT authentication; anyone who reaches this port can read every user's recommendations")
        }
        try await server.run()
    }
}
