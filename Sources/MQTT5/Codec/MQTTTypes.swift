/// MQTT control packet types (§2.1.2). The value 0 is reserved and never valid.
public enum MQTTPacketType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case connect = 1
    case connack = 2
    case publish = 3
    case puback = 4
    case pubrec = 5
    case pubrel = 6
    case pubcomp = 7
    case subscribe = 8
    case suback = 9
    case unsubscribe = 10
    case unsuback = 11
    case pingreq = 12
    case pingresp = 13
    case disconnect = 14
    case auth = 15

    public var description: String {
        switch self {
        case .connect: return "CONNECT"
        case .connack: return "CONNACK"
        case .publish: return "PUBLISH"
        case .puback: return "PUBACK"
        case .pubrec: return "PUBREC"
        case .pubrel: return "PUBREL"
        case .pubcomp: return "PUBCOMP"
        case .subscribe: return "SUBSCRIBE"
        case .suback: return "SUBACK"
        case .unsubscribe: return "UNSUBSCRIBE"
        case .unsuback: return "UNSUBACK"
        case .pingreq: return "PINGREQ"
        case .pingresp: return "PINGRESP"
        case .disconnect: return "DISCONNECT"
        case .auth: return "AUTH"
        }
    }

    /// The fixed-header flags (low nibble of the first byte) this packet type must carry.
    /// `nil` for PUBLISH, whose flags carry DUP, QoS and RETAIN (§2.1.3).
    public var requiredFlags: UInt8? {
        switch self {
        case .publish: return nil
        case .pubrel, .subscribe, .unsubscribe: return 0b0010
        default: return 0
        }
    }
}

/// Quality of service level (§4.3).
public enum MQTTQoS: UInt8, Hashable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "QoS \(self.rawValue)" }
}

/// Retain Handling subscription option (§3.8.3.1).
public enum MQTTRetainHandling: UInt8, Hashable, Sendable, CaseIterable {
    /// 0: send retained messages at the time of the subscribe.
    case sendOnSubscribe = 0
    /// 1: send retained messages at subscribe only if the subscription does not currently exist.
    case sendOnSubscribeIfNew = 1
    /// 2: do not send retained messages at the time of the subscribe.
    case doNotSend = 2
}

/// Payload Format Indicator property values (§3.3.2.3.2).
public enum MQTTPayloadFormatIndicator: UInt8, Hashable, Sendable, CaseIterable {
    /// 0: unspecified bytes.
    case unspecified = 0
    /// 1: UTF-8 encoded character data.
    case utf8 = 1
}

/// A User Property: a UTF-8 string pair (§3.1.2.11.8). Names may repeat; order is preserved.
public struct MQTTUserProperty: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Helpers for topic names and topic filters (§4.7).
public enum MQTTTopic {
    /// Whether `topic` is a valid non-empty Topic Name: no wildcard characters `+` or `#`.
    /// (A zero-length topic name is only valid in PUBLISH together with a Topic Alias.)
    public static func isValidName(_ topic: String) -> Bool {
        !topic.utf8.isEmpty && !containsWildcard(topic)
    }

    /// Whether `topic` contains the wildcard characters `+` or `#`.
    public static func containsWildcard(_ topic: String) -> Bool {
        topic.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }

    /// Whether `filter` is a syntactically valid Topic Filter (§4.7.1): non-empty, `#` only as
    /// the whole last level, `+` only as a whole level, and a shared subscription
    /// (`$share/{ShareName}/{filter}`) with a non-empty share name without wildcards or `/`.
    ///
    /// The decoder does not reject SUBSCRIBE/UNSUBSCRIBE packets with invalid filters: the
    /// specification answers those per filter (reason code 0x8F) rather than by disconnecting.
    public static func isValidFilter(_ filter: String) -> Bool {
        var levels = Array(filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false))
        guard !filter.utf8.isEmpty else { return false }
        if isSharedSubscription(filter) {
            // $share / ShareName / filter...
            guard levels.count >= 3 else { return false }
            let shareName = levels[1]
            guard !shareName.isEmpty,
                !shareName.contains(UInt8(ascii: "+")),
                !shareName.contains(UInt8(ascii: "#"))
            else { return false }
            levels.removeFirst(2)
            if levels.count == 1 && levels[0].isEmpty { return false }
        }
        for (index, level) in levels.enumerated() {
            if level.contains(UInt8(ascii: "#")) {
                guard level.count == 1, index == levels.count - 1 else { return false }
            }
            if level.contains(UInt8(ascii: "+")) {
                guard level.count == 1 else { return false }
            }
        }
        return true
    }

    /// Whether `filter` names a shared subscription (`$share/...`, §4.8.2).
    public static func isSharedSubscription(_ filter: String) -> Bool {
        filter.utf8.starts(with: "$share/".utf8)
    }
}
