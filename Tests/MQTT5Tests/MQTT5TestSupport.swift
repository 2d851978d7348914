import MQTT5
import NIOCore
import Testing

/// Shared helpers for the MQTT5 codec tests.
enum MQTT5TestSupport {
    static let decoder = MQTTPacketDecoder()
    static let encoder = MQTTPacketEncoder()

    static func buffer(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: bytes)
    }

    static func buffer(_ string: String) -> ByteBuffer {
        ByteBuffer(string: string)
    }

    static func bytes(_ buffer: ByteBuffer) -> [UInt8] {
        Array(buffer.readableBytesView)
    }

    static func encode(_ packet: MQTTPacket) throws -> [UInt8] {
        bytes(try encoder.encode(packet))
    }

    /// Encodes, decodes and checks the whole buffer was consumed; returns the decoded packet.
    static func roundTrip(_ packet: MQTTPacket) throws -> MQTTPacket {
        var buffer = try encoder.encode(packet)
        let size = buffer.readableBytes
        #expect(try encoder.encodedSize(of: packet) == size)
        let decoded = try decoder.decode(buffer: &buffer)
        #expect(buffer.readableBytes == 0)
        return try #require(decoded)
    }

    /// Decodes `bytes` as one complete packet.
    static func decode(_ bytes: [UInt8], maximumPacketSize: Int = MQTTPacketDecoder.protocolMaximumPacketSize) throws -> MQTTPacket {
        try MQTTPacketDecoder(maximumPacketSize: maximumPacketSize).decodeComplete(buffer(bytes))
    }

    /// The error decoding `bytes` raises, or nil if it decodes (or needs more bytes).
    static func decodeError(
        _ bytes: [UInt8],
        maximumPacketSize: Int = MQTTPacketDecoder.protocolMaximumPacketSize
    ) -> MQTTCodecError? {
        var input = buffer(bytes)
        do {
            _ = try MQTTPacketDecoder(maximumPacketSize: maximumPacketSize).decode(buffer: &input)
            return nil
        } catch {
            #expect(input.readerIndex == 0, "reader index must not move on error")
            return error
        }
    }

    static func encodeError(_ packet: MQTTPacket, maximumPacketSize: Int = MQTTPacketDecoder.protocolMaximumPacketSize) -> MQTTCodecError? {
        var out = ByteBuffer()
        do {
            try MQTTPacketEncoder(maximumPacketSize: maximumPacketSize).encode(packet, into: &out)
            return nil
        } catch {
            #expect(out.readableBytes == 0, "nothing may be written on error")
            return error
        }
    }

    // MARK: Raw byte builders

    /// A length-prefixed UTF-8 string.
    static func str(_ string: String) -> [UInt8] {
        let utf8 = Array(string.utf8)
        return [UInt8(utf8.count >> 8), UInt8(utf8.count & 0xFF)] + utf8
    }

    /// Length-prefixed raw bytes (a string field with arbitrary content, or binary data).
    static func raw(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }

    static func varint(_ value: Int) -> [UInt8] {
        var buffer = ByteBuffer()
        try! MQTTVariableByteInteger.write(UInt32(value), to: &buffer)
        return bytes(buffer)
    }

    /// A packet with first byte `first` and body `body`, with a correct Remaining Length.
    static func packet(_ first: UInt8, _ body: [UInt8]) -> [UInt8] {
        [first] + varint(body.count) + body
    }

    /// A property section: Property Length then `content`.
    static func props(_ content: [UInt8]) -> [UInt8] {
        varint(content.count) + content
    }

    /// A minimal, otherwise valid packet whose property section (for `context`) holds
    /// `propertyContent` verbatim.
    static func rawPacket(context: MQTTPropertyContext, propertyContent: [UInt8]) -> [UInt8] {
        let p = props(propertyContent)
        switch context {
        case .connect:
            return packet(0x10, str("MQTT") + [5, 0x02, 0, 60] + p + str("client"))
        case .will:
            return packet(0x10, str("MQTT") + [5, 0x06, 0, 60] + props([]) + str("client") + p + str("will/topic") + raw([1, 2]))
        case .connack:
            return packet(0x20, [0, 0] + p)
        case .publish:
            return packet(0x32, str("a/b") + [0, 1] + p + [0xAA])
        case .puback:
            return packet(0x40, [0, 1, 0] + p)
        case .pubrec:
            return packet(0x50, [0, 1, 0] + p)
        case .pubrel:
            return packet(0x62, [0, 1, 0] + p)
        case .pubcomp:
            return packet(0x70, [0, 1, 0] + p)
        case .subscribe:
            return packet(0x82, [0, 1] + p + str("a/#") + [1])
        case .suback:
            return packet(0x90, [0, 1] + p + [0])
        case .unsubscribe:
            return packet(0xA2, [0, 1] + p + str("a/#"))
        case .unsuback:
            return packet(0xB0, [0, 1] + p + [0])
        case .disconnect:
            return packet(0xE0, [0] + p)
        case .auth:
            return packet(0xF0, [0x18] + p)
        }
    }

    /// One encoded property with a valid sample value.
    static func rawProperty(_ identifier: MQTTPropertyIdentifier) -> [UInt8] {
        let id = identifier.rawValue
        switch identifier {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
            .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
            .sharedSubscriptionAvailable:
            return [id, 1]
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
            return [id, 0, 0, 1, 0]
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
            return [id, 0, 10]
        case .contentType, .responseTopic, .assignedClientIdentifier, .authenticationMethod,
            .responseInformation, .serverReference, .reasonString:
            return [id] + str("text")
        case .correlationData, .authenticationData:
            return [id] + raw([1, 2, 3])
        case .subscriptionIdentifier:
            return [id] + varint(200)
        case .userProperty:
            return [id] + str("k") + str("v")
        }
    }

    /// A property section that needs an extra property to be valid (Authentication Data
    /// needs an Authentication Method).
    static func rawPropertyWithPrerequisites(_ identifier: MQTTPropertyIdentifier) -> [UInt8] {
        if identifier == .authenticationData {
            return rawProperty(.authenticationMethod) + rawProperty(.authenticationData)
        }
        return rawProperty(identifier)
    }

    // MARK: Sample values

    static func fullProperties(_ context: MQTTPropertyContext) -> MQTTProperties {
        var p = MQTTProperties()
        for identifier in MQTTPropertyIdentifier.allCases where identifier.isAllowed(in: context) {
            setSample(identifier, in: &p, context: context)
        }
        return p
    }

    /// Properties holding only `identifier` (plus Authentication Method for Authentication Data).
    static func singleProperty(_ identifier: MQTTPropertyIdentifier, context: MQTTPropertyContext) -> MQTTProperties {
        var p = MQTTProperties()
        if identifier == .authenticationData { setSample(.authenticationMethod, in: &p, context: context) }
        setSample(identifier, in: &p, context: context)
        return p
    }

    static func setSample(_ identifier: MQTTPropertyIdentifier, in p: inout MQTTProperties, context: MQTTPropertyContext) {
        switch identifier {
        case .payloadFormatIndicator: p.payloadFormatIndicator = .utf8
        case .messageExpiryInterval: p.messageExpiryInterval = 3600
        case .contentType: p.contentType = "application/json"
        case .responseTopic: p.responseTopic = "reply/to/me"
        case .correlationData: p.correlationData = buffer([0xDE, 0xAD, 0xBE, 0xEF])
        case .subscriptionIdentifier:
            p.subscriptionIdentifiers = context == .publish ? [1, 300, 268_435_455] : [16_384]
        case .sessionExpiryInterval: p.sessionExpiryInterval = 0xFFFF_FFFF
        case .assignedClientIdentifier: p.assignedClientIdentifier = "auto-ÄÖÜ-1"
        case .serverKeepAlive: p.serverKeepAlive = 120
        case .authenticationMethod: p.authenticationMethod = "SCRAM-SHA-256"
        case .authenticationData: p.authenticationData = buffer([0, 1, 2, 0xFF])
        case .requestProblemInformation: p.requestProblemInformation = false
        case .willDelayInterval: p.willDelayInterval = 30
        case .requestResponseInformation: p.requestResponseInformation = true
        case .responseInformation: p.responseInformation = "responses/"
        case .serverReference: p.serverReference = "other.example:1883"
        case .reasonString: p.reasonString = "because 🦆"
        case .receiveMaximum: p.receiveMaximum = 65_535
        case .topicAliasMaximum: p.topicAliasMaximum = 10
        case .topicAlias: p.topicAlias = 7
        case .maximumQoS: p.maximumQoS = .atLeastOnce
        case .retainAvailable: p.retainAvailable = false
        case .userProperty:
            p.userProperties = [
                MQTTUserProperty(name: "region", value: "eu"),
                MQTTUserProperty(name: "region", value: "us"),
                MQTTUserProperty(name: "", value: ""),
                MQTTUserProperty(name: "ключ", value: "значение"),
            ]
        case .maximumPacketSize: p.maximumPacketSize = 1_048_576
        case .wildcardSubscriptionAvailable: p.wildcardSubscriptionAvailable = true
        case .subscriptionIdentifierAvailable: p.subscriptionIdentifierAvailable = false
        case .sharedSubscriptionAvailable: p.sharedSubscriptionAvailable = true
        }
    }

    /// Packets of every type, with and without their optional parts.
    static let samplePackets: [MQTTPacket] = {
        var packets: [MQTTPacket] = []
        // CONNECT
        packets.append(.connect(MQTTConnectPacket(clientIdentifier: "")))
        packets.append(.connect(MQTTConnectPacket(clientIdentifier: "c1", cleanStart: false, keepAlive: 0)))
        packets.append(.connect(MQTTConnectPacket(clientIdentifier: "c2", username: "user")))
        packets.append(.connect(MQTTConnectPacket(clientIdentifier: "c3", password: buffer("secret"))))
        packets.append(
            .connect(
                MQTTConnectPacket(
                    clientIdentifier: "sluice-gateway-1",
                    cleanStart: true,
                    keepAlive: 65_535,
                    username: "ünïcödé",
                    password: buffer([0, 1, 2, 255]),
                    will: MQTTWill(
                        topic: "clients/sluice/status",
                        payload: buffer("offline"),
                        qos: .exactlyOnce,
                        retain: true,
                        properties: fullProperties(.will)
                    ),
                    properties: fullProperties(.connect)
                )
            )
        )
        for qos in MQTTQoS.allCases {
            packets.append(
                .connect(
                    MQTTConnectPacket(
                        clientIdentifier: "w",
                        will: MQTTWill(topic: "w/t", payload: ByteBuffer(), qos: qos, retain: qos == .atLeastOnce)
                    )
                )
            )
        }
        // CONNACK
        packets.append(.connack(MQTTConnAckPacket()))
        packets.append(.connack(MQTTConnAckPacket(sessionPresent: true)))
        packets.append(.connack(MQTTConnAckPacket(reasonCode: .notAuthorized)))
        packets.append(.connack(MQTTConnAckPacket(sessionPresent: true, properties: fullProperties(.connack))))
        // PUBLISH
        packets.append(.publish(MQTTPublishPacket(topicName: "a")))
        packets.append(.publish(MQTTPublishPacket(topicName: "a/b", payload: buffer("hello"), retain: true)))
        packets.append(
            .publish(MQTTPublishPacket(topicName: "a/b", payload: buffer("q1"), qos: .atLeastOnce, packetIdentifier: 1))
        )
        packets.append(
            .publish(
                MQTTPublishPacket(
                    topicName: "sensors/温度",
                    payload: buffer([UInt8](repeating: 0x5A, count: 300)),
                    qos: .exactlyOnce,
                    packetIdentifier: 65_535,
                    dup: true,
                    retain: true,
                    properties: fullProperties(.publish)
                )
            )
        )
        packets.append(
            .publish(
                MQTTPublishPacket(
                    topicName: "",
                    payload: buffer("aliased"),
                    qos: .atLeastOnce,
                    packetIdentifier: 9,
                    dup: true,
                    properties: MQTTProperties(topicAlias: 3)
                )
            )
        )
        // PUBACK family: short forms and full forms.
        let ackForms: [MQTTPubAckPacket] = [
            MQTTPubAckPacket(packetIdentifier: 1),
            MQTTPubAckPacket(packetIdentifier: 2, properties: MQTTProperties(reasonString: "ok")),
        ]
        for ack in ackForms {
            packets.append(.puback(ack))
            packets.append(.pubrec(ack))
            packets.append(.pubrel(ack))
            packets.append(.pubcomp(ack))
        }
        packets.append(.puback(MQTTPubAckPacket(packetIdentifier: 3, reasonCode: .noMatchingSubscribers)))
        packets.append(.puback(MQTTPubAckPacket(packetIdentifier: 4, reasonCode: .quotaExceeded, properties: fullProperties(.puback))))
        packets.append(.pubrec(MQTTPubAckPacket(packetIdentifier: 5, reasonCode: .payloadFormatInvalid, properties: fullProperties(.pubrec))))
        packets.append(.pubrel(MQTTPubAckPacket(packetIdentifier: 6, reasonCode: .packetIdentifierNotFound)))
        packets.append(.pubrel(MQTTPubAckPacket(packetIdentifier: 6, properties: fullProperties(.pubrel))))
        packets.append(.pubcomp(MQTTPubAckPacket(packetIdentifier: 7, reasonCode: .packetIdentifierNotFound, properties: fullProperties(.pubcomp))))
        // SUBSCRIBE
        packets.append(.subscribe(MQTTSubscribePacket(packetIdentifier: 10, subscriptions: [MQTTSubscription(topicFilter: "a/+")])))
        packets.append(
            .subscribe(
                MQTTSubscribePacket(
                    packetIdentifier: 11,
                    subscriptions: [
                        MQTTSubscription(
                            topicFilter: "a/#",
                            options: MQTTSubscriptionOptions(
                                maximumQoS: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend
                            )
                        ),
                        MQTTSubscription(
                            topicFilter: "$share/group/b/+/c",
                            options: MQTTSubscriptionOptions(maximumQoS: .atLeastOnce, retainHandling: .sendOnSubscribeIfNew)
                        ),
                        MQTTSubscription(topicFilter: "#"),
                    ],
                    properties: fullProperties(.subscribe)
                )
            )
        )
        // SUBACK
        packets.append(.suback(MQTTSubAckPacket(packetIdentifier: 10, reasonCodes: [.grantedQoS0])))
        packets.append(
            .suback(
                MQTTSubAckPacket(
                    packetIdentifier: 11,
                    reasonCodes: [.grantedQoS2, .grantedQoS1, .notAuthorized, .wildcardSubscriptionsNotSupported],
                    properties: fullProperties(.suback)
                )
            )
        )
        // UNSUBSCRIBE / UNSUBACK
        packets.append(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 12, topicFilters: ["a/+"])))
        packets.append(
            .unsubscribe(
                MQTTUnsubscribePacket(packetIdentifier: 13, topicFilters: ["a/#", "b", "$share/g/c"], properties: fullProperties(.unsubscribe))
            )
        )
        packets.append(.unsuback(MQTTUnsubAckPacket(packetIdentifier: 12, reasonCodes: [.success])))
        packets.append(
            .unsuback(
                MQTTUnsubAckPacket(
                    packetIdentifier: 13,
                    reasonCodes: [.success, .noSubscriptionExisted, .topicFilterInvalid],
                    properties: fullProperties(.unsuback)
                )
            )
        )
        // PING
        packets.append(.pingreq)
        packets.append(.pingresp)
        // DISCONNECT
        packets.append(.disconnect(MQTTDisconnectPacket()))
        packets.append(.disconnect(MQTTDisconnectPacket(reasonCode: .disconnectWithWillMessage)))
        packets.append(.disconnect(MQTTDisconnectPacket(reasonCode: .serverMoved, properties: fullProperties(.disconnect))))
        packets.append(.disconnect(MQTTDisconnectPacket(properties: MQTTProperties(sessionExpiryInterval: 0))))
        // AUTH
        packets.append(.auth(MQTTAuthPacket()))
        packets.append(.auth(MQTTAuthPacket(reasonCode: .continueAuthentication)))
        packets.append(.auth(MQTTAuthPacket(reasonCode: .reAuthenticate, properties: fullProperties(.auth))))
        return packets
    }()
}

/// A small deterministic PRNG (SplitMix64) so randomized tests are reproducible.
struct MQTT5SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
