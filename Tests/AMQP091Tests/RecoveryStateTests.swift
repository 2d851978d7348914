import NIOCore
import Testing

@testable import AMQP091

@Suite("Session topology (recording and replay)")
struct TopologyTests {
    static func declareExchange(_ name: AMQPShortString, passive: Bool = false) -> AMQPMethod.Exchange.Declare {
        .init(exchange: name, type: "topic", passive: passive, durable: true)
    }

    static func declareQueue(_ name: AMQPShortString, exclusive: Bool = false, passive: Bool = false) -> AMQPMethod.Queue.Declare {
        .init(queue: name, passive: passive, durable: !exclusive, exclusive: exclusive)
    }

    /// Channel 1: qos 20 + confirms, an exchange, a named queue bound to it
    /// and consumed. Channel 2: a server-named queue bound and consumed.
    static func sample() -> AMQPTopology {
        var topology = AMQPTopology()
        topology.channelOpened(1)
        topology.channelOpened(2)
        topology.qosSet(channel: 1, prefetch: 10, global: false)
        topology.qosSet(channel: 1, prefetch: 20, global: false)  // the last one wins
        topology.confirmSelected(channel: 1)
        topology.exchangeDeclared(Self.declareExchange("events"), channel: 1)
        topology.exchangeDeclared(Self.declareExchange("events", passive: true), channel: 1)  // a check, not recorded again
        topology.queueDeclared(Self.declareQueue("jobs"), name: "jobs", channel: 1)
        topology.queueDeclared(Self.declareQueue("jobs", passive: true), name: "jobs", channel: 2)
        topology.queueDeclared(Self.declareQueue("", exclusive: true), name: "amq.gen-A", channel: 2)
        topology.queueBound(queue: "jobs", exchange: "events", routingKey: "job.*", arguments: [:], channel: 1)
        topology.queueBound(queue: "jobs", exchange: "events", routingKey: "job.*", arguments: [:], channel: 1)  // once
        topology.queueBound(queue: "amq.gen-A", exchange: "events", routingKey: "#", arguments: [:], channel: 2)
        topology.consumerAdded(.init(channel: 2, tag: "c-reply", queue: "amq.gen-A", noAck: true, exclusive: true, arguments: [:]))
        topology.consumerAdded(.init(channel: 1, tag: "c-jobs", queue: "jobs", noAck: false, exclusive: false, arguments: ["x-priority": .int32(5)]))
        return topology
    }

    @Test func replayOrderIsChannelsQosConfirmExchangesQueuesBindingsConsumers() {
        let plan = Self.sample().replayPlan()
        #expect(plan == [
            .openChannel(1),
            .openChannel(2),
            .qos(channel: 1, prefetch: 20, global: false),
            .confirmSelect(channel: 1),
            .declareExchange(channel: 1, Self.declareExchange("events")),
            .declareQueue(channel: 1, name: "jobs", Self.declareQueue("jobs")),
            .declareQueue(channel: 2, name: "amq.gen-A", Self.declareQueue("", exclusive: true)),
            .bind(channel: 1, .init(queue: "jobs", exchange: "events", routingKey: "job.*")),
            .bind(channel: 2, .init(queue: "amq.gen-A", exchange: "events", routingKey: "#")),
            .consume(channel: 2, .init(queue: "amq.gen-A", consumerTag: "c-reply", noAck: true, exclusive: true)),
            .consume(channel: 1, .init(queue: "jobs", consumerTag: "c-jobs", arguments: ["x-priority": .int32(5)])),
        ])
    }

    @Test func serverNamedQueueIsRenamedForBindingsConsumersAndPublishes() {
        var topology = Self.sample()
        let plan = topology.replayPlan()
        // The replayed declare of the server-named queue asks for a new name...
        guard case .declareQueue(_, let name, let declare)? = plan.first(where: { if case .declareQueue(2, _, _) = $0 { true } else { false } }) else {
            Issue.record("no declare of the server-named queue in \(plan)")
            return
        }
        #expect(name == "amq.gen-A")
        #expect(declare.queue == "")
        // ...and the broker answers with another one.
        topology.queueRedeclared("amq.gen-A", as: "amq.gen-B")
        topology.queueRedeclared("jobs", as: "jobs")
        #expect(topology.brokerName(ofQueue: "amq.gen-A") == "amq.gen-B")
        #expect(topology.brokerName(ofQueue: "jobs") == "jobs")
        let resolved = plan.map { topology.resolved($0) }
        #expect(resolved.contains(.bind(channel: 2, .init(queue: "amq.gen-B", exchange: "events", routingKey: "#"))))
        #expect(resolved.contains(.consume(channel: 2, .init(queue: "amq.gen-B", consumerTag: "c-reply", noAck: true, exclusive: true))))
        #expect(resolved.contains(.bind(channel: 1, .init(queue: "jobs", exchange: "events", routingKey: "job.*"))))
        // The user's name stays the key: a second recovery renames it again.
        let again = topology.replayPlan()
        #expect(again.contains(.declareQueue(channel: 2, name: "amq.gen-A", Self.declareQueue("", exclusive: true))))
        topology.queueRedeclared("amq.gen-A", as: "amq.gen-C")
        #expect(topology.resolved(.bind(channel: 2, .init(queue: "amq.gen-A", exchange: "events", routingKey: "#")))
            == .bind(channel: 2, .init(queue: "amq.gen-C", exchange: "events", routingKey: "#")))
        // Deleting it by the user's name forgets the queue, its binding and consumer.
        topology.queueDeleted("amq.gen-A")
        #expect(topology.brokerName(ofQueue: "amq.gen-A") == "amq.gen-A")
        #expect(!topology.replayPlan().contains { step in
            switch step {
            case .declareQueue(_, "amq.gen-A", _): true
            case .bind(_, let bind): bind.queue == "amq.gen-A"
            case .consume(_, let consume): consume.queue == "amq.gen-A"
            default: false
            }
        })
    }

    @Test("Recording again keeps one record: a redeclare keeps its place, a binding from another channel is the same binding, a consumer that takes its tag again goes last")
    func recordingAgainKeepsOneRecord() {
        var topology = Self.sample()
        topology.exchangeDeclared(Self.declareExchange("audit"), channel: 1)
        topology.exchangeDeclared(Self.declareExchange("events"), channel: 2)  // redeclared elsewhere: same place, new channel
        topology.queueDeclared(Self.declareQueue("jobs"), name: "jobs", channel: 2)
        topology.queueBound(queue: "jobs", exchange: "events", routingKey: "job.*", arguments: [:], channel: 2)  // the same binding
        topology.consumerAdded(.init(channel: 2, tag: "c-reply", queue: "amq.gen-A", noAck: false, exclusive: true, arguments: [:]))
        let plan = topology.replayPlan()
        #expect(plan.filter { if case .declareExchange = $0 { true } else { false } } == [
            .declareExchange(channel: 2, Self.declareExchange("events")), .declareExchange(channel: 1, Self.declareExchange("audit")),
        ])
        #expect(plan.filter { if case .declareQueue = $0 { true } else { false } } == [
            .declareQueue(channel: 2, name: "jobs", Self.declareQueue("jobs")),
            .declareQueue(channel: 2, name: "amq.gen-A", Self.declareQueue("", exclusive: true)),
        ])
        #expect(plan.filter { if case .bind = $0 { true } else { false } } == [
            .bind(channel: 1, .init(queue: "jobs", exchange: "events", routingKey: "job.*")),
            .bind(channel: 2, .init(queue: "amq.gen-A", exchange: "events", routingKey: "#")),
        ])
        #expect(plan.filter { if case .consume = $0 { true } else { false } } == [
            .consume(channel: 1, .init(queue: "jobs", consumerTag: "c-jobs", arguments: ["x-priority": .int32(5)])),
            .consume(channel: 2, .init(queue: "amq.gen-A", consumerTag: "c-reply", noAck: false, exclusive: true)),
        ])
        #expect(topology.hasConsumer(channel: 2, tag: "c-reply") && !topology.hasConsumer(channel: 1, tag: "c-reply"))
        // Deleting a queue takes its bindings and consumers with it.
        topology.queueDeleted("jobs")
        let after = topology.replayPlan()
        #expect(!after.contains { if case .bind(_, let bind) = $0 { bind.queue == "jobs" } else { false } })
        #expect(!topology.hasConsumer(channel: 1, tag: "c-jobs"))
    }

    @Test func closedChannelsCancelledConsumersAndDeletesAreNotReplayed() {
        var topology = Self.sample()
        topology.channelRemoved(2)  // closed by the user or failed (channel error)
        topology.consumerRemoved(channel: 1, tag: "c-jobs")
        topology.exchangeDeleted("events")
        let plan = topology.replayPlan()
        #expect(plan == [
            .openChannel(1),
            .qos(channel: 1, prefetch: 20, global: false),
            .confirmSelect(channel: 1),
            // The queue declared on channel 2 belongs to the broker: still declared (on another channel).
            .declareQueue(channel: 1, name: "jobs", Self.declareQueue("jobs")),
            .declareQueue(channel: 2, name: "amq.gen-A", Self.declareQueue("", exclusive: true)),
        ])
    }

    @Test func refusedReplayStepsAreDropped() {
        var topology = Self.sample()
        topology.replayStepRefused(.declareExchange(channel: 1, Self.declareExchange("events")))
        topology.replayStepRefused(.bind(channel: 2, .init(queue: "amq.gen-A", exchange: "events", routingKey: "#")))
        topology.replayStepRefused(.consume(channel: 1, .init(queue: "jobs", consumerTag: "c-jobs")))
        let plan = topology.replayPlan()
        #expect(!plan.contains { if case .declareExchange = $0 { true } else { false } })
        #expect(plan.filter { if case .bind = $0 { true } else { false } }.count == 1)
        #expect(plan.filter { if case .consume = $0 { true } else { false } } == [
            .consume(channel: 2, .init(queue: "amq.gen-A", consumerTag: "c-reply", noAck: true, exclusive: true)),
        ])
    }
}

@Suite("Records per channel (consumers)")
struct ChannelRecordsTests {
    @Test func keepsTheOrderRecordedAndRecordingAgainGoesLast() {
        var records = ChannelRecords<String, String>()
        records.record("a", channel: 1, key: "t1")
        records.record("b", channel: 2, key: "t1")
        records.record("c", channel: 1, key: "t2")
        records.record("a2", channel: 1, key: "t1")
        #expect(records.inOrder == ["b", "c", "a2"])
        #expect(records.count == 3)
        #expect(records[channel: 1, key: "t1"] == "a2")
        #expect(records[channel: 2, key: "t2"] == nil)
    }

    @Test func removingAChannelTakesOnlyItsRecords() {
        var records = ChannelRecords<String, String>()
        for channel in 1...3 {
            for tag in ["x", "y"] { records.record("\(channel)\(tag)", channel: channel, key: tag) }
        }
        #expect(Set(records.removeChannel(2)) == ["2x", "2y"])
        #expect(records.removeChannel(2).isEmpty)
        #expect(records.inOrder == ["1x", "1y", "3x", "3y"])
        #expect(records.remove(channel: 3, key: "x") == "3x")
        #expect(records.remove(channel: 3, key: "x") == nil)
        records.removeAll { $0.hasSuffix("y") }
        #expect(records.inOrder == ["1x"])
        #expect(records.count == 1)
        records.removeAll()
        #expect(records.count == 0 && records.all.isEmpty)
    }

    @Test func equalWhenTheSameRecordsAreInTheSameOrder() {
        var first = ChannelRecords<String, String>()
        var second = ChannelRecords<String, String>()
        first.record("gone", channel: 9, key: "g")
        first.remove(channel: 9, key: "g")
        first.record("a", channel: 1, key: "t")
        first.record("b", channel: 2, key: "t")
        second.record("a", channel: 1, key: "t")
        second.record("b", channel: 2, key: "t")
        #expect(first == second)
        #expect(first.hashValue == second.hashValue)
        var swapped = ChannelRecords<String, String>()
        swapped.record("b", channel: 2, key: "t")
        swapped.record("a", channel: 1, key: "t")
        #expect(first != swapped)
    }
}

@Suite("Session recovery state machine")
struct RecoveryStateMachineTests {
    static let lost = AMQPClientError(code: .connectionLost, message: "lost")
    static let refused = AMQPClientError(code: .connectFailed, message: "connection refused")
    static let forced = AMQPClientError(code: .connectionClosedByServer, message: "forced", replyCode: 320, replyText: "CONNECTION_FORCED - shutdown")

    static func connected(_ policy: AMQPRecoveryPolicy = .init()) -> AMQPRecoveryStateMachine {
        var machine = AMQPRecoveryStateMachine(policy: policy)
        let generation = machine.connectionEstablished()
        #expect(generation == 1)
        let result0 = machine.replayFinished(generation: 1)
        #expect(result0 == .none)
        return machine
    }

    @Test func policyClampsAndBacksOffExponentially() {
        #expect(AMQPRecoveryPolicy(maximumAttempts: 50).maximumAttempts == 10)
        #expect(AMQPRecoveryPolicy(maximumAttempts: -1).maximumAttempts == 0)
        var policy = AMQPRecoveryPolicy(maximumAttempts: 5, initialBackoff: .milliseconds(250), maximumBackoff: .seconds(1))
        policy.maximumAttempts = 11
        #expect(policy.maximumAttempts == 10)
        #expect((1...5).map { policy.backoff(attempt: $0) } == [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(1), .seconds(1)])
        #expect(policy.backoff(attempt: 1000) == .seconds(1))
    }

    @Test func firstConnectIsTriedOncePlusMaximumAttempts() {
        var machine = AMQPRecoveryStateMachine(policy: .init(maximumAttempts: 2, initialBackoff: .milliseconds(100)))
        #expect(machine.admission() == .wait)
        let result1 = machine.attemptFailed(Self.refused)
        #expect(result1 == .reconnect(after: .milliseconds(100)))
        let result2 = machine.attemptFailed(Self.refused)
        #expect(result2 == .reconnect(after: .milliseconds(200)))
        let result3 = machine.attemptFailed(Self.refused)
        #expect(result3 == .giveUp(Self.refused))
        #expect(machine.giveUpError == Self.refused)
        #expect(machine.admission() == .fail(Self.refused))
    }

    @Test func refusedCredentialsAndVirtualHostAreNeverRetried() {
        for error in [
            AMQPClientError(code: .authenticationFailed, message: "403", replyCode: 403),
            AMQPClientError(code: .virtualHostNotAllowed, message: "530", replyCode: 530),
            AMQPClientError(code: .protocolError, message: "garbage"),
        ] {
            var machine = AMQPRecoveryStateMachine(policy: .init(maximumAttempts: 5))
            let result4 = machine.attemptFailed(error)
            #expect(result4 == .giveUp(error))
            var recovering = Self.connected()
            let result5 = recovering.connectionLost(generation: 1, error: Self.lost)
            #expect(result5 == .reconnect(after: .milliseconds(250)))
            let result6 = recovering.attemptFailed(error)
            #expect(result6 == .giveUp(error))
        }
    }

    @Test func recoveryGivesUpAfterMaximumConsecutiveFailuresAndCountsAgainAfterSuccess() {
        var machine = Self.connected(.init(maximumAttempts: 3, initialBackoff: .milliseconds(10), maximumBackoff: .seconds(10)))
        let result7 = machine.connectionLost(generation: 1, error: Self.forced)
        #expect(result7 == .reconnect(after: .milliseconds(10)))
        #expect(machine.admission() == .wait)
        let result8 = machine.attemptFailed(Self.refused)
        #expect(result8 == .reconnect(after: .milliseconds(20)))
        let result9 = machine.attemptFailed(Self.refused)
        #expect(result9 == .reconnect(after: .milliseconds(40)))
        // The third reconnect succeeds: generation 2, operations wait for the replay.
        let result10 = machine.connectionEstablished()
        #expect(result10 == 2)
        #expect(machine.admission() == .wait)
        let result11 = machine.replayFinished(generation: 2)
        #expect(result11 == .none)
        #expect(machine.admission() == .proceed(generation: 2))
        #expect(machine.admission(newerThan: 2) == .wait)  // an operation that failed on 2 waits for 3
        #expect(machine.recoveryCount == 1)
        #expect(machine.failedAttempts == 0)
        // Lost again: three fresh attempts, then it gives up with the last error.
        let result12 = machine.connectionLost(generation: 2, error: Self.lost)
        #expect(result12 == .reconnect(after: .milliseconds(10)))
        let result13 = machine.attemptFailed(Self.refused)
        #expect(result13 == .reconnect(after: .milliseconds(20)))
        let result14 = machine.attemptFailed(Self.refused)
        #expect(result14 == .reconnect(after: .milliseconds(40)))
        let last = AMQPClientError(code: .connectTimeout, message: "timed out")
        let result15 = machine.attemptFailed(last)
        #expect(result15 == .giveUp(last))
        #expect(machine.giveUpError == last)
        #expect(machine.admission(newerThan: 2) == .fail(last))
        #expect(!machine.isConnected)
    }

    @Test func noAttemptsMeansNoRecovery() {
        var machine = Self.connected(.disabled)
        let result16 = machine.connectionLost(generation: 1, error: Self.forced)
        #expect(result16 == .giveUp(Self.forced))
        #expect(machine.giveUpError?.replyCode == 320)
        // A failed first connect is not retried either.
        var first = AMQPRecoveryStateMachine(policy: .disabled)
        let result17 = first.attemptFailed(Self.refused)
        #expect(result17 == .giveUp(Self.refused))
    }

    @Test func staleLossesAreIgnoredAndLossDuringReplayIsAFailedAttempt() {
        var machine = Self.connected(.init(maximumAttempts: 2, initialBackoff: .milliseconds(10)))
        let result18 = machine.connectionLost(generation: 1, error: Self.lost)
        #expect(result18 == .reconnect(after: .milliseconds(10)))
        let result19 = machine.connectionLost(generation: 1, error: Self.lost)
        #expect(result19 == .none)  // reported twice
        let result20 = machine.connectionEstablished()
        #expect(result20 == 2)
        // The new connection drops while replaying: the replay's end says reconnect.
        let result21 = machine.connectionLost(generation: 2, error: Self.lost)
        #expect(result21 == .none)
        let result22 = machine.replayFinished(generation: 2)
        #expect(result22 == .reconnect(after: .milliseconds(20)))
        #expect(machine.recoveryCount == 0)
        let result23 = machine.connectionEstablished()
        #expect(result23 == 3)
        let result24 = machine.replayFinished(generation: 3)
        #expect(result24 == .none)
        let result25 = machine.connectionLost(generation: 2, error: Self.lost)
        #expect(result25 == .none)  // an old connection's close
        #expect(machine.admission() == .proceed(generation: 3))
        #expect(machine.recoveryCount == 1)
    }

    @Test func closeEndsEverything() {
        var machine = Self.connected()
        let result26 = machine.closeRequested()
        #expect(result26)
        let result27 = machine.closeRequested()
        #expect(!result27)
        let result28 = machine.connectionLost(generation: 1, error: Self.lost)
        #expect(result28 == .none)
        let result29 = machine.connectionEstablished()
        #expect(result29 == nil)
        guard case .fail(let error) = machine.admission() else {
            Issue.record("a closed session admits nothing")
            return
        }
        #expect(error.code == .closed)
        #expect(machine.giveUpError == nil)
    }

    @Test func errorClassification() {
        #expect(AMQPRecoveryStateMachine.isRecoverable(Self.lost))
        #expect(AMQPRecoveryStateMachine.isRecoverable(Self.forced))
        #expect(AMQPRecoveryStateMachine.isRecoverable(AMQPClientError(code: .heartbeatTimeout, message: "")))
        #expect(!AMQPRecoveryStateMachine.isRecoverable(AMQPClientError(code: .connectionClosedByServer, message: "", replyCode: 504)))
        #expect(!AMQPRecoveryStateMachine.isRecoverable(AMQPClientError(code: .closed, message: "")))
        let channelClosed = AMQPClientError(code: .channelClosedByServer, message: "", replyCode: 406)
        #expect(AMQPRecoveryStateMachine.operationFailed(channelClosed, connectionDead: false) == .failChannel)
        #expect(AMQPRecoveryStateMachine.operationFailed(channelClosed, connectionDead: true) == .failChannel)
        #expect(AMQPRecoveryStateMachine.operationFailed(Self.forced, connectionDead: true) == .retryAfterRecovery)
        #expect(AMQPRecoveryStateMachine.operationFailed(AMQPClientError(code: .invalidState, message: ""), connectionDead: false) == .fail)
        #expect(AMQPRecoveryStateMachine.replayStepFailed(channelClosed) == .failChannel)
        #expect(AMQPRecoveryStateMachine.replayStepFailed(AMQPClientError(code: .channelClosedByServer, message: "", replyCode: 405)) == .abandonConnection)
        #expect(AMQPRecoveryStateMachine.replayStepFailed(Self.lost) == .abandonConnection)
    }

    @Test func deliveriesOfAnEarlierConnectionAreNotAcknowledged() {
        var machine = Self.connected()
        #expect(machine.shouldAcknowledge(deliveryGeneration: 1))
        #expect(!machine.shouldAcknowledge(deliveryGeneration: 0))  // not from this session
        _ = machine.connectionLost(generation: 1, error: Self.lost)
        #expect(!machine.shouldAcknowledge(deliveryGeneration: 1))  // nowhere to send it
        let result30 = machine.connectionEstablished()
        #expect(result30 == 2)
        // Consumers run again during the replay: their deliveries can be acked at once.
        #expect(machine.shouldAcknowledge(deliveryGeneration: 2))
        #expect(!machine.shouldAcknowledge(deliveryGeneration: 1))
        _ = machine.replayFinished(generation: 2)
        #expect(machine.shouldAcknowledge(deliveryGeneration: 2))
        #expect(!machine.shouldAcknowledge(deliveryGeneration: 1))
    }

    /// Publishes 1-5 on connection 1; 1-2 are confirmed, the connection is
    /// lost. 3-5 fail with the connection and are published again on
    /// connection 2 (new delivery tags from 1) together with a new 6; a
    /// multiple ack of tag 3 there completes exactly 3, 4 and 5.
    @Test func unconfirmedPublishesAreSentAgainAndConfirmedOnTheNewConnection() {
        typealias Channel = AMQPChannelStateMachine<String, Int>
        func publish(_ machine: inout Channel, _ token: Int) {
            _ = machine.publishRequested(.init(exchange: "", routingKey: "q"), properties: .none, body: ByteBuffer(string: "m\(token)"), token: token)
        }
        func confirmChannel() -> Channel {
            var machine = Channel(channelID: 1, frameMax: 4096)
            _ = machine.openRequested("open")
            _ = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.openOk(.init()))))
            _ = machine.rpcRequested(.confirm(.select(.init())), token: "select")
            _ = machine.commandReceived(AMQPCommand(channel: 1, method: .confirm(.selectOk)))
            return machine
        }
        var session = Self.connected(.init(maximumAttempts: 3, initialBackoff: .milliseconds(10)))
        var topology = AMQPTopology()
        topology.channelOpened(1)
        topology.confirmSelected(channel: 1)

        var first = confirmChannel()
        for token in 1...5 { publish(&first, token) }
        guard case .resolvePublishes(let confirmed, _) = first.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 2, multiple: true))))) else {
            Issue.record("expected confirms")
            return
        }
        #expect(confirmed.map(\.token) == [1, 2])
        // The connection is lost: the rest fail with it...
        guard case .channelClosed(let error, _, let failed, _, _, _) = first.connectionClosed(Self.lost) else {
            Issue.record("expected the channel to close")
            return
        }
        #expect(failed == [3, 4, 5])
        // ...and, their connection being dead, are retried after the recovery.
        #expect(AMQPRecoveryStateMachine.operationFailed(error, connectionDead: true) == .retryAfterRecovery)
        let result31 = session.connectionLost(generation: 1, error: Self.lost)
        #expect(result31 == .reconnect(after: .milliseconds(10)))
        #expect(session.admission(newerThan: 1) == .wait)
        let result32 = session.connectionEstablished()
        #expect(result32 == 2)
        // The replay puts the channel back in confirm mode before anything else.
        #expect(topology.replayPlan() == [.openChannel(1), .confirmSelect(channel: 1)])
        var second = confirmChannel()
        let result33 = session.replayFinished(generation: 2)
        #expect(result33 == .none)
        #expect(session.admission(newerThan: 1) == .proceed(generation: 2))
        for token in [3, 4, 5, 6] { publish(&second, token) }
        #expect(second.nextPublishTag == 5)
        let acked = second.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 3, multiple: true)))))
        guard case .resolvePublishes(let resolved, _) = acked else {
            Issue.record("expected confirms, got \(acked)")
            return
        }
        #expect(resolved.map(\.token) == [3, 4, 5])
        #expect(resolved.allSatisfy { if case .success = $0.result { true } else { false } })
        #expect(second.unconfirmedCount == 1)
        // A nack is the publish's answer, not a reason to publish again.
        guard case .resolvePublishes(let nacked, _) = second.commandReceived(AMQPCommand(channel: 1, method: .basic(.nack(.init(deliveryTag: 4))))),
            case .failure(let nack)? = nacked.first?.result
        else {
            Issue.record("expected a nack")
            return
        }
        #expect(nacked.map(\.token) == [6])
        #expect(AMQPRecoveryStateMachine.operationFailed(nack, connectionDead: false) == .fail)
        #expect(AMQPRecoveryStateMachine.operationFailed(nack, connectionDead: true) == .fail)
    }
}
