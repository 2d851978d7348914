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
    }

    private enum OutgoingPublish: Sendable {
        case awaitingPubAck(token: UInt64)
        case awaitingPubRec(token: UInt64)
        case awaitingPubComp(token: UInt64)

        var token: UInt64 {
            switch self {
            case .awaitingPubAck(let t), .awaitingPubRec(let t), .awaitingPubComp(let t): return t
            }
        }
    }

    private enum State: Sendable {
        case idle
        case connecting
        case connected(MQTTConnectionInfo)
        case closed(MQTTClientError?)
    }

    public let settings: MQTTConnectSettings
    private var state: State = .idle

    private var nextPacketIdentifier: UInt16 = 1
    private var outgoing: [UInt16: OutgoingPublish] = [:]
    /// QoS 1/2 publishes waiting for a free in-flight slot (server Receive Maximum).
    private var queued: [(token: UInt64, packet: MQTTPublishPacket)] = []
    private var pendingSubscribes: [UInt16: UInt64] = [:]
    private var pendingUnsubscribes: [UInt16: UInt64] = [:]
    /// Incoming QoS 1/2 delivered to the owner but not yet accepted (so not yet acknowledged).
    private var incomingUnaccepted: [UInt16: MQTTQoS] = [:]
    /// Incoming QoS 2 for which PUBREC was sent and PUBREL is awaited.
    private var incomingAwaitingRelease: Set<UInt16> = []
    private var incomingAliases: [UInt16: String] = [:]

    // Keep alive bookkeeping.
    private var packetsSentSinceTick = 0
    private var lastSend: ContinuousClock.Instant?
    private var pingSentAt: ContinuousClock.Instant?

    public init(settings: MQTTConnectSettings) {
        self.settings = settings
    }

    /// Why the connection ended: nil while open and after a client-requested disconnect.
    public var closeError: MQTTClientError? {
        if case .closed(let error) = self.state { return error }
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
    /// Outgoing QoS 1/2 publishes waiting for an in-flight slot.
    public var queuedPublishCount: Int { self.queued.count }

    // MARK: Events

    /// The transport is up: send CONNECT.
    public mutating func connectRequested() -> [Action] {
        guard case .idle = self.state else {
            return [.connectFailed(MQTTClientError(kind: .protocolError, message: "connect requested twice"))]
        }
        self.state = .connecting
        return [self.send(.connect(self.settings.connectPacket))]
    }

    public mutating func publishRequested(token: UInt64, _ packet: MQTTPublishPacket) -> [Action] {
        guard case .connected(let info) = self.state else {
            return [.publishCompleted(token: token, .failure(self.notConnectedError))]
        }
        var packet = packet
        packet.packetIdentifier = nil
        packet.dup = false
        guard MQTTTopic.isValidName(packet.topicName) else {
            return [.publishCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: .topicNameInvalid, message: "invalid topic name '\(packet.topicName)'")))]
        }
        if packet.qos > info.maximumQoS {
            return [.publishCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: .qosNotSupported, message: "server maximum QoS is \(info.maximumQoS)")))]
        }
        if packet.retain && !info.retainAvailable {
            return [.publishCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: .retainNotSupported, message: "server does not support retain")))]
        }
        if packet.properties.topicAlias != nil {
            return [.publishCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: .topicAliasInvalid, message: "outgoing topic aliases are not supported")))]
        }
        let limit = Int(info.serverMaximumPacketSize ?? UInt32(MQTTPacketDecoder.protocolMaximumPacketSize))
        var probe = packet
        if probe.qos != .atMostOnce { probe.packetIdentifier = 1 }
        do {
            let size = try MQTTPacketEncoder(maximumPacketSize: limit).encodedSize(of: .publish(probe))
            guard size <= limit else {
                return [.publishCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: .packetTooLarge, message: "PUBLISH of \(size) bytes exceeds the server's Maximum Packet Size of \(limit) bytes")))]
            }
        } catch {
            return [.publishCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: error.reasonCode, message: error.message)))]
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
        guard self.isConnected else { return [.subscribeCompleted(token: token, .failure(self.notConnectedError))] }
        guard !subscriptions.isEmpty, subscriptions.allSatisfy({ MQTTTopic.isValidFilter($0.topicFilter) }) else {
            return [.subscribeCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, reasonCode: .topicFilterInvalid, message: "invalid topic filter")))]
        }
        let id = self.allocatePacketIdentifier()
        self.pendingSubscribes[id] = token
        return [self.send(.subscribe(MQTTSubscribePacket(packetIdentifier: id, subscriptions: subscriptions, properties: properties)))]
    }

    public mutating func unsubscribeRequested(token: UInt64, topicFilters: [String], properties: MQTTProperties) -> [Action] {
        guard self.isConnected else { return [.unsubscribeCompleted(token: token, .failure(self.notConnectedError))] }
        guard !topicFilters.isEmpty else {
            return [.unsubscribeCompleted(token: token, .failure(MQTTClientError(kind: .invalidRequest, message: "no topic filter")))]
        }
        let id = self.allocatePacketIdentifier()
        self.pendingUnsubscribes[id] = token
        return [self.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: id, topicFilters: topicFilters, properties: properties)))]
    }

    /// The owner has room for an incoming QoS 1/2 message delivered earlier: acknowledge it.
    public mutating func incomingPublishAccepted(packetIdentifier: UInt16) -> [Action] {
        guard self.isConnected, let qos = self.incomingUnaccepted.removeValue(forKey: packetIdentifier) else { return [] }
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

    /// The enhanced-authentication hook's answer.
    public mutating func authResponse(_ packet: MQTTAuthPacket) -> [Action] {
        switch self.state {
        case .connecting, .connected: return [self.send(.auth(packet))]
        case .idle, .closed: return []
        }
    }

    /// A decoded packet arrived.
    public mutating func packetReceived(_ packet: MQTTPacket) -> [Action] {
        switch self.state {
        case .idle, .closed:
            return []
        case .connecting:
            switch packet {
            case .connack(let connack):
                return self.connAckReceived(connack)
            case .auth(let auth):
                return [.authReceived(auth)]
            case .disconnect(let disconnect):
                let error = Self.disconnectError(disconnect)
                self.state = .closed(error)
                return [.connectFailed(error), .close(error)]
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

    /// The user asked to disconnect.
    public mutating func closeRequested(reason: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) -> [Action] {
        switch self.state {
        case .closed:
            return []
        case .idle:
            self.state = .closed(nil)
            return [.close(nil)]
        case .connecting:
            let error = MQTTClientError(kind: .connectionClosed, message: "closed while connecting")
            self.state = .closed(error)
            return [.connectFailed(error), .close(nil)]
        case .connected:
            let error = MQTTClientError(kind: .connectionClosed, reasonCode: reason, message: "client disconnected")
            var actions = [self.send(.disconnect(MQTTDisconnectPacket(reasonCode: reason, properties: properties)))]
            actions += self.failPending(error)
            self.state = .closed(nil)
            actions.append(.close(nil))
            return actions
        }
    }

    /// A decoding or transport error.
    public mutating func errorCaught(_ error: MQTTClientError) -> [Action] {
        self.fail(error, disconnectReason: error.kind == .protocolError ? (error.reasonCode ?? .protocolError) : nil)
    }

    /// The transport closed.
    public mutating func channelInactive() -> [Action] {
        switch self.state {
        case .closed(let error):
            // Fail anything that arrived in between (there should be nothing).
            return self.failPending(error ?? .closed())
        case .idle:
            self.state = .closed(.closed())
            return []
        case .connecting:
            let error = MQTTClientError.closed("connection closed before CONNACK")
            self.state = .closed(error)
            return [.connectFailed(error)]
        case .connected:
            let error = MQTTClientError.closed()
            self.state = .closed(error)
            return self.failPending(error)
        }
    }

    // MARK: Internals

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
            if self.outgoing[id] == nil && self.pendingSubscribes[id] == nil && self.pendingUnsubscribes[id] == nil {
                return id
            }
        }
    }

    private mutating func startPublish(token: UInt64, _ packet: MQTTPublishPacket) -> [Action] {
        var packet = packet
        let id = self.allocatePacketIdentifier()
        packet.packetIdentifier = id
        self.outgoing[id] = packet.qos == .atLeastOnce ? .awaitingPubAck(token: token) : .awaitingPubRec(token: token)
        return [self.send(.publish(packet))]
    }

    /// An in-flight slot was freed: start queued publishes.
    private mutating func drainQueue() -> [Action] {
        guard case .connected(let info) = self.state else { return [] }
        var actions: [Action] = []
        while !self.queued.isEmpty && self.outgoing.count < Int(info.serverReceiveMaximum) {
            let next = self.queued.removeFirst()
            actions += self.startPublish(token: next.token, next.packet)
        }
        return actions
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
            self.state = .closed(error)
            return [.connectFailed(error), .close(error)]
        }
        let properties = connack.properties
        let info = MQTTConnectionInfo(
            sessionPresent: connack.sessionPresent,
            clientIdentifier: properties.assignedClientIdentifier ?? self.settings.clientIdentifier,
            keepAlive: properties.serverKeepAlive ?? self.settings.keepAlive,
            serverReceiveMaximum: max(properties.receiveMaximum ?? 65_535, 1),
            serverMaximumPacketSize: properties.maximumPacketSize,
            serverTopicAliasMaximum: properties.topicAliasMaximum ?? 0,
            maximumQoS: properties.maximumQoS ?? .exactlyOnce,
            retainAvailable: properties.retainAvailable ?? true,
            sessionExpiryInterval: properties.sessionExpiryInterval ?? self.settings.sessionExpiryInterval,
            connAckProperties: properties
        )
        self.state = .connected(info)
        self.lastSend = nil
        self.pingSentAt = nil
        return [.connected(info)]
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
            guard case .awaitingPubAck(let token)? = self.outgoing[ack.packetIdentifier] else {
                return self.protocolViolation("unexpected PUBACK \(ack.packetIdentifier)")
            }
            self.outgoing[ack.packetIdentifier] = nil
            return [.publishCompleted(token: token, Self.ackResult(ack, in: .puback))] + self.drainQueue()
        case .pubrec(let ack):
            guard case .awaitingPubRec(let token)? = self.outgoing[ack.packetIdentifier] else {
                if self.outgoing[ack.packetIdentifier] == nil {
                    // Spec §4.3.3: answer with PUBREL 0x92.
                    return [self.send(.pubrel(MQTTPubAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: .packetIdentifierNotFound)))]
                }
                return self.protocolViolation("unexpected PUBREC \(ack.packetIdentifier)")
            }
            if ack.reasonCode.isError {
                self.outgoing[ack.packetIdentifier] = nil
                return [.publishCompleted(token: token, Self.ackResult(ack, in: .pubrec))] + self.drainQueue()
            }
            self.outgoing[ack.packetIdentifier] = .awaitingPubComp(token: token)
            return [self.send(.pubrel(MQTTPubAckPacket(packetIdentifier: ack.packetIdentifier)))]
        case .pubcomp(let ack):
            guard case .awaitingPubComp(let token)? = self.outgoing[ack.packetIdentifier] else {
                return self.protocolViolation("unexpected PUBCOMP \(ack.packetIdentifier)")
            }
            self.outgoing[ack.packetIdentifier] = nil
            return [.publishCompleted(token: token, Self.ackResult(ack, in: .pubcomp))] + self.drainQueue()
        case .pubrel(let ack):
            let known = self.incomingAwaitingRelease.remove(ack.packetIdentifier) != nil
            return [self.send(.pubcomp(MQTTPubAckPacket(packetIdentifier: ack.packetIdentifier, reasonCode: known ? .success : .packetIdentifierNotFound)))]
        case .suback(let suback):
            guard let token = self.pendingSubscribes.removeValue(forKey: suback.packetIdentifier) else {
                return self.protocolViolation("unexpected SUBACK \(suback.packetIdentifier)")
            }
            if let failure = suback.reasonCodes.first(where: { $0.isError }) {
                return [.subscribeCompleted(token: token, .failure(MQTTClientError(kind: .subscribeFailed, reasonCode: failure, reasonString: suback.properties.reasonString, message: "subscription refused: \(failure.description(in: .suback))")))]
            }
            return [.subscribeCompleted(token: token, .success(suback))]
        case .unsuback(let unsuback):
            guard let token = self.pendingUnsubscribes.removeValue(forKey: unsuback.packetIdentifier) else {
                return self.protocolViolation("unexpected UNSUBACK \(unsuback.packetIdentifier)")
            }
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

    /// Ends the connection with `error`: optionally sends DISCONNECT, fails everything pending.
    private mutating func fail(_ error: MQTTClientError, disconnectReason: MQTTReasonCode? = nil) -> [Action] {
        var actions: [Action] = []
        switch self.state {
        case .closed:
            return []
        case .idle:
            break
        case .connecting:
            if let reason = disconnectReason { actions.append(self.send(.disconnect(MQTTDisconnectPacket(reasonCode: reason)))) }
            actions.append(.connectFailed(error))
        case .connected:
            if let reason = disconnectReason { actions.append(self.send(.disconnect(MQTTDisconnectPacket(reasonCode: reason)))) }
            actions += self.failPending(error)
        }
        self.state = .closed(error)
        actions.append(.close(error))
        return actions
    }

    private mutating func failPending(_ error: MQTTClientError) -> [Action] {
        var actions: [Action] = []
        for id in self.outgoing.keys.sorted() {
            actions.append(.publishCompleted(token: self.outgoing[id]!.token, .failure(error)))
        }
        for entry in self.queued { actions.append(.publishCompleted(token: entry.token, .failure(error))) }
        for id in self.pendingSubscribes.keys.sorted() {
            actions.append(.subscribeCompleted(token: self.pendingSubscribes[id]!, .failure(error)))
        }
        for id in self.pendingUnsubscribes.keys.sorted() {
            actions.append(.unsubscribeCompleted(token: self.pendingUnsubscribes[id]!, .failure(error)))
        }
        self.outgoing = [:]
        self.queued = []
        self.pendingSubscribes = [:]
        self.pendingUnsubscribes = [:]
        self.incomingUnaccepted = [:]
        self.incomingAwaitingRelease = []
        return actions
    }
}
