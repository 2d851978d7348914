import ServiceLifecycle

/// Applies the deployments of a shared store (PostgreSQL) every `interval`, so that a deployment
/// made through any gateway node is served by every node within that time.
public struct ManagementSynchroniser: Service {
    let service: ManagementService
    let interval: Duration

    public init(service: ManagementService, interval: Duration) {
        self.service = service
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await service.synchronise()
            }
        }
    }
}
