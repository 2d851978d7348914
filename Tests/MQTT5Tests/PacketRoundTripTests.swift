import MQTT5
import NIOCore
import Testing

@Suite("Packet round trips")
struct PacketRoundTripTests {
    typealias S = MQTT5TestSupport

    @Test("every sample packet round trips", arguments: MQTT5TestSupport.samplePackets)
    func roundTrip(packet: MQTTPacket) throws {
        let decoded = try S.roundTrip(packet)
        #expect(decoded == packet)
        #expect(decoded.packetType == packet.packetType)
        // Encoding is canonical: re-encoding gives the same bytes.
        #expect(try S.encode(decoded) == S.encode(packet))
    }

    @Test("the samples cover every packet type")
    func coverage() {
        let types = Set(S.samplePackets.map(\.packetType))
        #expect(types == Set(MQTTPacketType.allCases))
    }

    @Test("several packets in one buffer decode in order")
    func streamOfPackets() throws {
        var buffer = ByteBuffer()
        for packet in S.samplePackets {
            try S.encoder.encode(packet, into: &buffer)
        }
        var decoded: [MQTTPacket] = []
        while let packet = try S.decoder.decode(buffer: &buffer) {
            decoded.append(packet)
        }
        #expect(decoded == S.samplePackets)
        #expect(buffer.readableBytes == 0)
    }

    @Test("PUBACK, PUBREC, PUBREL and PUBCOMP accept all three lengths", arguments: [
        (0x40, MQTTPacketType.puback), (0x50, .pubrec), (0x62, .pubrel), (0x70, .pubcomp),
    ] as [(UInt8, MQTTPacketType)])
    func ackForms(first: UInt8, type: MQTTPacketType) throws {
        let short = try S.decode([first, 2, 0x12, 0x34])
        let withCode = try S.decode([first, 3, 0x12, 0x34, 0x00])
        let full = try S.decode([first, 4, 0x12, 0x34, 0x00, 0x00])
        #expect(short == withCode)
        #expect(short == full)
        #expect(short.packetType == type)
        // The encoder picks the shortest form.
        #expect(try S.encode(full) == [first, 2, 0x12, 0x34])

        let failure: UInt8 = type == .pubrel || type == .pubcomp ? 0x92 : 0x80
        let codeOnly = try S.decode([first, 3, 0x12, 0x34, failure])
        #expect(try S.encode(codeOnly) == [first, 3, 0x12, 0x34, failure])
        #expect(try S.decode([first, 4, 0x12, 0x34, failure, 0x00]) == codeOnly)
    }

    @Test("DISCONNECT and AUTH short forms")
    func disconnectAndAuthForms() throws {
        #expect(try S.decode([0xE0, 0]) == .disconnect(MQTTDisconnectPacket(reasonCode: .normalDisconnection)))
        #expect(try S.decode([0xE0, 1, 0x04]) == .disconnect(MQTTDisconnectPacket(reasonCode: .disconnectWithWillMessage)))
        #expect(try S.decode([0xE0, 2, 0x00, 0x00]) == .disconnect(MQTTDisconnectPacket()))
        #expect(try S.encode(.disconnect(MQTTDisconnectPacket())) == [0xE0, 0])
        #expect(try S.encode(.disconnect(MQTTDisconnectPacket(reasonCode: .serverBusy))) == [0xE0, 1, 0x89])

        #expect(try S.decode([0xF0, 0]) == .auth(MQTTAuthPacket()))
        #expect(try S.decode([0xF0, 2, 0x18, 0]) == .auth(MQTTAuthPacket(reasonCode: .continueAuthentication)))
        #expect(try S.decode([0xF0, 1, 0x19]) == .auth(MQTTAuthPacket(reasonCode: .reAuthenticate)))
        #expect(try S.encode(.auth(MQTTAuthPacket())) == [0xF0, 0])
        #expect(try S.encode(.auth(MQTTAuthPacket(reasonCode: .continueAuthentication))) == [0xF0, 2, 0x18, 0])
    }

    @Test("PUBLISH flags: every QoS with DUP and RETAIN")
    func publishFlags() throws {
        for qos in MQTTQoS.allCases {
            for retain in [false, true] {
                for dup in qos == .atMostOnce ? [false] : [false, true] {
                    let packet = MQTTPacket.publish(
                        MQTTPublishPacket(
                            topicName: "t",
                            payload: S.buffer("p"),
                            qos: qos,
                            packetIdentifier: qos == .atMostOnce ? nil : 77,
                            dup: dup,
                            retain: retain
                        )
                    )
                    let bytes = try S.encode(packet)
                    let expectedFirst: UInt8 = 0x30 | (dup ? 8 : 0) | (qos.rawValue << 1) | (retain ? 1 : 0)
                    #expect(bytes[0] == expectedFirst)
                    #expect(try S.roundTrip(packet) == packet)
                }
            }
        }
    }

    @Test("an empty PUBLISH payload and a large one")
    func publishPayloads() throws {
        let empty = MQTTPacket.publish(MQTTPublishPacket(topicName: "t"))
        #expect(try S.encode(empty) == [0x30, 4, 0, 1, 0x74, 0])
        let big = MQTTPacket.publish(MQTTPublishPacket(topicName: "t", payload: ByteBuffer(repeating: 1, count: 2_100_000)))
        let bytes = try S.encode(big)
        #expect(Array(bytes[1...4]) == S.varint(2_100_004))
        #expect(try S.roundTrip(big) == big)
    }

    @Test("CONNECT with every combination of will, user name and password")
    func connectCombinations() throws {
        for mask in 0..<8 {
            let packet = MQTTPacket.connect(
                MQTTConnectPacket(
                    clientIdentifier: "id-\(mask)",
                    cleanStart: mask & 1 == 0,
                    keepAlive: UInt16(mask),
                    username: mask & 1 != 0 ? "user" : nil,
                    password: mask & 2 != 0 ? S.buffer("pw") : nil,
                    will: mask & 4 != 0 ? MQTTWill(topic: "will", payload: S.buffer("bye"), qos: .atLeastOnce) : nil
                )
            )
            #expect(try S.roundTrip(packet) == packet)
        }
    }

    @Test("subscription options: every valid combination")
    func subscriptionOptions() throws {
        for qos in MQTTQoS.allCases {
            for handling in MQTTRetainHandling.allCases {
                for flags in 0..<4 {
                    let options = MQTTSubscriptionOptions(
                        maximumQoS: qos, noLocal: flags & 1 != 0, retainAsPublished: flags & 2 != 0, retainHandling: handling
                    )
                    let packet = MQTTPacket.subscribe(
                        MQTTSubscribePacket(packetIdentifier: 3, subscriptions: [MQTTSubscription(topicFilter: "x/#", options: options)])
                    )
                    let bytes = try S.encode(packet)
                    #expect(bytes.last == options.rawValue)
                    #expect(try S.roundTrip(packet) == packet)
                }
            }
        }
    }

    @Test("the decoder works inside NIO's single-step processor")
    func singleStepProcessor() throws {
        var all = ByteBuffer()
        for packet in S.samplePackets { try S.encoder.encode(packet, into: &all) }
        let processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder())
        var decoded: [MQTTPacket] = []
        // Feed in chunks of 7 bytes.
        while all.readableBytes > 0 {
            let chunk = all.readSlice(length: min(7, all.readableBytes))!
            try processor.process(buffer: chunk) { decoded.append($0) }
        }
        #expect(decoded == S.samplePackets)
    }

    @Test("the encoder works as NIO's MessageToByteEncoder")
    func messageToByteEncoder() throws {
        func encodeWith<Encoder: MessageToByteEncoder>(_ encoder: Encoder, _ data: Encoder.OutboundIn) throws -> ByteBuffer {
            var out = ByteBuffer()
            try encoder.encode(data: data, out: &out)
            return out
        }
        #expect(S.bytes(try encodeWith(MQTTPacketEncoder(), .pingreq)) == [0xC0, 0x00])
        #expect(throws: MQTTCodecError.self) {
            try encodeWith(MQTTPacketEncoder(maximumPacketSize: 3), .publish(MQTTPublishPacket(topicName: "long")))
        }
    }
}
