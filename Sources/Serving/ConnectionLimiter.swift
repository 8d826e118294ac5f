import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes

/// Bounds the open connections. Each connection's pipeline gets a `handler()`, which counts it;
/// when `max` are open, a new connection takes the place of the oldest one that has no request in
/// flight (an idle keep-alive connection, or one whose request is still arriving: a slowloris
/// client dribbling a head or a body), which is closed; only when every open connection has a whole
/// request in flight is the new one closed instead. So slow or idle clients cannot lock everyone
/// else out, and work in flight is never cut. `ConnectionActivityMiddleware` says when a
/// connection has a request in flight; the handler, after the HTTP decoder, when its body is still
/// arriving (from the head to the end of the request).
///
/// It also notes the connections whose client has closed its side: the server allows half-closed
/// connections (the channel stays active), so `hasLeft` is how work for a client that hung up is
/// recognised and dropped before it costs a forward pass.
final class ConnectionLimiter: @unchecked Sendable {
    let max: Int
    private let logger: Logger
    private let lock = NSLock()
    private struct Entry {
        let channel: any Channel
        let order: Int
        var inFlight = 0
        /// Between a request's head and its end: the handler may already run, but nothing is
        /// computed for a request that has not arrived whole.
        var receiving = false
        var evictable: Bool { inFlight == 0 || receiving }
    }
    private var open: [ObjectIdentifier: Entry] = [:]
    private var opened = 0
    private var refused = 0, evicted = 0
    private var leftEarly: Set<ObjectIdentifier> = []

    init(max: Int, logger: Logger) { self.max = max; self.logger = logger }

    var openCount: Int { lock.withLock { open.count } }
    /// Connections closed to make room for new ones, and new ones closed for want of room.
    var counts: (evicted: Int, refused: Int) { lock.withLock { (evicted, refused) } }

    func handler() -> Handler { Handler(limiter: self) }

    /// True when the new connection may stay (after closing the oldest idle one if needed).
    fileprivate func admit(_ channel: any Channel) -> Bool {
        let (ok, victim, note): (Bool, (any Channel)?, String?) = lock.withLock {
            var victim: (any Channel)?
            if open.count >= max {
                guard let oldest = open.values.filter(\.evictable).min(by: { $0.order < $1.order }) else {
                    refused += 1
                    return (false, nil, refused % 100 == 1 ? "\(max) connections open (--max-connections), all with requests in flight: closing new ones (\(refused) so far)" : nil)
                }
                open[ObjectIdentifier(oldest.channel)] = nil
                victim = oldest.channel
                evicted += 1
            }
            opened += 1
            open[ObjectIdentifier(channel)] = Entry(channel: channel, order: opened)
            let note = victim != nil && evicted % 100 == 1 ? "\(max) connections open (--max-connections): closing the oldest without a request in flight for each new one (\(evicted) so far)" : nil
            return (true, victim, note)
        }
        // One line per 100, so that a flood does not flood the log too.
        if let note { logger.warning("\(note)") }
        victim?.close(promise: nil)
        return ok
    }

    fileprivate func release(_ channel: ObjectIdentifier) { lock.withLock { open[channel] = nil; leftEarly.remove(channel) } }

    fileprivate func inputClosed(_ channel: ObjectIdentifier) { _ = lock.withLock { leftEarly.insert(channel) } }

    fileprivate func receiving(_ channel: ObjectIdentifier, _ yes: Bool) { lock.withLock { open[channel]?.receiving = yes } }

    /// A request of `channel` has begun (its head is read) or ended (its response is written).
    func begin(_ channel: any Channel) { lock.withLock { open[ObjectIdentifier(channel)]?.inFlight += 1 } }
    func end(_ channel: any Channel) { lock.withLock { open[ObjectIdentifier(channel)]?.inFlight -= 1 } }

    /// Whether the client of `channel` closed its side of the connection (or the connection is closed).
    func hasLeft(_ channel: any Channel) -> Bool {
        !channel.isActive || lock.withLock { leftEarly.contains(ObjectIdentifier(channel)) }
    }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        private let limiter: ConnectionLimiter
        private var counted = false

        init(limiter: ConnectionLimiter) { self.limiter = limiter }

        func handlerAdded(context: ChannelHandlerContext) {
            if limiter.admit(context.channel) { counted = true } else { context.close(promise: nil) }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if counted { counted = false; limiter.release(ObjectIdentifier(context.channel)) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: limiter.receiving(ObjectIdentifier(context.channel), true)
            case .end: limiter.receiving(ObjectIdentifier(context.channel), false)
            case .body: break
            }
            context.fireChannelRead(data)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let e = event as? ChannelEvent, e == .inputClosed { limiter.inputClosed(ObjectIdentifier(context.channel)) }
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// Tells the connection limiter when a connection has a request in flight: from its head until
/// its response's last byte (a streamed review included).
struct ConnectionActivityMiddleware: RouterMiddleware {
    let limiter: ConnectionLimiter

    func handle(_ request: Request, context: ServingContext, next: (Request, ServingContext) async throws -> Response) async throws -> Response {
        let channel = context.channel, limiter = self.limiter
        limiter.begin(channel)
        do {
            var response = try await next(request, context)
            let body = response.body
            response.body = ResponseBody(contentLength: body.contentLength) { writer in
                defer { limiter.end(channel) }
                try await body.write(writer)
            }
            return response
        } catch {
            limiter.end(channel)
            throw error
        }
    }
}
