import MQTT5
import NIOCore
import Testing

@Suite("UTF-8 Encoded Strings (§1.5.4) and Binary Data (§1.5.6)")
struct UTF8StringTests {
    typealias S = MQTT5TestSupport

    @Test("well-formed strings are accepted unchanged", arguments: [
        "", "a/b", "ünïcödé", "温度", "🦆 duck", "\u{FEFF}bom", "\u{10FFFF}", "tab\tand\u{7F}",
    ])
    func validStrings(string: String) throws {
        let decoded = try MQTTUTF8String.validate(S.buffer(Array(string.utf8)), field: "test")
        #expect(decoded == string)
        #expect(Array(decoded.utf8) == Array(string.utf8))
    }

    static let invalidUTF8: [[UInt8]] = [
        [0xC3],  // truncated two-byte sequence
        [0x80],  // lone continuation byte
        [0xC0, 0xAF],  // overlong '/'
        [0xE0, 0x80, 0xAF],  // overlong three-byte
        [0xED, 0xA0, 0x80],  // U+D800 (high surrogate)
        [0xED, 0xBF, 0xBF],  // U+DFFF (low surrogate)
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xFF],
        [0x61, 0xFE, 0x62],
    ]

    @Test("ill-formed UTF-8 and surrogates are malformed", arguments: invalidUTF8)
    func invalidBytes(bytes: [UInt8]) {
        #expect(throws: MQTTCodecError.self) { try MQTTUTF8String.validate(S.buffer(bytes), field: "test") }
        // Also inside a packet: the PUBLISH Topic Name.
        let packet = S.packet(0x30, S.raw(bytes) + S.props([]) + [1, 2, 3])
        let error = S.decodeError(packet)
        #expect(error?.kind == .invalidUTF8)
        #expect(error?.reasonCode == .malformedPacket)
    }

    @Test("U+0000 is malformed, also as an overlong encoding")
    func nullCharacter() {
        let error = S.decodeError(S.packet(0x30, S.raw([0x61, 0x00, 0x62]) + S.props([])))
        #expect(error?.kind == .nullCharacter)
        #expect(error?.reasonCode == .malformedPacket)
        #expect(S.decodeError(S.packet(0x30, S.raw([0xC0, 0x80]) + S.props([])))?.kind == .invalidUTF8)
        // In a User Property name.
        let props = [0x26] + S.raw([0x00]) + S.str("v")
        #expect(S.decodeError(S.rawPacket(context: .disconnect, propertyContent: props))?.kind == .nullCharacter)
    }

    @Test("invalid UTF-8 in every string field of CONNECT is rejected")
    func connectStrings() {
        let bad = S.raw([0xED, 0xA0, 0x80])
        let cases: [[UInt8]] = [
            S.packet(0x10, S.str("MQTT") + [5, 0x02, 0, 60] + S.props([]) + bad),  // client id
            S.packet(0x10, S.str("MQTT") + [5, 0x82, 0, 60] + S.props([]) + S.str("c") + bad),  // user name
            S.packet(0x10, S.str("MQTT") + [5, 0x06, 0, 60] + S.props([]) + S.str("c") + S.props([]) + bad + S.raw([])),  // will topic
        ]
        for bytes in cases {
            #expect(S.decodeError(bytes)?.kind == .invalidUTF8)
        }
    }

    @Test("encoding refuses U+0000 in a string")
    func encodeNull() {
        let packet = MQTTPacket.publish(MQTTPublishPacket(topicName: "a\u{0}b"))
        #expect(S.encodeError(packet)?.kind == .nullCharacter)
        let props = MQTTPacket.disconnect(MQTTDisconnectPacket(properties: MQTTProperties(reasonString: "x\u{0}")))
        #expect(S.encodeError(props)?.kind == .nullCharacter)
    }

    @Test("strings up to 65,535 bytes encode; longer ones are refused")
    func stringLengthLimit() throws {
        let longest = String(repeating: "x", count: 65_535)
        let packet = MQTTPacket.connect(MQTTConnectPacket(clientIdentifier: longest))
        #expect(try S.roundTrip(packet) == packet)

        let tooLong = String(repeating: "x", count: 65_536)
        #expect(S.encodeError(.connect(MQTTConnectPacket(clientIdentifier: tooLong)))?.kind == .stringTooLong)
        // Multi-byte characters count in bytes: 21,846 × 3 bytes = 65,538.
        let wide = String(repeating: "温", count: 21_846)
        #expect(S.encodeError(.connect(MQTTConnectPacket(clientIdentifier: "c", username: wide)))?.kind == .stringTooLong)
        let userProperty = MQTTProperties(userProperties: [MQTTUserProperty(name: "k", value: tooLong)])
        #expect(S.encodeError(.disconnect(MQTTDisconnectPacket(properties: userProperty)))?.kind == .stringTooLong)
    }

    @Test("binary data up to 65,535 bytes encodes; longer is refused")
    func binaryLengthLimit() throws {
        let longest = ByteBuffer(repeating: 7, count: 65_535)
        let packet = MQTTPacket.connect(MQTTConnectPacket(clientIdentifier: "c", password: longest))
        #expect(try S.roundTrip(packet) == packet)

        let tooLong = ByteBuffer(repeating: 7, count: 65_536)
        #expect(S.encodeError(.connect(MQTTConnectPacket(clientIdentifier: "c", password: tooLong)))?.kind == .binaryDataTooLong)
        let will = MQTTWill(topic: "t", payload: tooLong)
        #expect(S.encodeError(.connect(MQTTConnectPacket(clientIdentifier: "c", will: will)))?.kind == .binaryDataTooLong)
        let correlation = MQTTProperties(correlationData: tooLong)
        #expect(S.encodeError(.publish(MQTTPublishPacket(topicName: "t", properties: correlation)))?.kind == .binaryDataTooLong)
    }

    @Test("a string length running past the packet is malformed")
    func truncatedString() {
        // Topic length says 10, only 3 bytes follow.
        let error = S.decodeError(S.packet(0x30, [0, 10, 0x61, 0x62, 0x63]))
        #expect(error?.kind == .unexpectedEndOfPacket)
        #expect(error?.reasonCode == .malformedPacket)
    }
}
