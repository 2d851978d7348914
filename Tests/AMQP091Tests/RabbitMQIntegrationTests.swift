import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Testing

import AMQP091

/// An isolated RabbitMQ node for a test run, started on first use by
/// `rabbitmq-test-node.sh` (next to this file) and stopped at process exit.
/// If it cannot start, the tests that need it fail when CI=true and are
/// skipped otherwise. `shared` serves the integration tests; `recovery` is
/// the recovery tests' own node (they stop and restart its broker), with its
/// own node name, AMQP port and distribution port.
actor RabbitMQTestNode {
    static let shared = RabbitMQTestNode(nodeName: "sluicetest@localhost", port: 15679, distributionPort: 25673)
    static let recovery = RabbitMQTestNode(nodeName: "sluicerecovery@localhost", port: 15690, distributionPort: 25690)
    static let username = "sluice"
    static let password = "sluice-pass"
    /// The directories of the nodes this process started, for the stop at exit.
    static let runningDirectories = NIOLockedValueBox<[String]>([])

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("rabbitmq-test-node.sh").path
    }

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    let nodeName: String
    let port: Int
    let distributionPort: Int
    /// The node's directory (HOME, config, mnesia, logs).
    nonisolated let directory: String
    private var result: Result<Int, RabbitMQUnavailable>?

    init(nodeName: String, port: Int, distributionPort: Int) {
        self.nodeName = nodeName
        self.port = port
        self.distributionPort = distributionPort
        let short = nodeName.split(separator: "@").first.map(String.init) ?? nodeName
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(short)-rabbitmq-\(getpid())").path
    }

    struct RabbitMQUnavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// Whether the tests should run: always on CI (so a broken broker
    /// fails them), elsewhere only if the node starts.
    static func shouldRun(_ node: RabbitMQTestNode = .shared) async -> Bool {
        if Self.isCI { return true }
        return (try? await node.start()) != nil
    }

    /// Starts the node once; returns its AMQP port.
    func start() async throws -> Int {
        if let result { return try result.get() }
        let outcome = await self.launch()
        self.result = outcome
        return try outcome.get()
    }

    private func launch() async -> Result<Int, RabbitMQUnavailable> {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/rabbitmq/bin/rabbitmq-server") else {
            return .failure(RabbitMQUnavailable(description: "RabbitMQ is not installed (/usr/lib/rabbitmq/bin/rabbitmq-server missing); run apt-get install -y rabbitmq-server"))
        }
        let first = Self.runningDirectories.withLockedValue { directories -> Bool in
            directories.append(self.directory)
            return directories.count == 1
        }
        if first {
            atexit {
                RabbitMQTestNode.stopAtExit()
            }
        }
        let (status, output) = await Self.run([Self.script, "start", self.directory, String(self.port), self.nodeName, String(self.distributionPort)])
        guard status == 0 else {
            return .failure(RabbitMQUnavailable(description: "RabbitMQ node \(self.nodeName) did not start (exit \(status)): \(output)"))
        }
        return .success(self.port)
    }

    /// Runs `rabbitmqctl` against this node (e.g. `stop_app`); returns its
    /// exit status and output.
    @discardableResult
    func ctl(_ arguments: [String]) async -> (Int32, String) {
        await Self.run([Self.script, "ctl", self.directory] + arguments)
    }

    /// Runs the script with posix_spawn + waitpid (Foundation's Process
    /// did not report the script's exit in the test process), output to a
    /// log file so the broker it starts holds no pipe of ours. The wait runs
    /// on a dispatch thread, not on one of the few cooperative threads.
    static func run(_ arguments: [String]) async -> (Int32, String) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.runBlocking(arguments))
            }
        }
    }

    private static func runBlocking(_ arguments: [String]) -> (Int32, String) {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-rabbitmq-\(getpid())-\(UInt64.random(in: 0...UInt64.max))-script.log").path
        let command = arguments.map { "'\($0)'" }.joined(separator: " ") + " > '\(logPath)' 2>&1 < /dev/null; echo $? >> '\(logPath).rc'"
        let words: [String] = ["/bin/bash", "-c", command]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { (word: String) -> UnsafeMutablePointer<CChar>? in strdup(word) } + [nil]
        defer { argv.forEach { free($0) } }
        try? FileManager.default.removeItem(atPath: logPath + ".rc")
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", nil, nil, argv, environ)
        guard spawned == 0 else {
            return (-1, "posix_spawn /bin/bash failed: \(spawned)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        let rcText = (try? String(contentsOfFile: logPath + ".rc", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: logPath)
        try? FileManager.default.removeItem(atPath: logPath + ".rc")
        return (Int32(rcText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, output)
    }

    /// Stops every node this process started (last started first, so the
    /// last one stops epmd).
    static func stopAtExit() {
        let directories = Self.runningDirectories.withLockedValue { $0 }
        for directory in directories.reversed() {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [Self.script, "stop", directory]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try? process.run()
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func configuration(username: String = RabbitMQTestNode.username, password: String = RabbitMQTestNode.password, virtualHost: String = "/") async throws -> AMQPConnectionConfiguration {
        try await Self.shared.configuration(username: username, password: password, virtualHost: virtualHost)
    }

    func configuration(username: String = RabbitMQTestNode.username, password: String = RabbitMQTestNode.password, virtualHost: String = "/") async throws -> AMQPConnectionConfiguration {
        let port: Int
        do {
            port = try await self.start()
        } catch {
            Issue.record("RabbitMQ is required (CI=true) but unavailable: \(error)")
            throw error
        }
        return AMQPConnectionConfiguration(host: "127.0.0.1", port: port, virtualHost: virtualHost, username: username, password: password, heartbeat: 10, connectTimeout: .seconds(10))
    }
}

@Suite("RabbitMQ integration", .serialized, .timeLimit(.minutes(2)), .enabled("RabbitMQ can be started (always attempted when CI=true)") { await RabbitMQTestNode.shouldRun() })
struct RabbitMQIntegrationTests {
    @Test func declareEveryExchangeTypePublishWithConfirmsAndConsume() async throws {
        let connection = try await AMQPConnection.connect(RabbitMQTestNode.configuration())
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        try await channel.basicQos(prefetch: 10)
        let run = UInt32.random(in: 0...UInt32.max)
        var expected: [String: String] = [:]
        for type in ["direct", "fanout", "topic", "headers"] {
            let exchange = "sluice.test.\(type).\(run)"
            try await channel.exchangeDeclare(exchange, type: type, autoDelete: true)
            let queue = try await channel.queueDeclare("sluice.test.q.\(type).\(run)", exclusive: true)
            #expect(queue.messageCount == 0)
            switch type {
            case "topic":
                try await channel.queueBind(queue: queue.queue, exchange: exchange, routingKey: "orders.*")
            case "headers":
                try await channel.queueBind(queue: queue.queue, exchange: exchange, arguments: ["x-match": "all", "kind": "order"])
            default:
                try await channel.queueBind(queue: queue.queue, exchange: exchange, routingKey: "orders.created")
            }
            let body = "hello \(type)"
            try await channel.publish(
                exchange: exchange,
                routingKey: "orders.created",
                body: ByteBuffer(string: body),
                properties: .init(contentType: "text/plain", headers: ["kind": "order"], deliveryMode: AMQPBasicProperties.persistent),
                mandatory: true
            )
            expected[queue.queue] = body
        }
        for (queue, body) in expected {
            let consumer = try await channel.consume(queue: queue)
            var iterator = consumer.makeAsyncIterator()
            let delivery = try #require(try await iterator.next())
            #expect(String(buffer: delivery.body) == body)
            #expect(delivery.properties.contentType == "text/plain")
            try await channel.ack(deliveryTag: delivery.deliveryTag)
            try await channel.cancel(consumerTag: consumer.consumerTag)
            #expect(try await iterator.next() == nil)
            #expect(try await channel.queueDelete(queue) == 0)
        }
        try await channel.close()
        await connection.close()
    }

    @Test func manyConfirmedPublishesAndPrefetchBoundedConsumer() async throws {
        let connection = try await AMQPConnection.connect(RabbitMQTestNode.configuration())
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let queue = try await channel.queueDeclare(exclusive: true).queue
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    try await channel.publish(exchange: "", routingKey: queue, body: ByteBuffer(string: "m\(i)"))
                }
            }
            try await group.waitForAll()
        }
        let consumerChannel = try await connection.openChannel()
        try await consumerChannel.basicQos(prefetch: 5)
        var received = Set<String>()
        for try await delivery in try await consumerChannel.consume(queue: queue) {
            received.insert(String(buffer: delivery.body))
            try await consumerChannel.ack(deliveryTag: delivery.deliveryTag)
            if received.count == 200 { break }
        }
        #expect(received.count == 200)
        // Leaving the loop cancelled the consumer on the broker.
        var consumers: UInt32 = 1
        for _ in 0..<50 where consumers > 0 {
            consumers = try await consumerChannel.queueDeclare(queue, exclusive: true, passive: true).consumerCount
            if consumers > 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(consumers == 0)
        await connection.close()
    }

    @Test func wrongPasswordIsAClearError() async throws {
        let configuration = try await RabbitMQTestNode.configuration(password: "wrong")
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("connect with a wrong password succeeded")
        } catch {
            #expect(error.code == .authenticationFailed)
            #expect(error.replyCode == 403)
            #expect(error.message.contains("ACCESS_REFUSED"))
        }
    }

    @Test func unknownVirtualHostIsAClearError() async throws {
        let configuration = try await RabbitMQTestNode.configuration(virtualHost: "no-such-vhost")
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("connect to an unknown vhost succeeded")
        } catch {
            #expect(error.code == .virtualHostNotAllowed)
            #expect(error.replyCode == 530)
        }
    }

    @Test func refusedPortIsAClearError() async throws {
        var configuration = try await RabbitMQTestNode.configuration()
        configuration.port = try await unusedPort()  // nothing listens there
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("connect to a closed port succeeded")
        } catch {
            #expect(error.code == .connectFailed)
        }
    }

    @Test func tlsHandshakeFailureIsAClearError() async throws {
        var configuration = try await RabbitMQTestNode.configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        configuration.tls = tls  // the node only speaks plain AMQP on this port
        configuration.tlsServerHostname = "localhost"
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("TLS to a plain port succeeded")
        } catch {
            #expect(error.code == .tlsFailure)
        }
    }

    @Test func clashingExchangeDeclareIsPreconditionFailed() async throws {
        let connection = try await AMQPConnection.connect(RabbitMQTestNode.configuration())
        let channel = try await connection.openChannel()
        let name = "sluice.test.clash.\(UInt32.random(in: 0...UInt32.max))"
        try await channel.exchangeDeclare(name, type: "direct", autoDelete: true)
        do {
            try await channel.exchangeDeclare(name, type: "fanout", autoDelete: true)
            Issue.record("clashing declare succeeded")
        } catch {
            #expect(error.code == .channelClosedByServer)
            #expect(error.replyCode == 406)
            #expect(error.replyText?.contains("PRECONDITION_FAILED") == true)
        }
        // The channel is gone; the connection still works.
        await #expect(throws: AMQPClientError.self) { try await channel.queueDeclare(exclusive: true) }
        let other = try await connection.openChannel()
        try await other.exchangeDelete(name)
        await connection.close()
    }

    @Test func unroutableMandatoryPublishFails() async throws {
        let connection = try await AMQPConnection.connect(RabbitMQTestNode.configuration())
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let exchange = "sluice.test.unroutable.\(UInt32.random(in: 0...UInt32.max))"
        try await channel.exchangeDeclare(exchange, type: "direct", autoDelete: true)
        do {
            try await channel.publish(exchange: exchange, routingKey: "nobody", body: ByteBuffer(string: "lost"), mandatory: true)
            Issue.record("unroutable mandatory publish succeeded")
        } catch {
            #expect(error.code == .publishReturned)
            #expect(error.replyCode == 312)
        }
        // Without mandatory the broker acks and drops it.
        try await channel.publish(exchange: exchange, routingKey: "nobody", body: ByteBuffer(string: "dropped"))
        await connection.close()
    }

    @Test func closingTheConnectionFailsPendingOperations() async throws {
        let connection = try await AMQPConnection.connect(RabbitMQTestNode.configuration())
        let channel = try await connection.openChannel()
        let queue = try await channel.queueDeclare(exclusive: true).queue
        let consumer = try await channel.consume(queue: queue)
        await connection.close()
        await #expect(throws: AMQPClientError.self) {
            for try await _ in consumer {}
        }
        await #expect(throws: AMQPClientError.self) { try await channel.queueDeclare(exclusive: true) }
        await #expect(throws: AMQPClientError.self) { try await connection.openChannel() }
    }
}

/// A loopback TCP port nothing listens on (bound, then released).
func unusedPort() async throws -> Int {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
    let port = server.localAddress?.port ?? 1
    try await server.close()
    return port
}
