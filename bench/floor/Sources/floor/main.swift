import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

// floor PORT [http1|upgrade|nio]: POST /ok reads the body and answers 202. `upgrade` serves HTTP/1
// with the WebSocket upgrade handler in every connection's pipeline, as Sluice does; `nio` is a
// bare SwiftNIO HTTP/1 server (no Hummingbird, no Swift task), the floor under any NIO server.
let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 18996 : 18996
let mode = arguments.count > 2 ? arguments[2] : "http1"

final class Accept202: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            var head = HTTPResponseHead(version: .http1_1, status: .accepted)
            head.headers.add(name: "content-length", value: "0")
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}
if mode == "nio" {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(Accept202()) }
        }
        .bind(host: "127.0.0.1", port: port).get()
    try await channel.closeFuture.get()
}

let router = Router()
router.post("/ok") { request, _ -> HTTPResponse.Status in
    var request = request
    _ = try await request.collectBody(upTo: 1 << 20)
    return .accepted
}
var logger = Logger(label: "floor")
logger.logLevel = .warning
let server: HTTPServerBuilder
switch mode {
case "upgrade":
    server = .http1WebSocketUpgrade(configuration: .init(http1: .init(), ws: .init())) { _, _, _ in .dontUpgrade }
default:
    server = .http1()
}
let app = Application(
    router: router, server: server, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
