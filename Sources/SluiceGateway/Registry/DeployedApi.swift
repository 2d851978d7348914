import Logging
import SluiceCore
import SluiceEndpoints
import SluiceEntrypoints
import Synchronization

/// The connector types this gateway serves.
public enum GatewayCatalog {
    public static let standard = ConnectorCatalog(endpoints: EndpointTypes.all, entrypoints: EntrypointTypes.all)
}

/// Where a deployed API comes from. Definition files win: the management API cannot replace or
/// remove an API that a `--config` file declares, while a file that declares an API the management
/// API deployed replaces it.
public enum DeploymentOrigin: Sendable, Hashable, CustomStringConvertible {
    case file(String)
    case management

    public var description: String {
        switch self {
        case .file(let path): "file \(path)"
        case .management: "the management API"
        }
    }
}

/// One version of an API as it runs: its validated definition, its started endpoint connector and
/// the signal that ends its open streams when it is replaced or removed.
public final class DeployedApi: Sendable {
    public let api: DeployableApi
    /// The connector of the API's default endpoint (first endpoint of the first group).
    public let endpoint: any EndpointConnector
    public let endpointFactory: any EndpointConnectorFactory
    public let entrypoints: [String: EntrypointSettings]
    public let stop = StopSignal()
    public let deployedAt: ContinuousClock.Instant
    /// Who deployed it: a definition file or the management API.
    public let origin: DeploymentOrigin
    private let active = Mutex(ActiveStreams())

    private struct ActiveStreams {
        var count = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    init(api: DeployableApi, endpoint: any EndpointConnector, endpointFactory: any EndpointConnectorFactory, origin: DeploymentOrigin) {
        self.api = api
        self.origin = origin
        self.endpoint = endpoint
        self.endpointFactory = endpointFactory
        self.entrypoints = Dictionary(api.entrypoints.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
        self.deployedAt = .now
    }

    public var id: String { api.id }

    /// Counts a request or stream in flight; ``finished()`` must follow.
    func started() {
        active.withLock { $0.count += 1 }
    }

    func finished() {
        let waiters = active.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.count -= 1
            guard state.count == 0 else { return [] }
            defer { state.drainWaiters = [] }
            return state.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    public var activeCount: Int { active.withLock { $0.count } }

    /// Waits until nothing is in flight, or the timeout passes.
    func drained(within timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.active.withLock { state -> Bool in
                        if state.count == 0 || Task.isCancelled { return true }
                        state.drainWaiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // Release a drain waiter left behind by the timeout.
            let waiters = self.active.withLock { state -> [CheckedContinuation<Void, Never>] in
                defer { state.drainWaiters = [] }
                return state.drainWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Ends open streams, waits for them (bounded) and closes the broker connections.
    func retire(_ reason: StopSignal.Reason, drainTimeout: Duration, logger: Logger) async {
        stop.fire(reason)
        await drained(within: drainTimeout)
        if activeCount > 0 {
            logger.warning("Streams still open after the drain timeout", metadata: ["api": "\(id)", "open": "\(activeCount)"])
        }
        await endpoint.close()
    }
}
