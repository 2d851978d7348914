#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MQTT5
import NIOCore
import Testing
import TestProcesses

/// A Mosquitto on 127.0.0.1:`port` that can be stopped (SIGTERM: graceful, saves its
/// persistence database; SIGKILL: a crash), paused, and started again on the same port with the
/// same persistence directory. Logs everything (`log_type all`) to one file across restarts.
///
/// Spawned with ``TestProcesses/spawn(_:output:)`` so that it sees a SIGTERM.
final class RestartableMosquitto {
    let port: Int
    let directory: URL
    private var pid: pid_t = 0

    init(port: Int, persistence: Bool) throws {
        guard MosquittoBroker.executable != nil else {
            throw MosquittoBroker.StartError(description: "mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients)")
        }
        self.port = port
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt5-session-\(port)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        try self.start(persistence: persistence)
    }

    deinit {
        self.stop(graceful: false)
        try? FileManager.default.removeItem(at: self.directory)
    }

    var logPath: String { self.directory.appendingPathComponent("mosquitto.log").path }

    var isRunning: Bool { self.pid != 0 }

    /// Starts the broker; with `persistence`, sessions and queued messages are restored from
    /// (and saved to) the directory.
    func start(persistence: Bool) throws {
        precondition(self.pid == 0, "already running")
        let config = """
            persistence \(persistence)
            persistence_location \(self.directory.path)/
            autosave_interval 1
            max_queued_messages 0
            user root
            log_dest stderr
            log_type all
            listener \(self.port) 127.0.0.1
            allow_anonymous true

            """
        let configPath = self.directory.appendingPathComponent("mosquitto.conf").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        self.pid = try Self.spawn([MosquittoBroker.executable!, "-c", configPath], output: self.logPath)
        let deadline = Date().addingTimeInterval(10)
        while !MosquittoBroker.canConnect(port: self.port) {
            var status: Int32 = 0
            if waitpid(self.pid, &status, WNOHANG) == self.pid || Date() > deadline {
                self.pid = 0
                throw MosquittoBroker.StartError(description: "mosquitto did not start on 127.0.0.1:\(self.port): \(self.log)")
            }
            usleep(20_000)
        }
    }

    /// Stops the broker: SIGTERM (it saves persistence and exits) or SIGKILL.
    func stop(graceful: Bool) {
        guard self.pid != 0 else { return }
        TestProcesses.stop(self.pid, graceful: graceful)
        self.pid = 0
    }

    /// SIGSTOP / SIGCONT: the broker stops answering but keeps its sockets.
    func pause() { kill(self.pid, SIGSTOP) }
    func resume() { kill(self.pid, SIGCONT) }

    var log: String { (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? "" }

    /// How many log lines contain `text` (over all runs).
    func logLines(containing text: String) -> Int {
        self.log.split(separator: "\n").filter { $0.contains(text) }.count
    }

    func publish(_ topic: String, _ payload: String) throws {
        try MosquittoBroker.runTool("mosquitto_pub", ["-V", "mqttv5", "-h", "127.0.0.1", "-p", "\(self.port)", "-t", topic, "-m", payload, "-q", "1"])
    }

    private static func spawn(_ arguments: [String], output: String) throws -> pid_t {
        try TestProcesses.spawn(arguments, output: output)
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
private func eventually(within timeout: Duration = .seconds(15), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return true
}

/// Collects what concurrent tasks observed.
private actor Recorder {
    private(set) var succeeded: Set<Int> = []
    private(set) var failed: [Int: MQTTClientError] = [:]
    private(set) var received: Set<String> = []

    func success(_ index: Int) { self.succeeded.insert(index) }
    func failure(_ index: Int, _ error: MQTTClientError) { self.failed[index] = error }
    func receive(_ payload: String) { self.received.insert(payload) }
}

@Suite("MQTTSession against Mosquitto", .enabled(if: MosquittoBroker.shouldRun), .timeLimit(.minutes(2)))
struct MQTTSessionIntegrationTests {
    /// Ports 18900–18919 belong to this suite.
    static func configuration(port: Int, clientID: String, keepAlive: UInt16 = 5) -> MQTTClientConfiguration {
        MQTTClientConfiguration(
            host: "127.0.0.1",
            port: port,
            connect: MQTTConnectSettings(clientIdentifier: clientID, cleanStart: false, keepAlive: keepAlive, sessionExpiryInterval: 300),
            connectTimeout: .seconds(3)
        )
    }

    static let retry = MQTTRetryPolicy(maximumRetries: 10, initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(500))

    static let qos1 = MQTTSubscriptionOptions(maximumQoS: .atLeastOnce)

    @Test func subscriptionResumesAfterBrokerRestartWithSessionPresent() async throws {
        let broker = try RestartableMosquitto(port: 18900, persistence: true)
        let session = try await MQTTSession.connect(configuration: Self.configuration(port: 18900, clientID: "resume-sub"), retry: Self.retry)
        let subscription = try await session.subscribe("resume/#", options: Self.qos1)
        try broker.publish("resume/a", "before")
        #expect(try await subscription.collect(1).map { String(buffer: $0.payload) } == ["before"])

        broker.stop(graceful: true)  // saves the session (subscription) to disk
        #expect(await eventually { !session.isConnected })
        try broker.start(persistence: true)
        // Published while the client may still be away: queued in its session.
        try broker.publish("resume/b", "while away")
        #expect(await eventually { session.isConnected && session.reconnectCount == 1 })
        #expect(session.connectionInfo?.sessionPresent == true)
        try broker.publish("resume/c", "after")

        // Same subscription object, same iterator semantics: the messages simply keep coming.
        let payloads = try await subscription.collect(2).map { String(buffer: $0.payload) }
        #expect(payloads == ["while away", "after"])
        // Session present: the client did not subscribe again.
        #expect(broker.logLines(containing: "Received SUBSCRIBE from resume-sub") == 1, "\(broker.log)")
        await session.disconnect()
        #expect(session.closeError == nil)
    }

    @Test func manuallyAcknowledgedMessagesAreRedeliveredUntilAcknowledged() async throws {
        let broker = try RestartableMosquitto(port: 18912, persistence: false)
        let first = try await MQTTSession.connect(configuration: Self.configuration(port: 18912, clientID: "manual-ack"), retry: Self.retry)
        let subscription = try await first.subscribe("manual/#", options: Self.qos1, acknowledgement: .manual)
        try broker.publish("manual/a", "acknowledged")
        try broker.publish("manual/a", "left unacknowledged")
        let received = try await subscription.collect(2)
        #expect(received.map { String(buffer: $0.payload) } == ["acknowledged", "left unacknowledged"])
        #expect(received.allSatisfy { $0.needsAcknowledgement })
        received[0].acknowledge()
        received[0].acknowledge()  // a second call does nothing
        #expect(await eventually { broker.logLines(containing: "Received PUBACK from manual-ack") == 1 })
        await first.disconnect()  // the session (expiry 300 s) keeps the unacknowledged message

        let second = try await MQTTSession.connect(configuration: Self.configuration(port: 18912, clientID: "manual-ack"), retry: Self.retry)
        #expect(second.connectionInfo?.sessionPresent == true)
        let again = try await second.subscribe("manual/#", options: Self.qos1, acknowledgement: .manual)
        let redelivered = try await again.collect(1)
        #expect(redelivered.map { String(buffer: $0.payload) } == ["left unacknowledged"])
        redelivered[0].acknowledge()
        #expect(await eventually { broker.logLines(containing: "Received PUBACK from manual-ack") == 2 })
        await second.disconnect()
    }

    @Test func subscriptionIsRestoredWhenBrokerLostTheSession() async throws {
        let broker = try RestartableMosquitto(port: 18901, persistence: false)
        let session = try await MQTTSession.connect(configuration: Self.configuration(port: 18901, clientID: "lost-sub"), retry: Self.retry)
        let subscription = try await session.subscribe("lost/#", options: Self.qos1)
        try broker.publish("lost/a", "before")
        #expect(try await subscription.collect(1).map { String(buffer: $0.payload) } == ["before"])

        broker.stop(graceful: false)  // crash without persistence: the session is gone
        #expect(await eventually { !session.isConnected })
        try broker.start(persistence: false)
        #expect(await eventually { session.isConnected && session.reconnectCount == 1 })
        #expect(session.connectionInfo?.sessionPresent == false)

        // The re-subscription may still be on its way: publish until one message comes through.
        var received: String?
        for index in 0..<50 where received == nil {
            try broker.publish("lost/\(index)", "after-\(index)")
            received = try? await subscription.collect(1, timeout: .milliseconds(300)).first.map { String(buffer: $0.payload) }
        }
        #expect(received?.hasPrefix("after-") == true)
        #expect(broker.logLines(containing: "Received SUBSCRIBE from lost-sub") == 2, "\(broker.log)")
        await session.disconnect()
    }

    @Test func noAcknowledgedPublishIsLostAcrossBrokerRestart() async throws {
        let broker = try RestartableMosquitto(port: 18902, persistence: true)
        var subscriberConfiguration = Self.configuration(port: 18902, clientID: "flow-sub")
        subscriberConfiguration.subscriptionBufferSize = 1_000
        let subscriber = try await MQTTSession.connect(configuration: subscriberConfiguration, retry: Self.retry)
        let subscription = try await subscriber.subscribe("flow/#", options: Self.qos1)
        let publisher = try await MQTTSession.connect(configuration: Self.configuration(port: 18902, clientID: "flow-pub"), retry: Self.retry)
        let recorder = Recorder()

        let consumer = Task {
            for try await message in subscription {
                await recorder.receive(String(buffer: message.payload))
            }
        }
        let stop = ManagedFlag()
        let producer = Task {
            var index = 0
            while !stop.isSet {
                do throws(MQTTClientError) {
                    try await publisher.publish(topic: "flow/\(index % 4)", payload: "\(index)", qos: .atLeastOnce)
                    await recorder.success(index)
                } catch {
                    await recorder.failure(index, error)
                }
                index += 1
                try? await Task.sleep(for: .milliseconds(2))
            }
            return index
        }

        try await Task.sleep(for: .milliseconds(500))
        broker.stop(graceful: true)
        #expect(await eventually { !publisher.isConnected })
        try await Task.sleep(for: .milliseconds(300))
        try broker.start(persistence: true)
        #expect(await eventually { publisher.reconnectCount == 1 && subscriber.reconnectCount == 1 })
        try await Task.sleep(for: .milliseconds(500))
        stop.set()
        // Bounded: every publish returns (none hangs).
        let attempted = try await withTimeout(.seconds(20)) { await producer.value }
        let succeeded = await recorder.succeeded
        let failed = await recorder.failed
        #expect(attempted == succeeded.count + failed.count)
        #expect(succeeded.count > 10, "\(succeeded.count) publishes succeeded")  // enough to span the restart; the rate depends on the load
        // The broker came back within the attempts: nothing had to fail.
        #expect(failed.isEmpty, "\(failed)")

        // Every acknowledged message arrives (duplicates allowed: at least once).
        let expected = Set(succeeded.map(String.init))
        var missing = expected
        let deadline = ContinuousClock.now + .seconds(20)
        while !missing.isEmpty && ContinuousClock.now < deadline {
            missing = expected.subtracting(await recorder.received)
            if !missing.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(missing.isEmpty, "\(missing.count) of \(expected.count) acknowledged messages never arrived: \(missing.sorted { Int($0)! < Int($1)! }.prefix(20))")

        await publisher.disconnect()
        await subscriber.disconnect()
        _ = await consumer.result
        #expect(publisher.closeError == nil && subscriber.closeError == nil)
    }

    @Test func givesUpWhenTheBrokerIsGoneForGood() async throws {
        let broker = try RestartableMosquitto(port: 18903, persistence: false)
        var configuration = Self.configuration(port: 18903, clientID: "gone")
        configuration.connectTimeout = .seconds(2)
        let session = try await MQTTSession.connect(
            configuration: configuration,
            retry: MQTTRetryPolicy(maximumRetries: 2, initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(200))
        )
        let subscription = try await session.subscribe("gone/#", options: Self.qos1)
        broker.stop(graceful: false)
        #expect(await eventually { !session.isConnected })

        let start = ContinuousClock.now
        let publishError = try await withTimeout(.seconds(15)) { () async -> MQTTClientError? in
            do throws(MQTTClientError) {
                try await session.publish(topic: "gone/x", payload: "lost?", qos: .atLeastOnce)
                return nil
            } catch {
                return error
            }
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        let closeError = try #require(session.closeError)
        #expect(closeError.kind == .connectionFailed, "\(closeError)")
        #expect(closeError.message.contains("gave up after 2 reconnect attempts"), "\(closeError)")
        #expect(publishError == closeError)
        do {
            for try await _ in subscription {}
            Issue.record("subscription finished without error")
        } catch {
            #expect(error == closeError)
        }
        try await withTimeout(.seconds(5)) { await session.waitUntilClosed() }
        #expect(!session.isConnected && session.reconnectCount == 0)
    }

    @Test func zeroRetriesMeansNoReconnect() async throws {
        let broker = try RestartableMosquitto(port: 18904, persistence: false)
        let session = try await MQTTSession.connect(
            configuration: Self.configuration(port: 18904, clientID: "once"),
            retry: MQTTRetryPolicy(maximumRetries: 0)
        )
        let subscription = try await session.subscribe("once/#")
        broker.stop(graceful: false)
        try await withTimeout(.seconds(10)) { await session.waitUntilClosed() }
        #expect(session.closeError?.kind == .connectionClosed, "\(String(describing: session.closeError))")
        try broker.start(persistence: false)
        try await Task.sleep(for: .milliseconds(500))
        #expect(!session.isConnected && session.reconnectCount == 0)
        await #expect(throws: MQTTClientError.self) {
            for try await _ in subscription {}
        }
        await #expect(throws: MQTTClientError.self) {
            try await session.publish(topic: "once/x", payload: "late", qos: .atLeastOnce)
        }
    }

    @Test func firstConnectIsRetriedUntilTheBrokerIsUp() async throws {
        async let connecting = MQTTSession.connect(configuration: Self.configuration(port: 18905, clientID: "early"), retry: Self.retry)
        try await Task.sleep(for: .milliseconds(400))
        let broker = try RestartableMosquitto(port: 18905, persistence: false)
        let session = try await connecting
        #expect(session.isConnected && session.reconnectCount == 0)
        await session.disconnect()
        broker.stop(graceful: true)
    }

    @Test func firstConnectFailsAfterItsRetries() async throws {
        // Nothing listens on this port.
        let start = ContinuousClock.now
        do {
            _ = try await MQTTSession.connect(
                configuration: Self.configuration(port: 18906, clientID: "nobody"),
                retry: MQTTRetryPolicy(maximumRetries: 2, initialBackoff: .milliseconds(100))
            )
            Issue.record("connect succeeded")
        } catch {
            #expect(error.kind == .connectionFailed, "\(error)")
            #expect(error.message.contains("gave up after 2 retries"), "\(error)")
        }
        #expect(ContinuousClock.now - start >= .milliseconds(300))
    }

    @Test func disconnectEndsTheSessionForGood() async throws {
        let broker = try RestartableMosquitto(port: 18907, persistence: false)
        let session = try await MQTTSession.connect(configuration: Self.configuration(port: 18907, clientID: "bye"), retry: Self.retry)
        let subscription = try await session.subscribe("bye/#", options: Self.qos1)
        try await session.publish(topic: "bye/1", payload: "one", qos: .atLeastOnce)
        #expect(try await subscription.collect(1).map { String(buffer: $0.payload) } == ["one"])
        await session.disconnect()
        await session.waitUntilClosed()
        #expect(session.closeError == nil && !session.isConnected)
        var iterator = subscription.makeAsyncIterator()
        #expect(try await iterator.next() == nil)
        await #expect(throws: MQTTClientError.self) {
            try await session.publish(topic: "bye/2", payload: "two", qos: .atLeastOnce)
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(session.reconnectCount == 0 && !session.isConnected)
        _ = broker
    }

    @Test func keepAliveTimeoutLeadsToReconnect() async throws {
        let broker = try RestartableMosquitto(port: 18908, persistence: false)
        var configuration = Self.configuration(port: 18908, clientID: "ping", keepAlive: 1)
        configuration.connect.keepAliveTimeout = .seconds(1)
        configuration.connectTimeout = .seconds(1)
        let session = try await MQTTSession.connect(configuration: configuration, retry: Self.retry)
        let subscription = try await session.subscribe("ping/#", options: Self.qos1)
        broker.pause()  // sockets stay open, nothing answers
        #expect(await eventually(within: .seconds(10)) { !session.isConnected })
        broker.resume()
        #expect(await eventually { session.isConnected && session.reconnectCount == 1 })
        try await session.publish(topic: "ping/x", payload: "pong", qos: .atLeastOnce)
        #expect(try await subscription.collect(1).map { String(buffer: $0.payload) } == ["pong"])
        await session.disconnect()
    }

    @Test func cancellingAPublishWaitingForReconnectWithdrawsIt() async throws {
        let broker = try RestartableMosquitto(port: 18910, persistence: false)
        let session = try await MQTTSession.connect(configuration: Self.configuration(port: 18910, clientID: "cancel"), retry: Self.retry)
        let subscription = try await session.subscribe("cancel/#", options: Self.qos1)
        broker.stop(graceful: false)
        #expect(await eventually { !session.isConnected })
        let waiting = Task { () async -> MQTTClientError? in
            do throws(MQTTClientError) {
                try await session.publish(topic: "cancel/withdrawn", payload: "never", qos: .atLeastOnce)
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        let error = try await withTimeout(.seconds(2)) { await waiting.value }
        #expect(error?.kind == .cancelled, "\(String(describing: error))")

        try broker.start(persistence: false)
        #expect(await eventually { session.isConnected && session.reconnectCount == 1 })
        // The withdrawn message never went out; the next one (after the re-subscription) does.
        var received: [String] = []
        for index in 0..<50 where received.isEmpty {
            try await session.publish(topic: "cancel/\(index)", payload: "after", qos: .atLeastOnce)
            received = (try? await subscription.collect(1, timeout: .milliseconds(300)).map { String(buffer: $0.payload) }) ?? []
        }
        #expect(received == ["after"])
        await session.disconnect()
    }

    @Test func disconnectWhileReconnectingEndsAtOnce() async throws {
        let broker = try RestartableMosquitto(port: 18911, persistence: false)
        let session = try await MQTTSession.connect(
            configuration: Self.configuration(port: 18911, clientID: "quit"),
            retry: MQTTRetryPolicy(maximumRetries: 10, initialBackoff: .seconds(2), maximumBackoff: .seconds(5))
        )
        let subscription = try await session.subscribe("quit/#", options: Self.qos1)
        broker.stop(graceful: false)
        #expect(await eventually { !session.isConnected })
        let pending = Task { () async -> MQTTClientError? in
            do throws(MQTTClientError) {
                try await session.publish(topic: "quit/x", payload: "x", qos: .atLeastOnce)
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        try await withTimeout(.seconds(5)) { await session.disconnect() }
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(session.closeError == nil)
        let error = try await withTimeout(.seconds(2)) { await pending.value }
        #expect(error?.kind == .connectionClosed, "\(String(describing: error))")
        var iterator = subscription.makeAsyncIterator()
        #expect(try await iterator.next() == nil)
        #expect(session.reconnectCount == 0)
    }

    @Test func waitUntilClosedReturnsWhenCancelled() async throws {
        let broker = try RestartableMosquitto(port: 18909, persistence: false)
        let session = try await MQTTSession.connect(configuration: Self.configuration(port: 18909, clientID: "wait"), retry: Self.retry)
        let waiter = Task { await session.waitUntilClosed() }
        try await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        try await withTimeout(.seconds(5)) { await waiter.value }
        #expect(session.isConnected)
        await session.disconnect()
        _ = broker
    }
}

/// A value shared between tasks, guarded by a lock.
private final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        self.lock.lock()
        defer { self.lock.unlock() }
        return body(&self.value)
    }
}

/// A flag set by one task and read by others.
private final class ManagedFlag: Sendable {
    private let state = LockedBox(false)
    var isSet: Bool { self.state.withLock { $0 } }
    func set() { self.state.withLock { $0 = true } }
}

private struct TimeoutError: Error {}

/// Runs `body`, failing with `TimeoutError` after `timeout` even if `body` never returns (it is
/// then cancelled and left behind).
private func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let pending = LockedBox<CheckedContinuation<T, any Error>?>(nil)
    return try await withCheckedThrowingContinuation { continuation in
        pending.withLock { $0 = continuation }
        let work = Task {
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            pending.withLock { state in defer { state = nil }; return state }?.resume(with: result)
        }
        Task {
            try? await Task.sleep(for: timeout)
            if let continuation = pending.withLock({ state in defer { state = nil }; return state }) {
                work.cancel()
                continuation.resume(throwing: TimeoutError())
            }
        }
    }
}
