import HummingbirdCore
import NIOHTTPTypes
import NIOCore

/// Closes a connection whose client went away while a response is being written.
///
/// The server allows half-closed connections: HTTP/1.1 lets a client close its sending side after
/// the request and still read the answer, so a FIN that comes before the response started is left
/// alone. A FIN while a response streams (SSE, a long HTTP GET) means nobody will read the rest:
/// closing the connection completes its close future, which ends the stream and releases its
/// broker subscription now rather than at the next failed heartbeat write.
final class ClientGoneHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// A response head went out and its end has not.
    private var responding = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responding = true
        case .end: responding = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, responding {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
