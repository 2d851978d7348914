import Logging
import SluiceCore
import Synchronization

/// The APIs being served. Deploys build the new routing table aside and swap it in at once, so a
/// request sees either the old table or the new one; the replaced version is retired afterwards
/// (its streams get `goaway`, its connections close) without touching other APIs.
public final class ApiRegistry: Sendable {
    public let catalog: ConnectorCatalog
    let logger: Logger
    let drainTimeout: Duration
    let fanOut: FanOutSettings
    private let state = Mutex(State())
    private let retirements: AsyncStream<Retirement>.Continuation
    let retirementQueue: AsyncStream<Retirement>

    struct Retirement: Sendable {
        let api: DeployedApi
        let reason: StopSignal.Reason
    }

    private struct State {
        var table = RoutingTable(apis: [:])
        var stopping = false
    }

    public init(catalog: ConnectorCatalog, logger: Logger, drainTimeout: Duration = .seconds(5), fanOut: FanOutSettings = FanOutSettings()) {
        self.catalog = catalog
        self.logger = logger
        self.drainTimeout = drainTimeout
        self.fanOut = fanOut
        (retirementQueue, retirements) = AsyncStream.makeStream(of: Retirement.self)
    }

    /// The current routing table (a value: safe to use after the registry changed).
    public var table: RoutingTable { state.withLock { $0.table } }

    public var isStopping: Bool { state.withLock { $0.stopping } }

    public var deployed: [DeployedApi] { table.apis.values.sorted { $0.id < $1.id } }

    public func api(id: String) -> DeployedApi? { table.apis[id] }

    /// The problems that would stop `api` from being served beside the APIs already deployed.
    public func conflicts(for api: DeployableApi) -> [Problem] {
        RouteConflicts.problems(adding: api, to: table.apis.values.map(\.api))
    }

    /// Deploys (or redeploys) an API: connects its endpoint, then swaps it in. An API whose
    /// revision is already deployed from the same origin is left alone. Throws with the problems
    /// if it cannot run, or if `origin` may not replace the deployed version (files win, see
    /// ``DeploymentOrigin``).
    @discardableResult
    public func deploy(_ api: DeployableApi, origin: DeploymentOrigin) async throws -> DeployedApi {
        if let current = table.apis[api.id] {
            if let refusal = Self.refusal(replacing: current, by: origin) { throw DeploymentError(apiId: api.id, problems: [refusal]) }
            if current.api.revision == api.revision, current.origin == origin { return current }
        }
        let conflicts = conflicts(for: api)
        guard conflicts.isEmpty else { throw DeploymentError(apiId: api.id, problems: conflicts) }
        let group = api.defaultEndpointGroup
        guard let factory = catalog.endpoints[group.type], let settings = group.endpoints.first else {
            throw DeploymentError(apiId: api.id, problems: [Problem(.root + "endpointGroups", "no endpoint to connect to")])
        }
        var apiLogger = logger
        apiLogger[metadataKey: "api"] = "\(api.id)"
        let connector = FanOutConnector(base: try factory.makeConnector(settings), settings: fanOut, logger: apiLogger)
        do {
            try await connector.start()
        } catch {
            await connector.close()
            throw error
        }
        let deployed = DeployedApi(api: api, endpoint: connector, endpointFactory: factory, origin: origin)
        let outcome = state.withLock { state -> (replaced: DeployedApi?, refused: [Problem]) in
            guard !state.stopping else { return (nil, [Problem(.root, "the gateway is stopping")]) }
            // Checked again under the lock: another deploy may have claimed the paths meanwhile.
            let others = state.table.apis.values.map(\.api)
            let conflicts = RouteConflicts.problems(adding: api, to: others)
            guard conflicts.isEmpty else { return (nil, conflicts) }
            let replaced = state.table.apis[api.id]
            if let replaced, let refusal = Self.refusal(replacing: replaced, by: origin) { return (nil, [refusal]) }
            var apis = state.table.apis
            apis[api.id] = deployed
            state.table = RoutingTable(apis: apis)
            return (replaced, [])
        }
        guard outcome.refused.isEmpty else {
            await connector.close()
            throw DeploymentError(apiId: api.id, problems: outcome.refused)
        }
        if let replaced = outcome.replaced {
            // Streams of the old version end now; closing its connections may take longer.
            replaced.stop.fire(.undeployed)
            retirements.yield(Retirement(api: replaced, reason: .undeployed))
            if replaced.origin != origin {
                logger.warning(
                    "API deployed by the management API replaced by a definition file (files win)",
                    metadata: ["api": "\(api.id)", "origin": "\(origin)"])
            }
            logger.info("API redeployed", metadata: ["api": "\(api.id)", "revision": "\(api.revision)"])
        } else {
            logger.info(
                "API deployed",
                metadata: ["api": "\(api.id)", "revision": "\(api.revision)", "paths": "\(api.paths.map(\.path).joined(separator: ","))"])
        }
        return deployed
    }

    /// Why `origin` may not replace or remove `current`, if it may not.
    static func refusal(replacing current: DeployedApi, by origin: DeploymentOrigin) -> Problem? {
        guard origin == .management, case .file(let path) = current.origin else { return nil }
        return Problem(.root + "id", "API \(current.id) is declared in the definition file \(path), which wins over the management API: change it there")
    }

    /// Stops serving an API: new requests get 404, open streams get `goaway`.
    public func undeploy(id: String) {
        try? remove(id: id, by: nil)
    }

    /// Stops serving an API if `origin` may remove it (see ``DeploymentOrigin``); throws the
    /// refusal otherwise. Nothing deployed under `id` is not an error.
    public func undeploy(id: String, by origin: DeploymentOrigin) throws(DeploymentError) {
        try remove(id: id, by: origin)
    }

    private func remove(id: String, by origin: DeploymentOrigin?) throws(DeploymentError) {
        let (removed, refusal) = state.withLock { state -> (DeployedApi?, Problem?) in
            guard let removed = state.table.apis[id] else { return (nil, nil) }
            if let origin, let refusal = Self.refusal(replacing: removed, by: origin) { return (nil, refusal) }
            var apis = state.table.apis
            apis[id] = nil
            state.table = RoutingTable(apis: apis)
            return (removed, nil)
        }
        if let refusal { throw DeploymentError(apiId: id, problems: [refusal]) }
        if let removed {
            removed.stop.fire(.undeployed)
            retirements.yield(Retirement(api: removed, reason: .undeployed))
            logger.info("API undeployed", metadata: ["api": "\(id)"])
        }
    }

    /// Processes retirements until the stream ends; run by ``GatewayService``.
    func runRetirements() async {
        await withTaskGroup(of: Void.self) { group in
            for await retirement in retirementQueue {
                group.addTask {
                    await retirement.api.retire(retirement.reason, drainTimeout: self.drainTimeout, logger: self.logger)
                }
            }
        }
    }

    /// Begins shutdown: refuses new work, ends every stream with `goaway` and closes every
    /// connection, waiting at most `drainTimeout`.
    func shutdown() async {
        let apis = state.withLock { state -> [DeployedApi] in
            state.stopping = true
            defer { state.table = RoutingTable(apis: [:]) }
            return Array(state.table.apis.values)
        }
        retirements.finish()
        await withTaskGroup(of: Void.self) { group in
            for api in apis {
                group.addTask { await api.retire(.shutdown, drainTimeout: self.drainTimeout, logger: self.logger) }
            }
        }
    }
}

/// A deploy that was refused, with every reason.
public struct DeploymentError: Error, CustomStringConvertible, Sendable {
    public let apiId: String
    public let problems: [Problem]

    public var description: String {
        "API '\(apiId)' cannot be deployed: " + problems.map(\.description).joined(separator: "; ")
    }
}

/// Maps a request's host and path to the API that serves it: the host-specific paths first, then
/// the longest path prefix (on segment boundaries).
public struct RoutingTable: Sendable {
    public let apis: [String: DeployedApi]
    private let routes: [Route]
    /// Some listener path names a host (otherwise the request's host is not looked at).
    private let routesByHost: Bool

    struct Route: Sendable {
        let host: String?
        let path: String
        let api: DeployedApi
    }

    init(apis: [String: DeployedApi]) {
        self.apis = apis
        var routes: [Route] = []
        for api in apis.values {
            for path in api.api.paths {
                routes.append(Route(host: path.host?.lowercased(), path: path.normalizedPath, api: api))
            }
        }
        // Most specific first: a host before none, then longer paths before shorter ones.
        routes.sort { lhs, rhs in
            if (lhs.host != nil) != (rhs.host != nil) { return lhs.host != nil }
            return lhs.path.count > rhs.path.count
        }
        self.routes = routes
        routesByHost = routes.contains { $0.host != nil }
    }

    public func route(host: String?, path: String) -> DeployedApi? {
        let requestHost = routesByHost ? host.map(Self.hostWithoutPort)?.lowercased() : nil
        let requestPath = ListenerPath.normalize(path)
        for route in routes {
            if let routeHost = route.host, routeHost != requestHost { continue }
            if Self.matches(prefix: route.path, path: requestPath) { return route.api }
        }
        return nil
    }

    /// Whether `path` is `prefix` or lies under it, on a segment boundary. Compared byte for
    /// byte, as URL paths are.
    static func matches(prefix: String, path: String) -> Bool {
        if prefix == "/" { return true }
        let prefix = prefix.utf8, path = path.utf8
        guard path.starts(with: prefix) else { return false }
        let end = path.index(path.startIndex, offsetBy: prefix.count)
        return end == path.endIndex || path[end] == UInt8(ascii: "/")
    }

    static func hostWithoutPort(_ host: String) -> String {
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            return String(host[...end])
        }
        if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            return String(host[..<colon])
        }
        return host
    }
}
