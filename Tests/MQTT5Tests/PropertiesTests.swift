import MQTT5
import NIOCore
import Testing

@Suite("Properties (§2.2.2)")
struct PropertiesTests {
    typealias S = MQTT5TestSupport

    /// The table of §2.2.2.2, written out independently of the codec.
    static let specTable: [MQTTPropertyIdentifier: Set<MQTTPropertyContext>] = [
        .payloadFormatIndicator: [.publish, .will],
        .messageExpiryInterval: [.publish, .will],
        .contentType: [.publish, .will],
        .responseTopic: [.publish, .will],
        .correlationData: [.publish, .will],
        .subscriptionIdentifier: [.publish, .subscribe],
        .sessionExpiryInterval: [.connect, .connack, .disconnect],
        .assignedClientIdentifier: [.connack],
        .serverKeepAlive: [.connack],
        .authenticationMethod: [.connect, .connack, .auth],
        .authenticationData: [.connect, .connack, .auth],
        .requestProblemInformation: [.connect],
        .willDelayInterval: [.will],
        .requestResponseInformation: [.connect],
        .responseInformation: [.connack],
        .serverReference: [.connack, .disconnect],
        .reasonString: [.connack, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback, .disconnect, .auth],
        .receiveMaximum: [.connect, .connack],
        .topicAliasMaximum: [.connect, .connack],
        .topicAlias: [.publish],
        .maximumQoS: [.connack],
        .retainAvailable: [.connack],
        .userProperty: Set(MQTTPropertyContext.allCases),
        .maximumPacketSize: [.connect, .connack],
        .wildcardSubscriptionAvailable: [.connack],
        .subscriptionIdentifierAvailable: [.connack],
        .sharedSubscriptionAvailable: [.connack],
    ]

    static let identifierValues: [(MQTTPropertyIdentifier, UInt8)] = [
        (.payloadFormatIndicator, 0x01), (.messageExpiryInterval, 0x02), (.contentType, 0x03),
        (.responseTopic, 0x08), (.correlationData, 0x09), (.subscriptionIdentifier, 0x0B),
        (.sessionExpiryInterval, 0x11), (.assignedClientIdentifier, 0x12), (.serverKeepAlive, 0x13),
        (.authenticationMethod, 0x15), (.authenticationData, 0x16), (.requestProblemInformation, 0x17),
        (.willDelayInterval, 0x18), (.requestResponseInformation, 0x19), (.responseInformation, 0x1A),
        (.serverReference, 0x1C), (.reasonString, 0x1F), (.receiveMaximum, 0x21), (.topicAliasMaximum, 0x22),
        (.topicAlias, 0x23), (.maximumQoS, 0x24), (.retainAvailable, 0x25), (.userProperty, 0x26),
        (.maximumPacketSize, 0x27), (.wildcardSubscriptionAvailable, 0x28), (.subscriptionIdentifierAvailable, 0x29),
        (.sharedSubscriptionAvailable, 0x2A),
    ]

    static var allPairs: [(MQTTPropertyContext, MQTTPropertyIdentifier)] {
        MQTTPropertyContext.allCases.flatMap { context in MQTTPropertyIdentifier.allCases.map { (context, $0) } }
    }

    static var allowedPairs: [(MQTTPropertyContext, MQTTPropertyIdentifier)] {
        allPairs.filter { specTable[$0.1]!.contains($0.0) }
    }

    static var forbiddenPairs: [(MQTTPropertyContext, MQTTPropertyIdentifier)] {
        allPairs.filter { !specTable[$0.1]!.contains($0.0) }
    }

    /// A packet of `context`'s kind carrying `properties` in that section.
    static func packet(_ context: MQTTPropertyContext, _ properties: MQTTProperties) -> MQTTPacket {
        switch context {
        case .connect: return .connect(MQTTConnectPacket(clientIdentifier: "c", properties: properties))
        case .will:
            return .connect(MQTTConnectPacket(clientIdentifier: "c", will: MQTTWill(topic: "w", payload: ByteBuffer(), properties: properties)))
        case .connack: return .connack(MQTTConnAckPacket(properties: properties))
        case .publish: return .publish(MQTTPublishPacket(topicName: "t", qos: .atLeastOnce, packetIdentifier: 1, properties: properties))
        case .puback: return .puback(MQTTPubAckPacket(packetIdentifier: 1, properties: properties))
        case .pubrec: return .pubrec(MQTTPubAckPacket(packetIdentifier: 1, properties: properties))
        case .pubrel: return .pubrel(MQTTPubAckPacket(packetIdentifier: 1, properties: properties))
        case .pubcomp: return .pubcomp(MQTTPubAckPacket(packetIdentifier: 1, properties: properties))
        case .subscribe:
            return .subscribe(MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: "t")], properties: properties))
        case .suback: return .suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.success], properties: properties))
        case .unsubscribe: return .unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 1, topicFilters: ["t"], properties: properties))
        case .unsuback: return .unsuback(MQTTUnsubAckPacket(packetIdentifier: 1, reasonCodes: [.success], properties: properties))
        case .disconnect: return .disconnect(MQTTDisconnectPacket(properties: properties))
        case .auth: return .auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: properties))
        }
    }

    static func properties(of packet: MQTTPacket, _ context: MQTTPropertyContext) -> MQTTProperties? {
        switch packet {
        case .connect(let p): return context == .will ? p.will?.properties : p.properties
        case .connack(let p): return p.properties
        case .publish(let p): return p.properties
        case .puback(let p), .pubrec(let p), .pubrel(let p), .pubcomp(let p): return p.properties
        case .subscribe(let p): return p.properties
        case .suback(let p): return p.properties
        case .unsubscribe(let p): return p.properties
        case .unsuback(let p): return p.properties
        case .disconnect(let p): return p.properties
        case .auth(let p): return p.properties
        case .pingreq, .pingresp: return nil
        }
    }

    @Test("identifier values match the specification", arguments: identifierValues)
    func identifierValue(identifier: MQTTPropertyIdentifier, raw: UInt8) {
        #expect(identifier.rawValue == raw)
        #expect(!identifier.description.isEmpty)
    }

    @Test("27 properties are defined")
    func count() {
        #expect(MQTTPropertyIdentifier.allCases.count == 27)
        #expect(Self.specTable.count == 27)
    }

    @Test("allowed packets match the specification's table")
    func allowedTable() {
        for (context, identifier) in Self.allPairs {
            #expect(
                identifier.isAllowed(in: context) == Self.specTable[identifier]!.contains(context),
                "\(identifier) in \(context)"
            )
        }
    }

    @Test("every property round trips in every packet that allows it", arguments: MQTTPropertyContext.allCases)
    func fullRoundTrip(context: MQTTPropertyContext) throws {
        let properties = S.fullProperties(context)
        #expect(properties.presentIdentifiers.count == Self.specTable.filter { $0.value.contains(context) }.count)
        let packet = Self.packet(context, properties)
        let decoded = try S.roundTrip(packet)
        #expect(decoded == packet)
        #expect(Self.properties(of: decoded, context) == properties)
    }

    @Test("each allowed property decodes from raw bytes")
    func eachAllowedDecodes() throws {
        for (context, identifier) in Self.allowedPairs {
            let bytes = S.rawPacket(context: context, propertyContent: S.rawPropertyWithPrerequisites(identifier))
            let packet = try S.decode(bytes)
            let properties = try #require(Self.properties(of: packet, context))
            #expect(properties.presentIdentifiers.contains(identifier), "\(identifier) in \(context)")
            #expect(try S.roundTrip(packet) == packet)
        }
    }

    @Test("a property not allowed in the packet is malformed")
    func forbiddenIsMalformed() {
        for (context, identifier) in Self.forbiddenPairs {
            let bytes = S.rawPacket(context: context, propertyContent: S.rawProperty(identifier))
            let error = S.decodeError(bytes)
            #expect(error?.kind == .propertyNotAllowed, "\(identifier) in \(context): \(String(describing: error))")
            #expect(error?.reasonCode == .malformedPacket)
        }
    }

    @Test("the encoder refuses a property not allowed in the packet")
    func encoderRefusesForbidden() {
        for (context, identifier) in Self.forbiddenPairs {
            let properties = S.singleProperty(identifier, context: context)
            #expect(properties.presentIdentifiers.last == identifier)
            let error = S.encodeError(Self.packet(context, properties))
            #expect(error?.kind == .propertyNotAllowed, "\(identifier) in \(context)")
        }
    }

    @Test("a repeated property other than User Property is a protocol error")
    func duplicatesAreProtocolErrors() {
        for (context, identifier) in Self.allowedPairs where identifier != .userProperty {
            if identifier == .subscriptionIdentifier && context == .publish { continue }
            let content = S.rawPropertyWithPrerequisites(identifier) + S.rawProperty(identifier)
            let error = S.decodeError(S.rawPacket(context: context, propertyContent: content))
            #expect(error?.kind == .duplicateProperty, "\(identifier) in \(context): \(String(describing: error))")
            #expect(error?.reasonCode == .protocolError)
        }
    }

    @Test("a duplicate is detected even when not adjacent")
    func nonAdjacentDuplicate() {
        let content = S.rawProperty(.sessionExpiryInterval) + S.rawProperty(.userProperty) + S.rawProperty(.reasonString)
            + S.rawProperty(.sessionExpiryInterval)
        #expect(S.decodeError(S.rawPacket(context: .disconnect, propertyContent: content))?.kind == .duplicateProperty)
    }

    @Test("User Property repeats, keeping order and duplicate names")
    func userPropertiesRepeatInOrder() throws {
        let content = [0x26] + S.str("b") + S.str("1") + [0x1F] + S.str("why") + [0x26] + S.str("a") + S.str("2")
            + [0x26] + S.str("b") + S.str("3")
        let packet = try S.decode(S.rawPacket(context: .disconnect, propertyContent: content))
        guard case .disconnect(let disconnect) = packet else {
            Issue.record("expected DISCONNECT")
            return
        }
        #expect(disconnect.properties.userProperties == [
            MQTTUserProperty(name: "b", value: "1"),
            MQTTUserProperty(name: "a", value: "2"),
            MQTTUserProperty(name: "b", value: "3"),
        ])
        #expect(disconnect.properties.reasonString == "why")
    }

    @Test("Subscription Identifier may repeat in PUBLISH, not in SUBSCRIBE")
    func subscriptionIdentifierRepetition() throws {
        let content = [0x0B] + S.varint(1) + [0x0B] + S.varint(268_435_455) + [0x0B] + S.varint(128)
        let packet = try S.decode(S.rawPacket(context: .publish, propertyContent: content))
        guard case .publish(let publish) = packet else {
            Issue.record("expected PUBLISH")
            return
        }
        #expect(publish.properties.subscriptionIdentifiers == [1, 268_435_455, 128])

        let error = S.decodeError(S.rawPacket(context: .subscribe, propertyContent: content))
        #expect(error?.kind == .duplicateProperty)

        var subscribe = MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: "a")])
        subscribe.properties.subscriptionIdentifiers = [1, 2]
        #expect(S.encodeError(.subscribe(subscribe))?.kind == .duplicateProperty)
        subscribe.properties.subscriptionIdentifier = 5
        #expect(try S.roundTrip(.subscribe(subscribe)) == .subscribe(subscribe))
    }

    @Test("unknown property identifiers are malformed", arguments: [
        [0x00], [0x04], [0x0A], [0x14], [0x2B], [0x7F], [0x80, 0x01], [0xFF, 0x7F],
    ] as [[UInt8]])
    func unknownIdentifier(identifier: [UInt8]) {
        let error = S.decodeError(S.rawPacket(context: .disconnect, propertyContent: identifier + [0, 0, 0, 0]))
        #expect(error?.kind == .unknownProperty)
        #expect(error?.reasonCode == .malformedPacket)
    }

    @Test("invalid property values are rejected on decode and refused on encode")
    func invalidValues() {
        let decodeCases: [(MQTTPropertyContext, [UInt8], MQTTCodecError.Kind)] = [
            (.connect, [0x21, 0, 0], .invalidPropertyValue),  // Receive Maximum 0
            (.connack, [0x27, 0, 0, 0, 0], .invalidPropertyValue),  // Maximum Packet Size 0
            (.publish, [0x23, 0, 0], .invalidPropertyValue),  // Topic Alias 0
            (.connack, [0x24, 2], .invalidPropertyValue),  // Maximum QoS 2
            (.connack, [0x24, 3], .invalidPropertyValue),
            (.connect, [0x17, 2], .invalidPropertyValue),  // Request Problem Information 2
            (.connect, [0x19, 5], .invalidPropertyValue),  // Request Response Information 5
            (.publish, [0x01, 2], .invalidPropertyValue),  // Payload Format Indicator 2
            (.connack, [0x25, 2], .invalidPropertyValue),  // Retain Available 2
            (.connack, [0x28, 9], .invalidPropertyValue),
            (.connack, [0x29, 9], .invalidPropertyValue),
            (.connack, [0x2A, 9], .invalidPropertyValue),
            (.publish, [0x0B, 0], .invalidPropertyValue),  // Subscription Identifier 0
            (.subscribe, [0x0B, 0], .invalidPropertyValue),
            (.connect, [0x16] + S.raw([1]), .missingAuthenticationMethod),
            (.auth, [0x16] + S.raw([1]), .missingAuthenticationMethod),
            (.publish, [0x08] + S.str("reply/+"), .invalidTopicName),
        ]
        for (context, content, kind) in decodeCases {
            let error = S.decodeError(S.rawPacket(context: context, propertyContent: content))
            #expect(error?.kind == kind, "\(content) in \(context): \(String(describing: error))")
        }

        let encodeCases: [(MQTTPropertyContext, MQTTProperties)] = [
            (.connect, MQTTProperties(receiveMaximum: 0)),
            (.connect, MQTTProperties(maximumPacketSize: 0)),
            (.publish, MQTTProperties(topicAlias: 0)),
            (.connack, MQTTProperties(maximumQoS: .exactlyOnce)),
            (.publish, MQTTProperties(subscriptionIdentifiers: [0])),
            (.publish, MQTTProperties(subscriptionIdentifiers: [268_435_456])),
            (.connect, MQTTProperties(authenticationData: ByteBuffer(bytes: [1]))),
            (.will, MQTTProperties(responseTopic: "a/#")),
        ]
        for (context, properties) in encodeCases {
            #expect(S.encodeError(Self.packet(context, properties)) != nil, "\(properties) in \(context)")
        }
    }

    @Test("Property Length beyond the packet, or a value cut off, is malformed")
    func truncatedProperties() {
        // DISCONNECT: reason code, Property Length 10, but only 3 bytes follow.
        let tooLong = S.packet(0xE0, [0x00, 10, 0x11, 0, 0])
        #expect(S.decodeError(tooLong)?.kind == .unexpectedEndOfPacket)
        // Session Expiry Interval needs 4 bytes; the property section holds 2.
        let cut = S.packet(0xE0, [0x00, 3, 0x11, 0, 0])
        #expect(S.decodeError(cut)?.kind == .unexpectedEndOfPacket)
        // A User Property with its value missing.
        let pair = S.rawPacket(context: .disconnect, propertyContent: [0x26] + S.str("k"))
        #expect(S.decodeError(pair)?.kind == .unexpectedEndOfPacket)
    }

    @Test("properties are written in identifier order with the right length")
    func byteExactOrder() throws {
        let properties = MQTTProperties(
            sessionExpiryInterval: 10,
            serverReference: "s",
            reasonString: "r",
            userProperties: [MQTTUserProperty(name: "k", value: "v")]
        )
        let bytes = try S.encode(.disconnect(MQTTDisconnectPacket(reasonCode: .serverMoved, properties: properties)))
        let expectedProperties: [UInt8] = [0x11, 0, 0, 0, 10] + [0x1C, 0, 1, 0x73] + [0x1F, 0, 1, 0x72]
            + [0x26, 0, 1, 0x6B, 0, 1, 0x76]
        #expect(bytes == [0xE0, UInt8(2 + expectedProperties.count), 0x9D, UInt8(expectedProperties.count)] + expectedProperties)
    }

    @Test("a property section longer than 127 bytes uses a two-byte Property Length")
    func longPropertyLength() throws {
        let properties = MQTTProperties(reasonString: String(repeating: "z", count: 200))
        let bytes = try S.encode(.disconnect(MQTTDisconnectPacket(reasonCode: .unspecifiedError, properties: properties)))
        // Property content: 1 + 2 + 200 = 203 → [0xCB, 0x01]; remaining = 1 + 2 + 203 = 206 → [0xCE, 0x01].
        #expect(Array(bytes.prefix(6)) == [0xE0, 0xCE, 0x01, 0x80, 0xCB, 0x01])
        #expect(bytes.count == 3 + 206)
    }

    @Test("isEmpty, presentIdentifiers and the subscriptionIdentifier accessor")
    func accessors() {
        var properties = MQTTProperties()
        #expect(properties.isEmpty)
        #expect(MQTTProperties.none.isEmpty)
        properties.subscriptionIdentifier = 42
        #expect(properties.subscriptionIdentifiers == [42])
        #expect(properties.presentIdentifiers == [.subscriptionIdentifier])
        properties.subscriptionIdentifier = nil
        #expect(properties.isEmpty)
    }
}
