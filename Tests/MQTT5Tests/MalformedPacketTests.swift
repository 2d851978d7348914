import MQTT5
import NIOCore
import Testing

@Suite("Malformed packets and protocol errors")
struct MalformedPacketTests {
    typealias S = MQTT5TestSupport

    func expectError(
        _ bytes: [UInt8],
        _ kind: MQTTCodecError.Kind,
        _ reasonCode: MQTTReasonCode,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = S.decodeError(bytes)
        #expect(error?.kind == kind, "got \(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.reasonCode == reasonCode, sourceLocation: sourceLocation)
    }

    // MARK: Fixed header

    @Test("packet type 0 is malformed, even from the first byte alone")
    func packetTypeZero() {
        for first: UInt8 in [0x00, 0x02, 0x0F] {
            expectError([first], .invalidPacketType, .malformedPacket)
            expectError([first, 0x00], .invalidPacketType, .malformedPacket)
        }
    }

    @Test("illegal fixed-header flags are malformed, from the first byte alone")
    func illegalFlags() {
        for type in MQTTPacketType.allCases where type != .publish {
            let required = type.requiredFlags!
            for flags: UInt8 in 0...15 where flags != required {
                let first = type.rawValue << 4 | flags
                expectError([first], .invalidFixedHeaderFlags, .malformedPacket)
                expectError([first, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags, .malformedPacket)
            }
        }
        // PUBREL, SUBSCRIBE and UNSUBSCRIBE with flags 0 (MQTT 3.1-style) are rejected too.
        expectError([0x60, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags, .malformedPacket)
        expectError([0x80], .invalidFixedHeaderFlags, .malformedPacket)
        expectError([0xA0], .invalidFixedHeaderFlags, .malformedPacket)
    }

    @Test("QoS 3 in PUBLISH is malformed")
    func publishQoS3() {
        for first: UInt8 in [0x36, 0x37, 0x3E, 0x3F] {
            expectError([first], .invalidQoS, .malformedPacket)
            expectError(S.packet(first, S.str("t") + [0, 1, 0]), .invalidQoS, .malformedPacket)
        }
    }

    @Test("DUP on a QoS 0 PUBLISH is a protocol error")
    func dupWithQoS0() {
        expectError(S.packet(0x38, S.str("t") + [0]), .invalidDupFlag, .protocolError)
        expectError(S.packet(0x39, S.str("t") + [0]), .invalidDupFlag, .protocolError)
    }

    // MARK: Remaining Length vs content

    @Test("Remaining Length shorter than the content is malformed")
    func remainingLengthTooShort() throws {
        for packet in S.samplePackets {
            var bytes = try S.encode(packet)
            let (remaining, lengthSize) = try #require(try MQTTVariableByteInteger.get(from: S.buffer(bytes), at: 1))
            guard remaining > 0, lengthSize == 1 else { continue }
            // Content is cut short by one byte; the cut byte stays behind as the next "packet".
            bytes[1] = UInt8(remaining - 1)
            var buffer = S.buffer(bytes)
            do {
                let decoded = try S.decoder.decode(buffer: &buffer)
                // Packets ending in an open-ended payload (PUBLISH payload, lists) can still be
                // well-formed when shortened; they must then differ from the original.
                // (AUTH is leniently accepted without its Property Length, so it may decode equal.)
                #expect(decoded != packet || packet.packetType == .auth)
                #expect(
                    [.publish, .subscribe, .suback, .unsubscribe, .unsuback, .auth, .disconnect, .puback, .pubrec, .pubrel, .pubcomp]
                        .contains(packet.packetType),
                    "\(packet.packetType) decoded although shortened"
                )
            } catch {
                #expect(error.reasonCode == .malformedPacket || error.reasonCode == .protocolError)
            }
        }
        // Concrete cases.
        expectError([0x40, 0x01, 0x00], .unexpectedEndOfPacket, .malformedPacket)  // PUBACK id cut
        expectError([0x20, 0x02, 0x00, 0x00], .unexpectedEndOfPacket, .malformedPacket)  // CONNACK without Property Length
        expectError(S.packet(0x32, S.str("t") + [0x00]), .unexpectedEndOfPacket, .malformedPacket)  // id cut
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x02, 0, 60] + S.props([])), .unexpectedEndOfPacket, .malformedPacket)
        expectError(S.packet(0x82, [0, 1, 0] + S.str("a")), .unexpectedEndOfPacket, .malformedPacket)  // options byte missing
        expectError(S.packet(0x30, [0x00, 0x05, 0x61]), .unexpectedEndOfPacket, .malformedPacket)
    }

    @Test("Remaining Length longer than the content is malformed")
    func remainingLengthTooLong() {
        expectError([0xC0, 0x01, 0x00], .trailingBytes, .malformedPacket)  // PINGREQ
        expectError([0xD0, 0x02, 0x00, 0x00], .trailingBytes, .malformedPacket)  // PINGRESP
        expectError([0x20, 0x04, 0x00, 0x00, 0x00, 0xFF], .trailingBytes, .malformedPacket)  // CONNACK
        expectError([0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0xFF], .trailingBytes, .malformedPacket)  // PUBACK
        expectError([0xE0, 0x03, 0x00, 0x00, 0xFF], .trailingBytes, .malformedPacket)  // DISCONNECT
        expectError([0xF0, 0x03, 0x18, 0x00, 0xFF], .trailingBytes, .malformedPacket)  // AUTH
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x02, 0, 60] + S.props([]) + S.str("c") + [0xFF]), .trailingBytes, .malformedPacket)
        // A trailing partial entry in a list is malformed too.
        expectError(S.packet(0xA2, [0, 1, 0] + S.str("a") + [0x00]), .unexpectedEndOfPacket, .malformedPacket)
    }

    // MARK: Strings and properties (more in UTF8StringTests and PropertiesTests)

    @Test("invalid UTF-8 and U+0000 in strings")
    func strings() {
        expectError(S.packet(0x30, S.raw([0xED, 0xB0, 0x80]) + [0]), .invalidUTF8, .malformedPacket)
        expectError(S.packet(0x30, S.raw([0x61, 0x00]) + [0]), .nullCharacter, .malformedPacket)
        expectError(S.packet(0xA2, [0, 1, 0] + S.raw([0xC3, 0x28])), .invalidUTF8, .malformedPacket)
    }

    @Test("duplicate, forbidden and unknown properties")
    func properties() {
        let twice = S.rawProperty(.topicAlias) + S.rawProperty(.topicAlias)
        expectError(S.rawPacket(context: .publish, propertyContent: twice), .duplicateProperty, .protocolError)
        expectError(S.rawPacket(context: .publish, propertyContent: S.rawProperty(.sessionExpiryInterval)), .propertyNotAllowed, .malformedPacket)
        expectError(S.rawPacket(context: .will, propertyContent: S.rawProperty(.topicAlias)), .propertyNotAllowed, .malformedPacket)
        expectError(S.rawPacket(context: .connect, propertyContent: S.rawProperty(.willDelayInterval)), .propertyNotAllowed, .malformedPacket)
        expectError(S.rawPacket(context: .puback, propertyContent: [0x05, 0x00]), .unknownProperty, .malformedPacket)
    }

    // MARK: Topics

    @Test("a Topic Name with wildcards is invalid", arguments: ["a/+", "#", "a/#", "+", "a+b", "sport/tennis#"])
    func wildcardTopic(topic: String) {
        expectError(S.packet(0x30, S.str(topic) + [0]), .invalidTopicName, .topicNameInvalid)
        expectError(S.packet(0x32, S.str(topic) + [0, 1, 0]), .invalidTopicName, .topicNameInvalid)
        // Will Topic.
        let connect = S.packet(0x10, S.str("MQTT") + [5, 0x06, 0, 60] + S.props([]) + S.str("c") + S.props([]) + S.str(topic) + S.raw([]))
        expectError(connect, .invalidTopicName, .topicNameInvalid)
    }

    @Test("an empty Topic Name needs a Topic Alias")
    func emptyTopic() throws {
        expectError(S.packet(0x30, S.str("") + [0]), .invalidTopicName, .protocolError)
        _ = try S.decode(S.packet(0x30, S.str("") + S.props([0x23, 0, 1])))
    }

    // MARK: CONNECT

    @Test("CONNECT protocol name, version and flags")
    func connect() {
        let tail = [0, 60] + S.props([]) + S.str("c")
        expectError(S.packet(0x10, S.str("MQIsdp") + [3, 0x02] + tail), .unsupportedProtocolVersion, .unsupportedProtocolVersion)
        expectError(S.packet(0x10, S.str("MQTT") + [4, 0x02] + tail), .unsupportedProtocolVersion, .unsupportedProtocolVersion)
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x03] + tail), .invalidConnectFlags, .malformedPacket)  // reserved bit
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x1C] + tail), .invalidQoS, .malformedPacket)  // Will QoS 3
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x08] + tail), .invalidConnectFlags, .malformedPacket)  // QoS w/o will
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x20] + tail), .invalidConnectFlags, .malformedPacket)  // retain w/o will
        // User Name flag set but no user name; Password flag set but no password.
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x80] + tail), .unexpectedEndOfPacket, .malformedPacket)
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x40] + tail), .unexpectedEndOfPacket, .malformedPacket)
        // Will Flag without will fields.
        expectError(S.packet(0x10, S.str("MQTT") + [5, 0x04] + tail), .unexpectedEndOfPacket, .malformedPacket)
    }

    @Test("CONNACK acknowledge flags")
    func connack() {
        expectError([0x20, 0x03, 0x02, 0x00, 0x00], .invalidConnackFlags, .malformedPacket)
        expectError([0x20, 0x03, 0x80, 0x00, 0x00], .invalidConnackFlags, .malformedPacket)
        expectError([0x20, 0x03, 0x01, 0x87, 0x00], .invalidConnackFlags, .protocolError)
    }

    // MARK: Packet identifiers

    @Test("Packet Identifier 0 is a protocol error")
    func zeroPacketIdentifier() {
        expectError(S.packet(0x32, S.str("t") + [0, 0, 0]), .invalidPacketIdentifier, .protocolError)
        expectError([0x40, 0x02, 0x00, 0x00], .invalidPacketIdentifier, .protocolError)
        expectError([0x62, 0x02, 0x00, 0x00], .invalidPacketIdentifier, .protocolError)
        expectError(S.packet(0x82, [0, 0, 0] + S.str("a") + [0]), .invalidPacketIdentifier, .protocolError)
        expectError(S.packet(0xA2, [0, 0, 0] + S.str("a")), .invalidPacketIdentifier, .protocolError)
        expectError([0x90, 0x04, 0x00, 0x00, 0x00, 0x00], .invalidPacketIdentifier, .protocolError)
    }

    // MARK: SUBSCRIBE and friends

    @Test("SUBSCRIBE options and payload")
    func subscribe() {
        let head: [UInt8] = [0, 1, 0]
        expectError(S.packet(0x82, head), .emptyPayload, .protocolError)
        expectError(S.packet(0x82, head + S.str("a") + [0x40]), .invalidSubscriptionOptions, .malformedPacket)
        expectError(S.packet(0x82, head + S.str("a") + [0x80]), .invalidSubscriptionOptions, .malformedPacket)
        expectError(S.packet(0x82, head + S.str("a") + [0x03]), .invalidQoS, .malformedPacket)
        expectError(S.packet(0x82, head + S.str("a") + [0x30]), .invalidSubscriptionOptions, .protocolError)
        expectError(S.packet(0x82, head + S.str("$share/g/a") + [0x04]), .invalidSubscriptionOptions, .protocolError)
        // The second of two subscriptions is bad.
        expectError(S.packet(0x82, head + S.str("a") + [0x01] + S.str("b") + [0x03]), .invalidQoS, .malformedPacket)
    }

    @Test("empty SUBACK, UNSUBSCRIBE and UNSUBACK payloads")
    func emptyLists() {
        expectError([0x90, 0x03, 0x00, 0x01, 0x00], .emptyPayload, .protocolError)
        expectError([0xA2, 0x03, 0x00, 0x01, 0x00], .emptyPayload, .protocolError)
        expectError([0xB0, 0x03, 0x00, 0x01, 0x00], .emptyPayload, .protocolError)
    }

    @Test("topic filters are not judged by the decoder, but MQTTTopic can")
    func topicFilters() throws {
        // The server answers bad filters per filter in SUBACK (0x8F), so the packet decodes.
        let packet = try S.decode(S.packet(0x82, [0, 1, 0] + S.str("a/#/b") + [0]))
        #expect(packet.packetType == .subscribe)
        for valid in ["#", "+", "a/+/b", "a/#", "/", "+/+", "$share/g/a/#", "$SYS/#"] {
            #expect(MQTTTopic.isValidFilter(valid), "\(valid)")
        }
        for invalid in ["", "a/#/b", "a#", "a/b+", "$share/g", "$share//a", "$share/g+/a", "$share/g/"] {
            #expect(!MQTTTopic.isValidFilter(invalid), "\(invalid)")
        }
        #expect(MQTTTopic.isValidName("a/b"))
        #expect(!MQTTTopic.isValidName(""))
        #expect(!MQTTTopic.isValidName("a/+"))
    }
}
