import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// What a request's HTTP version decides, stated for the handlers after the conversion to HTTP
/// types, which carry no version:
/// - whether it closes its connection after its response (RFC 9112 §9.3): an HTTP/1.0 request
///   does unless it carries the `keep-alive` option, any request does when it carries `close`
///   among its options. Hummingbird closes only on a `Connection` field of exactly `close`, so
///   every request that asks gets that field in place of its options;
/// - whether its `Expect: 100-continue` counts: not in an HTTP/1.0 request (RFC 9110 §10.1.1), so
///   there the field is removed.
final class HTTP1VersionRules: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        let closes = !head.isKeepAlive
        let ignoredExpectation = (head.version.major, head.version.minor) < (1, 1) && head.headers.contains(name: "Expect")
        guard closes || ignoredExpectation else {
            context.fireChannelRead(data)
            return
        }
        if closes { head.headers.replaceOrAdd(name: "Connection", value: "close") }
        if ignoredExpectation { head.headers.remove(name: "Expect") }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

extension HTTP1VersionRules {
    /// Added among Hummingbird's HTTP/1 handlers, after the conversion to HTTP types (which is
    /// only there once the first request turned out not to be an upgrade, so the handler never
    /// outlives the HTTP/1 decoder): puts an ``HTTP1VersionRules`` before the
    /// conversion, and leaves.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                try pipeline.addHandler(HTTP1VersionRules(), position: .before(pipeline.handler(type: HTTP1ToHTTPServerCodec.self)))
                pipeline.removeHandler(context: context, promise: nil)
            } catch {
                context.fireErrorCaught(error)
                context.close(promise: nil)
            }
        }
    }
}
