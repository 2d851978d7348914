import MQTT5
import NIOCore
import Testing

@Suite("Encoder validation and limits")
struct EncoderValidationTests {
    typealias S = MQTT5TestSupport

    @Test("a packet larger than the peer's Maximum Packet Size is refused, nothing written")
    func peerMaximum() throws {
        let packet = MQTTPacket.publish(MQTTPublishPacket(topicName: "t", payload: ByteBuffer(repeating: 0, count: 100)))
        let size = try S.encoder.encodedSize(of: packet)
        #expect(size == 106)
        let error = S.encodeError(packet, maximumPacketSize: size - 1)
        #expect(error?.kind == .packetTooLarge)
        #expect(error?.reasonCode == .packetTooLarge)
        #expect(S.encodeError(packet, maximumPacketSize: size) == nil)

        // Appending keeps what was in the buffer.
        var out = S.buffer([0xAA])
        #expect(throws: MQTTCodecError.self) {
            try MQTTPacketEncoder(maximumPacketSize: 50).encode(packet, into: &out)
        }
        #expect(S.bytes(out) == [0xAA])
        try MQTTPacketEncoder(maximumPacketSize: 200).encode(packet, into: &out)
        #expect(out.readableBytes == 1 + size)
    }

    @Test("Remaining Length lengths: 1 to 4 bytes at the boundaries")
    func remainingLengthBoundaries() throws {
        // PUBLISH "t" QoS 0, no properties: remaining = 4 + payload.
        for (payload, lengthBytes) in [(123, 1), (124, 2), (16_379, 2), (16_380, 3), (2_097_147, 3), (2_097_148, 4)] {
            let packet = MQTTPacket.publish(MQTTPublishPacket(topicName: "t", payload: ByteBuffer(repeating: 0, count: payload)))
            let size = try S.encoder.encodedSize(of: packet)
            #expect(size == 1 + lengthBytes + 4 + payload, "payload \(payload)")
            var buffer = try S.encoder.encode(packet)
            #expect(buffer.readableBytes == size)
            #expect(try S.decoder.decode(buffer: &buffer) == packet)
        }
    }

    @Test("PUBLISH QoS, Packet Identifier, DUP and topic rules")
    func publishRules() {
        let cases: [(MQTTPublishPacket, MQTTCodecError.Kind)] = [
            (MQTTPublishPacket(topicName: "t", packetIdentifier: 1), .invalidPacketIdentifier),
            (MQTTPublishPacket(topicName: "t", qos: .atLeastOnce), .invalidPacketIdentifier),
            (MQTTPublishPacket(topicName: "t", qos: .exactlyOnce, packetIdentifier: 0), .invalidPacketIdentifier),
            (MQTTPublishPacket(topicName: "t", dup: true), .invalidDupFlag),
            (MQTTPublishPacket(topicName: "a/+"), .invalidTopicName),
            (MQTTPublishPacket(topicName: "#"), .invalidTopicName),
            (MQTTPublishPacket(topicName: ""), .invalidTopicName),
        ]
        for (publish, kind) in cases {
            #expect(S.encodeError(.publish(publish))?.kind == kind, "\(publish)")
        }
    }

    @Test("other packet rules")
    func otherRules() {
        let cases: [(MQTTPacket, MQTTCodecError.Kind)] = [
            (.connect(MQTTConnectPacket(clientIdentifier: "c", will: MQTTWill(topic: "w/#", payload: ByteBuffer()))), .invalidTopicName),
            (.connect(MQTTConnectPacket(clientIdentifier: "c", will: MQTTWill(topic: "", payload: ByteBuffer()))), .invalidTopicName),
            (.connack(MQTTConnAckPacket(sessionPresent: true, reasonCode: .serverBusy)), .invalidConnackFlags),
            (.puback(MQTTPubAckPacket(packetIdentifier: 0)), .invalidPacketIdentifier),
            (.subscribe(MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [])), .emptyPayload),
            (.subscribe(MQTTSubscribePacket(packetIdentifier: 0, subscriptions: [MQTTSubscription(topicFilter: "a")])), .invalidPacketIdentifier),
            (
                .subscribe(
                    MQTTSubscribePacket(
                        packetIdentifier: 1,
                        subscriptions: [MQTTSubscription(topicFilter: "$share/g/a", options: MQTTSubscriptionOptions(noLocal: true))]
                    )
                ), .invalidSubscriptionOptions
            ),
            (.suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [])), .emptyPayload),
            (.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 1, topicFilters: [])), .emptyPayload),
            (.unsuback(MQTTUnsubAckPacket(packetIdentifier: 1, reasonCodes: [])), .emptyPayload),
            (.disconnect(MQTTDisconnectPacket(reasonCode: .grantedQoS1)), .invalidReasonCode),
        ]
        for (packet, kind) in cases {
            #expect(S.encodeError(packet)?.kind == kind, "\(packet)")
        }
    }

    @Test("a packet whose Remaining Length would exceed 268,435,455 is refused")
    func beyondProtocolMaximum() throws {
        // PUBLISH "t" QoS 0: Remaining Length = 2 + 1 + 1 + payload.
        let payload = ByteBuffer(repeating: 0, count: 268_435_452)
        let packet = MQTTPacket.publish(MQTTPublishPacket(topicName: "t", payload: payload))
        let error = S.encodeError(packet)
        #expect(error?.kind == .packetTooLarge)
        #expect(error?.reasonCode == .packetTooLarge)
        // One byte less fits the protocol, but not a smaller peer maximum.
        let fits = MQTTPacket.publish(MQTTPublishPacket(topicName: "t", payload: payload.getSlice(at: 0, length: 268_435_451)!))
        #expect(try S.encoder.encodedSize(of: fits) == MQTTPacketDecoder.protocolMaximumPacketSize)
        #expect(S.encodeError(fits, maximumPacketSize: 1_000_000)?.kind == .packetTooLarge)
    }
}
