/// An error raised while decoding or encoding an MQTT 5.0 packet.
///
/// Every error carries the ``MQTTReasonCode`` a peer should disconnect with (or, during
/// connection set-up, answer CONNACK with), a machine-readable ``kind`` and a human-readable
/// ``message``.
public struct MQTTCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// A Variable Byte Integer had a fifth byte, was not minimally encoded, or (when encoding)
        /// exceeded 268,435,455.
        case malformedVariableByteInteger
        /// The packet type nibble was 0 (reserved).
        case invalidPacketType
        /// The low nibble of the fixed header did not match the packet type's rules.
        case invalidFixedHeaderFlags
        /// The packet's total size exceeds the Maximum Packet Size.
        case packetTooLarge
        /// The content ran past the end of the packet (remaining length shorter than the content).
        case unexpectedEndOfPacket
        /// Bytes remained after the content (remaining length longer than the content).
        case trailingBytes
        /// A UTF-8 Encoded String was not well-formed UTF-8 (including encoded surrogates).
        case invalidUTF8
        /// A UTF-8 Encoded String contained U+0000.
        case nullCharacter
        /// A string was longer than 65,535 bytes (encoding only).
        case stringTooLong
        /// Binary Data was longer than 65,535 bytes (encoding only).
        case binaryDataTooLong
        /// A QoS of 3, or a QoS inconsistent with the packet.
        case invalidQoS
        /// A property identifier that the specification does not define.
        case unknownProperty
        /// A property that is not allowed in this packet.
        case propertyNotAllowed
        /// A property other than User Property (or Subscription Identifier in PUBLISH) appeared twice.
        case duplicateProperty
        /// A property had a value outside its allowed range (e.g. Receive Maximum 0).
        case invalidPropertyValue
        /// A reason code unknown, or not allowed in this packet.
        case invalidReasonCode
        /// A Topic Name contained wildcards, or was empty without a Topic Alias.
        case invalidTopicName
        /// A Topic Filter was invalid where the codec has to reject it.
        case invalidTopicFilter
        /// A Packet Identifier was zero, missing or present where it must not be.
        case invalidPacketIdentifier
        /// The protocol name was not "MQTT" or the protocol level was not 5.
        case unsupportedProtocolVersion
        /// CONNECT flags broke the rules of §3.1.2.3.
        case invalidConnectFlags
        /// CONNACK acknowledge flags had reserved bits set, or Session Present with an error.
        case invalidConnackFlags
        /// Subscription options had reserved bits set or Retain Handling 3, or a shared
        /// subscription had No Local set.
        case invalidSubscriptionOptions
        /// SUBSCRIBE, SUBACK, UNSUBSCRIBE or UNSUBACK without a single entry.
        case emptyPayload
        /// The DUP flag was set on a QoS 0 PUBLISH.
        case invalidDupFlag
        /// Authentication Data without an Authentication Method.
        case missingAuthenticationMethod
    }

    public var kind: Kind
    /// The reason code to disconnect (or to refuse the connection) with.
    public var reasonCode: MQTTReasonCode
    public var message: String

    public init(kind: Kind, reasonCode: MQTTReasonCode, message: String) {
        self.kind = kind
        self.reasonCode = reasonCode
        self.message = message
    }

    public var description: String {
        let hex = String(self.reasonCode.rawValue, radix: 16, uppercase: true)
        return "MQTT \(self.reasonCode.description) (0x\(hex.count < 2 ? "0" + hex : hex)), \(self.kind.rawValue): \(self.message)"
    }

    static func malformed(_ kind: Kind, _ message: String) -> MQTTCodecError {
        MQTTCodecError(kind: kind, reasonCode: .malformedPacket, message: message)
    }

    static func protocolError(_ kind: Kind, _ message: String) -> MQTTCodecError {
        MQTTCodecError(kind: kind, reasonCode: .protocolError, message: message)
    }
}
