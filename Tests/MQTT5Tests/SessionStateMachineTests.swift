import MQTT5
import NIOCore
import Testing

/// ``MQTTConnectionStateMachine`` in session mode: losing and re-establishing connections,
/// without sockets.
@Suite("MQTTConnectionStateMachine session resume")
struct SessionStateMachineTests {
    typealias Action = MQTTConnectionStateMachine.Action

    static let settings = MQTTConnectSettings(clientIdentifier: "s1", cleanStart: true, keepAlive: 10, sessionExpiryInterval: 300)

    func connectedSession(
        settings: MQTTConnectSettings = Self.settings,
        connack: MQTTConnAckPacket = MQTTConnAckPacket(),
        resubscribesOnResume: Bool = false
    ) -> MQTTConnectionStateMachine {
        var machine = MQTTConnectionStateMachine(settings: settings, keepsSessionAcrossConnections: true, resubscribesOnResume: resubscribesOnResume)
        _ = machine.connectRequested()
        _ = machine.packetReceived(.connack(connack))
        return machine
    }

    func publish(_ topic: String = "a/b", _ payload: String = "x", qos: MQTTQoS) -> MQTTPublishPacket {
        MQTTPublishPacket(topicName: topic, payload: ByteBuffer(string: payload), qos: qos)
    }

    /// Drops the transport and expects the loss to be reported (and nothing failed).
    func loseConnection(_ machine: inout MQTTConnectionStateMachine) {
        let actions = machine.channelInactive()
        #expect(actions.count == 1, "\(actions)")
        guard case .connectionLost(let error) = actions.first else {
            Issue.record("expected connectionLost, got \(actions)")
            return
        }
        #expect(error.kind == .connectionClosed)
        #expect(!machine.isConnected)
        #expect(!machine.isClosed)
    }

    /// Reconnects: checks the CONNECT resumes the session and returns the CONNACK's actions.
    func reconnect(_ machine: inout MQTTConnectionStateMachine, sessionPresent: Bool, connackProperties: MQTTProperties = MQTTProperties()) -> [Action] {
        let connect = machine.connectRequested()
        guard case .send(.connect(let packet)) = connect.first else {
            Issue.record("expected CONNECT, got \(connect)")
            return []
        }
        #expect(packet.cleanStart == false)
        #expect(packet.clientIdentifier == machine.clientIdentifier)
        let actions = machine.packetReceived(.connack(MQTTConnAckPacket(sessionPresent: sessionPresent, properties: connackProperties)))
        guard case .connected(let info) = actions.first else {
            Issue.record("expected connected, got \(actions)")
            return actions
        }
        #expect(info.sessionPresent == sessionPresent)
        return Array(actions.dropFirst())
    }

    func sentPublish(_ actions: [Action]) -> MQTTPublishPacket? {
        guard actions.count == 1, case .send(.publish(let packet)) = actions.first else { return nil }
        return packet
    }

    // MARK: Session present

    @Test func qos1InFlightIsRetransmittedWithDupAndSameIdentifier() throws {
        var machine = self.connectedSession()
        let original = try #require(self.sentPublish(machine.publishRequested(token: 7, self.publish(qos: .atLeastOnce))))
        let id = try #require(original.packetIdentifier)
        self.loseConnection(&machine)
        #expect(machine.inFlightCount == 1)

        let actions = self.reconnect(&machine, sessionPresent: true)
        var expected = original
        expected.dup = true
        #expect(actions == [.send(.publish(expected))])
        // The PUBACK on the new connection completes the original request.
        #expect(machine.packetReceived(.puback(MQTTPubAckPacket(packetIdentifier: id))) == [.publishCompleted(token: 7, .success(.success))])
        #expect(machine.inFlightCount == 0)
    }

    @Test func qos2AwaitingPubCompResendsPubRelAndAwaitingPubRecResendsPublish() throws {
        var machine = self.connectedSession()
        let released = try #require(self.sentPublish(machine.publishRequested(token: 1, self.publish("q/1", qos: .exactlyOnce))))
        let unreceived = try #require(self.sentPublish(machine.publishRequested(token: 2, self.publish("q/2", qos: .exactlyOnce))))
        let releasedID = try #require(released.packetIdentifier)
        #expect(machine.packetReceived(.pubrec(MQTTPubAckPacket(packetIdentifier: releasedID))) == [.send(.pubrel(MQTTPubAckPacket(packetIdentifier: releasedID)))])
        self.loseConnection(&machine)

        let actions = self.reconnect(&machine, sessionPresent: true)
        var duplicate = unreceived
        duplicate.dup = true
        // Original order: the first publish (now awaiting PUBCOMP) first.
        #expect(actions == [.send(.pubrel(MQTTPubAckPacket(packetIdentifier: releasedID))), .send(.publish(duplicate))])
        #expect(machine.packetReceived(.pubcomp(MQTTPubAckPacket(packetIdentifier: releasedID))) == [.publishCompleted(token: 1, .success(.success))])
        let unreceivedID = try #require(unreceived.packetIdentifier)
        #expect(machine.packetReceived(.pubrec(MQTTPubAckPacket(packetIdentifier: unreceivedID))) == [.send(.pubrel(MQTTPubAckPacket(packetIdentifier: unreceivedID)))])
        #expect(machine.packetReceived(.pubcomp(MQTTPubAckPacket(packetIdentifier: unreceivedID))) == [.publishCompleted(token: 2, .success(.success))])
    }

    @Test func sessionPresentKeepsSubscriptionsWithoutResubscribing() {
        var machine = self.connectedSession()
        guard case .send(.subscribe(let subscribe)) = machine.subscribeRequested(token: 1, subscriptions: [MQTTSubscription(topicFilter: "a/#")], properties: MQTTProperties(subscriptionIdentifiers: [4])).first else {
            Issue.record("expected SUBSCRIBE")
            return
        }
        _ = machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.success])))
        self.loseConnection(&machine)
        #expect(self.reconnect(&machine, sessionPresent: true).isEmpty)
        #expect(machine.subscriptions.map(\.subscriptions) == [[MQTTSubscription(topicFilter: "a/#")]])
    }

    @Test func resumedSessionResubscribesWithRetainHandlingOneWhenAsked() {
        var machine = self.connectedSession(resubscribesOnResume: true)
        let options = MQTTSubscriptionOptions(maximumQoS: .atLeastOnce, retainHandling: .sendOnSubscribe)
        guard case .send(.subscribe(let subscribe)) = machine.subscribeRequested(
            token: 1, subscriptions: [MQTTSubscription(topicFilter: "$share/g/a/#", options: options)], properties: MQTTProperties(subscriptionIdentifiers: [4])
        ).first else {
            Issue.record("expected SUBSCRIBE")
            return
        }
        _ = machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.grantedQoS1])))
        self.loseConnection(&machine)
        let actions = self.reconnect(&machine, sessionPresent: true)
        guard actions.count == 1, case .send(.subscribe(let again)) = actions[0] else {
            Issue.record("expected one SUBSCRIBE, got \(actions)")
            return
        }
        #expect(again.subscriptions.map(\.topicFilter) == ["$share/g/a/#"])
        #expect(again.subscriptions.map(\.options.retainHandling) == [.sendOnSubscribeIfNew])
        #expect(again.subscriptions.map(\.options.maximumQoS) == [.atLeastOnce])
        #expect(again.properties.subscriptionIdentifiers == [4])
        // Its SUBACK completes nothing the user is waiting for and keeps one granted subscription.
        #expect(machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: again.packetIdentifier, reasonCodes: [.grantedQoS1]))).isEmpty)
        #expect(machine.subscriptions.count == 1)
    }

    @Test func incomingQoS2AwaitingReleaseSurvives() {
        var machine = self.connectedSession()
        let incoming = MQTTPublishPacket(topicName: "t", qos: .exactlyOnce, packetIdentifier: 9)
        #expect(machine.packetReceived(.publish(incoming)) == [.deliver(incoming)])
        #expect(machine.incomingPublishAccepted(packetIdentifier: 9) == [.send(.pubrec(MQTTPubAckPacket(packetIdentifier: 9)))])
        self.loseConnection(&machine)
        #expect(self.reconnect(&machine, sessionPresent: true).isEmpty)
        // The broker did not see our PUBREC and resends the PUBLISH: acknowledged, not delivered again.
        var duplicate = incoming
        duplicate.dup = true
        #expect(machine.packetReceived(.publish(duplicate)) == [.send(.pubrec(MQTTPubAckPacket(packetIdentifier: 9)))])
        #expect(machine.packetReceived(.pubrel(MQTTPubAckPacket(packetIdentifier: 9))) == [.send(.pubcomp(MQTTPubAckPacket(packetIdentifier: 9)))])
    }

    @Test func incomingAcceptedWhileDisconnectedIsAcknowledgedOnResume() {
        var machine = self.connectedSession()
        let qos1 = MQTTPublishPacket(topicName: "t", qos: .atLeastOnce, packetIdentifier: 3)
        let qos2 = MQTTPublishPacket(topicName: "t", qos: .exactlyOnce, packetIdentifier: 4)
        _ = machine.packetReceived(.publish(qos1))
        _ = machine.packetReceived(.publish(qos2))
        self.loseConnection(&machine)
        // The consumer made room while the connection was down.
        #expect(machine.incomingPublishAccepted(packetIdentifier: 3).isEmpty)
        #expect(machine.incomingPublishAccepted(packetIdentifier: 4).isEmpty)
        #expect(self.reconnect(&machine, sessionPresent: true) == [
            .send(.puback(MQTTPubAckPacket(packetIdentifier: 3))),
            .send(.pubrec(MQTTPubAckPacket(packetIdentifier: 4))),
        ])
        // A resent duplicate of the QoS 2 message is not delivered twice.
        var duplicate = qos2
        duplicate.dup = true
        #expect(machine.packetReceived(.publish(duplicate)) == [.send(.pubrec(MQTTPubAckPacket(packetIdentifier: 4)))])
    }

    @Test func unacceptedIncomingResentByBrokerIsNotDeliveredTwice() {
        var machine = self.connectedSession()
        let incoming = MQTTPublishPacket(topicName: "t", qos: .atLeastOnce, packetIdentifier: 5)
        #expect(machine.packetReceived(.publish(incoming)) == [.deliver(incoming)])
        self.loseConnection(&machine)
        _ = self.reconnect(&machine, sessionPresent: true)
        var duplicate = incoming
        duplicate.dup = true
        #expect(machine.packetReceived(.publish(duplicate)).isEmpty)
        // Acknowledged on the new connection once the owner has room.
        #expect(machine.incomingPublishAccepted(packetIdentifier: 5) == [.send(.puback(MQTTPubAckPacket(packetIdentifier: 5)))])
    }

    // MARK: Session not present

    @Test func sessionLostResubscribesAndRepublishes() throws {
        var machine = self.connectedSession()
        let subscribeActions = machine.subscribeRequested(
            token: 1,
            subscriptions: [MQTTSubscription(topicFilter: "a/#", options: MQTTSubscriptionOptions(maximumQoS: .atLeastOnce))],
            properties: MQTTProperties(subscriptionIdentifiers: [11])
        )
        guard case .send(.subscribe(let subscribe)) = subscribeActions.first else {
            Issue.record("expected SUBSCRIBE, got \(subscribeActions)")
            return
        }
        _ = machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.grantedQoS1])))
        let qos1 = try #require(self.sentPublish(machine.publishRequested(token: 2, self.publish("p/1", "one", qos: .atLeastOnce))))
        let qos2 = try #require(self.sentPublish(machine.publishRequested(token: 3, self.publish("p/2", "two", qos: .exactlyOnce))))
        _ = machine.packetReceived(.pubrec(MQTTPubAckPacket(packetIdentifier: qos2.packetIdentifier!)))
        let incoming = MQTTPublishPacket(topicName: "a/x", qos: .exactlyOnce, packetIdentifier: 77)
        _ = machine.packetReceived(.publish(incoming))
        _ = machine.incomingPublishAccepted(packetIdentifier: 77)
        self.loseConnection(&machine)

        let actions = self.reconnect(&machine, sessionPresent: false)
        #expect(actions.count == 3, "\(actions)")
        guard actions.count == 3,
            case .send(.subscribe(let resubscribe)) = actions[0],
            case .send(.publish(let republished1)) = actions[1],
            case .send(.publish(let republished2)) = actions[2]
        else {
            Issue.record("expected SUBSCRIBE and two PUBLISH, got \(actions)")
            return
        }
        // Same filter, options and subscription identifier.
        #expect(resubscribe.subscriptions == subscribe.subscriptions)
        #expect(resubscribe.properties.subscriptionIdentifiers == [11])
        // Published again as new messages, in the original order; even the QoS 2 message the
        // broker had received (PUBREC) since the broker's session is gone.
        #expect(republished1.topicName == "p/1" && !republished1.dup && republished1.qos == .atLeastOnce)
        #expect(republished2.topicName == "p/2" && !republished2.dup && republished2.qos == .exactlyOnce)
        #expect(republished1.payload == qos1.payload)
        // Acknowledgements complete the original requests.
        #expect(machine.packetReceived(.puback(MQTTPubAckPacket(packetIdentifier: republished1.packetIdentifier!))) == [.publishCompleted(token: 2, .success(.success))])
        _ = machine.packetReceived(.pubrec(MQTTPubAckPacket(packetIdentifier: republished2.packetIdentifier!)))
        #expect(machine.packetReceived(.pubcomp(MQTTPubAckPacket(packetIdentifier: republished2.packetIdentifier!))) == [.publishCompleted(token: 3, .success(.success))])
        // The re-subscription's SUBACK completes no user request.
        #expect(machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: resubscribe.packetIdentifier, reasonCodes: [.grantedQoS1]))).isEmpty)
        // The incoming QoS 2 state went with the broker's session: a new message with that
        // packet identifier is delivered.
        #expect(machine.packetReceived(.publish(incoming)) == [.deliver(incoming)])
    }

    @Test func refusedResubscriptionIsReported() {
        var machine = self.connectedSession()
        guard case .send(.subscribe(let subscribe)) = machine.subscribeRequested(token: 1, subscriptions: [MQTTSubscription(topicFilter: "secret/#")], properties: MQTTProperties(subscriptionIdentifiers: [2])).first else {
            Issue.record("expected SUBSCRIBE")
            return
        }
        _ = machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.success])))
        self.loseConnection(&machine)
        guard case .send(.subscribe(let resubscribe)) = self.reconnect(&machine, sessionPresent: false).first else {
            Issue.record("expected SUBSCRIBE")
            return
        }
        let actions = machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: resubscribe.packetIdentifier, reasonCodes: [.notAuthorized])))
        guard case .resubscribeFailed(let refused, let error) = actions.first else {
            Issue.record("expected resubscribeFailed, got \(actions)")
            return
        }
        #expect(refused.properties.subscriptionIdentifiers == [2])
        #expect(error.reasonCode == .notAuthorized)
        #expect(machine.subscriptions.isEmpty)
    }

    @Test func unsubscribedFiltersAreNotResubscribed() {
        var machine = self.connectedSession()
        for (token, filter) in [(UInt64(1), "keep/#"), (2, "drop/#")] {
            guard case .send(.subscribe(let subscribe)) = machine.subscribeRequested(token: token, subscriptions: [MQTTSubscription(topicFilter: filter)], properties: MQTTProperties()).first else {
                Issue.record("expected SUBSCRIBE")
                return
            }
            _ = machine.packetReceived(.suback(MQTTSubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.success])))
        }
        guard case .send(.unsubscribe(let unsubscribe)) = machine.unsubscribeRequested(token: 3, topicFilters: ["drop/#"], properties: MQTTProperties()).first else {
            Issue.record("expected UNSUBSCRIBE")
            return
        }
        _ = machine.packetReceived(.unsuback(MQTTUnsubAckPacket(packetIdentifier: unsubscribe.packetIdentifier, reasonCodes: [.success])))
        self.loseConnection(&machine)
        let actions = self.reconnect(&machine, sessionPresent: false)
        guard actions.count == 1, case .send(.subscribe(let resubscribe)) = actions.first else {
            Issue.record("expected one SUBSCRIBE, got \(actions)")
            return
        }
        #expect(resubscribe.subscriptions.map(\.topicFilter) == ["keep/#"])
    }

    // MARK: Requests across the gap

    @Test func unacknowledgedSubscribeIsSentAgain() {
        var machine = self.connectedSession()
        _ = machine.subscribeRequested(token: 5, subscriptions: [MQTTSubscription(topicFilter: "x")], properties: MQTTProperties())
        self.loseConnection(&machine)
        let actions = self.reconnect(&machine, sessionPresent: true)
        guard actions.count == 1, case .send(.subscribe(let again)) = actions.first else {
            Issue.record("expected SUBSCRIBE, got \(actions)")
            return
        }
        let suback = MQTTSubAckPacket(packetIdentifier: again.packetIdentifier, reasonCodes: [.success])
        #expect(machine.packetReceived(.suback(suback)) == [.subscribeCompleted(token: 5, .success(suback))])
    }

    @Test func requestsWhileDisconnectedWaitForTheNextConnection() throws {
        var machine = self.connectedSession(connack: MQTTConnAckPacket(properties: MQTTProperties(receiveMaximum: 1)))
        self.loseConnection(&machine)
        #expect(machine.publishRequested(token: 1, self.publish("w/1", qos: .atLeastOnce)).isEmpty)
        #expect(machine.publishRequested(token: 2, self.publish("w/0", qos: .atMostOnce)).isEmpty)
        #expect(machine.subscribeRequested(token: 3, subscriptions: [MQTTSubscription(topicFilter: "w/#")], properties: MQTTProperties()).isEmpty)
        #expect(machine.queuedPublishCount == 2)
        // A request still waiting can be withdrawn.
        #expect(machine.publishRequested(token: 4, self.publish("w/2", qos: .atLeastOnce)).isEmpty)
        guard case .publishCompleted(4, .failure(let cancelled)) = machine.cancelRequested(token: 4).first else {
            Issue.record("expected cancellation")
            return
        }
        #expect(cancelled.kind == .cancelled)

        let actions = self.reconnect(&machine, sessionPresent: true, connackProperties: MQTTProperties(receiveMaximum: 1))
        guard actions.count == 4,
            case .send(.subscribe) = actions[0],
            case .send(.publish(let first)) = actions[1],
            case .send(.publish(let second)) = actions[2],
            case .publishCompleted(2, .success) = actions[3]
        else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(first.topicName == "w/1" && first.qos == .atLeastOnce)
        #expect(second.topicName == "w/0" && second.qos == .atMostOnce)
        // Completes only with its PUBACK.
        #expect(machine.packetReceived(.puback(MQTTPubAckPacket(packetIdentifier: try #require(first.packetIdentifier)))) == [.publishCompleted(token: 1, .success(.success))])
    }

    @Test func queuedPublishIsCheckedAgainstTheNewServerLimits() {
        var machine = self.connectedSession()
        self.loseConnection(&machine)
        _ = machine.publishRequested(token: 1, self.publish(qos: .exactlyOnce))
        let actions = self.reconnect(&machine, sessionPresent: true, connackProperties: MQTTProperties(maximumQoS: .atLeastOnce))
        guard case .publishCompleted(1, .failure(let error)) = actions.first else {
            Issue.record("expected refusal, got \(actions)")
            return
        }
        #expect(error.reasonCode == .qosNotSupported)
    }

    // MARK: Loss and end

    @Test func keepAliveTimeoutLosesTheConnectionButKeepsTheSession() throws {
        var machine = self.connectedSession(settings: MQTTConnectSettings(clientIdentifier: "k", keepAlive: 4, keepAliveTimeout: .seconds(2)))
        _ = try #require(self.sentPublish(machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))))
        let start = ContinuousClock.now
        _ = machine.keepAliveTick(now: start)
        #expect(machine.keepAliveTick(now: start + .seconds(3)) == [.send(.pingreq)])
        let actions = machine.keepAliveTick(now: start + .seconds(5))
        guard case .close(let error?) = actions.last else {
            Issue.record("expected close, got \(actions)")
            return
        }
        #expect(error.kind == .keepAliveTimeout)
        #expect(actions.count == 1)  // nothing failed
        #expect(machine.channelInactive() == [.connectionLost(error)])
        #expect(machine.inFlightCount == 1)
        #expect(machine.connectionLossError == error)
    }

    @Test func serverDisconnectReportsReasonAndKeepsTheSession() {
        var machine = self.connectedSession()
        _ = machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))
        let actions = machine.packetReceived(.disconnect(MQTTDisconnectPacket(reasonCode: .serverShuttingDown)))
        guard actions.count == 1, case .close(let error?) = actions.first else {
            Issue.record("expected close only, got \(actions)")
            return
        }
        #expect(error.kind == .serverDisconnected && error.reasonCode == .serverShuttingDown)
        #expect(machine.channelInactive() == [.connectionLost(error)])
        #expect(machine.channelInactive().isEmpty)  // reported once
        #expect(MQTTRetryPolicy().shouldRetry(after: error))
    }

    @Test func refusedReconnectReportsTheConnAckError() {
        var machine = self.connectedSession()
        self.loseConnection(&machine)
        _ = machine.connectRequested()
        let actions = machine.packetReceived(.connack(MQTTConnAckPacket(reasonCode: .serverBusy, properties: MQTTProperties(reasonString: "later"))))
        guard case .connectFailed(let error) = actions.first, case .close = actions.last else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(error.reasonCode == .serverBusy && error.reasonString == "later")
        #expect(machine.channelInactive() == [.connectionLost(error)])
    }

    @Test func sessionEndedFailsEverythingWithTheGivenError() {
        var machine = self.connectedSession()
        _ = machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))
        self.loseConnection(&machine)
        _ = machine.publishRequested(token: 2, self.publish(qos: .atLeastOnce))
        _ = machine.subscribeRequested(token: 3, subscriptions: [MQTTSubscription(topicFilter: "x")], properties: MQTTProperties())
        let error = MQTTClientError(kind: .connectionRefusedByServer, reasonCode: .notAuthorized, reasonString: "go away", message: "refused")
        let actions = machine.sessionEnded(error)
        #expect(actions == [
            .publishCompleted(token: 1, .failure(error)),
            .publishCompleted(token: 2, .failure(error)),
            .subscribeCompleted(token: 3, .failure(error)),
            .close(error),
        ])
        #expect(machine.isClosed)
        #expect(machine.closeError == error)
        guard case .publishCompleted(4, .failure(let later)) = machine.publishRequested(token: 4, self.publish(qos: .atLeastOnce)).first else {
            Issue.record("expected failure")
            return
        }
        #expect(later == error)
    }

    @Test func disconnectWhileDisconnectedEndsTheSession() {
        var machine = self.connectedSession()
        self.loseConnection(&machine)
        _ = machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))
        let actions = machine.closeRequested()
        guard actions.count == 2, case .publishCompleted(1, .failure(let error)) = actions[0], case .close(nil) = actions[1] else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(error.kind == .connectionClosed)
        #expect(machine.isClosed && machine.closeError == nil)
    }

    @Test func firstConnectFailureCanBeRetriedWithTheConfiguredCleanStart() {
        var machine = MQTTConnectionStateMachine(settings: Self.settings, keepsSessionAcrossConnections: true)
        _ = machine.connectRequested()
        #expect(machine.channelInactive() == [
            .connectFailed(MQTTClientError.init(kind: .connectionClosed, message: "connection closed before CONNACK")),
            .connectionLost(MQTTClientError.init(kind: .connectionClosed, message: "connection closed before CONNACK")),
        ])
        guard case .send(.connect(let connect)) = machine.connectRequested().first else {
            Issue.record("expected CONNECT")
            return
        }
        // Never connected: the configured Clean Start still applies.
        #expect(connect.cleanStart == true)
    }

    @Test func reconnectUsesTheAssignedClientIdentifier() {
        var machine = self.connectedSession(
            settings: MQTTConnectSettings(clientIdentifier: "", sessionExpiryInterval: 60),
            connack: MQTTConnAckPacket(properties: MQTTProperties(assignedClientIdentifier: "auto-7"))
        )
        self.loseConnection(&machine)
        guard case .send(.connect(let connect)) = machine.connectRequested().first else {
            Issue.record("expected CONNECT")
            return
        }
        #expect(connect.clientIdentifier == "auto-7")
        #expect(connect.cleanStart == false)
    }

    @Test func withoutSessionModeALostConnectionFailsEverything() {
        var machine = MQTTConnectionStateMachine(settings: Self.settings)
        _ = machine.connectRequested()
        _ = machine.packetReceived(.connack(MQTTConnAckPacket()))
        _ = machine.publishRequested(token: 1, self.publish(qos: .atLeastOnce))
        guard case .publishCompleted(1, .failure) = machine.channelInactive().first else {
            Issue.record("expected failure")
            return
        }
        #expect(machine.isClosed)
    }

    @Test func retryPolicyBackoffAndDisconnectReasons() {
        let policy = MQTTRetryPolicy(maximumRetries: 5, initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(350))
        #expect((1...4).map(policy.backoff(beforeRetry:)) == [.milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350)])
        func disconnect(_ code: MQTTReasonCode) -> MQTTClientError {
            MQTTClientError(kind: .serverDisconnected, reasonCode: code, message: "")
        }
        for code in [MQTTReasonCode.serverShuttingDown, .serverBusy, .quotaExceeded, .keepAliveTimeout, .maximumConnectTime] {
            #expect(policy.shouldRetry(after: disconnect(code)), "\(code)")
        }
        for code in [MQTTReasonCode.sessionTakenOver, .administrativeAction, .notAuthorized, .protocolError, .serverMoved, .useAnotherServer] {
            #expect(!policy.shouldRetry(after: disconnect(code)), "\(code)")
        }
        #expect(!policy.shouldRetry(after: MQTTClientError(kind: .protocolError, message: "")))
    }
}
