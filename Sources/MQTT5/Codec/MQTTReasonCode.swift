/// An MQTT 5.0 reason code (OASIS MQTT Version 5.0, §2.4).
///
/// The value `0x00` has three names in the specification ("Success", "Normal disconnection"
/// and "Granted QoS 0"); it is modelled by the single case ``success`` with the aliases
/// ``normalDisconnection`` and ``grantedQoS0``.
public enum MQTTReasonCode: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case success = 0x00
    case grantedQoS1 = 0x01
    case grantedQoS2 = 0x02
    case disconnectWithWillMessage = 0x04
    case noMatchingSubscribers = 0x10
    case noSubscriptionExisted = 0x11
    case continueAuthentication = 0x18
    case reAuthenticate = 0x19
    case unspecifiedError = 0x80
    case malformedPacket = 0x81
    case protocolError = 0x82
    case implementationSpecificError = 0x83
    case unsupportedProtocolVersion = 0x84
    case clientIdentifierNotValid = 0x85
    case badUserNameOrPassword = 0x86
    case notAuthorized = 0x87
    case serverUnavailable = 0x88
    case serverBusy = 0x89
    case banned = 0x8A
    case serverShuttingDown = 0x8B
    case badAuthenticationMethod = 0x8C
    case keepAliveTimeout = 0x8D
    case sessionTakenOver = 0x8E
    case topicFilterInvalid = 0x8F
    case topicNameInvalid = 0x90
    case packetIdentifierInUse = 0x91
    case packetIdentifierNotFound = 0x92
    case receiveMaximumExceeded = 0x93
    case topicAliasInvalid = 0x94
    case packetTooLarge = 0x95
    case messageRateTooHigh = 0x96
    case quotaExceeded = 0x97
    case administrativeAction = 0x98
    case payloadFormatInvalid = 0x99
    case retainNotSupported = 0x9A
    case qosNotSupported = 0x9B
    case useAnotherServer = 0x9C
    case serverMoved = 0x9D
    case sharedSubscriptionsNotSupported = 0x9E
    case connectionRateExceeded = 0x9F
    case maximumConnectTime = 0xA0
    case subscriptionIdentifiersNotSupported = 0xA1
    case wildcardSubscriptionsNotSupported = 0xA2

    /// `0x00` as used in DISCONNECT.
    public static let normalDisconnection: MQTTReasonCode = .success
    /// `0x00` as used in SUBACK.
    public static let grantedQoS0: MQTTReasonCode = .success

    /// Reason codes of `0x80` or greater indicate failure.
    public var isError: Bool { self.rawValue >= 0x80 }

    /// The name the specification gives this reason code.
    public var description: String {
        switch self {
        case .success: return "Success"
        case .grantedQoS1: return "Granted QoS 1"
        case .grantedQoS2: return "Granted QoS 2"
        case .disconnectWithWillMessage: return "Disconnect with Will Message"
        case .noMatchingSubscribers: return "No matching subscribers"
        case .noSubscriptionExisted: return "No subscription existed"
        case .continueAuthentication: return "Continue authentication"
        case .reAuthenticate: return "Re-authenticate"
        case .unspecifiedError: return "Unspecified error"
        case .malformedPacket: return "Malformed Packet"
        case .protocolError: return "Protocol Error"
        case .implementationSpecificError: return "Implementation specific error"
        case .unsupportedProtocolVersion: return "Unsupported Protocol Version"
        case .clientIdentifierNotValid: return "Client Identifier not valid"
        case .badUserNameOrPassword: return "Bad User Name or Password"
        case .notAuthorized: return "Not authorized"
        case .serverUnavailable: return "Server unavailable"
        case .serverBusy: return "Server busy"
        case .banned: return "Banned"
        case .serverShuttingDown: return "Server shutting down"
        case .badAuthenticationMethod: return "Bad authentication method"
        case .keepAliveTimeout: return "Keep Alive timeout"
        case .sessionTakenOver: return "Session taken over"
        case .topicFilterInvalid: return "Topic Filter invalid"
        case .topicNameInvalid: return "Topic Name invalid"
        case .packetIdentifierInUse: return "Packet Identifier in use"
        case .packetIdentifierNotFound: return "Packet Identifier not found"
        case .receiveMaximumExceeded: return "Receive Maximum exceeded"
        case .topicAliasInvalid: return "Topic Alias invalid"
        case .packetTooLarge: return "Packet too large"
        case .messageRateTooHigh: return "Message rate too high"
        case .quotaExceeded: return "Quota exceeded"
        case .administrativeAction: return "Administrative action"
        case .payloadFormatInvalid: return "Payload format invalid"
        case .retainNotSupported: return "Retain not supported"
        case .qosNotSupported: return "QoS not supported"
        case .useAnotherServer: return "Use another server"
        case .serverMoved: return "Server moved"
        case .sharedSubscriptionsNotSupported: return "Shared Subscriptions not supported"
        case .connectionRateExceeded: return "Connection rate exceeded"
        case .maximumConnectTime: return "Maximum connect time"
        case .subscriptionIdentifiersNotSupported: return "Subscription Identifiers not supported"
        case .wildcardSubscriptionsNotSupported: return "Wildcard Subscriptions not supported"
        }
    }

    /// The name of this reason code as used in the given packet type (for `0x00`
    /// "Normal disconnection" in DISCONNECT and "Granted QoS 0" in SUBACK).
    public func description(in packetType: MQTTPacketType) -> String {
        switch (self, packetType) {
        case (.success, .disconnect): return "Normal disconnection"
        case (.success, .suback): return "Granted QoS 0"
        default: return self.description
        }
    }

    /// Whether the specification allows this reason code in the given packet type.
    /// Packet types that carry no reason code (CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE,
    /// PINGREQ, PINGRESP) allow none.
    public func isAllowed(in packetType: MQTTPacketType) -> Bool {
        switch packetType {
        case .connack:
            switch self {
            case .success, .unspecifiedError, .malformedPacket, .protocolError,
                .implementationSpecificError, .unsupportedProtocolVersion, .clientIdentifierNotValid,
                .badUserNameOrPassword, .notAuthorized, .serverUnavailable, .serverBusy, .banned,
                .badAuthenticationMethod, .topicNameInvalid, .packetTooLarge, .quotaExceeded,
                .payloadFormatInvalid, .retainNotSupported, .qosNotSupported, .useAnotherServer,
                .serverMoved, .connectionRateExceeded:
                return true
            default:
                return false
            }
        case .puback, .pubrec:
            switch self {
            case .success, .noMatchingSubscribers, .unspecifiedError, .implementationSpecificError,
                .notAuthorized, .topicNameInvalid, .packetIdentifierInUse, .quotaExceeded,
                .payloadFormatInvalid:
                return true
            default:
                return false
            }
        case .pubrel, .pubcomp:
            return self == .success || self == .packetIdentifierNotFound
        case .suback:
            switch self {
            case .success, .grantedQoS1, .grantedQoS2, .unspecifiedError, .implementationSpecificError,
                .notAuthorized, .topicFilterInvalid, .packetIdentifierInUse, .quotaExceeded,
                .sharedSubscriptionsNotSupported, .subscriptionIdentifiersNotSupported,
                .wildcardSubscriptionsNotSupported:
                return true
            default:
                return false
            }
        case .unsuback:
            switch self {
            case .success, .noSubscriptionExisted, .unspecifiedError, .implementationSpecificError,
                .notAuthorized, .topicFilterInvalid, .packetIdentifierInUse:
                return true
            default:
                return false
            }
        case .disconnect:
            switch self {
            case .success, .disconnectWithWillMessage, .unspecifiedError, .malformedPacket,
                .protocolError, .implementationSpecificError, .notAuthorized, .serverBusy,
                .serverShuttingDown, .keepAliveTimeout, .sessionTakenOver, .topicFilterInvalid,
                .topicNameInvalid, .receiveMaximumExceeded, .topicAliasInvalid, .packetTooLarge,
                .messageRateTooHigh, .quotaExceeded, .administrativeAction, .payloadFormatInvalid,
                .retainNotSupported, .qosNotSupported, .useAnotherServer, .serverMoved,
                .sharedSubscriptionsNotSupported, .connectionRateExceeded, .maximumConnectTime,
                .subscriptionIdentifiersNotSupported, .wildcardSubscriptionsNotSupported:
                return true
            default:
                return false
            }
        case .auth:
            return self == .success || self == .continueAuthentication || self == .reAuthenticate
        case .connect, .publish, .subscribe, .unsubscribe, .pingreq, .pingresp:
            return false
        }
    }
}
