import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request takes longer than `timeout` to arrive, from its first byte to
/// its last (head and body).
///
/// The idle timeout cannot do this: it counts time without a whole HTTP part, so it bounds a head
/// dribbled a byte at a time (at `--idle-timeout`) but not a body (once the head is in, the request
/// is "in flight": a client sending a 64 KiB body a byte every few seconds held its connection, and
/// a connection with a request in flight is never evicted by the connection limit, so 512 such
/// clients locked everyone out). Nor can it tell a slow head from a keep-alive connection waiting
/// for its next request, which may rightly stay for the whole idle timeout: this deadline starts at
/// a request's first byte, so waiting costs nothing.
///
/// Two handlers share the deadline: `Bytes`, before the HTTP decoder (after TLS), sees a request's
/// first byte arrive; `Parts`, after it, sees the request's end. What a handler writes while the
/// client is still sending is not affected; the answer is written after the request has ended.
struct ReadDeadlineChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestReadDeadline.Bytes(timeout: timeout))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension ReadDeadlineChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}

enum RequestReadDeadline {
    /// Before the decoder: the first byte of a request arms the deadline.
    final class Bytes: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        let timeout: TimeAmount
        private var armed: Scheduled<Void>?
        /// Whether a request has begun arriving and not yet ended.
        private var reading = false

        init(timeout: TimeAmount) { self.timeout = timeout }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if !reading {
                reading = true
                let channel = context.channel
                armed = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            }
            context.fireChannelRead(data)
        }

        /// The request whose first byte armed the deadline has ended.
        func requestEnded() {
            armed?.cancel(); armed = nil
            reading = false
        }

        func handlerRemoved(context: ChannelHandlerContext) { requestEnded() }
    }

    /// After the decoder: a request's end disarms the deadline.
    final class Parts: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        private var bytes: Bytes?

        func handlerAdded(context: ChannelHandlerContext) {
            bytes = try? context.pipeline.syncOperations.handler(type: Bytes.self)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .end = unwrapInboundIn(data) { bytes?.requestEnded() }
            context.fireChannelRead(data)
        }
    }
}
