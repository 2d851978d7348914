import MQTT5
import NIOCore
import Testing

@Suite("MQTTConnectionStateMachine")
struct ConnectionStateMachineTests {
    typealias Action = MQTTConnectionStateMachine.Action

    func connected(
        settings: MQTTConnectSettings = MQTTConnectSettings(clientIdentifier: "c1", keepAlive: 10),
        connack: MQTTConnAckPacket = MQTTConnAckPacket()
    ) -> MQTTConnectionStateMachine {
        var machine = MQTTConnectionStateMachine(settings: settings)
        _ = machine.connectRequested()
        _ = machine.packetReceived(.connack(connack))
        return machine
    }

    func publish(_ topic: String = "a/b", qos: MQTTQoS) -> MQTTPublishPacket {
        MQTTPublishPacket(topicName: topic, payload: ByteBuffer(string: "x"), qos: qos)
    }

    @Test func connectSendsConnectWithSettings() {
        var machine = MQTTConnectionStateMachine(settings: MQTTConnectSettings(
            clientIdentifier: "id", cleanStart: false, keepAlive: 30, sessionExpiryInterval: 600,
            receiveMaximum: 5, maximumPacketSize: 4096, topicAliasMaximum: 3
        ))
        let actions = machine.connectRequested()
        guard case .send(.connect(let connect)) = actions.first else {
            Issue.record("expected CONNECT, got \(actions)")
            return
        }
        #expect(connect.clientIdentifier == "id")
        #expect(connect.cleanStart == false)
        #expect(connect.keepAlive == 30)
        #expect(connect.properties.sessionExpiryInterval == 600)
        #expect(connect.properties.receiveMaximum == 5)
        #expect(connect.properties.maximumPacketSize == 4096)
        #expect(connect.properties.topicAliasMaximum == 3)
    }

    @Test func connAckSuccessUsesServerValues() {
        var machine = MQTTConnectionStateMachine(settings: MQTTConnectSettings(clientIdentifier: "", keepAlive: 60))
        _ = machine.connectRequested()
        let actions = machine.packetReceived(.connack(MQTTConnAckPacket(
            sessionPresent: true,
            properties: MQTTProperties(assignedClientIdentifier: "auto-1", serverKeepAlive: 20, receiveMaximum: 7, maximumQoS: .atLeastOnce)
        )))
        guard case .connected(let info) = actions.first else {
            Issue.record("expected connected, got \(actions)")
            return
        }
        #expect(info.clientIdentifier == "auto-1")
        #expect(info.keepAlive == 20)
        #expect(info.serverReceiveMaximum == 7)
        #expect(info.maximumQoS == .atLeastOnce)
        #expect(info.sessionPresent)
        #expect(machine.isConnected)
    }

    @Test func connAckRefusalBadCredentials() {
        var machine = MQTTConnectionStateMachine(settings: MQTTConnectSettings(clientIdentifier: "c"))
        _ = machine.connectRequested()
        let actions = machine.packetReceived(.connack(MQTTConnAckPacket(
            reasonCode: .badUserNameOrPassword,
            properties: MQTTProperties(reasonString: "nope")
        )))
        guard case .connectFailed(let error) = actions.first, case .close = actions.last else {
            Issue.record("expected connectFailed + close, got \(actions)")
            return
        }
        #expect(error.kind == .connectionRefusedByServer)
        #expect(error.reasonCode == .badUserNameOrPassword)
        #expect(error.reasonString == "nope")
    }

    @Test func connAckUseAnotherServerSurfacesServerReference() {
        var machine = MQTTConnectionStateMachine(settings: MQTTConnectSettings(clientIdentifier: "c"))
        _ = machine.connectRequested()
        let actions = machine.packetReceived(.connack(MQTTConnAckPacket(
            reasonCode: .useAnotherServer,
            properties: MQTTProperties(serverReference: "other:1883")
        )))
        guard case .connectFailed(let error) = actions.first else {
            Issue.record("expected connectFailed, got \(actions)")
            return
        }
        #expect(error.serverReference == "other:1883")
        #expect(error.reasonCode == .useAnotherServer)
    }

    @Test func qos0CompletesImmediately() {
        var machine = self.connected()
        let actions = machine.publishRequested(token: 1, self.publish(qos: .atMostOnce))
        #expect(actions == [.send(.publish(self.publish(qos: .atMostOnce))), .publishCompleted(token: 1, .success(.success))])
    }

    @Test func qos1Flow() {
        var machine = self.connected()
        let actions = machine.publishRequested(token: 9, self.publish(qos: .atLeastOnce))
        guard case .send(.publish(let sent)) = actions.first, let id = sent.packetIdentifier else {
            Issue.record("expected PUBLISH, got \(actions)")
            return
        }
        #expect(actions.count == 1)
        #expect(machine.inFlightCount == 1)
        let acked = machine.packetReceived(.puback(MQTTPubAckPacket(packetIdentifier: id)))
        #expect(acked == [.publishCompleted(token: 9, .success(.success))])
        #expect(machine.inFlightCount == 0)
    }

    @Test func qos1FailedAckReportsReasonCode() {
        var machine = self.connected()
        _ = machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))
        let actions = machine.packetReceived(.puback(MQTTPubAckPacket(packetIdentifier: 1, reasonCode: .notAuthorized)))
        guard case .publishCompleted(1, .failure(let error)) = actions.first else {
            Issue.record("expected failure, got \(actions)")
            return
        }
        #expect(error.kind == .publishFailed)
        #expect(error.reasonCode == .notAuthorized)
    }

    @Test func qos2Flow() {
        var machine = self.connected()
        let actions = machine.publishRequested(token: 3, self.publish(qos: .exactlyOnce))
        guard case .send(.publish(let sent)) = actions.first, let id = sent.packetIdentifier else {
            Issue.record("expected PUBLISH, got \(actions)")
            return
        }
        #expect(machine.packetReceived(.pubrec(MQTTPubAckPacket(packetIdentifier: id))) == [.send(.pubrel(MQTTPubAckPacket(packetIdentifier: id)))])
        #expect(machine.inFlightCount == 1)
        #expect(machine.packetReceived(.pubcomp(MQTTPubAckPacket(packetIdentifier: id))) == [.publishCompleted(token: 3, .success(.success))])
        #expect(machine.inFlightCount == 0)
    }

    @Test func incomingQoS1AcknowledgedWhenAccepted() {
        var machine = self.connected()
        let incoming = MQTTPublishPacket(topicName: "t", qos: .atLeastOnce, packetIdentifier: 42)
        #expect(machine.packetReceived(.publish(incoming)) == [.deliver(incoming)])
        #expect(machine.incomingPublishAccepted(packetIdentifier: 42) == [.send(.puback(MQTTPubAckPacket(packetIdentifier: 42)))])
    }

    @Test func incomingQoS2FlowAndDuplicate() {
        var machine = self.connected()
        let incoming = MQTTPublishPacket(topicName: "t", qos: .exactlyOnce, packetIdentifier: 7)
        #expect(machine.packetReceived(.publish(incoming)) == [.deliver(incoming)])
        #expect(machine.incomingPublishAccepted(packetIdentifier: 7) == [.send(.pubrec(MQTTPubAckPacket(packetIdentifier: 7)))])
        var duplicate = incoming
        duplicate.dup = true
        // Not delivered twice.
        #expect(machine.packetReceived(.publish(duplicate)) == [.send(.pubrec(MQTTPubAckPacket(packetIdentifier: 7)))])
        #expect(machine.packetReceived(.pubrel(MQTTPubAckPacket(packetIdentifier: 7))) == [.send(.pubcomp(MQTTPubAckPacket(packetIdentifier: 7)))])
        #expect(machine.packetReceived(.pubrel(MQTTPubAckPacket(packetIdentifier: 7))) == [.send(.pubcomp(MQTTPubAckPacket(packetIdentifier: 7, reasonCode: .packetIdentifierNotFound)))])
    }

    @Test func inFlightLimitQueuesUntilAck() {
        var machine = self.connected(connack: MQTTConnAckPacket(properties: MQTTProperties(receiveMaximum: 2)))
        var ids: [UInt16] = []
        for token in UInt64(1)...2 {
            guard case .send(.publish(let sent)) = machine.publishRequested(token: token, self.publish(qos: .atLeastOnce)).first else {
                Issue.record("expected a PUBLISH")
                return
            }
            ids.append(sent.packetIdentifier!)
        }
        #expect(machine.publishRequested(token: 3, self.publish(qos: .atLeastOnce)).isEmpty)
        #expect(machine.publishRequested(token: 4, self.publish(qos: .exactlyOnce)).isEmpty)
        #expect(machine.inFlightCount == 2)
        #expect(machine.queuedPublishCount == 2)
        let actions = machine.packetReceived(.puback(MQTTPubAckPacket(packetIdentifier: ids[0])))
        #expect(actions.count == 2)
        #expect(actions.first == .publishCompleted(token: 1, .success(.success)))
        guard case .send(.publish(let third)) = actions.last else {
            Issue.record("expected queued PUBLISH to go out, got \(actions)")
            return
        }
        #expect(third.qos == .atLeastOnce)
        #expect(!ids.contains(third.packetIdentifier!))
        #expect(machine.inFlightCount == 2)
        #expect(machine.queuedPublishCount == 1)
    }

    @Test func keepAlivePingAndTimeout() {
        var machine = self.connected(settings: MQTTConnectSettings(clientIdentifier: "c", keepAlive: 4, keepAliveTimeout: .seconds(2)))
        let start = ContinuousClock.now
        #expect(machine.keepAliveTick(now: start).isEmpty)
        #expect(machine.keepAliveTick(now: start + .seconds(1)).isEmpty)
        #expect(machine.keepAliveTick(now: start + .seconds(3)) == [.send(.pingreq)])
        #expect(machine.keepAliveTick(now: start + .seconds(4)).isEmpty)
        let actions = machine.keepAliveTick(now: start + .seconds(5))
        guard case .close(let error?) = actions.last else {
            Issue.record("expected close, got \(actions)")
            return
        }
        #expect(error.kind == .keepAliveTimeout)
        #expect(!machine.isConnected)
    }

    @Test func pingRespResetsTimeout() {
        var machine = self.connected(settings: MQTTConnectSettings(clientIdentifier: "c", keepAlive: 4))
        let start = ContinuousClock.now
        _ = machine.keepAliveTick(now: start)
        #expect(machine.keepAliveTick(now: start + .seconds(3)) == [.send(.pingreq)])
        #expect(machine.packetReceived(.pingresp).isEmpty)
        #expect(machine.keepAliveTick(now: start + .seconds(5)).isEmpty)
        #expect(machine.isConnected)
    }

    @Test func serverKeepAliveOverrides() {
        var machine = self.connected(
            settings: MQTTConnectSettings(clientIdentifier: "c", keepAlive: 100),
            connack: MQTTConnAckPacket(properties: MQTTProperties(serverKeepAlive: 2))
        )
        let start = ContinuousClock.now
        _ = machine.keepAliveTick(now: start)
        #expect(machine.keepAliveTick(now: start + .seconds(2)) == [.send(.pingreq)])
    }

    @Test func serverDisconnectFailsPending() {
        var machine = self.connected()
        _ = machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))
        _ = machine.subscribeRequested(token: 2, subscriptions: [MQTTSubscription(topicFilter: "x/#")], properties: MQTTProperties())
        let actions = machine.packetReceived(.disconnect(MQTTDisconnectPacket(reasonCode: .serverShuttingDown, properties: MQTTProperties(reasonString: "bye"))))
        #expect(actions.count == 3)
        guard case .publishCompleted(1, .failure(let error)) = actions[0],
            case .subscribeCompleted(2, .failure) = actions[1],
            case .close(let closeError?) = actions[2]
        else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(error.kind == .serverDisconnected)
        #expect(error.reasonCode == .serverShuttingDown)
        #expect(error.reasonString == "bye")
        #expect(closeError == error)
        // Later requests fail with the same error instead of hanging.
        guard case .publishCompleted(5, .failure(let later)) = machine.publishRequested(token: 5, self.publish(qos: .atLeastOnce)).first else {
            Issue.record("expected failure")
            return
        }
        #expect(later.reasonCode == .serverShuttingDown)
    }

    @Test func clientDisconnectSendsReasonCode() {
        var machine = self.connected()
        let actions = machine.closeRequested(reason: .disconnectWithWillMessage)
        #expect(actions == [.send(.disconnect(MQTTDisconnectPacket(reasonCode: .disconnectWithWillMessage))), .close(nil)])
    }

    @Test func channelInactiveFailsQueuedAndInFlight() {
        var machine = self.connected(connack: MQTTConnAckPacket(properties: MQTTProperties(receiveMaximum: 1)))
        _ = machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))
        _ = machine.publishRequested(token: 2, self.publish(qos: .atLeastOnce))
        let actions = machine.channelInactive()
        #expect(actions.count == 2)
        for action in actions {
            guard case .publishCompleted(_, .failure(let error)) = action else {
                Issue.record("unexpected \(action)")
                continue
            }
            #expect(error.kind == .connectionClosed)
        }
    }

    @Test func subscribeAndUnsubscribe() {
        var machine = self.connected()
        guard case .send(.subscribe(let subscribe)) = machine.subscribeRequested(token: 1, subscriptions: [MQTTSubscription(topicFilter: "a/+")], properties: MQTTProperties()).first else {
            Issue.record("expected SUBSCRIBE")
            return
        }
        let suback = MQTTSubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.grantedQoS1])
        #expect(machine.packetReceived(.suback(suback)) == [.subscribeCompleted(token: 1, .success(suback))])
        guard case .send(.unsubscribe(let unsubscribe)) = machine.unsubscribeRequested(token: 2, topicFilters: ["a/+"], properties: MQTTProperties()).first else {
            Issue.record("expected UNSUBSCRIBE")
            return
        }
        let unsuback = MQTTUnsubAckPacket(packetIdentifier: unsubscribe.packetIdentifier, reasonCodes: [.success])
        #expect(machine.packetReceived(.unsuback(unsuback)) == [.unsubscribeCompleted(token: 2, .success(unsuback))])
    }

    @Test func subAckRefusal() {
        var machine = self.connected()
        _ = machine.subscribeRequested(token: 1, subscriptions: [MQTTSubscription(topicFilter: "a")], properties: MQTTProperties())
        let actions = machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.notAuthorized])))
        guard case .subscribeCompleted(1, .failure(let error)) = actions.first else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(error.reasonCode == .notAuthorized)
    }

    @Test func incomingTopicAlias() {
        var machine = self.connected(settings: MQTTConnectSettings(clientIdentifier: "c", topicAliasMaximum: 2))
        let first = MQTTPublishPacket(topicName: "long/topic", properties: MQTTProperties(topicAlias: 1))
        #expect(machine.packetReceived(.publish(first)) == [.deliver(first)])
        let second = MQTTPublishPacket(topicName: "", properties: MQTTProperties(topicAlias: 1))
        guard case .deliver(let resolved) = machine.packetReceived(.publish(second)).first else {
            Issue.record("expected delivery")
            return
        }
        #expect(resolved.topicName == "long/topic")
        let tooHigh = MQTTPublishPacket(topicName: "x", properties: MQTTProperties(topicAlias: 3))
        let actions = machine.packetReceived(.publish(tooHigh))
        #expect(actions.first == .send(.disconnect(MQTTDisconnectPacket(reasonCode: .topicAliasInvalid))))
        #expect(!machine.isConnected)
    }

    @Test func publishAboveServerLimitsRefusedLocally() {
        var machine = self.connected(connack: MQTTConnAckPacket(properties: MQTTProperties(maximumQoS: .atLeastOnce, retainAvailable: false, maximumPacketSize: 64)))
        guard case .publishCompleted(1, .failure(let qosError)) = machine.publishRequested(token: 1, self.publish(qos: .exactlyOnce)).first else {
            Issue.record("expected QoS refusal")
            return
        }
        #expect(qosError.reasonCode == .qosNotSupported)
        var retained = self.publish(qos: .atMostOnce)
        retained.retain = true
        guard case .publishCompleted(2, .failure(let retainError)) = machine.publishRequested(token: 2, retained).first else {
            Issue.record("expected retain refusal")
            return
        }
        #expect(retainError.reasonCode == .retainNotSupported)
        let big = MQTTPublishPacket(topicName: "t", payload: ByteBuffer(repeating: 0, count: 100))
        guard case .publishCompleted(3, .failure(let sizeError)) = machine.publishRequested(token: 3, big).first else {
            Issue.record("expected size refusal")
            return
        }
        #expect(sizeError.reasonCode == .packetTooLarge)
    }

    @Test func authPassedToHook() {
        var machine = MQTTConnectionStateMachine(settings: MQTTConnectSettings(clientIdentifier: "c"))
        _ = machine.connectRequested()
        let auth = MQTTAuthPacket(reasonCode: .continueAuthentication, properties: MQTTProperties(authenticationMethod: "X"))
        #expect(machine.packetReceived(.auth(auth)) == [.authReceived(auth)])
        #expect(machine.authResponse(auth) == [.send(.auth(auth))])
    }

    @Test func topicFilterMatching() {
        #expect(MQTTTopic.filter("a/+/c", matches: "a/b/c"))
        #expect(MQTTTopic.filter("a/#", matches: "a"))
        #expect(MQTTTopic.filter("a/#", matches: "a/b/c"))
        #expect(!MQTTTopic.filter("a/+", matches: "a/b/c"))
        #expect(!MQTTTopic.filter("#", matches: "$SYS/x"))
        #expect(MQTTTopic.filter("$share/g/a/+", matches: "a/b"))
    }
}
