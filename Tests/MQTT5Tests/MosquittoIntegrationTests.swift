#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MQTT5
import NIOCore
import NIOSSL
import Testing
import TestProcesses

/// A Mosquitto broker started for one test: an anonymous listener on `port` and a
/// password-protected listener (user "user", password "pass") on `passwordPort`, both on
/// 127.0.0.1. Stopped by PID.
final class MosquittoBroker {
    static let executable = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    /// Tests run when Mosquitto is installed, and always on CI (where a missing broker fails).
    static var shouldRun: Bool { executable != nil || isCI }

    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    let port: Int
    let passwordPort: Int
    let directory: URL
    private let process: Process

    init(port: Int) throws {
        guard let executable = Self.executable else {
            throw StartError(description: "mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients); CI=true requires it")
        }
        self.port = port
        self.passwordPort = port + 1
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt5-mosquitto-\(port)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        let passwordFile = self.directory.appendingPathComponent("passwd").path
        try Self.runTool("mosquitto_passwd", ["-b", "-c", passwordFile, "user", "pass"])
        chmod(passwordFile, 0o600)
        let config = """
            per_listener_settings true
            persistence false
            user root
            log_dest stderr
            listener \(port) 127.0.0.1
            allow_anonymous true
            listener \(port + 1) 127.0.0.1
            allow_anonymous false
            password_file \(passwordFile)

            """
        let configFile = self.directory.appendingPathComponent("mosquitto.conf")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", configFile.path]
        let log = self.directory.appendingPathComponent("mosquitto.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        // Wait until both listeners accept connections.
        let deadline = Date().addingTimeInterval(10)
        while !(Self.canConnect(port: port) && Self.canConnect(port: port + 1)) {
            guard process.isRunning, Date() < deadline else {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                self.stop()
                throw StartError(description: "mosquitto did not start on 127.0.0.1:\(port)/\(port + 1): \(output)")
            }
            usleep(50_000)
        }
    }

    func stop() {
        let pid = self.process.processIdentifier
        if self.process.isRunning {
            // SIGKILL, not SIGTERM: the test process blocks SIGTERM and children inherit the
            // blocked mask across exec, so mosquitto would never see a SIGTERM.
            kill(pid, SIGKILL)
            self.process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: self.directory)
    }

    deinit { self.stop() }

    static func canConnect(port: Int) -> Bool { TestProcesses.canConnect(port: port) }

    @discardableResult
    static func runTool(_ name: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [name] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StartError(description: "\(name) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return process.terminationStatus
    }

    func configuration(clientID: String, password: Bool = false) -> MQTTClientConfiguration {
        MQTTClientConfiguration(
            host: "127.0.0.1",
            port: password ? self.passwordPort : self.port,
            connect: MQTTConnectSettings(clientIdentifier: clientID, keepAlive: 30),
            connectTimeout: .seconds(5)
        )
    }
}

/// Starts a broker on its own ports for the duration of `body`.
func withMosquitto<R>(port: Int, _ body: (MosquittoBroker) async throws -> R) async throws -> R {
    let broker: MosquittoBroker
    do {
        broker = try MosquittoBroker(port: port)
    } catch {
        Issue.record("Mosquitto could not be started: \(error)")
        throw error
    }
    defer { broker.stop() }
    return try await body(broker)
}

extension MQTTClientSubscription {
    /// Reads `count` messages, failing after `timeout`.
    func collect(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [MQTTMessage] {
        try await withThrowingTaskGroup(of: [MQTTMessage].self) { group in
            group.addTask {
                var messages: [MQTTMessage] = []
                for try await message in self {
                    messages.append(message)
                    if messages.count == count { break }
                }
                return messages
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw MQTTClientError(kind: .cancelled, message: "timed out waiting for \(count) messages")
            }
            let result = try await group.next()!
            group.cancelAll()
            return result
        }
    }
}

@Suite("Mosquitto integration", .enabled(if: MosquittoBroker.shouldRun))
struct MosquittoIntegrationTests {
    @Test func publishQoS012AndReceive() async throws {
        try await withMosquitto(port: 18830) { broker in
            try await MQTTClient.withConnection(configuration: broker.configuration(clientID: "qos")) { client in
                #expect(client.connectionInfo.clientIdentifier == "qos")
                let subscription = try await client.subscribe("qos/#", options: MQTTSubscriptionOptions(maximumQoS: .exactlyOnce))
                #expect(subscription.grantedReasonCode == .grantedQoS2)
                try await client.publish(topic: "qos/0", payload: "zero", qos: .atMostOnce)
                try await client.publish(topic: "qos/1", payload: "one", qos: .atLeastOnce)
                try await client.publish(topic: "qos/2", payload: "two", qos: .exactlyOnce)
                let messages = try await subscription.collect(3)
                #expect(messages.map(\.topic) == ["qos/0", "qos/1", "qos/2"])
                #expect(messages.map { String(buffer: $0.payload) } == ["zero", "one", "two"])
                #expect(messages.map(\.qos) == [.atMostOnce, .atLeastOnce, .exactlyOnce])
                try await client.unsubscribe(subscription)
                var iterator = subscription.makeAsyncIterator()
                #expect(try await iterator.next() == nil)
            }
        }
    }

    @Test func receiveFromMosquittoPub() async throws {
        try await withMosquitto(port: 18832) { broker in
            try await MQTTClient.withConnection(configuration: broker.configuration(clientID: "sub")) { client in
                let subscription = try await client.subscribe("ext/+", options: MQTTSubscriptionOptions(maximumQoS: .atLeastOnce))
                try MosquittoBroker.runTool("mosquitto_pub", ["-V", "mqttv5", "-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "ext/a", "-m", "from outside", "-q", "1", "-D", "publish", "user-property", "k", "v"])
                let messages = try await subscription.collect(1)
                #expect(messages.first?.topic == "ext/a")
                #expect(messages.first.map { String(buffer: $0.payload) } == "from outside")
                #expect(messages.first?.properties.userProperties == [MQTTUserProperty(name: "k", value: "v")])
            }
        }
    }

    @Test func retainedMessageToLateSubscriber() async throws {
        try await withMosquitto(port: 18834) { broker in
            try await MQTTClient.withConnection(configuration: broker.configuration(clientID: "retainer")) { client in
                try await client.publish(topic: "retained/x", payload: "kept", qos: .atLeastOnce, retain: true)
            }
            try await MQTTClient.withConnection(configuration: broker.configuration(clientID: "late")) { client in
                let subscription = try await client.subscribe("retained/#", options: MQTTSubscriptionOptions(maximumQoS: .atLeastOnce))
                let messages = try await subscription.collect(1)
                #expect(messages.first?.retain == true)
                #expect(messages.first.map { String(buffer: $0.payload) } == "kept")
            }
        }
    }

    @Test func userPropertiesRoundTrip() async throws {
        try await withMosquitto(port: 18836) { broker in
            try await MQTTClient.withConnection(configuration: broker.configuration(clientID: "props")) { client in
                let subscription = try await client.subscribe("props/t", options: MQTTSubscriptionOptions(maximumQoS: .exactlyOnce))
                let properties = MQTTProperties(
                    contentType: "text/plain",
                    responseTopic: "props/reply",
                    correlationData: ByteBuffer(string: "corr"),
                    userProperties: [MQTTUserProperty(name: "a", value: "1"), MQTTUserProperty(name: "a", value: "2"), MQTTUserProperty(name: "b", value: "ü")]
                )
                try await client.publish(topic: "props/t", payload: "p", qos: .exactlyOnce, properties: properties)
                let message = try #require(try await subscription.collect(1).first)
                #expect(message.properties.userProperties == properties.userProperties)
                #expect(message.properties.contentType == "text/plain")
                #expect(message.properties.responseTopic == "props/reply")
                #expect(message.properties.correlationData == ByteBuffer(string: "corr"))
            }
        }
    }

    @Test func passwordListener() async throws {
        try await withMosquitto(port: 18838) { broker in
            var wrong = broker.configuration(clientID: "pw", password: true)
            wrong.connect.username = "user"
            wrong.connect.password = ByteBuffer(string: "wrong")
            do {
                _ = try await MQTTClient.connect(configuration: wrong)
                Issue.record("connect with a wrong password succeeded")
            } catch let error as MQTTClientError {
                #expect(error.kind == .connectionRefusedByServer)
                #expect(error.reasonCode == .badUserNameOrPassword || error.reasonCode == .notAuthorized, "\(error)")
            }
            var right = wrong
            right.connect.password = ByteBuffer(string: "pass")
            try await MQTTClient.withConnection(configuration: right) { client in
                try await client.publish(topic: "pw/ok", payload: "ok", qos: .atLeastOnce)
            }
        }
    }

    @Test func connectionRefusedPortFailsWithinTimeout() async throws {
        // Start a broker anyway so that this suite's environment check is meaningful, then
        // connect to a port nobody listens on.
        try await withMosquitto(port: 18840) { _ in
            let configuration = MQTTClientConfiguration(host: "127.0.0.1", port: 18849, connectTimeout: .seconds(3))
            let start = ContinuousClock.now
            do {
                _ = try await MQTTClient.connect(configuration: configuration)
                Issue.record("connect to a closed port succeeded")
            } catch let error as MQTTClientError {
                #expect(error.kind == .connectionFailed || error.kind == .connectTimeout, "\(error)")
            }
            // Never a hang: the connect timeout (3 s) bounds it. The bound is loose because the
            // whole suite shares two cores with tests that block threads making fixtures.
            #expect(ContinuousClock.now - start < .seconds(60))
        }
    }

    @Test func tlsAgainstPlainListenerFailsClearly() async throws {
        try await withMosquitto(port: 18842) { broker in
            var configuration = broker.configuration(clientID: "tls")
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            configuration.tls = tls
            configuration.connectTimeout = .seconds(3)
            let start = ContinuousClock.now
            do {
                _ = try await MQTTClient.connect(configuration: configuration)
                Issue.record("TLS connect to a plain listener succeeded")
            } catch let error as MQTTClientError {
                #expect(error.kind == .tlsFailure || error.kind == .connectionClosed || error.kind == .connectTimeout, "\(error)")
            }
            // Never a hang: the connect timeout (3 s) bounds it. The bound is loose because the
            // whole suite shares two cores with tests that block threads making fixtures.
            #expect(ContinuousClock.now - start < .seconds(60))
        }
    }

    @Test func boundedSubscriptionBufferLosesNothing() async throws {
        try await withMosquitto(port: 18844) { broker in
            var configuration = broker.configuration(clientID: "slow")
            configuration.subscriptionBufferSize = 2
            configuration.connect.receiveMaximum = 3
            try await MQTTClient.withConnection(configuration: configuration) { consumer in
                let subscription = try await consumer.subscribe("flood/#", options: MQTTSubscriptionOptions(maximumQoS: .atLeastOnce))
                try await MQTTClient.withConnection(configuration: broker.configuration(clientID: "fast")) { producer in
                    for index in 0..<30 {
                        try await producer.publish(topic: "flood/\(index)", payload: "\(index)", qos: .atLeastOnce)
                    }
                }
                // Nothing was consumed while 30 messages were published; all still arrive in order.
                let messages = try await subscription.collect(30)
                #expect(messages.map { String(buffer: $0.payload) } == (0..<30).map(String.init))
            }
        }
    }

    @Test func pendingOperationsFailWhenConnectionDrops() async throws {
        let broker = try MosquittoBroker(port: 18846)
        let client = try await MQTTClient.connect(configuration: broker.configuration(clientID: "drop"))
        let subscription = try await client.subscribe("drop/#")
        broker.stop()
        do {
            for try await _ in subscription {}
            Issue.record("subscription finished without error")
        } catch {
            #expect(error.kind == .connectionClosed || error.kind == .serverDisconnected, "\(error)")
        }
        await client.waitUntilClosed()
        await #expect(throws: MQTTClientError.self) {
            try await client.publish(topic: "drop/x", payload: "late", qos: .atLeastOnce)
        }
    }
}
