import Foundation
import Synchronization
import TestProcesses

/// One RabbitMQ node for the gateway tests, started on first use with
/// `Tests/AMQP091Tests/rabbitmq-test-node.sh` and stopped when the test process exits. Node
/// `sluicegateway@localhost` (distribution port 25681) with a plain listener on 15681 and a TLS
/// listener on 15682 that requires a client certificate (RabbitMQ's TLS options are node-wide);
/// virtual host `sluice-vh` with user `gateway` (its own password), besides the default user
/// `sluice` on `/`.
final class RabbitMQServer: Sendable {
    static let port = 15681
    static let tlsPort = 15682
    static let virtualHost = "sluice-vh"
    static let user = "gateway"
    static let password = "gw-\(UUID().uuidString.prefix(8))"

    let directory: URL
    let certificates: TestCertificates

    /// Started once, by the first test that asks; a failure is thrown to every test.
    private static let startup = Task { try await RabbitMQServer.start() }
    private static let running = Mutex<RabbitMQServer?>(nil)

    /// The running node.
    static func shared() async throws -> RabbitMQServer {
        try await startup.value
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AMQP091Tests/rabbitmq-test-node.sh").path
    }

    static let environment = ["RABBITMQ_TEST_NODENAME": "sluicegateway@localhost", "RABBITMQ_TEST_DIST_PORT": "25681"]

    private static func start() async throws -> RabbitMQServer {
        let server = try RabbitMQServer()
        atexit { RabbitMQServer.stopAtExit() }
        running.withLock { $0 = server }
        let (status, output) = try await TestProcesses.runDetached(
            ["/bin/bash", script, "start", server.directory.path, String(port)], environment: environment)
        guard status == 0 else { throw Failure("RabbitMQ did not start (exit \(status)): \(output)") }
        return server
    }

    private init() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/rabbitmq/bin/rabbitmq-server") else {
            throw Failure("RabbitMQ is not installed (/usr/lib/rabbitmq/bin/rabbitmq-server): run scripts/setup.sh")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-gateway-rabbitmq-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certificates = try TestCertificates(directory: directory)
        try """
            listeners.ssl.1 = 127.0.0.1:\(Self.tlsPort)
            ssl_options.cacertfile = \(certificates.caCertificate)
            ssl_options.certfile = \(certificates.serverCertificate)
            ssl_options.keyfile = \(certificates.serverKey)
            ssl_options.verify = verify_peer
            ssl_options.fail_if_no_peer_cert = true

            """.write(to: directory.appendingPathComponent("extra.conf"), atomically: true, encoding: .utf8)
        try """
            rabbitmqctl -q add_vhost \(Self.virtualHost)
            rabbitmqctl -q add_user \(Self.user) '\(Self.password)'
            rabbitmqctl -q set_permissions -p \(Self.virtualHost) \(Self.user) '.*' '.*' '.*'
            """.write(to: directory.appendingPathComponent("setup.sh"), atomically: true, encoding: .utf8)
    }

    /// Runs rabbitmqctl against the node.
    func control(_ arguments: [String]) async throws -> String {
        var environment = Self.environment
        environment["HOME"] = directory.appendingPathComponent("home").path
        environment["RABBITMQ_NODENAME"] = Self.environment["RABBITMQ_TEST_NODENAME"]
        let (status, output) = try await TestProcesses.runDetached(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q"] + arguments, environment: environment)
        guard status == 0 else { throw Failure("rabbitmqctl \(arguments.joined(separator: " ")) failed: \(output)") }
        return output
    }

    static func stopAtExit() {
        guard let server = running.withLock({ $0 }) else { return }
        _ = try? TestProcesses.run(["/bin/bash", script, "stop", server.directory.path], environment: environment)
        try? FileManager.default.removeItem(at: server.directory)
    }
}

/// A RabbitMQ API on `/<id>`: POST (request headers to the message), SSE (headers and metadata as
/// comments), WebSocket and HTTP GET, in front of the node with the given shared configuration.
func rabbitDefinition(id: String, host: String = "127.0.0.1", port: Int = RabbitMQServer.port, virtualHost: String = "/", shared: String, sseQoS: String = "auto") -> String {
    messageAPIDefinition(
        id: id, type: "rabbitmq", configuration: "{serverHost: \(host), serverPort: \(port), virtualHost: \"\(virtualHost)\"}", shared: shared, sseQoS: sseQoS,
        getDuration: 2000)
}
