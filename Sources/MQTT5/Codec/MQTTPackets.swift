import NIOCore

/// An MQTT 5.0 control packet.
public enum MQTTPacket: Hashable, Sendable {
    case connect(MQTTConnectPacket)
    case connack(MQTTConnAckPacket)
    case publish(MQTTPublishPacket)
    case puback(MQTTPubAckPacket)
    case pubrec(MQTTPubAckPacket)
    case pubrel(MQTTPubAckPacket)
    case pubcomp(MQTTPubAckPacket)
    case subscribe(MQTTSubscribePacket)
    case suback(MQTTSubAckPacket)
    case unsubscribe(MQTTUnsubscribePacket)
    case unsuback(MQTTUnsubAckPacket)
    case pingreq
    case pingresp
    case disconnect(MQTTDisconnectPacket)
    case auth(MQTTAuthPacket)

    public var packetType: MQTTPacketType {
        switch self {
        case .connect: return .connect
        case .connack: return .connack
        case .publish: return .publish
        case .puback: return .puback
        case .pubrec: return .pubrec
        case .pubrel: return .pubrel
        case .pubcomp: return .pubcomp
        case .subscribe: return .subscribe
        case .suback: return .suback
        case .unsubscribe: return .unsubscribe
        case .unsuback: return .unsuback
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect: return .disconnect
        case .auth: return .auth
        }
    }
}

/// The Will Message of a CONNECT packet (§3.1.2.5, §3.1.3.2–3.1.3.4).
public struct MQTTWill: Hashable, Sendable {
    /// Will Topic: a Topic Name (non-empty, no wildcards).
    public var topic: String
    /// Will Payload (Binary Data, at most 65,535 bytes).
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    /// Will Properties: Will Delay Interval, Payload Format Indicator, Message Expiry Interval,
    /// Content Type, Response Topic, Correlation Data, User Property.
    public var properties: MQTTProperties

    public init(
        topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// CONNECT (§3.1). Protocol Name "MQTT" and Protocol Version 5 are implied.
public struct MQTTConnectPacket: Hashable, Sendable {
    public var clientIdentifier: String
    public var cleanStart: Bool
    /// Keep Alive in seconds (0 disables it).
    public var keepAlive: UInt16
    public var username: String?
    public var password: ByteBuffer?
    public var will: MQTTWill?
    /// Session Expiry Interval, Receive Maximum, Maximum Packet Size, Topic Alias Maximum,
    /// Request Response Information, Request Problem Information, User Property,
    /// Authentication Method, Authentication Data.
    public var properties: MQTTProperties

    public init(
        clientIdentifier: String,
        cleanStart: Bool = true,
        keepAlive: UInt16 = 60,
        username: String? = nil,
        password: ByteBuffer? = nil,
        will: MQTTWill? = nil,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.clientIdentifier = clientIdentifier
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }
}

/// CONNACK (§3.2).
public struct MQTTConnAckPacket: Hashable, Sendable {
    public var sessionPresent: Bool
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(
        sessionPresent: Bool = false,
        reasonCode: MQTTReasonCode = .success,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// PUBLISH (§3.3).
public struct MQTTPublishPacket: Hashable, Sendable {
    /// Topic Name; may be empty only when ``MQTTProperties/topicAlias`` is set.
    public var topicName: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    /// Required (non-zero) for QoS 1 and 2, absent for QoS 0.
    public var packetIdentifier: UInt16?
    /// DUP flag; must be false for QoS 0.
    public var dup: Bool
    public var retain: Bool
    public var properties: MQTTProperties

    public init(
        topicName: String,
        payload: ByteBuffer = ByteBuffer(),
        qos: MQTTQoS = .atMostOnce,
        packetIdentifier: UInt16? = nil,
        dup: Bool = false,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.topicName = topicName
        self.payload = payload
        self.qos = qos
        self.packetIdentifier = packetIdentifier
        self.dup = dup
        self.retain = retain
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP (§3.4–3.7); which one is given by the ``MQTTPacket`` case.
/// Encoded in the shortest form the specification allows (Reason Code and Property Length
/// omitted when possible).
public struct MQTTPubAckPacket: Hashable, Sendable {
    public var packetIdentifier: UInt16
    public var reasonCode: MQTTReasonCode
    /// Reason String, User Property.
    public var properties: MQTTProperties

    public init(
        packetIdentifier: UInt16,
        reasonCode: MQTTReasonCode = .success,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// Subscription Options (§3.8.3.1).
public struct MQTTSubscriptionOptions: Hashable, Sendable {
    public var maximumQoS: MQTTQoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: MQTTRetainHandling

    public init(
        maximumQoS: MQTTQoS = .atMostOnce,
        noLocal: Bool = false,
        retainAsPublished: Bool = false,
        retainHandling: MQTTRetainHandling = .sendOnSubscribe
    ) {
        self.maximumQoS = maximumQoS
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }

    /// The options byte.
    public var rawValue: UInt8 {
        self.maximumQoS.rawValue
            | (self.noLocal ? 0b0000_0100 : 0)
            | (self.retainAsPublished ? 0b0000_1000 : 0)
            | (self.retainHandling.rawValue << 4)
    }
}

/// One Topic Filter and its options in a SUBSCRIBE payload.
public struct MQTTSubscription: Hashable, Sendable {
    public var topicFilter: String
    public var options: MQTTSubscriptionOptions

    public init(topicFilter: String, options: MQTTSubscriptionOptions = MQTTSubscriptionOptions()) {
        self.topicFilter = topicFilter
        self.options = options
    }
}

/// SUBSCRIBE (§3.8).
public struct MQTTSubscribePacket: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// At least one subscription.
    public var subscriptions: [MQTTSubscription]
    /// Subscription Identifier (at most one), User Property.
    public var properties: MQTTProperties

    public init(
        packetIdentifier: UInt16,
        subscriptions: [MQTTSubscription],
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

/// SUBACK (§3.9).
public struct MQTTSubAckPacket: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// One reason code per Topic Filter of the SUBSCRIBE, in order.
    public var reasonCodes: [MQTTReasonCode]
    /// Reason String, User Property.
    public var properties: MQTTProperties

    public init(
        packetIdentifier: UInt16,
        reasonCodes: [MQTTReasonCode],
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// UNSUBSCRIBE (§3.10).
public struct MQTTUnsubscribePacket: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// At least one Topic Filter.
    public var topicFilters: [String]
    /// User Property.
    public var properties: MQTTProperties

    public init(
        packetIdentifier: UInt16,
        topicFilters: [String],
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

/// UNSUBACK (§3.11).
public struct MQTTUnsubAckPacket: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// One reason code per Topic Filter of the UNSUBSCRIBE, in order.
    public var reasonCodes: [MQTTReasonCode]
    /// Reason String, User Property.
    public var properties: MQTTProperties

    public init(
        packetIdentifier: UInt16,
        reasonCodes: [MQTTReasonCode],
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// DISCONNECT (§3.14). Encoded in the shortest form allowed.
public struct MQTTDisconnectPacket: Hashable, Sendable {
    public var reasonCode: MQTTReasonCode
    /// Session Expiry Interval, Reason String, User Property, Server Reference.
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// AUTH (§3.15). Encoded with Remaining Length 0 when the reason code is Success and there
/// are no properties.
public struct MQTTAuthPacket: Hashable, Sendable {
    public var reasonCode: MQTTReasonCode
    /// Authentication Method, Authentication Data, Reason String, User Property.
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}
