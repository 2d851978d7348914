import HTTPTypes
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SluiceCore
import SluiceEntrypoints

/// Answers a request on its connection's event loop: the gateway's responder, run in a task there.
typealias LoopResponder = @Sendable (Request, any Channel) async -> Response

/// Builds the gateway's HTTP server: HTTP/1.1 with WebSocket upgrades, optionally behind TLS; event
/// streams and POSTs served from the connections' event loops (``GatewayChildChannel``).
public enum GatewayServer {
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func makeApplication(
        settings: GatewaySettings, registry: ApiRegistry, logger: Logger, services: [any Service] = [],
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let responder = GatewayResponder(registry: registry, limits: settings.limits, logger: logger)
        let dispatcher = responder.dispatcher
        let webSocket = WebSocketServerConfiguration(
            maxFrameSize: settings.webSocketMaxFrameSize, autoPing: .enabled(timePeriod: .seconds(30)), closeTimeout: .seconds(5))
        let respond = loopResponder(responder, logger: logger)
        let maxBodySize = settings.limits.maxBodySize
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [
            HTTP1VersionRules.Installer(),
            CollectedPostHandler(maxBodySize: maxBodySize, idleTimeout: .init(settings.idleTimeout), respond: respond),
        ])
        var server = HTTPServerBuilder { responder in
            let hummingbird = HTTP1WebSocketUpgradeChannel(responder: responder, configuration: .init(http1: http1, ws: webSocket)) {
                head, channel, _ in
                upgrade(head, channel: channel, dispatcher: dispatcher)
            }
            return GatewayChildChannel(
                base: hummingbird, maxBodySize: maxBodySize, requestHeadTimeout: .init(settings.requestHeadTimeout),
                idleTimeout: .init(settings.idleTimeout), respond: respond)
        }
        if let certificate = settings.tlsCertificatePath, let key = settings.tlsKeyPath {
            server = try .tls(server, tlsConfiguration: tlsConfiguration(certificate: certificate, key: key))
        }
        return Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port), serverName: serverName),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger)
    }

    static let serverName = "Sluice"

    /// The responder of requests answered on the event loop (taken POSTs, event-stream
    /// connections): what Hummingbird's application adds around the responder (a `500` for an
    /// error thrown, `Date` and `Server`), without its connection task.
    static func loopResponder(_ responder: GatewayResponder, logger: Logger) -> LoopResponder {
        let dates = HTTPDateCache()
        return { request, channel in
            let context = GatewayRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.debug("Unrecognised error", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
                response = Response(status: .internalServerError)
            }
            response.headers.put(.date, dates.now)
            response.headers.put(.server, serverName)
            return response
        }
    }

    /// Loads the listener's PEM certificate chain and key; any problem stops the start-up (never a
    /// silent fall back to plain HTTP).
    static func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw StartError(description: "http.tls.certificate: cannot read a PEM certificate chain from \(certificate)")
        }
        guard !chain.isEmpty else { throw StartError(description: "http.tls.certificate: \(certificate) holds no certificate") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw StartError(description: "http.tls.key: cannot read an unencrypted PEM private key from \(key)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// Decides a WebSocket upgrade. Declined upgrades continue as plain requests, where the
    /// responder answers with the precise error (QoS, identifier) or another entrypoint.
    static func upgrade(
        _ head: HTTPRequest, channel: any Channel, dispatcher: Dispatcher
    ) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let remoteAddress = channel.remoteAddress
        let uri = URI(head.path ?? "/")
        guard let api = try? dispatcher.api(host: head.authority ?? head.headerFields[HTTPField.Name("Host")!], path: uri.path),
            let target = dispatcher.entrypoint(of: api, for: .webSocketUpgrade), target.entrypoint.type == "websocket",
            api.stop.reason == nil,
            (try? dispatcher.checkQoS(target)) != nil,
            let clientIdentity = try? dispatcher.clientIdentity(headers: head.headerFields, uri: uri, remoteAddress: remoteAddress)
        else { return .dontUpgrade }
        let clientIdentifier = clientIdentity.effective
        let requestId = RequestIdentifier.next()
        let transactionId =
            head.headerFields[GatewayHeaders.transactionId] ?? head.headerFields[GatewayHeaders.graviteeTransactionId] ?? requestId
        let context = dispatcher.context(
            for: target, clientIdentity: .known(clientIdentifier), requestId: requestId, closeConnection: { channel.close(promise: nil) },
            clientChannel: channel)
        var headers = HTTPFields()
        headers[GatewayHeaders.requestId] = requestId
        headers[GatewayHeaders.transactionId] = transactionId
        headers[GatewayHeaders.clientIdentifier] = clientIdentifier
        return .upgrade(headers) { inbound, outbound, _ in
            api.started()
            defer { api.finished() }
            try await WebSocketEntrypoint.run(inbound: inbound, outbound: outbound, context: context)
        }
    }
}

/// Owns the registry's background work and ends every stream cleanly at shutdown: on the
/// graceful-shutdown signal it refuses new work, sends `goaway`/close 1013 to every open stream,
/// waits for them to end (bounded) and closes the broker connections.
public struct GatewayService: Service {
    let registry: ApiRegistry

    public init(registry: ApiRegistry) { self.registry = registry }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await registry.runRetirements() }
            try? await gracefulShutdown()
            registry.logger.info("Stopping: ending open streams")
            await registry.shutdown()
            await group.waitForAll()
        }
    }
}
