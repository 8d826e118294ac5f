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
            to load leaves the old one serving. The server binds to loopback unless --host says \
            otherwise; any other address needs --token-file (clients then send `Authorization: Bearer \
            TOKEN`) or an explicit --insecure-no-auth.
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

    @Option(help: "Known users' answers kept in memory (0: no cache); the cache is dropped on reload.")
    var cacheSize = 100_000

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
        try FlagRules.inRange(0...100_000_000, cacheSize, "--cache-size")
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
        settings.engine.cacheCapacity = cacheSize
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
        try await server.run()
    }
}
