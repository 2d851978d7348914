import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging

// floor PORT [http1|upgrade]: POST /ok reads the body and answers 202. `upgrade` serves HTTP/1
// with the WebSocket upgrade handler in every connection's pipeline, as Sluice does.
let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 18996 : 18996
let upgrade = arguments.count > 2 && arguments[2] == "upgrade"

let router = Router()
router.post("/ok") { request, _ -> HTTPResponse.Status in
    var request = request
    _ = try await request.collectBody(upTo: 1 << 20)
    return .accepted
}
var logger = Logger(label: "floor")
logger.logLevel = .warning
let server: HTTPServerBuilder =
    upgrade
    ? .http1WebSocketUpgrade(configuration: .init(http1: .init(), ws: .init())) { _, _, _ in .dontUpgrade }
    : .http1()
let app = Application(
    router: router, server: server, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
