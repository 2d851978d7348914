import MQTT5
import NIOCore
import Testing

/// Byte-exact encodings written by hand from the packet layouts of chapter 3.
@Suite("Byte-exact spec examples")
struct SpecExampleTests {
    typealias S = MQTT5TestSupport

    func check(_ packet: MQTTPacket, _ expected: [UInt8]) throws {
        #expect(try S.encode(packet) == expected)
        #expect(try S.decode(expected) == packet)
    }

    @Test("CONNECT with user name, password and Session Expiry Interval (§3.1)")
    func connect() throws {
        let expected: [UInt8] = [
            0x10, 30,  // CONNECT, Remaining Length
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54,  // "MQTT"
            0x05,  // Protocol Version
            0xC2,  // User Name, Password, Clean Start
            0x00, 0x3C,  // Keep Alive 60
            0x05, 0x11, 0x00, 0x00, 0x0E, 0x10,  // Properties: Session Expiry Interval 3600
            0x00, 0x06, 0x73, 0x6C, 0x75, 0x69, 0x63, 0x65,  // Client Identifier "sluice"
            0x00, 0x01, 0x75,  // User Name "u"
            0x00, 0x01, 0x70,  // Password "p"
        ]
        let packet = MQTTPacket.connect(
            MQTTConnectPacket(
                clientIdentifier: "sluice",
                cleanStart: true,
                keepAlive: 60,
                username: "u",
                password: S.buffer("p"),
                properties: MQTTProperties(sessionExpiryInterval: 3600)
            )
        )
        try check(packet, expected)
    }

    @Test("CONNECT with a QoS 1 retained will and Will Delay Interval (§3.1.2.5, §3.1.3.2)")
    func connectWithWill() throws {
        let expected: [UInt8] = [
            0x10, 30,
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05,
            0x2E,  // Will Retain, Will QoS 1, Will Flag, Clean Start
            0x00, 0x0A,  // Keep Alive 10
            0x00,  // no properties
            0x00, 0x01, 0x63,  // Client Identifier "c"
            0x05, 0x18, 0x00, 0x00, 0x00, 0x05,  // Will Properties: Will Delay Interval 5
            0x00, 0x03, 0x77, 0x2F, 0x74,  // Will Topic "w/t"
            0x00, 0x03, 0x62, 0x79, 0x65,  // Will Payload "bye"
        ]
        let packet = MQTTPacket.connect(
            MQTTConnectPacket(
                clientIdentifier: "c",
                keepAlive: 10,
                will: MQTTWill(
                    topic: "w/t",
                    payload: S.buffer("bye"),
                    qos: .atLeastOnce,
                    retain: true,
                    properties: MQTTProperties(willDelayInterval: 5)
                )
            )
        )
        try check(packet, expected)
    }

    @Test("CONNACK with Session Present and properties (§3.2)")
    func connack() throws {
        try check(.connack(MQTTConnAckPacket()), [0x20, 0x03, 0x00, 0x00, 0x00])
        let expected: [UInt8] = [
            0x20, 0x0A,
            0x01,  // Session Present
            0x00,  // Success
            0x07, 0x21, 0x00, 0x14, 0x24, 0x01, 0x25, 0x00,  // Receive Maximum 20, Maximum QoS 1, Retain Available 0
        ]
        let packet = MQTTPacket.connack(
            MQTTConnAckPacket(
                sessionPresent: true,
                properties: MQTTProperties(receiveMaximum: 20, maximumQoS: .atLeastOnce, retainAvailable: false)
            )
        )
        try check(packet, expected)
    }

    @Test("PUBLISH QoS 1 with properties (§3.3)")
    func publishQoS1() throws {
        let expected: [UInt8] = [
            0x33, 24,  // PUBLISH, QoS 1, RETAIN
            0x00, 0x03, 0x61, 0x2F, 0x62,  // Topic Name "a/b"
            0x00, 0x0A,  // Packet Identifier 10
            14,  // Property Length
            0x01, 0x01,  // Payload Format Indicator: UTF-8
            0x02, 0x00, 0x00, 0x00, 0x3C,  // Message Expiry Interval 60
            0x26, 0x00, 0x01, 0x6B, 0x00, 0x01, 0x76,  // User Property k=v
            0x68, 0x69,  // payload "hi"
        ]
        let packet = MQTTPacket.publish(
            MQTTPublishPacket(
                topicName: "a/b",
                payload: S.buffer("hi"),
                qos: .atLeastOnce,
                packetIdentifier: 10,
                retain: true,
                properties: MQTTProperties(
                    payloadFormatIndicator: .utf8,
                    messageExpiryInterval: 60,
                    userProperties: [MQTTUserProperty(name: "k", value: "v")]
                )
            )
        )
        try check(packet, expected)
    }

    @Test("PUBLISH QoS 0 with a Topic Alias and an empty Topic Name (§3.3.2.3.4)")
    func publishTopicAlias() throws {
        let expected: [UInt8] = [0x30, 0x08, 0x00, 0x00, 0x03, 0x23, 0x00, 0x02, 0x6F, 0x6B]
        let packet = MQTTPacket.publish(
            MQTTPublishPacket(topicName: "", payload: S.buffer("ok"), properties: MQTTProperties(topicAlias: 2))
        )
        try check(packet, expected)
    }

    @Test("PUBACK short forms (§3.4.2.1)")
    func puback() throws {
        try check(.puback(MQTTPubAckPacket(packetIdentifier: 42)), [0x40, 0x02, 0x00, 0x2A])
        try check(.puback(MQTTPubAckPacket(packetIdentifier: 42, reasonCode: .noMatchingSubscribers)), [0x40, 0x03, 0x00, 0x2A, 0x10])
        try check(
            .pubrel(MQTTPubAckPacket(packetIdentifier: 42, properties: MQTTProperties(reasonString: "x"))),
            [0x62, 0x08, 0x00, 0x2A, 0x00, 0x04, 0x1F, 0x00, 0x01, 0x78]
        )
    }

    @Test("SUBSCRIBE with options and a Subscription Identifier (§3.8)")
    func subscribe() throws {
        let expected: [UInt8] = [
            0x82, 11,
            0x00, 0x01,  // Packet Identifier 1
            0x02, 0x0B, 0x05,  // Subscription Identifier 5
            0x00, 0x03, 0x61, 0x2F, 0x2B,  // "a/+"
            0x2D,  // QoS 1, No Local, Retain As Published, Retain Handling 2
        ]
        let packet = MQTTPacket.subscribe(
            MQTTSubscribePacket(
                packetIdentifier: 1,
                subscriptions: [
                    MQTTSubscription(
                        topicFilter: "a/+",
                        options: MQTTSubscriptionOptions(maximumQoS: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend)
                    )
                ],
                properties: MQTTProperties(subscriptionIdentifiers: [5])
            )
        )
        try check(packet, expected)
    }

    @Test("SUBACK (§3.9)")
    func suback() throws {
        let expected: [UInt8] = [0x90, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x80]
        try check(.suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS0, .grantedQoS1, .unspecifiedError])), expected)
    }

    @Test("UNSUBSCRIBE and UNSUBACK (§3.10, §3.11)")
    func unsubscribe() throws {
        try check(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 2, topicFilters: ["#"])), [0xA2, 0x06, 0x00, 0x02, 0x00, 0x00, 0x01, 0x23])
        try check(.unsuback(MQTTUnsubAckPacket(packetIdentifier: 2, reasonCodes: [.noSubscriptionExisted])), [0xB0, 0x04, 0x00, 0x02, 0x00, 0x11])
    }

    @Test("PINGREQ, PINGRESP, DISCONNECT, AUTH (§3.12–§3.15)")
    func small() throws {
        try check(.pingreq, [0xC0, 0x00])
        try check(.pingresp, [0xD0, 0x00])
        try check(.disconnect(MQTTDisconnectPacket()), [0xE0, 0x00])
        try check(
            .disconnect(MQTTDisconnectPacket(reasonCode: .sessionTakenOver, properties: MQTTProperties(sessionExpiryInterval: 0))),
            [0xE0, 0x07, 0x8E, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00]
        )
        try check(.auth(MQTTAuthPacket()), [0xF0, 0x00])
        try check(
            .auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: MQTTProperties(authenticationMethod: "M", authenticationData: S.buffer([9])))),
            [0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x01, 0x4D, 0x16, 0x00, 0x01, 0x09]
        )
    }
}
