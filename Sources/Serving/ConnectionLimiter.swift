import Foundation
import Logging
import NIOCore

/// Bounds the open connections: each connection's pipeline gets a `handler()`, which counts it
/// and closes it at once when `max` are open already (the client sees the connection closed
/// before any answer, and can retry). Cheaper for the server than accepting work it cannot carry.
///
/// It also notes the connections whose client has closed its side: the server allows half-closed
/// connections (the channel stays active), so `hasLeft` is how work for a client that hung up is
/// recognised and dropped before it costs a forward pass.
final class ConnectionLimiter: @unchecked Sendable {
    let max: Int
    private let logger: Logger
    private let lock = NSLock()
    private var open = 0
    private var refused = 0
    private var leftEarly: Set<ObjectIdentifier> = []

    init(max: Int, logger: Logger) { self.max = max; self.logger = logger }

    var openCount: Int { lock.withLock { open } }

    func handler() -> Handler { Handler(limiter: self) }

    /// True when the connection may stay.
    fileprivate func admit() -> Bool {
        let (ok, refusedSoFar) = lock.withLock { () -> (Bool, Int) in
            if open >= max { refused += 1; return (false, refused) }
            open += 1
            return (true, refused)
        }
        // One line per 100 refusals, so that a flood does not flood the log too.
        if !ok, refusedSoFar % 100 == 1 { logger.warning("\(max) connections open (--max-connections): closing new ones (\(refusedSoFar) so far)") }
        return ok
    }

    fileprivate func release(_ channel: ObjectIdentifier) { lock.withLock { open -= 1; leftEarly.remove(channel) } }

    fileprivate func inputClosed(_ channel: ObjectIdentifier) { _ = lock.withLock { leftEarly.insert(channel) } }

    /// Whether the client of `channel` closed its side of the connection (or the connection is closed).
    func hasLeft(_ channel: any Channel) -> Bool {
        !channel.isActive || lock.withLock { leftEarly.contains(ObjectIdentifier(channel)) }
    }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        // Never unwrapped: everything passes through.
        typealias InboundIn = ByteBuffer
        private let limiter: ConnectionLimiter
        private var counted = false

        init(limiter: ConnectionLimiter) { self.limiter = limiter }

        func handlerAdded(context: ChannelHandlerContext) {
            if limiter.admit() { counted = true } else { context.close(promise: nil) }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if counted { counted = false; limiter.release(ObjectIdentifier(context.channel)) }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let e = event as? ChannelEvent, e == .inputClosed { limiter.inputClosed(ObjectIdentifier(context.channel)) }
            context.fireUserInboundEventTriggered(event)
        }
    }
}
