import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// States whether a request asks to close its connection after its response, in the one form
/// the handlers after it read. Whether it does depends on its HTTP version (RFC 9112 §9.3): an
/// HTTP/1.0 request closes unless it carries the `keep-alive` option, any request closes when it
/// carries `close` among its options. HTTP types carry no version, and Hummingbird closes only on
/// a `Connection` field of exactly `close`; so this sits before the conversion to HTTP types and
/// sets `Connection: close` on every request that asks, in place of its options.
final class ConnectionPersistenceHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

extension ConnectionPersistenceHandler {
    /// Added among Hummingbird's HTTP/1 handlers, after the conversion to HTTP types (which is
    /// only there once the first request turned out not to be an upgrade, so the handler never
    /// outlives the HTTP/1 decoder): puts a ``ConnectionPersistenceHandler`` before the
    /// conversion, and leaves.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                try pipeline.addHandler(ConnectionPersistenceHandler(), position: .before(pipeline.handler(type: HTTP1ToHTTPServerCodec.self)))
                pipeline.removeHandler(context: context, promise: nil)
            } catch {
                context.fireErrorCaught(error)
                context.close(promise: nil)
            }
        }
    }
}
