import MQTT5
import NIOCore
import Testing

@Suite("Reason codes (§2.4)")
struct ReasonCodeTests {
    typealias S = MQTT5TestSupport

    /// Every reason code of §2.4 with its name.
    static let specCodes: [(UInt8, String)] = [
        (0x00, "Success"), (0x01, "Granted QoS 1"), (0x02, "Granted QoS 2"), (0x04, "Disconnect with Will Message"),
        (0x10, "No matching subscribers"), (0x11, "No subscription existed"), (0x18, "Continue authentication"),
        (0x19, "Re-authenticate"), (0x80, "Unspecified error"), (0x81, "Malformed Packet"), (0x82, "Protocol Error"),
        (0x83, "Implementation specific error"), (0x84, "Unsupported Protocol Version"),
        (0x85, "Client Identifier not valid"), (0x86, "Bad User Name or Password"), (0x87, "Not authorized"),
        (0x88, "Server unavailable"), (0x89, "Server busy"), (0x8A, "Banned"), (0x8B, "Server shutting down"),
        (0x8C, "Bad authentication method"), (0x8D, "Keep Alive timeout"), (0x8E, "Session taken over"),
        (0x8F, "Topic Filter invalid"), (0x90, "Topic Name invalid"), (0x91, "Packet Identifier in use"),
        (0x92, "Packet Identifier not found"), (0x93, "Receive Maximum exceeded"), (0x94, "Topic Alias invalid"),
        (0x95, "Packet too large"), (0x96, "Message rate too high"), (0x97, "Quota exceeded"),
        (0x98, "Administrative action"), (0x99, "Payload format invalid"), (0x9A, "Retain not supported"),
        (0x9B, "QoS not supported"), (0x9C, "Use another server"), (0x9D, "Server moved"),
        (0x9E, "Shared Subscriptions not supported"), (0x9F, "Connection rate exceeded"), (0xA0, "Maximum connect time"),
        (0xA1, "Subscription Identifiers not supported"), (0xA2, "Wildcard Subscriptions not supported"),
    ]

    /// Which reason codes each packet type allows, from §3.2.2.2, §3.4.2.1, §3.5.2.1, §3.6.2.1,
    /// §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1 and §3.15.2.1.
    static let allowed: [MQTTPacketType: Set<UInt8>] = [
        .connack: [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                   0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F],
        .puback: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
        .pubrec: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
        .pubrel: [0x00, 0x92],
        .pubcomp: [0x00, 0x92],
        .suback: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2],
        .unsuback: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
        .disconnect: [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
                      0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2],
        .auth: [0x00, 0x18, 0x19],
    ]

    @Test("all 43 reason codes exist with the spec's names", arguments: specCodes)
    func names(raw: UInt8, name: String) throws {
        let code = try #require(MQTTReasonCode(rawValue: raw))
        #expect(code.description == name)
        #expect(code.isError == (raw >= 0x80))
    }

    @Test("no other byte is a reason code")
    func noOthers() {
        let known = Set(Self.specCodes.map(\.0))
        for raw in UInt8.min...UInt8.max where !known.contains(raw) {
            #expect(MQTTReasonCode(rawValue: raw) == nil)
        }
        #expect(MQTTReasonCode.allCases.count == 43)
    }

    @Test("0x00 has a context-specific name")
    func zeroNames() {
        #expect(MQTTReasonCode.normalDisconnection == .success)
        #expect(MQTTReasonCode.grantedQoS0 == .success)
        #expect(MQTTReasonCode.success.description(in: .disconnect) == "Normal disconnection")
        #expect(MQTTReasonCode.success.description(in: .suback) == "Granted QoS 0")
        #expect(MQTTReasonCode.success.description(in: .puback) == "Success")
        #expect(MQTTReasonCode.banned.description(in: .connack) == "Banned")
    }

    @Test("allowed reason codes per packet match the specification")
    func allowedTable() {
        for type in MQTTPacketType.allCases {
            let expected = Self.allowed[type] ?? []
            for code in MQTTReasonCode.allCases {
                #expect(code.isAllowed(in: type) == expected.contains(code.rawValue), "\(code) in \(type)")
            }
        }
    }

    @Test("every allowed reason code round trips in its packets")
    func allowedRoundTrip() throws {
        for (type, raws) in Self.allowed {
            for raw in raws {
                let code = MQTTReasonCode(rawValue: raw)!
                let packet: MQTTPacket
                switch type {
                case .connack: packet = .connack(MQTTConnAckPacket(reasonCode: code))
                case .puback: packet = .puback(MQTTPubAckPacket(packetIdentifier: 1, reasonCode: code))
                case .pubrec: packet = .pubrec(MQTTPubAckPacket(packetIdentifier: 1, reasonCode: code))
                case .pubrel: packet = .pubrel(MQTTPubAckPacket(packetIdentifier: 1, reasonCode: code))
                case .pubcomp: packet = .pubcomp(MQTTPubAckPacket(packetIdentifier: 1, reasonCode: code))
                case .suback: packet = .suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [code]))
                case .unsuback: packet = .unsuback(MQTTUnsubAckPacket(packetIdentifier: 1, reasonCodes: [code]))
                case .disconnect: packet = .disconnect(MQTTDisconnectPacket(reasonCode: code))
                case .auth: packet = .auth(MQTTAuthPacket(reasonCode: code))
                default: continue
                }
                #expect(try S.roundTrip(packet) == packet)
            }
        }
    }

    @Test("a reason code not allowed in the packet is rejected on decode and refused on encode")
    func notAllowed() {
        // 0x92 is only for PUBREL/PUBCOMP; 0x03 is no reason code at all.
        for raw: UInt8 in [0x92, 0x03] {
            #expect(S.decodeError(S.packet(0x40, [0, 1, raw]))?.kind == .invalidReasonCode)
            #expect(S.decodeError(S.packet(0x20, [0, raw, 0]))?.kind == .invalidReasonCode)
            #expect(S.decodeError(S.packet(0x90, [0, 1, 0, raw]))?.kind == .invalidReasonCode)
            #expect(S.decodeError(S.packet(0xF0, [raw, 0]))?.kind == .invalidReasonCode)
        }
        #expect(S.decodeError(S.packet(0xE0, [0x18]))?.kind == .invalidReasonCode)  // Continue authentication in DISCONNECT
        #expect(S.encodeError(.puback(MQTTPubAckPacket(packetIdentifier: 1, reasonCode: .packetIdentifierNotFound)))?.kind == .invalidReasonCode)
        #expect(S.encodeError(.auth(MQTTAuthPacket(reasonCode: .notAuthorized)))?.kind == .invalidReasonCode)
        #expect(S.encodeError(.suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.success, .noSubscriptionExisted])))?.kind == .invalidReasonCode)
        #expect(S.encodeError(.connack(MQTTConnAckPacket(reasonCode: .grantedQoS1)))?.kind == .invalidReasonCode)
    }

    @Test("codec errors describe themselves with the reason code")
    func errorDescription() throws {
        let error = try #require(S.decodeError([0x00, 0x00]))
        #expect(error.kind == .invalidPacketType)
        #expect(error.reasonCode == .malformedPacket)
        #expect(error.description.contains("Malformed Packet (0x81)"))
        #expect(!error.message.isEmpty)
        let tooLarge = try #require(S.decodeError([0x30, 0x7F], maximumPacketSize: 10))
        #expect(tooLarge.description.contains("Packet too large (0x95)"))
    }
}
