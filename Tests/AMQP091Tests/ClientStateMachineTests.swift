import NIOCore
import Testing

@testable import AMQP091

@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    static func start(mechanisms: String = "PLAIN AMQPLAIN", capabilities: [AMQPShortString] = [AMQPCapabilities.authenticationFailureClose]) -> AMQPMethod.Connection {
        .start(.init(
            versionMajor: 0, versionMinor: 9,
            serverProperties: AMQPCapabilities.clientProperties(product: "RabbitMQ", version: "3.12", capabilities: capabilities),
            mechanisms: AMQPLongString(mechanisms), locales: "en_US"
        ))
    }

    static func sentMethods(_ action: AMQPConnectionStateMachine.Action) -> [AMQPMethod] {
        let frames: [AMQPFrame]
        switch action {
        case .send(let f), .tuned(_, let f), .failAndClose(_, let f): frames = f
        default: frames = []
        }
        return frames.compactMap { if case .method(let m) = $0.payload { return m } else { return nil } }
    }

    static func openMachine(heartbeat: UInt16 = 60) -> AMQPConnectionStateMachine {
        var machine = AMQPConnectionStateMachine(configuration: .init(authentication: .plain(username: "u", password: "p"), virtualHost: "vh", heartbeat: heartbeat))
        _ = machine.transportConnected(now: .uptimeNanoseconds(0))
        _ = machine.methodReceived(Self.start())
        _ = machine.methodReceived(.tune(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 60)))
        _ = machine.methodReceived(.openOk(.init()))
        return machine
    }

    @Test func handshakeWithPlain() throws {
        var machine = AMQPConnectionStateMachine(configuration: .init(
            authentication: .plain(username: "sluice", password: "secret"), virtualHost: "vh1",
            heartbeat: 30, channelMax: 100, frameMax: 65_536
        ))
        #expect(machine.transportConnected(now: .uptimeNanoseconds(0)) == .sendProtocolHeader)
        let startOk = Self.sentMethods(machine.methodReceived(Self.start()))
        guard case .connection(.startOk(let ok))? = startOk.first else {
            Issue.record("expected start-ok, got \(startOk)")
            return
        }
        #expect(ok.mechanism == "PLAIN")
        #expect(ok.response == .plainSASLResponse(username: "sluice", password: "secret"))
        #expect(AMQPCapabilities.announced(in: ok.clientProperties).contains(AMQPCapabilities.authenticationFailureClose))

        let tuneAction = machine.methodReceived(.tune(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 60)))
        guard case .tuned(let parameters, _) = tuneAction else {
            Issue.record("expected tuned, got \(tuneAction)")
            return
        }
        #expect(parameters.channelMax == 100)
        #expect(parameters.frameMax == 65_536)
        #expect(parameters.heartbeat == 30)
        #expect(Self.sentMethods(tuneAction) == [
            .connection(.tuneOk(.init(channelMax: 100, frameMax: 65_536, heartbeat: 30))),
            .connection(.open(.init(virtualHost: "vh1"))),
        ])
        #expect(machine.methodReceived(.openOk(.init())) == .connected(parameters))
        #expect(machine.state == .open)
    }

    @Test func tuneTakesServerLimitsWhenClientHasNoPreference() {
        var machine = AMQPConnectionStateMachine(configuration: .init(authentication: .plain(username: "u", password: "p"), heartbeat: 0, channelMax: 0, frameMax: 0))
        _ = machine.transportConnected(now: .uptimeNanoseconds(0))
        _ = machine.methodReceived(Self.start())
        guard case .tuned(let p, _) = machine.methodReceived(.tune(.init(channelMax: 64, frameMax: 8192, heartbeat: 60))) else {
            Issue.record("expected tuned")
            return
        }
        #expect(p.channelMax == 64)
        #expect(p.frameMax == 8192)
        #expect(p.heartbeat == 0)  // the client asked for no heartbeats
    }

    @Test func externalRequiresOfferedMechanism() {
        var machine = AMQPConnectionStateMachine(configuration: .init(authentication: .external))
        _ = machine.transportConnected(now: .uptimeNanoseconds(0))
        guard case .failAndClose(let error, _) = machine.methodReceived(Self.start(mechanisms: "PLAIN")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == .mechanismNotSupported)

        var external = AMQPConnectionStateMachine(configuration: .init(authentication: .external))
        _ = external.transportConnected(now: .uptimeNanoseconds(0))
        guard case .connection(.startOk(let ok))? = Self.sentMethods(external.methodReceived(Self.start(mechanisms: "PLAIN EXTERNAL"))).first else {
            Issue.record("expected start-ok")
            return
        }
        #expect(ok.mechanism == "EXTERNAL")
    }

    @Test func accessRefusedIsAuthenticationFailure() {
        var machine = AMQPConnectionStateMachine(configuration: .init(authentication: .plain(username: "u", password: "bad")))
        _ = machine.transportConnected(now: .uptimeNanoseconds(0))
        _ = machine.methodReceived(Self.start())
        let action = machine.methodReceived(.close(.init(replyCode: .accessRefused, replyText: "ACCESS_REFUSED - Login was refused")))
        guard case .failAndClose(let error, _) = action else {
            Issue.record("expected failAndClose, got \(action)")
            return
        }
        #expect(error.code == .authenticationFailed)
        #expect(error.replyCode == 403)
        #expect(Self.sentMethods(action) == [.connection(.closeOk)])
    }

    @Test func socketDropAfterStartOkWithoutCapabilityIsAuthenticationFailure() {
        var machine = AMQPConnectionStateMachine(configuration: .init(authentication: .plain(username: "u", password: "bad")))
        _ = machine.transportConnected(now: .uptimeNanoseconds(0))
        _ = machine.methodReceived(Self.start(capabilities: []))
        guard case .failAndClose(let error, _) = machine.transportClosed(error: nil) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == .authenticationFailed)
    }

    @Test func unknownVirtualHost() {
        var machine = AMQPConnectionStateMachine(configuration: .init(authentication: .plain(username: "u", password: "p"), virtualHost: "nope"))
        _ = machine.transportConnected(now: .uptimeNanoseconds(0))
        _ = machine.methodReceived(Self.start())
        _ = machine.methodReceived(.tune(.init(channelMax: 0, frameMax: 0, heartbeat: 0)))
        guard case .failAndClose(let error, _) = machine.methodReceived(.close(.init(replyCode: .notAllowed, replyText: "NOT_ALLOWED - vhost nope not found"))) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == .virtualHostNotAllowed)
        #expect(error.replyCode == 530)
    }

    @Test func serverCloseWhenOpen() {
        var machine = Self.openMachine()
        let action = machine.methodReceived(.close(.init(replyCode: .connectionForced, replyText: "CONNECTION_FORCED - shutdown")))
        guard case .failAndClose(let error, _) = action else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == .connectionClosedByServer)
        #expect(error.replyCode == 320)
        #expect(error.replyText == "CONNECTION_FORCED - shutdown")
        #expect(Self.sentMethods(action) == [.connection(.closeOk)])
        #expect(machine.state == .closed)
    }

    @Test func blockedAndUnblocked() {
        var machine = Self.openMachine()
        #expect(machine.methodReceived(.blocked(.init(reason: "low on memory"))) == .blockedChanged(blocked: true, reason: "low on memory"))
        #expect(machine.isBlocked)
        #expect(machine.blockedReason == "low on memory")
        #expect(machine.methodReceived(.unblocked) == .blockedChanged(blocked: false, reason: nil))
        #expect(!machine.isBlocked)
    }

    @Test func heartbeatsAreSentAndMissedHeartbeatsTimeOut() {
        var machine = Self.openMachine(heartbeat: 10)
        let second: Int64 = 1_000_000_000
        // Nothing sent for 5 s (half the interval): send a heartbeat.
        #expect(machine.heartbeatTick(now: .uptimeNanoseconds(UInt64(5 * second))) == .sendHeartbeat)
        #expect(machine.heartbeatTick(now: .uptimeNanoseconds(UInt64(6 * second))) == .none)
        machine.frameReceived(now: .uptimeNanoseconds(UInt64(15 * second)))
        #expect(machine.heartbeatTick(now: .uptimeNanoseconds(UInt64(30 * second))) == .sendHeartbeat)
        // 20 s (two intervals) without a frame from the broker: fail.
        guard case .failAndClose(let error, _) = machine.heartbeatTick(now: .uptimeNanoseconds(UInt64(35 * second))) else {
            Issue.record("expected heartbeat timeout")
            return
        }
        #expect(error.code == .heartbeatTimeout)
    }

    @Test func clientClose() {
        var machine = Self.openMachine()
        #expect(Self.sentMethods(machine.closeRequested()).map(\.name) == ["connection.close"])
        #expect(machine.methodReceived(.closeOk) == .closeTransport)
    }
}

@Suite("Channel state machine")
struct ChannelStateMachineTests {
    typealias Machine = AMQPChannelStateMachine<String, Int>

    static func openChannel(maxInFlight: Int = 100) -> Machine {
        var machine = Machine(channelID: 1, frameMax: 4096, maxInFlight: maxInFlight)
        _ = machine.openRequested("open")
        _ = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.openOk(.init()))))
        return machine
    }

    static func confirmChannel(maxInFlight: Int = 100) -> Machine {
        var machine = Self.openChannel(maxInFlight: maxInFlight)
        _ = machine.rpcRequested(.confirm(.select(.init())), token: "select")
        _ = machine.commandReceived(AMQPCommand(channel: 1, method: .confirm(.selectOk)))
        return machine
    }

    static func publish(_ machine: inout Machine, _ token: Int, mandatory: Bool = false, routingKey: AMQPShortString = "k") -> Machine.Action {
        machine.publishRequested(.init(exchange: "x", routingKey: routingKey, mandatory: mandatory), properties: .none, body: ByteBuffer(string: "m\(token)"), token: token)
    }

    static func resolutions(_ action: Machine.Action) -> [Int: Result<Void, AMQPClientError>] {
        guard case .resolvePublishes(let list, _) = action else { return [:] }
        var result: [Int: Result<Void, AMQPClientError>] = [:]
        for r in list { result[r.token] = r.result }
        return result
    }

    @Test func openAndSequentialRPCs() {
        var machine = Machine(channelID: 3, frameMax: 4096)
        guard case .send(let frames) = machine.openRequested("open") else {
            Issue.record("expected send")
            return
        }
        #expect(frames == [.method(.channel(.open(.init())), channel: 3)])
        guard case .succeedRPC("open", .channel(.openOk), _) = machine.commandReceived(AMQPCommand(channel: 3, method: .channel(.openOk(.init())))) else {
            Issue.record("expected open-ok")
            return
        }
        #expect(machine.state == .open)
        // Two requests: the second waits for the first response.
        guard case .send = machine.rpcRequested(.exchange(.declare(.init(exchange: "a"))), token: "a") else {
            Issue.record("expected send")
            return
        }
        guard case .none = machine.rpcRequested(.queue(.declare(.init(queue: "q"))), token: "q") else {
            Issue.record("second rpc must wait")
            return
        }
        guard case .succeedRPC("a", .exchange(.declareOk), let next) = machine.commandReceived(AMQPCommand(channel: 3, method: .exchange(.declareOk))) else {
            Issue.record("expected declare-ok")
            return
        }
        #expect(next == [.method(.queue(.declare(.init(queue: "q"))), channel: 3)])
        guard case .succeedRPC("q", _, let none) = machine.commandReceived(AMQPCommand(channel: 3, method: .queue(.declareOk(.init(queue: "q"))))) else {
            Issue.record("expected queue declare-ok")
            return
        }
        #expect(none.isEmpty)
    }

    @Test func confirmsWithMultipleAcksAndNacks() {
        var machine = Self.confirmChannel()
        #expect(machine.isConfirmMode)
        for token in 1...5 {
            guard case .send(let frames) = Self.publish(&machine, token) else {
                Issue.record("expected send")
                return
            }
            #expect(frames.count == 3)  // method, header, body
        }
        #expect(machine.nextPublishTag == 6)
        // ack multiple up to 3 resolves 1, 2, 3.
        let first = Self.resolutions(machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 3, multiple: true))))))
        #expect(first.keys.sorted() == [1, 2, 3])
        #expect(first.values.allSatisfy { if case .success = $0 { true } else { false } })
        // single nack of 5, then ack of 4.
        let nacked = Self.resolutions(machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.nack(.init(deliveryTag: 5, multiple: false))))))
        guard case .failure(let error)? = nacked[5] else {
            Issue.record("expected nack failure")
            return
        }
        #expect(error.code == .publishNacked)
        #expect(machine.unconfirmedCount == 1)
        let last = Self.resolutions(machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 4))))))
        #expect(last.keys.sorted() == [4])
        #expect(machine.unconfirmedCount == 0)
    }

    @Test func multipleNackFailsAllUpToTag() {
        var machine = Self.confirmChannel()
        for token in 1...3 { _ = Self.publish(&machine, token) }
        let result = Self.resolutions(machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.nack(.init(deliveryTag: 2, multiple: true))))))
        #expect(result.keys.sorted() == [1, 2])
        #expect(result.values.allSatisfy { if case .failure(let e) = $0 { e.code == .publishNacked } else { false } })
        #expect(machine.unconfirmedCount == 1)
    }

    @Test func inFlightWindowQueuesPublishes() {
        var machine = Self.confirmChannel(maxInFlight: 2)
        guard case .send = Self.publish(&machine, 1), case .send = Self.publish(&machine, 2) else {
            Issue.record("expected sends")
            return
        }
        guard case .none = Self.publish(&machine, 3) else {
            Issue.record("third publish must wait")
            return
        }
        #expect(machine.queuedPublishCount == 1)
        guard case .resolvePublishes(let resolved, let send) = machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 1))))) else {
            Issue.record("expected resolution")
            return
        }
        #expect(resolved.map(\.token) == [1])
        #expect(send.count == 3)
        #expect(machine.queuedPublishCount == 0)
        #expect(machine.unconfirmedCount == 2)
    }

    @Test func returnFailsTheMandatoryPublish() {
        var machine = Self.confirmChannel()
        _ = Self.publish(&machine, 1, mandatory: true, routingKey: "routed")
        _ = Self.publish(&machine, 2, mandatory: true, routingKey: "nowhere")
        let ret = AMQPCommand(
            channel: 1,
            method: .basic(.return(.init(replyCode: 312, replyText: "NO_ROUTE", exchange: "x", routingKey: "nowhere"))),
            content: .init(header: AMQPContentHeader(bodySize: 2, properties: .none), body: ByteBuffer(string: "m2"))
        )
        guard case .none = machine.commandReceived(ret) else {
            Issue.record("return alone resolves nothing")
            return
        }
        let result = Self.resolutions(machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 2, multiple: true))))))
        guard case .success? = result[1], case .failure(let error)? = result[2] else {
            Issue.record("expected 1 acked and 2 returned, got \(result)")
            return
        }
        #expect(error.code == .publishReturned)
        #expect(error.replyCode == 312)
    }

    @Test func serverChannelCloseFailsEverything() {
        var machine = Self.confirmChannel()
        _ = Self.publish(&machine, 1)
        _ = machine.rpcRequested(.exchange(.declare(.init(exchange: "clash", type: "fanout"))), token: "declare")
        _ = machine.rpcRequested(.queue(.declare(.init(queue: "q"))), token: "queued")
        let action = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.close(.init(
            replyCode: .preconditionFailed, replyText: "PRECONDITION_FAILED - inequivalent arg 'type'", classID: 40, methodID: 10
        )))))
        guard case .channelClosed(let error, let rpcs, let publishes, _, let closeOK, let send) = action else {
            Issue.record("expected channelClosed, got \(action)")
            return
        }
        #expect(error.code == .channelClosedByServer)
        #expect(error.replyCode == 406)
        #expect(error.replyText == "PRECONDITION_FAILED - inequivalent arg 'type'")
        #expect(rpcs == ["declare", "queued"])
        #expect(publishes == [1])
        #expect(closeOK == nil)
        #expect(send == [.method(.channel(.closeOk), channel: 1)])
        guard case .failRPC(_, let later) = machine.rpcRequested(.queue(.declare(.init(queue: "z"))), token: "later") else {
            Issue.record("closed channel must refuse")
            return
        }
        #expect(later.replyCode == 406)
    }

    @Test func consumerDeliveriesAndServerCancel() {
        var machine = Self.openChannel()
        _ = machine.rpcRequested(.basic(.consume(.init(queue: "q", consumerTag: "c1"))), token: "consume")
        _ = machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.consumeOk(.init(consumerTag: "c1")))))
        #expect(machine.consumers == ["c1"])
        let deliver = AMQPCommand(
            channel: 1,
            method: .basic(.deliver(.init(consumerTag: "c1", deliveryTag: 7, redelivered: false, exchange: "x", routingKey: "k"))),
            content: .init(header: AMQPContentHeader(bodySize: 5, properties: .init(contentType: "text/plain")), body: ByteBuffer(string: "hello"))
        )
        guard case .deliver(let delivery) = machine.commandReceived(deliver) else {
            Issue.record("expected delivery")
            return
        }
        #expect(delivery.deliveryTag == 7)
        #expect(delivery.body == ByteBuffer(string: "hello"))
        #expect(delivery.properties.contentType == "text/plain")
        guard case .consumerCancelled("c1", let send) = machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.cancel(.init(consumerTag: "c1", noWait: true))))) else {
            Issue.record("expected cancel")
            return
        }
        #expect(send.isEmpty)
        #expect(machine.consumers.isEmpty)
    }

    @Test func connectionLossFailsPendingWork() {
        var machine = Self.confirmChannel()
        _ = Self.publish(&machine, 1)
        _ = machine.rpcRequested(.queue(.declare(.init(queue: "q"))), token: "q")
        guard case .channelClosed(let error, let rpcs, let publishes, _, _, let send) = machine.connectionClosed(AMQPClientError(code: .connectionLost, message: "lost")) else {
            Issue.record("expected channelClosed")
            return
        }
        #expect(error.code == .connectionLost)
        #expect(rpcs == ["q"])
        #expect(publishes == [1])
        #expect(send.isEmpty)
    }

    @Test func flowPausesAndResumesConfirmedPublishing() {
        var machine = Self.confirmChannel(maxInFlight: 2)
        _ = Self.publish(&machine, 1)
        // The broker pauses the channel: flow-ok, and publishes wait.
        guard case .send(let pauseReply) = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.flow(.init(active: false))))) else {
            Issue.record("expected flow-ok")
            return
        }
        #expect(pauseReply == [.method(.channel(.flowOk(.init(active: false))), channel: 1)])
        #expect(!machine.isFlowActive)
        for token in 2...4 {
            guard case .none = Self.publish(&machine, token) else {
                Issue.record("publish \(token) must wait while paused")
                return
            }
        }
        #expect(machine.queuedPublishCount == 3)
        #expect(machine.unconfirmedCount == 1)
        // A confirm while paused resolves but sends nothing new.
        guard case .resolvePublishes(let acked, let nothing) = machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 1))))) else {
            Issue.record("expected resolution")
            return
        }
        #expect(acked.map(\.token) == [1])
        #expect(nothing.isEmpty)
        // Resume: flow-ok, then as many as the window (2) admits, in order.
        guard case .send(let resumed) = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.flow(.init(active: true))))) else {
            Issue.record("expected send on resume")
            return
        }
        #expect(resumed.first == .method(.channel(.flowOk(.init(active: true))), channel: 1))
        #expect(resumed.count == 1 + 2 * 3)
        #expect(resumed[1] == .method(.basic(.publish(.init(exchange: "x", routingKey: "k"))), channel: 1))
        #expect(machine.isFlowActive)
        #expect(machine.queuedPublishCount == 1)
        #expect(machine.nextPublishTag == 4)
        let rest = Self.resolutions(machine.commandReceived(AMQPCommand(channel: 1, method: .basic(.ack(.init(deliveryTag: 3, multiple: true))))))
        #expect(rest.keys.sorted() == [2, 3])
        #expect(machine.unconfirmedCount == 1)  // 4 went out when the window opened
        #expect(machine.queuedPublishCount == 0)
    }

    @Test func flowPausesPublishingWithoutConfirms() {
        var machine = Self.openChannel()
        _ = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.flow(.init(active: false)))))
        guard case .none = Self.publish(&machine, 1), case .none = Self.publish(&machine, 2) else {
            Issue.record("publishes must wait while paused")
            return
        }
        // Resume: flow-ok and both publishes are written, then succeed.
        guard case .resolvePublishes(let resolved, let frames) = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.flow(.init(active: true))))) else {
            Issue.record("expected the waiting publishes")
            return
        }
        #expect(frames.count == 1 + 2 * 3)
        #expect(frames.first == .method(.channel(.flowOk(.init(active: true))), channel: 1))
        #expect(resolved.map(\.token) == [1, 2])
        #expect(resolved.allSatisfy { if case .success = $0.result { true } else { false } })
        // A pause then the channel's loss fails what waited.
        _ = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.flow(.init(active: false)))))
        _ = Self.publish(&machine, 3)
        guard case .channelClosed(_, _, let publishes, _, _, _) = machine.connectionClosed(AMQPClientError(code: .connectionLost, message: "lost")) else {
            Issue.record("expected channelClosed")
            return
        }
        #expect(publishes == [3])
    }

    @Test func clientClose() {
        var machine = Self.openChannel()
        guard case .send(let frames) = machine.closeRequested("close") else {
            Issue.record("expected send")
            return
        }
        #expect(frames.count == 1)
        guard case .channelClosed(_, _, _, _, let closeOK, _) = machine.commandReceived(AMQPCommand(channel: 1, method: .channel(.closeOk))) else {
            Issue.record("expected closed")
            return
        }
        #expect(closeOK == "close")
    }
}
