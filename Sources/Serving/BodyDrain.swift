import Hummingbird
import NIOCore
import HummingbirdCore

/// Hummingbird's request body (this module's `RequestBody` is the JSON reader).
typealias HTTPRequestBody = HummingbirdCore.RequestBody

/// The request context of the server: Hummingbird's core context and the connection's channel
/// (which `BodyDrainMiddleware` closes when a body is too large to drain).
public struct ServingContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Reads what a handler left of a request body before the answer goes out, so that a client that
/// sends its whole body before reading (most do; `Connection: close` made Hummingbird stop reading
/// and wait for a close that never came) gets the answer: a 413 for a body over the limit, a 401,
/// 404 or 415 answered before the body was looked at. Reading stops at `maxBytes` or `maxSeconds`;
/// past either, the answer says `Connection: close` and the connection is closed shortly after it
/// is written, so no client can pin a connection by sending forever.
struct BodyDrainMiddleware<Context: RequestContext>: RouterMiddleware {
    var maxBytes = 64 << 20
    var maxSeconds = 5.0
    /// Time for the answer to be written before a connection that could not be drained is closed.
    var closeDelay = TimeAmount.milliseconds(250)
    let channel: @Sendable (Context) -> (any Channel)?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let body = TrackedBody(request.body)
        var tracked = request
        tracked.body = HTTPRequestBody(asyncSequence: body)
        let response: Response
        do {
            response = try await next(tracked, context)
        } catch {
            if await !body.drain(maxBytes: maxBytes, maxSeconds: maxSeconds) { closeSoon(context) }
            throw error
        }
        guard await body.drain(maxBytes: maxBytes, maxSeconds: maxSeconds) else {
            var closing = response
            closing.headers[.connection] = "close"
            closeSoon(context)
            return closing
        }
        return response
    }

    func closeSoon(_ context: Context) {
        guard let ch = channel(context) else { return }
        ch.eventLoop.scheduleTask(in: closeDelay) { ch.close(promise: nil) }
    }
}

/// A request body read through one shared iterator, so that what the handler did not read can be
/// read after it: the handler's iterator and `drain` continue the same stream. Unchecked Sendable:
/// one request's task reads it, the handler first and the middleware after, never both at once.
final class TrackedBody: AsyncSequence, @unchecked Sendable {
    typealias Element = ByteBuffer
    private let source: HTTPRequestBody
    private var iterator: HTTPRequestBody.AsyncIterator?
    private var ended = false

    init(_ body: HTTPRequestBody) { source = body }

    /// The next chunk of the one underlying iterator (made on first use).
    func next() async throws -> ByteBuffer? {
        guard !ended else { return nil }
        if iterator == nil { iterator = source.makeAsyncIterator() }
        let chunk = try await iterator!.next()
        if chunk == nil { ended = true }
        return chunk
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let body: TrackedBody
        mutating func next() async throws -> ByteBuffer? { try await body.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }

    /// Reads and discards the rest of the body; true when it ended within the bounds (or had
    /// ended already), false when a bound was reached or reading failed.
    func drain(maxBytes: Int, maxSeconds: Double) async -> Bool {
        if ended { return true }
        let start = ContinuousClock.now
        var read = 0
        do {
            while let chunk = try await next() {
                read += chunk.readableBytes
                if read > maxBytes || ContinuousClock.now - start > .milliseconds(Int(maxSeconds * 1000)) { return false }
            }
            return true
        } catch {
            return false
        }
    }
}
