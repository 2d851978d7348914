import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SluiceCore
import SluiceEntrypoints

/// The request headers Sluice reads and writes (contract §3, §4). Gravitee spellings are accepted
/// on input.
public enum GatewayHeaders {
    public static let requestId = HTTPField.Name("X-Sluice-Request-Id")!
    public static let transactionId = HTTPField.Name("X-Sluice-Transaction-Id")!
    public static let graviteeTransactionId = HTTPField.Name("X-Gravitee-Transaction-Id")!
    public static let clientIdentifier = HTTPField.Name("X-Sluice-Client-Identifier")!
    public static let graviteeClientIdentifier = HTTPField.Name("X-Gravitee-Client-Identifier")!
}

/// Picks the API and the entrypoint for a request and runs the common checks: QoS, client
/// identifier. Shared by plain HTTP requests and WebSocket upgrades.
struct Dispatcher: Sendable {
    let registry: ApiRegistry
    let limits: EntrypointLimits
    let logger: Logger

    /// What a request resolved to.
    struct Target {
        let api: DeployedApi
        let entrypoint: EntrypointSettings
        let descriptor: EntrypointDescriptor
    }

    enum Kind {
        case webSocketUpgrade
        case sse
        case get
        case post
        case other
    }

    static func kind(method: HTTPRequest.Method, headers: HTTPFields) -> Kind {
        if method == .get, let upgrade = headers[.upgrade], upgrade.lowercased().contains("websocket") { return .webSocketUpgrade }
        if method == .get, headers[values: .accept].contains(where: { $0.lowercased().contains("text/event-stream") }) { return .sse }
        if method == .get { return .get }
        if method == .post { return .post }
        return .other
    }

    /// The API serving the request's host and path, or the contract's 404.
    func api(host: String?, path: String) throws(GatewayError) -> DeployedApi {
        if registry.isStopping { throw GatewayError(.stopping, "The gateway is stopping") }
        guard let api = registry.table.route(host: host, path: path) else { throw GatewayError.noContextPath }
        return api
    }

    /// The most specific entrypoint of `api` for the request: WebSocket upgrade > SSE > GET = POST.
    func entrypoint(of api: DeployedApi, for kind: Kind) -> Target? {
        let order: [String]
        switch kind {
        case .webSocketUpgrade: order = ["websocket", "http-get"]
        case .sse: order = ["sse", "http-get"]
        case .get: order = ["http-get"]
        case .post: order = ["http-post"]
        case .other: order = []
        }
        for type in order {
            if let settings = api.entrypoints[type], let descriptor = registry.catalog.entrypoints[type] {
                return Target(api: api, entrypoint: settings, descriptor: descriptor)
            }
        }
        return nil
    }

    /// The contract's QoS check: the entrypoint's QoS must be offered by the endpoint, and so must
    /// the capabilities it needs at that QoS.
    func checkQoS(_ target: Target) throws(GatewayError) {
        let factory = target.api.endpointFactory
        guard factory.supportedQoS.contains(target.entrypoint.qos) else { throw GatewayError.incompatibleQoS }
        guard factory.capabilities.isSuperset(of: target.descriptor.requirements(target.entrypoint.qos)) else {
            throw GatewayError.incompatibleQoSCapabilities
        }
    }

    /// The client identifier (contract §4): what the client sent in a header or query parameter,
    /// if valid, and its address; the effective identifier is computed when something needs it.
    func clientIdentity(headers: HTTPFields, uri: URI, remoteAddress: SocketAddress?) throws(GatewayError) -> ClientIdentity {
        var sent = headers[GatewayHeaders.clientIdentifier] ?? headers[GatewayHeaders.graviteeClientIdentifier]
        if sent == nil, uri.query != nil {
            let query = uri.queryDictionary
            sent = ClientIdentifier.headerNames.lazy.compactMap { query[$0] }.first
        }
        if let sent, !ClientIdentifier.isAcceptable(sent) {
            throw GatewayError(
                .badRequest,
                "Invalid client identifier: use at most \(ClientIdentifier.maximumLength) printable ASCII characters without / + # * > $ ; ,")
        }
        return .derived(sent: sent, remoteAddress: remoteAddress)
    }

    func context(
        for target: Target, clientIdentity: ClientIdentity, requestId: String, closeConnection: (@Sendable () -> Void)? = nil,
        clientChannel: (any Channel)? = nil
    ) -> EntrypointContext {
        EntrypointContext(
            apiId: target.api.id, settings: target.entrypoint, endpoint: target.api.endpoint, clientIdentity: clientIdentity,
            stop: target.api.stop, logger: logger, requestId: requestId,
            limits: limits, closeConnection: closeConnection,
            clientChannel: clientChannel)
    }
}

extension URI {
    /// The query parameters as a dictionary (the first value of a repeated name wins).
    var queryDictionary: [String: String] {
        var result: [String: String] = [:]
        for (key, value) in queryParameters where result[String(key)] == nil {
            result[String(key)] = String(value)
        }
        return result
    }
}
