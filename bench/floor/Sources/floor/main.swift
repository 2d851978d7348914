import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

// floor PORT [http1|upgrade]: POST /ok reads the body and answers 202. `upgrade` serves HTTP/1
// with the WebSocket upgrade handler in every connection's pipeline, as Sluice does. The bare
// SwiftNIO server (no Hummingbird, no Swift task) is bench/nio-floor, in Sluice's package.
let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 18996 : 18996
let mode = arguments.count > 2 ? arguments[2] : "http1"

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
