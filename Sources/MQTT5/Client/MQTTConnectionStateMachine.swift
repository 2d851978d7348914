import NIOCore

/// Settings the client sends in CONNECT and enforces locally.
public struct MQTTConnectSettings: Sendable, Hashable {
    /// Client Identifier; empty asks the server to assign one.
    public var clientIdentifier: String
    public var cleanStart: Bool
    /// Keep Alive in seconds (0 disables keep-alive).
    public var keepAlive: UInt16
    /// Session Expiry Interval in seconds (0: the session ends with the connection).
    public var sessionExpiryInterval: UInt32
    /// Receive Maximum the client advertises: how many unacknowledged QoS 1/2 PUBLISHes the
    /// server may have in flight towards this client.
    public var receiveMaximum: UInt16
    /// Maximum Packet Size the client accepts (nil: protocol maximum).
    public var maximumPacketSize: UInt32?
    /// Topic Alias Maximum the client advertises for incoming PUBLISHes (0: no aliases).
    public var topicAliasMaximum: UInt16
    public var username: String?
    public var password: ByteBuffer?
    public var will: MQTTWill?
    /// Extra CONNECT properties (User Property, Authentication Method/Data, Request Problem
    /// Information...). Session Expiry, Receive Maximum, Maximum Packet Size and Topic Alias
    /// Maximum are taken from the fields above.
    public var properties: MQTTProperties
    /// How long to wait for PINGRESP after PINGREQ (nil: the keep-alive interval).
    public var keepAliveTimeout: Duration?

    public init(
        clientIdentifier: String = "",
        cleanStart: Bool = true,
        keepAlive: UInt16 = 60,
        sessionExpiryInterval: UInt32 = 0,
        receiveMaximum: UInt16 = 32,
        maximumPacketSize: UInt32? = nil,
        topicAliasMaximum: UInt16 = 0,
        username: String? = nil,
        password: ByteBuffer? = nil,
        will: MQTTWill? = nil,
        properties: MQTTProperties = MQTTProperties(),
        keepAliveTimeout: Duration? = nil
    ) {
        self.clientIdentifier = clientIdentifier
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.sessionExpiryInterval = sessionExpiryInterval
        self.receiveMaximum = max(receiveMaximum, 1)
        self.maximumPacketSize = maximumPacketSize
        self.topicAliasMaximum = topicAliasMaximum
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
        self.keepAliveTimeout = keepAliveTimeout
    }

    /// The CONNECT packet for these settings.
    public var connectPacket: MQTTConnectPacket {
        var properties = self.properties
        properties.sessionExpiryInterval = self.sessionExpiryInterval == 0 ? nil : self.sessionExpiryInterval
        properties.receiveMaximum = self.receiveMaximum == 65_535 ? nil : self.receiveMaximum
        properties.maximumPacketSize = self.maximumPacketSize
        properties.topicAliasMaximum = self.topicAliasMaximum == 0 ? nil : self.topicAliasMaximum
        return MQTTConnectPacket(
            clientIdentifier: self.clientIdentifier,
            cleanStart: self.cleanStart,
            keepAlive: self.keepAlive,
            username: self.username,
            password: self.password,
            will: self.will,
            properties: properties
        )
    }
}

/// What the server granted in CONNACK, merged with the client's own settings.
public struct MQTTConnectionInfo: Sendable, Hashable {
    public var sessionPresent: Bool
    /// The client identifier in use (the assigned one when the server assigned it).
    public var clientIdentifier: String
    /// Effective keep alive in seconds (Server Keep Alive wins).
    public var keepAlive: UInt16
    /// Server's Receive Maximum: the client's in-flight limit for outgoing QoS 1/2.
    public var serverReceiveMaximum: UInt16
    public var serverMaximumPacketSize: UInt32?
    public var serverTopicAliasMaximum: UInt16
    public var maximumQoS: MQTTQoS
    public var retainAvailable: Bool
    public var sessionExpiryInterval: UInt32
    /// All CONNACK properties as sent.
    public var connAckProperties: MQTTProperties
}

/// A pure MQTT 5 client connection state machine: events in, actions out. It performs no I/O;
/// the owner carries out the returned actions in order.
///
/// ## A session across connections
///
/// Created with `keepsSessionAcrossConnections: true`, the machine models a session that
/// outlives its network connections (MQTT 5 §4.1 session state, §4.4 message delivery retry).
/// Losing the connection (transport closed, keep-alive timeout, server DISCONNECT, protocol
/// error, refused or timed-out CONNECT) then *keeps* the session state: outgoing QoS 1/2
/// publishes in flight and queued, granted subscriptions, unacknowledged SUBSCRIBE/UNSUBSCRIBE,
/// incoming QoS 2 messages awaiting PUBREL, incoming messages not yet acknowledged. Once the
/// transport is gone ``channelInactive()`` reports ``Action/connectionLost(_:)``, and the owner
/// either opens a new transport and calls ``connectRequested()`` again (CONNECT with Clean
/// Start 0 and the client identifier in use), or gives up with ``sessionEnded(_:)``, which
/// fails everything pending. Requests made meanwhile wait for the next connection.
///
/// On a successful CONNACK after a loss:
/// - Session Present 1: every unacknowledged PUBLISH is resent with DUP set and its original
///   packet identifier, PUBREL for those awaiting PUBCOMP, in their original order (§4.4);
///   incoming messages the owner accepted while disconnected are acknowledged now.
/// - Session Present 0: the broker has no session, so the protocol state is discarded
///   (§3.2.2.1.2) and its content re-issued: the granted subscriptions are sent again (same
///   filters, options and subscription identifiers) and the unacknowledged publishes are
///   published again as new messages (new packet identifiers; at least once — the broker may
///   already have forwarded some). Incoming QoS 2 state is dropped.
/// - Either way, SUBSCRIBE/UNSUBSCRIBE left unacknowledged are sent again (both are idempotent)
///   and queued publishes go out as the server's Receive Maximum allows.
///
/// Without that flag (``MQTTClient``) a lost connection ends everything: pending requests fail
/// and the machine is closed.
public struct MQTTConnectionStateMachine: Sendable {
    /// Something the owner must do. `token`s are chosen by the owner to correlate requests.
    public enum Action: Sendable, Hashable {
        /// Write (and flush) this packet.
        case send(MQTTPacket)
        /// CONNACK success: the connection is usable.
        case connected(MQTTConnectionInfo)
        /// Connecting failed; the owner closes the channel.
        case connectFailed(MQTTClientError)
        case publishCompleted(token: UInt64, Result<MQTTReasonCode, MQTTClientError>)
        case subscribeCompleted(token: UInt64, Result<MQTTSubAckPacket, MQTTClientError>)
        case unsubscribeCompleted(token: UInt64, Result<MQTTUnsubAckPacket, MQTTClientError>)
        /// An incoming PUBLISH (topic alias resolved) to hand to subscribers. For QoS 1/2 the
        /// owner must call ``incomingPublishAccepted(packetIdentifier:)`` once it has room for
        /// the message; only then is it acknowledged.
        case deliver(MQTTPublishPacket)
        /// An AUTH packet for the enhanced-authentication hook.
        case authReceived(MQTTAuthPacket)
        /// Close the network connection. `error` is nil after a client-requested DISCONNECT.
        case close(MQTTClientError?)
        /// Session mode only: the transport is gone and the session state kept. Reconnect
        /// (``connectRequested()`` on a new transport) or give up (``sessionEnded(_:)``).
        case connectionLost(MQTTClientError)
        /// Session mode only: the broker refused to re-establish these subscriptions (SUBSCRIBE
        /// re-sent after it lost the session); they are no longer part of the session.
        case resubscribeFailed(MQTTSubscribePacket, MQTTClientError)
    }

    private struct OutgoingPublish: Sendable {
        enum Stage: Sendable { case awaitingPubAck, awaitingPubRec, awaitingPubComp }
        var token: UInt64
        /// Send order, for retransmission in the original order.
        var sequence: UInt64
        /// As first sent (packet identifier set, DUP clear).
        var packet: MQTTPublishPacket
        var stage: Stage
    }

    /// A SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement (or a connection to go out on).
    private struct ControlRequest: Sendable {
        enum Kind: Sendable {
            case subscribe(MQTTSubscribePacket)
            case unsubscribe(MQTTUnsubscribePacket)
        }
        /// nil: an internal re-subscription after the broker lost the session.
        var token: UInt64?
        var kind: Kind

        var packetIdentifier: UInt16 {
            switch self.kind {
            case .subscribe(let packet): return packet.packetIdentifier
            case .unsubscribe(let packet): return packet.packetIdentifier
            }
        }
    }

    private enum State: Sendable {
        case idle
        case connecting
        case connected(MQTTConnectionInfo)
        /// Session mode only: the connection is gone, the session state is kept.
        case disconnected(MQTTClientError)
        case closed(MQTTClientError?)
    }

    public let settings: MQTTConnectSettings
    /// Whether a lost connection keeps the session state for a reconnect (see the type docs).
    public let keepsSessionAcrossConnections: Bool
    /// Whether a resumed session (CONNACK Session Present) gets its subscriptions sent again, with
    /// Retain Handling 1 so that retained messages come only for a subscription the broker lost.
    /// For brokers that resume a session without all of its subscriptions (Mosquitto 2.0.11
    /// restores a session from its persistence database without its shared subscriptions).
    public let resubscribesOnResume: Bool
    private var state: State = .idle
    /// CONNECT went out on the current transport and ``channelInactive()`` has not been seen.
    private var transportOpen = false
    /// A CONNACK succeeded once: later CONNECTs resume the session (Clean Start 0).
    private var hasConnected = false
    /// The client identifier in use: the configured one, or the one the server assigned.
    public private(set) var clientIdentifier: String

    private var nextPacketIdentifier: UInt16 = 1
    private var nextSequence: UInt64 = 0
    private var outgoing: [UInt16: OutgoingPublish] = [:]
    /// Publishes waiting for a connection or for a free in-flight slot (server Receive Maximum).
    private var queued: [(token: UInt64, packet: MQTTPublishPacket)] = []
    /// SUBSCRIBE/UNSUBSCRIBE sent on this connection and not yet acknowledged, in send order.
    private var pendingControl: [ControlRequest] = []
    /// SUBSCRIBE/UNSUBSCRIBE to send on the next connection, in order.
    private var deferredControl: [ControlRequest] = []
    /// Granted subscriptions, in the order they were made (packet identifiers meaningless).
    private var grantedSubscriptions: [MQTTSubscribePacket] = []
    /// Incoming QoS 1/2 delivered to the owner but not yet accepted (so not yet acknowledged).
    private var incomingUnaccepted: [UInt16: MQTTQoS] = [:]
    /// Incoming QoS 2 for which PUBREC was sent and PUBREL is awaited.
    private var incomingAwaitingRelease: Set<UInt16> = []
    /// Incoming QoS 1/2 accepted while disconnected: acknowledged when the session resumes.
    private var owedAcknowledgements: [(packetIdentifier: UInt16, qos: MQTTQoS)] = []
    private var incomingAliases: [UInt16: String] = [:]

    // Keep alive bookkeeping.
    private var packetsSentSinceTick = 0
    private var lastSend: ContinuousClock.Instant?
    private var pingSentAt: ContinuousClock.Instant?

    public init(settings: MQTTConnectSettings, keepsSessionAcrossConnections: Bool = false, resubscribesOnResume: Bool = false) {
        self.settings = settings
        self.keepsSessionAcrossConnections = keepsSessionAcrossConnections
        self.resubscribesOnResume = resubscribesOnResume
        self.clientIdentifier = settings.clientIdentifier
    }

    /// Why the connection ended: nil while open and after a client-requested disconnect.
    public var closeError: MQTTClientError? {
        if case .closed(let error) = self.state { return error }
        return nil
    }

    /// Whether the machine reached its end (nothing pending, no reconnect possible).
    public var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    /// Session mode: why the last connection was lost, while waiting for a reconnect.
    public var connectionLossError: MQTTClientError? {
        if case .disconnected(let error) = self.state { return error }
        return nil
    }

    public var isConnected: Bool {
        if case .connected = self.state { return true }
        return false
    }

    public var connectionInfo: MQTTConnectionInfo? {
        if case .connected(let info) = self.state { return info }
        return nil
    }

    /// Outgoing QoS 1/2 publishes currently in flight (sent, not completed).
    public var inFlightCount: Int { self.outgoing.count }
    /// Publishes waiting for an in-flight slot or a connection.
    public var queuedPublishCount: Int { self.queued.count }
    /// Subscriptions the server granted (as sent, in order); re-sent when a session is lost.
    public var subscriptions: [MQTTSubscribePacket] { self.grantedSubscriptions }

    // MARK: Events

    /// The transport is up: send CONNECT. In session mode also after a lost connection; once a
    /// CONNACK succeeded, CONNECT carries Clean Start 0 and the client identifier in use.
    public mutating func connectRequested() -> [Action] {
        switch self.state {
        case .idle, .disconnected:
            self.state = .connecting
            self.transportOpen = true
            var connect = self.settings.connectPacket
            connect.clientIdentifier = self.clientIdentifier
            if self.hasConnected { connect.cleanStart = false }
            return [self.send(.connect(connect))]
        case .connecting, .connected:
            return [.connectFailed(MQTTClientError(kind: .protocolError, message: "connect requested twice"))]
        case .closed(let error):
            return [.connectFailed(error ?? .closed("the session is closed"))]
        }
    }

    public mutating func publishRequested(token: UInt64, _ packet: MQTTPublishPacket) -> [Action] {
        let info: MQTTConnectionInfo?
        switch self.state {
        case .connected(let connected):
            info = connected
        case .idle, .connecting, .disconnected:
            guard self.keepsSessionAcrossConnections else {
                return [.publishCompleted(token: token, .failure(self.notConnectedError))]
            }
            info = nil
        case .closed:
            return [.publishCompleted(token: token, .failure(self.notConnectedError))]
        }
        var packet = packet
        packet.packetIdentifier = nil
        packet.dup = false
        if let error = Self.validate(packet, for: info) {
            return [.publishCompleted(token: token, .failure(error))]
        }
        guard let info else {
            // Session mode, between connections: goes out after the next CONNACK.
            self.queued.append((token, packet))
            return []
        }
        if packet.qos == .atMostOnce {
            return [self.send(.publish(packet)), .publishCompleted(token: token, .success(.success))]
        }
        if self.outgoing.count >= Int(info.serverReceiveMaximum) {
            self.queued.append((token, packet))
            return []
        }
        return self.startPublish(token: token, packet)
    }

    public mutating func subscribeRequested(token: UInt64, subscriptions: [MQTTSubscription], properties: MQTTProperties) -> [Action] {
        guard self.acceptsRequests else { return [.subscribeCompleted(token: token, .failure(self.notConnectedError))] }
        guard !subscriptions.isEmpty, subscriptions.allSatisfy({ MQTTTopic.isValidFilter($0.topicFilter) }) else {
            return [.subscribeCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: .topicFilterInvalid, message: "invalid topic filter")))]
        }
        let packet = MQTTSubscribePacket(packetIdentifier: 0, subscriptions: subscriptions, properties: properties)
        return self.control(ControlRequest(token: token, kind: .subscribe(packet)))
    }

    public mutating func unsubscribeRequested(token: UInt64, topicFilters: [String], properties: MQTTProperties) -> [Action] {
        guard self.acceptsRequests else { return [.unsubscribeCompleted(token: token, .failure(self.notConnectedError))] }
        guard !topicFilters.isEmpty else {
            return [.unsubscribeCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, message: "no topic filter")))]
        }
        let packet = MQTTUnsubscribePacket(packetIdentifier: 0, topicFilters: topicFilters, properties: properties)
        return self.control(ControlRequest(token: token, kind: .unsubscribe(packet)))
    }

    /// The requester stopped waiting. A request that has not been sent yet (queued publish,
    /// SUBSCRIBE/UNSUBSCRIBE waiting for a connection) is withdrawn and completes with
    /// `.cancelled`; one already sent stays in flight (its packet identifier is in use).
    public mutating func cancelRequested(token: UInt64) -> [Action] {
        let error = MQTTClientError(kind: .cancelled, message: "cancelled before it was sent")
        if let index = self.queued.firstIndex(where: { $0.token == token }) {
            self.queued.remove(at: index)
            return [.publishCompleted(token: token, .failure(error))]
        }
        if let index = self.deferredControl.firstIndex(where: { $0.token == token }) {
            return [Self.completion(of: self.deferredControl.remove(at: index), .failure(error))].compactMap { $0 }
        }
        return []
    }

    /// The owner has room for an incoming QoS 1/2 message delivered earlier: acknowledge it
    /// (in session mode while disconnected: once the session resumes).
    public mutating func incomingPublishAccepted(packetIdentifier: UInt16) -> [Action] {
        guard self.incomingUnaccepted[packetIdentifier] != nil else { return [] }
        switch self.state {
        case .closed:
            return []
        case .idle, .connecting, .disconnected:
            let qos = self.incomingUnaccepted.removeValue(forKey: packetIdentifier)!
            if qos != .atMostOnce { self.owedAcknowledgements.append((packetIdentifier, qos)) }
            return []
        case .connected:
            let qos = self.incomingUnaccepted.removeValue(forKey: packetIdentifier)!
            return self.acknowledge(packetIdentifier, qos: qos)
        }
    }

    /// The enhanced-authentication hook's answer.
    public mutating func authResponse(_ packet: MQTTAuthPacket) -> [Action] {
        switch self.state {
        case .connecting, .connected: return [self.send(.auth(packet))]
        case .idle, .disconnected, .closed: return []
        }
    }

    /// A decoded packet arrived.
    public mutating func packetReceived(_ packet: MQTTPacket) -> [Action] {
        switch self.state {
        case .idle, .disconnected, .closed:
            return []
        case .connecting:
            switch packet {
            case .connack(let connack):
                return self.connAckReceived(connack)
            case .auth(let auth):
                return [.authReceived(auth)]
            case .disconnect(let disconnect):
                let error = Self.disconnectError(disconnect)
                return [.connectFailed(error)] + self.endConnection(error)
            default:
                return self.protocolViolation("\(packet.packetType) before CONNACK")
            }
        case .connected(let info):
            return self.connectedPacketReceived(packet, info: info)
        }
    }

    /// Periodic keep-alive check. The owner calls this at least every `keepAlive / 4` seconds.
    public mutating func keepAliveTick(now: ContinuousClock.Instant) -> [Action] {
        guard case .connected(let info) = self.state, info.keepAlive > 0 else { return [] }
        if self.packetsSentSinceTick > 0 || self.lastSend == nil {
            self.lastSend = now
            self.packetsSentSinceTick = 0
        }
        let keepAlive = Duration.seconds(Int(info.keepAlive))
        if let pingSentAt = self.pingSentAt {
            if now - pingSentAt >= (self.settings.keepAliveTimeout ?? keepAlive) {
                let error = MQTTClientError(kind: .keepAliveTimeout, reasonCode: .keepAliveTimeout, message: "no PINGRESP within the keep-alive timeout")
                return self.fail(error)
            }
            return []
        }
        // Ping a little early: sends are observed at tick granularity.
        if let lastSend = self.lastSend, now - lastSend >= keepAlive * 3 / 4 {
            self.pingSentAt = now
            return [self.send(.pingreq)]
        }
        return []
    }

    /// The user asked to disconnect: ends the session for good (also in session mode).
    public mutating func closeRequested(reason: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) -> [Action] {
        let error = MQTTClientError(kind: .connectionClosed, reasonCode: reason, message: "client disconnected")
        var actions: [Action] = []
        switch self.state {
        case .closed:
            return []
        case .idle, .disconnected:
            break
        case .connecting:
            actions.append(.connectFailed(MQTTClientError(kind: .connectionClosed, message: "closed while connecting")))
        case .connected:
            actions.append(self.send(.disconnect(MQTTDisconnectPacket(reasonCode: reason, properties: properties))))
        }
        actions += self.failPending(error)
        self.state = .closed(nil)
        actions.append(.close(nil))
        return actions
    }

    /// Session mode: the owner gives up reconnecting. Everything pending fails with `error`.
    public mutating func sessionEnded(_ error: MQTTClientError) -> [Action] {
        if case .closed = self.state { return [] }
        var actions = self.failPending(error)
        self.state = .closed(error)
        actions.append(.close(error))
        return actions
    }

    /// A decoding or transport error.
    public mutating func errorCaught(_ error: MQTTClientError) -> [Action] {
        self.fail(error, disconnectReason: error.kind == .protocolError ? (error.reasonCode ?? .protocolError) : nil)
    }

    /// The transport closed.
    public mutating func channelInactive() -> [Action] {
        let transportWasOpen = self.transportOpen
        self.transportOpen = false
        switch self.state {
        case .closed(let error):
            // Fail anything that arrived in between (there should be nothing).
            return self.failPending(error ?? .closed())
        case .idle:
            if !self.keepsSessionAcrossConnections { self.state = .closed(.closed()) }
            return []
        case .connecting:
            let error = MQTTClientError.closed("connection closed before CONNACK")
            return [.connectFailed(error)] + self.endConnection(error, closeTransport: false) + self.lostActions()
        case .connected:
            return self.endConnection(.closed(), closeTransport: false) + self.lostActions()
        case .disconnected(let error):
            return transportWasOpen ? [.connectionLost(error)] : []
        }
    }

    // MARK: Internals

    private var acceptsRequests: Bool {
        switch self.state {
        case .connected: return true
        case .idle, .connecting, .disconnected: return self.keepsSessionAcrossConnections
        case .closed: return false
        }
    }

    private var notConnectedError: MQTTClientError {
        if case .closed(let error?) = self.state { return error }
        return MQTTClientError(kind: .notConnected, message: "not connected")
    }

    private mutating func send(_ packet: MQTTPacket) -> Action {
        self.packetsSentSinceTick += 1
        return .send(packet)
    }

    private mutating func allocatePacketIdentifier() -> UInt16 {
        while true {
            let id = self.nextPacketIdentifier
            self.nextPacketIdentifier = id == UInt16.max ? 1 : id + 1
            if self.outgoing[id] == nil && !self.pendingControl.contains(where: { $0.packetIdentifier == id }) {
                return id
            }
        }
    }

    /// Checks a PUBLISH against the protocol and, when connected, the server's limits.
    private static func validate(_ packet: MQTTPublishPacket, for info: MQTTConnectionInfo?) -> MQTTClientError? {
        guard MQTTTopic.isValidName(packet.topicName) else {
            return MQTTClientError(kind: .invalidRequest, reasonCode: .topicNameInvalid, message: "invalid topic name '\(packet.topicName)'")
        }
        if let info, packet.qos > info.maximumQoS {
            return MQTTClientError(kind: .invalidRequest, reasonCode: .qosNotSupported, message: "server maximum QoS is \(info.maximumQoS)")
        }
        if let info, packet.retain && !info.retainAvailable {
            return MQTTClientError(kind: .invalidRequest, reasonCode: .retainNotSupported, message: "server does not support retain")
        }
        if packet.properties.topicAlias != nil {
            return MQTTClientError(kind: .invalidRequest, reasonCode: .topicAliasInvalid, message: "outgoing topic aliases are not supported")
        }
        let limit = Int(info?.serverMaximumPacketSize ?? UInt32(MQTTPacketDecoder.protocolMaximumPacketSize))
        var probe = packet
        if probe.qos != .atMostOnce { probe.packetIdentifier = 1 }
        do {
            let size = try MQTTPacketEncoder(maximumPacketSize: limit).encodedSize(of: .publish(probe))
            guard size <= limit else {
                return MQTTClientError(kind: .invalidRequest, reasonCode: .packetTooLarge, message: "PUBLISH of \(size) bytes exceeds the server's Maximum Packet Size of \(limit) bytes")
            }
        } catch {
            return MQTTClientError(kind: .invalidRequest, reasonCode: error.reasonCode, message: error.message)
        }
        return nil
    }

    private mutating func startPublish(token: UInt64, _ packet: MQTTPublishPacket) -> [Action] {
        var packet = packet
        let id = self.allocatePacketIdentifier()
        packet.packetIdentifier = id
        self.nextSequence += 1
        self.outgoing[id] = OutgoingPublish(
            token: token,
            sequence: self.nextSequence,
            packet: packet,
            stage: packet.qos == .atLeastOnce ? .awaitingPubAck : .awaitingPubRec
        )
        return [self.send(.publish(packet))]
    }

    /// Sends queued publishes, in order, as far as the server's Receive Maximum allows.
    private mutating func drainQueue() -> [Action] {
        guard case .connected(let info) = self.state else { return [] }
        var actions: [Action] = []
        while let next = self.queued.first {
            if let error = Self.validate(next.packet, for: info) {
                // Queued while disconnected; the server's limits are known only now.
                self.queued.removeFirst()
                actions.append(.publishCompleted(token: next.token, .failure(error)))
            } else if next.packet.qos == .atMostOnce {
                self.queued.removeFirst()
                actions += [self.send(.publish(next.packet)), .publishCompleted(token: next.token, .success(.success))]
            } else if self.outgoing.count < Int(info.serverReceiveMaximum) {
                self.queued.removeFirst()
                actions += self.startPublish(token: next.token, next.packet)
            } else {
                break
            }
        }
        return actions
    }

    /// Sends a SUBSCRIBE/UNSUBSCRIBE now, or keeps it for the next connection.
    private mutating func control(_ request: ControlRequest) -> [Action] {
        guard case .connected(let info) = self.state else {
            self.deferredControl.append(request)
            return []
        }
        var request = request
        let id = self.allocatePacketIdentifier()
        switch request.kind {
        case .subscribe(var packet):
            packet.packetIdentifier = id
            if info.connAckProperties.subscriptionIdentifierAvailable == false {
                packet.properties.subscriptionIdentifiers = []
            }
            request.kind = .subscribe(packet)
        case .unsubscribe(var packet):
            packet.packetIdentifier = id
            request.kind = .unsubscribe(packet)
        }
        self.pendingControl.append(request)
        switch request.kind {
        case .subscribe(let packet): return [self.send(.subscribe(packet))]
        case .unsubscribe(let packet): return [self.send(.unsubscribe(packet))]
        }
    }

    private static func completion(of request: ControlRequest, _ result: Result<Void, MQTTClientError>) -> Action? {
        guard let token = request.token else { return nil }
        switch (request.kind, result) {
        case (.subscribe, .failure(let error)): return .subscribeCompleted(token: token, .failure(error))
        case (.unsubscribe, .failure(let error)): return .unsubscribeCompleted(token: token, .failure(error))
        case (_, .success): return nil
        }
    }

    private mutating func acknowledge(_ packetIdentifier: UInt16, qos: MQTTQoS) -> [Action] {
        switch qos {
        case .atMostOnce:
            return []
        case .atLeastOnce:
            return [self.send(.puback(MQTTPubAckPacket(packetIdentifier: packetIdentifier)))]
        case .exactlyOnce:
            self.incomingAwaitingRelease.insert(packetIdentifier)
            return [self.send(.pubrec(MQTTPubAckPacket(packetIdentifier: packetIdentifier)))]
        }
    }

    private mutating func connAckReceived(_ connack: MQTTConnAckPacket) -> [Action] {
        if connack.reasonCode.isError {
            let error = MQTTClientError(
                kind: .connectionRefusedByServer,
                reasonCode: connack.reasonCode,
                reasonString: connack.properties.reasonString,
                serverReference: connack.properties.serverReference,
                message: "server refused the connection: \(connack.reasonCode.description(in: .connack))"
            )
            return [.connectFailed(error)] + self.endConnection(error)
        }
        let properties = connack.properties
        let info = MQTTConnectionInfo(
            sessionPresent: connack.sessionPresent,
            clientIdentifier: properties.assignedClientIdentifier ?? self.clientIdentifier,
            keepAlive: properties.serverKeepAlive ?? self.settings.keepAlive,
            serverReceiveMaximum: max(properties.receiveMaximum ?? 65_535, 1),
            serverMaximumPacketSize: properties.maximumPacketSize,
            serverTopicAliasMaximum: properties.topicAliasMaximum ?? 0,
            maximumQoS: properties.maximumQoS ?? .exactlyOnce,
            retainAvailable: properties.retainAvailable ?? true,
            sessionExpiryInterval: properties.sessionExpiryInterval ?? self.settings.sessionExpiryInterval,
            connAckProperties: properties
        )
        // A reconnect must present the same identifier to find its session.
        self.clientIdentifier = info.clientIdentifier
        self.hasConnected = true
        self.state = .connected(info)
        self.lastSend = nil
        self.pingSentAt = nil
        return [.connected(info)] + self.resumeSession(sessionPresent: connack.sessionPresent)
    }

    /// Re-establishes the session state on a new connection (see the type documentation). On a
    /// first connection there is nothing to resume and this only sends queued requests.
    private mutating func resumeSession(sessionPresent: Bool) -> [Action] {
        var actions: [Action] = []
        let inFlight = self.outgoing.values.sorted { $0.sequence < $1.sequence }
        if sessionPresent {
            // §4.4: resend unacknowledged PUBLISH (DUP) and PUBREL with their packet identifiers.
            for entry in inFlight {
                switch entry.stage {
                case .awaitingPubAck, .awaitingPubRec:
                    var packet = entry.packet
                    packet.dup = true
                    actions.append(self.send(.publish(packet)))
                case .awaitingPubComp:
                    actions.append(self.send(.pubrel(MQTTPubAckPacket(packetIdentifier: entry.packet.packetIdentifier ?? 0))))
                }
            }
            for owed in self.owedAcknowledgements {
                actions += self.acknowledge(owed.packetIdentifier, qos: owed.qos)
            }
            if self.resubscribesOnResume {
                self.deferredControl.removeAll { $0.token == nil }
                let again = self.grantedSubscriptions.map { granted -> ControlRequest in
                    var packet = granted
                    for index in packet.subscriptions.indices { packet.subscriptions[index].options.retainHandling = .sendOnSubscribeIfNew }
                    return ControlRequest(token: nil, kind: .subscribe(packet))
                }
                self.deferredControl = again + self.deferredControl
            }
        } else {
            // The broker has no session: nothing of the old protocol state applies any more.
            self.incomingUnaccepted = [:]
            self.incomingAwaitingRelease = []
            self.outgoing = [:]
            let republish = inFlight.map { entry -> (token: UInt64, packet: MQTTPublishPacket) in
                var packet = entry.packet
                packet.packetIdentifier = nil
                packet.dup = false
                return (entry.token, packet)
            }
            self.queued = republish + self.queued
            // Re-subscribe everything the broker had granted, before the user's own requests
            // (earlier re-subscriptions still waiting are superseded).
            self.deferredControl.removeAll { $0.token == nil }
            self.deferredControl = self.grantedSubscriptions.map { ControlRequest(token: nil, kind: .subscribe($0)) } + self.deferredControl
        }
        self.owedAcknowledgements = []
        let deferred = self.deferredControl
        self.deferredControl = []
        for request in deferred {
            actions += self.control(request)
        }
        return actions + self.drainQueue()
    }

    private mutating func connectedPacketReceived(_ packet: MQTTPacket, info: MQTTConnectionInfo) -> [Action] {
        switch packet {
        case .publish(var publish):
            if let alias = publish.properties.topicAlias {
                guard alias != 0, alias <= self.settings.topicAliasMaximum else {
                    return self.protocolViolation("topic alias \(alias) exceeds Topic Alias Maximum \(self.settings.topicAliasMaximum)", reason: .topicAliasInvalid)
                }
                if publish.topicName.isEmpty {
                    guard let topic = self.incomingAliases[alias] else {
                        return self.protocolViolation("unknown topic alias \(alias)")
                    }
                    publish.topicName = topic
                } else {
                    self.incomingAliases[alias] = publish.topicName
                }
            }
            switch publish.qos {
            case .atMostOnce:
                return [.deliver(publish)]
            case .atLeastOnce, .exactlyOnce:
                guard let id = publish.packetIdentifier else { return self.protocolViolation("PUBLISH without packet identifier") }
                if publish.qos == .exactlyOnce && self.incomingAwaitingRelease.contains(id) {
                    // Duplicate of a message already received: acknowledge again, do not deliver.
                    return [self.send(.pubrec(MQTTPubAckPacket(packetIdentifier: id)))]
                }
                if self.incomingUnaccepted[id] != nil {
                    return []  // retransmission of a message still waiting for room
                }
                // A server exceeding our Receive Maximum MAY be disconnected with 0x93 (§3.3.4);
                // we tolerate it (Mosquitto 2.0 was seen overshooting by one) and just keep
                // the message unacknowledged until there is room.
                self.incomingUnaccepted[id] = publish.qos
                return [.deliver(publish)]
            }
        case .puback(let ack):
            guard let entry = self.outgoing[ack.packetIdentifier], entry.stage == .awaitingPubAck else {
                return self.protocolViolation("unexpected PUBACK \(ack.packetIdentifier)")
            }
            self.outgoing[ack.packetIdentifier] = nil
            return [.publishCompleted(token: entry.token, Self.ackResult(ack, in: .puback))] + self.drainQueue()
        case .pubrec(let ack):
            guard let entry = self.outgoing[ack.packetIdentifier] else {
                // Spec §4.3.3: answer with PUBREL 0x92.
                return [self.send(.pubrel(MQTTPubAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: .packetIdentifierNotFound)))]
            }
            switch entry.stage {
            case .awaitingPubAck:
                return self.protocolViolation("unexpected PUBREC \(ack.packetIdentifier)")
            case .awaitingPubComp:
                // Already released (e.g. PUBREC repeated after a resumed session): release again.
                return [self.send(.pubrel(MQTTPubAckPacket(packetIdentifier: ack.packetIdentifier)))]
            case .awaitingPubRec:
                break
            }
            if ack.reasonCode.isError {
                self.outgoing[ack.packetIdentifier] = nil
                return [.publishCompleted(token: entry.token, Self.ackResult(ack, in: .pubrec))] + self.drainQueue()
            }
            self.outgoing[ack.packetIdentifier]?.stage = .awaitingPubComp
            return [self.send(.pubrel(MQTTPubAckPacket(packetIdentifier: ack.packetIdentifier)))]
        case .pubcomp(let ack):
            guard let entry = self.outgoing[ack.packetIdentifier], entry.stage == .awaitingPubComp else {
                return self.protocolViolation("unexpected PUBCOMP \(ack.packetIdentifier)")
            }
            self.outgoing[ack.packetIdentifier] = nil
            return [.publishCompleted(token: entry.token, Self.ackResult(ack, in: .pubcomp))] + self.drainQueue()
        case .pubrel(let ack):
            let known = self.incomingAwaitingRelease.remove(ack.packetIdentifier) != nil
            return [self.send(.pubcomp(MQTTPubAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: known ? .success : .packetIdentifierNotFound)))]
        case .suback(let suback):
            guard let index = self.pendingControl.firstIndex(where: { $0.packetIdentifier == suback.packetIdentifier }),
                case .subscribe(let subscribe) = self.pendingControl[index].kind
            else {
                return self.protocolViolation("unexpected SUBACK \(suback.packetIdentifier)")
            }
            let request = self.pendingControl.remove(at: index)
            return self.subAckReceived(suback, for: subscribe, token: request.token)
        case .unsuback(let unsuback):
            guard let index = self.pendingControl.firstIndex(where: { $0.packetIdentifier == unsuback.packetIdentifier }),
                case .unsubscribe(let unsubscribe) = self.pendingControl[index].kind,
                let token = self.pendingControl[index].token
            else {
                return self.protocolViolation("unexpected UNSUBACK \(unsuback.packetIdentifier)")
            }
            self.pendingControl.remove(at: index)
            let removed = unsubscribe.topicFilters.enumerated().filter { index, _ in
                !(unsuback.reasonCodes.indices.contains(index) ? unsuback.reasonCodes[index] : .unspecifiedError).isError
            }.map(\.element)
            self.removeGrantedSubscriptions(Set(removed))
            if let failure = unsuback.reasonCodes.first(where: { $0.isError }) {
                return [.unsubscribeCompleted(token: token, .failure(MQTTClientError(kind: .unsubscribeFailed, reasonCode: failure, reasonString: unsuback.properties.reasonString, message: "unsubscribe refused: \(failure.description(in: .unsuback))")))]
            }
            return [.unsubscribeCompleted(token: token, .success(unsuback))]
        case .pingresp:
            self.pingSentAt = nil
            return []
        case .disconnect(let disconnect):
            return self.fail(Self.disconnectError(disconnect))
        case .auth(let auth):
            return [.authReceived(auth)]
        case .connect, .connack, .subscribe, .unsubscribe, .pingreq:
            return self.protocolViolation("unexpected \(packet.packetType) from server")
        }
    }

    private mutating func subAckReceived(_ suback: MQTTSubAckPacket, for subscribe: MQTTSubscribePacket, token: UInt64?) -> [Action] {
        var granted = subscribe
        var refused = subscribe
        granted.subscriptions = []
        refused.subscriptions = []
        for (index, subscription) in subscribe.subscriptions.enumerated() {
            let code = suback.reasonCodes.indices.contains(index) ? suback.reasonCodes[index] : .unspecifiedError
            if code.isError {
                refused.subscriptions.append(subscription)
            } else {
                granted.subscriptions.append(subscription)
            }
        }
        // A subscription to a filter replaces the session's earlier one (§3.8.4).
        self.removeGrantedSubscriptions(Set(subscribe.subscriptions.map(\.topicFilter)))
        if !granted.subscriptions.isEmpty { self.grantedSubscriptions.append(granted) }
        let failure = suback.reasonCodes.first(where: \.isError) ?? (suback.reasonCodes.count < subscribe.subscriptions.count ? .unspecifiedError : nil)
        guard let failure else {
            return token.map { [.subscribeCompleted(token: $0, .success(suback))] } ?? []
        }
        let error = MQTTClientError(kind: .subscribeFailed, reasonCode: failure, reasonString: suback.properties.reasonString, message: "subscription refused: \(failure.description(in: .suback))")
        guard let token else { return [.resubscribeFailed(refused, error)] }
        return [.subscribeCompleted(token: token, .failure(error))]
    }

    private mutating func removeGrantedSubscriptions(_ filters: Set<String>) {
        guard !filters.isEmpty else { return }
        for index in self.grantedSubscriptions.indices {
            self.grantedSubscriptions[index].subscriptions.removeAll { filters.contains($0.topicFilter) }
        }
        self.grantedSubscriptions.removeAll { $0.subscriptions.isEmpty }
    }

    private static func ackResult(_ ack: MQTTPubAckPacket, in type: MQTTPacketType) -> Result<MQTTReasonCode, MQTTClientError> {
        if ack.reasonCode.isError {
            return .failure(MQTTClientError(kind: .publishFailed, reasonCode: ack.reasonCode, reasonString: ack.properties.reasonString, message: "\(type) reported \(ack.reasonCode.description(in: type))"))
        }
        return .success(ack.reasonCode)
    }

    private static func disconnectError(_ disconnect: MQTTDisconnectPacket) -> MQTTClientError {
        MQTTClientError(
            kind: .serverDisconnected,
            reasonCode: disconnect.reasonCode,
            reasonString: disconnect.properties.reasonString,
            serverReference: disconnect.properties.serverReference,
            message: "server sent DISCONNECT: \(disconnect.reasonCode.description(in: .disconnect))"
        )
    }

    private mutating func protocolViolation(_ message: String, reason: MQTTReasonCode = .protocolError) -> [Action] {
        self.fail(MQTTClientError(kind: .protocolError, reasonCode: reason, message: message), disconnectReason: reason)
    }

    /// Ends the connection with `error`: optionally sends DISCONNECT, then ends the connection.
    private mutating func fail(_ error: MQTTClientError, disconnectReason: MQTTReasonCode? = nil) -> [Action] {
        var actions: [Action] = []
        switch self.state {
        case .closed, .disconnected:
            return []
        case .idle:
            break
        case .connecting:
            if let reason = disconnectReason { actions.append(self.send(.disconnect(MQTTDisconnectPacket(reasonCode: reason)))) }
            actions.append(.connectFailed(error))
        case .connected:
            if let reason = disconnectReason { actions.append(self.send(.disconnect(MQTTDisconnectPacket(reasonCode: reason)))) }
        }
        return actions + self.endConnection(error)
    }

    /// The connection is over. Session mode keeps the session state (minus what belongs to one
    /// connection) and waits for a reconnect; otherwise everything pending fails.
    private mutating func endConnection(_ error: MQTTClientError, closeTransport: Bool = true) -> [Action] {
        var actions: [Action] = []
        if self.keepsSessionAcrossConnections {
            self.state = .disconnected(error)
            self.incomingAliases = [:]
            self.packetsSentSinceTick = 0
            self.lastSend = nil
            self.pingSentAt = nil
            // Unacknowledged SUBSCRIBE/UNSUBSCRIBE go out again on the next connection.
            self.deferredControl = self.pendingControl + self.deferredControl
            self.pendingControl = []
        } else {
            actions = self.failPending(error)
            self.state = .closed(error)
        }
        if closeTransport { actions.append(.close(error)) }
        return actions
    }

    /// After the transport closed in session mode: report the loss (once per transport).
    private mutating func lostActions() -> [Action] {
        guard case .disconnected(let error) = self.state else { return [] }
        return [.connectionLost(error)]
    }

    private mutating func failPending(_ error: MQTTClientError) -> [Action] {
        var actions: [Action] = []
        for entry in self.outgoing.values.sorted(by: { $0.sequence < $1.sequence }) {
            actions.append(.publishCompleted(token: entry.token, .failure(error)))
        }
        for entry in self.queued { actions.append(.publishCompleted(token: entry.token, .failure(error))) }
        for request in self.pendingControl + self.deferredControl {
            if let action = Self.completion(of: request, .failure(error)) { actions.append(action) }
        }
        self.outgoing = [:]
        self.queued = []
        self.pendingControl = []
        self.deferredControl = []
        self.grantedSubscriptions = []
        self.incomingUnaccepted = [:]
        self.incomingAwaitingRelease = []
        self.owedAcknowledgements = []
        return actions
    }
}
