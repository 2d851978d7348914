import Hummingbird
import Logging
import NIOCore

/// The management API's own listener (default 127.0.0.1:8083), apart from the gateway's.
public enum ManagementServer {
    public static func makeApplication(
        service: ManagementService, host: String, port: Int, open: Bool, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: ManagementRoutes.makeRouter(service: service, options: .init(open: open)),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "Sluice-Management"),
            onServerRunning: onServerRunning,
            logger: logger)
    }
}
