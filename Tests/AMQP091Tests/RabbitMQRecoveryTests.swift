import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

import AMQP091

/// AMQPSession against a real broker that goes away: its own node
/// (`sluicerecovery@localhost`, AMQP 15690, distribution 25690), whose
/// broker application the tests stop and start (`rabbitmqctl stop_app` /
/// `start_app` drop every connection but keep the node and its durable
/// queues) or whose connections they close (`close_all_connections`, a
/// server-initiated connection.close 320). Fails rather than skips when
/// CI=true and the node cannot start.
@Suite(
    "RabbitMQ session recovery", .serialized, .timeLimit(.minutes(3)),
    .enabled("RabbitMQ can be started (always attempted when CI=true)") { await RabbitMQTestNode.shouldRun(.recovery) }
)
struct RabbitMQRecoveryTests {
    static let node = RabbitMQTestNode.recovery

    static func configuration(password: String = RabbitMQTestNode.password, virtualHost: String = "/") async throws -> AMQPConnectionConfiguration {
        var configuration = try await Self.node.configuration(password: password, virtualHost: virtualHost)
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    /// Runs rabbitmqctl on the recovery node and records a failure.
    static func ctl(_ arguments: String...) async {
        let (status, output) = await Self.node.ctl(arguments)
        if status != 0 {
            Issue.record("rabbitmqctl \(arguments.joined(separator: " ")) failed (\(status)): \(output)")
        }
    }

    /// Makes sure the broker application runs (after a test that stopped it).
    static func ensureBrokerRunning() async {
        await Self.ctl("start_app")
        await Self.ctl("await_startup", "--timeout", "60")
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    static func text(_ delivery: AMQPDelivery) -> String {
        String(buffer: delivery.body)
    }

    /// A consumer read in the background; what it got, and how it ended.
    final class Reader: Sendable {
        let deliveries = NIOLockedValueBox<[AMQPDelivery]>([])
        let ending = NIOLockedValueBox<Result<Void, AMQPClientError>?>(nil)
        let task: Task<Void, Never>

        init(_ consumer: AMQPSessionConsumer, ack channel: AMQPSessionChannel?) {
            let deliveries = self.deliveries
            let ending = self.ending
            self.task = Task {
                do {
                    for try await delivery in consumer {
                        deliveries.withLockedValue { $0.append(delivery) }
                        if let channel {
                            try await channel.ack(delivery)
                        }
                    }
                    ending.withLockedValue { $0 = .success(()) }
                } catch let error as AMQPClientError {
                    ending.withLockedValue { $0 = .failure(error) }
                } catch {
                    ending.withLockedValue { $0 = .failure(AMQPClientError(code: .invalidState, message: "not an AMQPClientError: \(error)")) }
                }
            }
        }

        var texts: [String] { self.deliveries.withLockedValue { $0.map(RabbitMQRecoveryTests.text) } }
        var failure: AMQPClientError? {
            if case .failure(let error)? = self.ending.withLockedValue({ $0 }) { return error }
            return nil
        }
        var hasEnded: Bool { self.ending.withLockedValue { $0 != nil } }
    }

    /// (1) The broker goes away and comes back while a publisher publishes
    /// with confirms in a loop and a consumer (durable queue, manual acks)
    /// reads: every publish that returned is consumed, none hangs, and the
    /// consumer's iterator carries on.
    @Test func brokerRestartMidStreamLosesNothingConfirmed() async throws {
        let policy = AMQPRecoveryPolicy(maximumAttempts: 10, initialBackoff: .milliseconds(200), maximumBackoff: .seconds(3))
        let session = try await AMQPSession.connect(configuration: Self.configuration(), recovery: policy)
        let queue = "sluice.recovery.restart.\(UInt32.random(in: 0...UInt32.max))"
        let publisher = try await session.openChannel()
        try await publisher.confirmSelect()
        try await publisher.queueDeclare(queue, durable: true)
        let consuming = try await session.openChannel()
        try await consuming.basicQos(prefetch: 20)
        let consumer = try await consuming.consume(queue: queue)
        let reader = Reader(consumer, ack: consuming)

        let confirmed = NIOLockedValueBox<[String]>([])
        let failed = NIOLockedValueBox<[AMQPClientError]>([])
        let stop = NIOLockedValueBox(false)
        let publishing = Task {
            var number = 0
            while !stop.withLockedValue({ $0 }) && number < 20_000 {
                let body = "m\(number)"
                number += 1
                do throws(AMQPClientError) {
                    try await publisher.publish(
                        exchange: "", routingKey: queue, body: ByteBuffer(string: body),
                        properties: .init(deliveryMode: AMQPBasicProperties.persistent)
                    )
                    confirmed.withLockedValue { $0.append(body) }
                } catch {
                    failed.withLockedValue { $0.append(error) }
                }
                try? await Task.sleep(for: .milliseconds(3))
            }
        }

        #expect(await Self.eventually(30) { confirmed.withLockedValue { $0.count } >= 100 && reader.texts.count >= 50 })
        await Self.ctl("stop_app")
        let confirmedWhileDown = confirmed.withLockedValue { $0.count }
        #expect(await Self.eventually(10) { !session.isConnected }, "the session did not notice the broker going away")
        await Self.ctl("start_app")
        #expect(await Self.eventually(60) { session.recoveryCount >= 1 && session.isConnected }, "the session did not recover")
        // The publisher goes on after the recovery.
        #expect(await Self.eventually(30) { confirmed.withLockedValue { $0.count } >= confirmedWhileDown + 100 })
        stop.withLockedValue { $0 = true }
        let publisherEnded = await Self.eventually(30) {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask { await publishing.value; return true }
                group.addTask { try? await Task.sleep(for: .milliseconds(100)); return false }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        }
        #expect(publisherEnded, "a publish hangs")

        let sent = Set(confirmed.withLockedValue { $0 })
        let allConsumed = await Self.eventually(60) { sent.isSubset(of: Set(reader.texts)) }
        let missing = sent.subtracting(reader.texts)
        #expect(allConsumed, "\(missing.count) of \(sent.count) confirmed messages never arrived, e.g. \(missing.prefix(5).sorted())")
        #expect(!reader.hasEnded, "the consumer stopped: \(String(describing: reader.failure))")
        #expect(reader.deliveries.withLockedValue { $0.last?.generation ?? 0 } >= 2)
        let failures = failed.withLockedValue { $0 }
        #expect(failures.isEmpty, "publishes failed although the broker came back: \(failures.prefix(3))")

        // Cancelling the recovered consumer ends its sequence normally.
        try await consuming.cancel(consumerTag: consumer.consumerTag)
        #expect(await Self.eventually(10) { reader.hasEnded })
        #expect(reader.hasEnded && reader.failure == nil, "the consumer ended with \(String(describing: reader.failure))")
        _ = try await publisher.queueDelete(queue)
        await session.close()
    }

    /// (2) The broker closes every connection (connection.close 320): the
    /// session reconnects and replays exchanges, a durable queue, a
    /// server-named exclusive queue (new name, re-bound), bindings and
    /// consumers. Unacked deliveries come back redelivered; acking one of the
    /// old connection does nothing; a channel the broker had closed with 406
    /// stays closed.
    @Test func serverClosedConnectionsAreRecoveredWithTheirTopology() async throws {
        let policy = AMQPRecoveryPolicy(maximumAttempts: 5, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        let session = try await AMQPSession.connect(configuration: Self.configuration(), recovery: policy)
        let run = UInt32.random(in: 0...UInt32.max)
        let exchange = "sluice.recovery.x.\(run)"
        let durableQueue = "sluice.recovery.durable.\(run)"
        let channel = try await session.openChannel()
        try await channel.confirmSelect()
        try await channel.exchangeDeclare(exchange, type: "direct")
        try await channel.queueDeclare(durableQueue, durable: true)
        try await channel.queueBind(queue: durableQueue, exchange: exchange, routingKey: "durable")
        let replyQueue = try await channel.queueDeclare(exclusive: true).queue
        try await channel.queueBind(queue: replyQueue, exchange: exchange, routingKey: "reply")
        let durableReader = Reader(try await channel.consume(queue: durableQueue), ack: nil)
        let replyReader = Reader(try await channel.consume(queue: replyQueue, noAck: true), ack: nil)
        // A channel the broker closes over a clashing declare.
        let broken = try await session.openChannel()
        do {
            try await broken.exchangeDeclare(exchange, type: "fanout")
            Issue.record("clashing declare succeeded")
        } catch {
            #expect(error.replyCode == 406)
        }

        try await channel.publish(exchange: exchange, routingKey: "durable", body: ByteBuffer(string: "before-d"), properties: .init(deliveryMode: AMQPBasicProperties.persistent))
        try await channel.publish(exchange: exchange, routingKey: "reply", body: ByteBuffer(string: "before-r"))
        #expect(await Self.eventually(10) { durableReader.texts == ["before-d"] && replyReader.texts == ["before-r"] })
        let unacked = try #require(durableReader.deliveries.withLockedValue { $0.first })
        #expect(unacked.generation == 1)

        await Self.ctl("close_all_connections", "sluice recovery test")
        #expect(await Self.eventually(30) { session.recoveryCount == 1 && session.isConnected }, "the session did not recover")

        // The unacked message comes back on the new connection.
        #expect(await Self.eventually(10) { durableReader.texts.count == 2 })
        let redelivered = try #require(durableReader.deliveries.withLockedValue { $0.last })
        #expect(Self.text(redelivered) == "before-d")
        #expect(redelivered.redelivered)
        #expect(redelivered.generation == 2)
        // Acking the old delivery does nothing (its tag would close the channel with 406 on the new connection).
        try await channel.ack(unacked)
        try await channel.ack(redelivered)
        // The server-named queue has a new name on the broker; the session keeps the old one working.
        try await channel.publish(exchange: exchange, routingKey: "reply", body: ByteBuffer(string: "after-r"))
        try await channel.publish(exchange: "", routingKey: replyQueue, body: ByteBuffer(string: "after-direct"))
        #expect(await Self.eventually(10) { replyReader.texts == ["before-r", "after-r", "after-direct"] }, "got \(replyReader.texts)")
        #expect(replyReader.deliveries.withLockedValue { $0.last?.generation } == 2)
        let passive = try await channel.queueDeclare(durableQueue, passive: true)
        #expect(passive.consumerCount == 1)
        #expect(passive.messageCount == 0)
        #expect(!durableReader.hasEnded && !replyReader.hasEnded)
        // A return or nack is still the publish's answer (not retried).
        do {
            try await channel.publish(exchange: exchange, routingKey: "nobody", body: ByteBuffer(string: "unroutable"), mandatory: true)
            Issue.record("unroutable mandatory publish succeeded")
        } catch {
            #expect(error.code == .publishReturned)
            #expect(error.replyCode == 312)
        }
        // The channel closed by the broker was not recovered.
        do {
            try await broken.basicQos(prefetch: 1)
            Issue.record("the failed channel was recovered")
        } catch {
            #expect(error.code == .channelClosedByServer)
            #expect(error.replyCode == 406)
        }

        try await channel.queueDelete(durableQueue)
        try await channel.exchangeDelete(exchange)
        await session.close()
    }

    /// A task waiting for the recovery can be cancelled: it ends at once
    /// with `.closed`, and the session recovers for everyone else.
    @Test func cancellingAWaitingPublishEndsItAndTheSessionCarriesOn() async throws {
        let policy = AMQPRecoveryPolicy(maximumAttempts: 10, initialBackoff: .milliseconds(200), maximumBackoff: .seconds(2))
        let session = try await AMQPSession.connect(configuration: Self.configuration(), recovery: policy)
        let channel = try await session.openChannel()
        try await channel.confirmSelect()
        let queue = try await channel.queueDeclare(exclusive: true).queue

        await Self.ctl("stop_app")
        let outcome = NIOLockedValueBox<Result<Void, AMQPClientError>?>(nil)
        let waiting = Task {
            do throws(AMQPClientError) {
                try await channel.publish(exchange: "", routingKey: queue, body: ByteBuffer(string: "cancelled"))
                outcome.withLockedValue { $0 = .success(()) }
            } catch {
                outcome.withLockedValue { $0 = .failure(error) }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(outcome.withLockedValue { $0 } == nil, "the publish did not wait for the recovery")
        waiting.cancel()
        #expect(await Self.eventually(2) { outcome.withLockedValue { $0 != nil } }, "the cancelled publish hangs")
        if case .failure(let error)? = outcome.withLockedValue({ $0 }) {
            #expect(error.code == .closed)
        } else {
            Issue.record("the cancelled publish did not fail")
        }
        await Self.ensureBrokerRunning()
        #expect(await Self.eventually(30) { session.isConnected }, "the session did not recover")
        let reader = Reader(try await channel.consume(queue: queue, noAck: true), ack: nil)
        try await channel.publish(exchange: "", routingKey: queue, body: ByteBuffer(string: "after"))
        #expect(await Self.eventually(10) { reader.texts == ["after"] })
        await session.close()
    }

    /// (3) The broker stays down: the session gives up after its attempts;
    /// a publish waiting for the recovery throws, the consumer throws, and
    /// closeError keeps the last attempt's error.
    @Test func exhaustedAttemptsFailEverythingPending() async throws {
        let policy = AMQPRecoveryPolicy(maximumAttempts: 3, initialBackoff: .milliseconds(500), maximumBackoff: .seconds(1))
        let session = try await AMQPSession.connect(configuration: Self.configuration(), recovery: policy)
        let channel = try await session.openChannel()
        try await channel.confirmSelect()
        let queue = try await channel.queueDeclare(exclusive: true).queue
        let reader = Reader(try await channel.consume(queue: queue), ack: channel)

        await Self.ctl("stop_app")
        let started = ContinuousClock.now
        let outcome = NIOLockedValueBox<Result<Void, AMQPClientError>?>(nil)
        let publishing = Task {
            do throws(AMQPClientError) {
                try await channel.publish(exchange: "", routingKey: queue, body: ByteBuffer(string: "into the void"))
                outcome.withLockedValue { $0 = .success(()) }
            } catch {
                outcome.withLockedValue { $0 = .failure(error) }
            }
        }
        let publishEnded = await Self.eventually(30) { outcome.withLockedValue { $0 != nil } }
        let elapsed = ContinuousClock.now - started
        await Self.ensureBrokerRunning()

        #expect(publishEnded, "the publish hangs")
        guard case .failure(let error)? = outcome.withLockedValue({ $0 }) else {
            Issue.record("the publish did not fail: \(String(describing: outcome.withLockedValue { $0 }))")
            return
        }
        #expect(elapsed < .seconds(30))
        #expect(error.code == .connectFailed)
        #expect(session.closeError == error)
        #expect(!session.isConnected)
        #expect(session.recoveryCount == 0)
        #expect(await Self.eventually(5) { reader.hasEnded })
        #expect(reader.failure?.code == .connectFailed)
        // Later operations fail at once with the same error.
        await #expect(throws: AMQPClientError.self) { try await session.openChannel() }
        await #expect(throws: AMQPClientError.self) { try await channel.queueDeclare(exclusive: true) }
        await publishing.value
        await session.close()
    }

    /// (4) maximumAttempts 0: a lost connection ends the session with the
    /// broker's close (320), no reconnect.
    @Test func noAttemptsMeansNoRecovery() async throws {
        let session = try await AMQPSession.connect(configuration: Self.configuration(), recovery: .init(maximumAttempts: 0))
        let channel = try await session.openChannel()
        let queue = try await channel.queueDeclare(exclusive: true).queue
        let reader = Reader(try await channel.consume(queue: queue, noAck: true), ack: nil)

        await Self.ctl("close_all_connections", "no recovery wanted")
        #expect(await Self.eventually(10) { session.closeError != nil }, "the session did not end")
        let error = try #require(session.closeError)
        #expect(error.code == .connectionClosedByServer)
        #expect(error.replyCode == 320)
        #expect(!session.isConnected)
        #expect(await Self.eventually(5) { reader.hasEnded })
        #expect(reader.failure?.replyCode == 320)
        do {
            try await channel.publish(exchange: "", routingKey: queue, body: ByteBuffer(string: "late"))
            Issue.record("publish after the end succeeded")
        } catch {
            #expect(error.replyCode == 320)
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(session.recoveryCount == 0)
        #expect(!session.isConnected)
        await session.close()
    }

    /// The first connect is retried for transport errors only.
    @Test func firstConnectRetriesTransportErrorsButNotRefusals() async throws {
        let policy = AMQPRecoveryPolicy(maximumAttempts: 2, initialBackoff: .milliseconds(300), maximumBackoff: .seconds(1))
        var closedPort = try await Self.configuration()
        closedPort.port = try await unusedPort()
        let started = ContinuousClock.now
        do {
            _ = try await AMQPSession.connect(configuration: closedPort, recovery: policy)
            Issue.record("connect to a closed port succeeded")
        } catch {
            #expect(error.code == .connectFailed)
        }
        // Three attempts: waits of 300 ms and 600 ms between them.
        #expect(ContinuousClock.now - started >= .milliseconds(900))

        let slowPolicy = AMQPRecoveryPolicy(maximumAttempts: 3, initialBackoff: .seconds(10), maximumBackoff: .seconds(10))
        let wrongPassword = try await Self.configuration(password: "wrong")
        let unknownVirtualHost = try await Self.configuration(virtualHost: "no-such-vhost")
        let refusedStart = ContinuousClock.now
        do {
            _ = try await AMQPSession.connect(configuration: wrongPassword, recovery: slowPolicy)
            Issue.record("connect with a wrong password succeeded")
        } catch {
            #expect(error.code == .authenticationFailed)
            #expect(error.replyCode == 403)
        }
        do {
            _ = try await AMQPSession.connect(configuration: unknownVirtualHost, recovery: slowPolicy)
            Issue.record("connect to an unknown vhost succeeded")
        } catch {
            #expect(error.code == .virtualHostNotAllowed)
            #expect(error.replyCode == 530)
        }
        // Neither waited for a retry.
        #expect(ContinuousClock.now - refusedStart < .seconds(10))
    }
}
