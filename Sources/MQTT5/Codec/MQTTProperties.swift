import NIOCore

/// Property identifiers (§2.2.2.2).
public enum MQTTPropertyIdentifier: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    public var description: String {
        switch self {
        case .payloadFormatIndicator: return "Payload Format Indicator"
        case .messageExpiryInterval: return "Message Expiry Interval"
        case .contentType: return "Content Type"
        case .responseTopic: return "Response Topic"
        case .correlationData: return "Correlation Data"
        case .subscriptionIdentifier: return "Subscription Identifier"
        case .sessionExpiryInterval: return "Session Expiry Interval"
        case .assignedClientIdentifier: return "Assigned Client Identifier"
        case .serverKeepAlive: return "Server Keep Alive"
        case .authenticationMethod: return "Authentication Method"
        case .authenticationData: return "Authentication Data"
        case .requestProblemInformation: return "Request Problem Information"
        case .willDelayInterval: return "Will Delay Interval"
        case .requestResponseInformation: return "Request Response Information"
        case .responseInformation: return "Response Information"
        case .serverReference: return "Server Reference"
        case .reasonString: return "Reason String"
        case .receiveMaximum: return "Receive Maximum"
        case .topicAliasMaximum: return "Topic Alias Maximum"
        case .topicAlias: return "Topic Alias"
        case .maximumQoS: return "Maximum QoS"
        case .retainAvailable: return "Retain Available"
        case .userProperty: return "User Property"
        case .maximumPacketSize: return "Maximum Packet Size"
        case .wildcardSubscriptionAvailable: return "Wildcard Subscription Available"
        case .subscriptionIdentifierAvailable: return "Subscription Identifier Available"
        case .sharedSubscriptionAvailable: return "Shared Subscription Available"
        }
    }

    /// Whether this property may appear in the given property section.
    public func isAllowed(in context: MQTTPropertyContext) -> Bool {
        switch self {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            return context == .publish || context == .will
        case .subscriptionIdentifier:
            return context == .publish || context == .subscribe
        case .sessionExpiryInterval:
            return context == .connect || context == .connack || context == .disconnect
        case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
            .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
            return context == .connack
        case .authenticationMethod, .authenticationData:
            return context == .connect || context == .connack || context == .auth
        case .requestProblemInformation, .requestResponseInformation:
            return context == .connect
        case .willDelayInterval:
            return context == .will
        case .serverReference:
            return context == .connack || context == .disconnect
        case .reasonString:
            switch context {
            case .connack, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback, .disconnect, .auth:
                return true
            case .connect, .will, .publish, .subscribe, .unsubscribe:
                return false
            }
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize:
            return context == .connect || context == .connack
        case .topicAlias:
            return context == .publish
        case .userProperty:
            return true
        }
    }

    /// Whether this property may appear more than once in the given property section.
    public func mayRepeat(in context: MQTTPropertyContext) -> Bool {
        self == .userProperty || (self == .subscriptionIdentifier && context == .publish)
    }
}

/// The property sections of MQTT 5.0: one per packet type that has properties, plus the
/// Will Properties of CONNECT.
public enum MQTTPropertyContext: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case connect, will, connack, publish, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, disconnect, auth

    public var description: String {
        switch self {
        case .connect: return "CONNECT"
        case .will: return "Will Properties"
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
        case .disconnect: return "DISCONNECT"
        case .auth: return "AUTH"
        }
    }
}

/// The properties of one property section. Each optional field is one property; `nil` means
/// absent. ``userProperties`` keeps order and may repeat; ``subscriptionIdentifiers`` may hold
/// several values only in PUBLISH (at most one in SUBSCRIBE).
///
/// Which properties are allowed depends on the packet (see
/// ``MQTTPropertyIdentifier/isAllowed(in:)``); the encoder refuses and the decoder rejects
/// properties that are not allowed.
public struct MQTTProperties: Hashable, Sendable {
    public var payloadFormatIndicator: MQTTPayloadFormatIndicator?
    public var messageExpiryInterval: UInt32?
    public var contentType: String?
    public var responseTopic: String?
    public var correlationData: ByteBuffer?
    /// Subscription Identifiers (1...268,435,455), in order.
    public var subscriptionIdentifiers: [UInt32]
    public var sessionExpiryInterval: UInt32?
    public var assignedClientIdentifier: String?
    public var serverKeepAlive: UInt16?
    public var authenticationMethod: String?
    public var authenticationData: ByteBuffer?
    public var requestProblemInformation: Bool?
    public var willDelayInterval: UInt32?
    public var requestResponseInformation: Bool?
    public var responseInformation: String?
    public var serverReference: String?
    public var reasonString: String?
    /// Receive Maximum (must not be 0).
    public var receiveMaximum: UInt16?
    public var topicAliasMaximum: UInt16?
    /// Topic Alias (must not be 0).
    public var topicAlias: UInt16?
    /// Maximum QoS: only `.atMostOnce` or `.atLeastOnce` may be sent.
    public var maximumQoS: MQTTQoS?
    public var retainAvailable: Bool?
    public var userProperties: [MQTTUserProperty]
    /// Maximum Packet Size (must not be 0).
    public var maximumPacketSize: UInt32?
    public var wildcardSubscriptionAvailable: Bool?
    public var subscriptionIdentifierAvailable: Bool?
    public var sharedSubscriptionAvailable: Bool?

    public init(
        payloadFormatIndicator: MQTTPayloadFormatIndicator? = nil,
        messageExpiryInterval: UInt32? = nil,
        contentType: String? = nil,
        responseTopic: String? = nil,
        correlationData: ByteBuffer? = nil,
        subscriptionIdentifiers: [UInt32] = [],
        sessionExpiryInterval: UInt32? = nil,
        assignedClientIdentifier: String? = nil,
        serverKeepAlive: UInt16? = nil,
        authenticationMethod: String? = nil,
        authenticationData: ByteBuffer? = nil,
        requestProblemInformation: Bool? = nil,
        willDelayInterval: UInt32? = nil,
        requestResponseInformation: Bool? = nil,
        responseInformation: String? = nil,
        serverReference: String? = nil,
        reasonString: String? = nil,
        receiveMaximum: UInt16? = nil,
        topicAliasMaximum: UInt16? = nil,
        topicAlias: UInt16? = nil,
        maximumQoS: MQTTQoS? = nil,
        retainAvailable: Bool? = nil,
        userProperties: [MQTTUserProperty] = [],
        maximumPacketSize: UInt32? = nil,
        wildcardSubscriptionAvailable: Bool? = nil,
        subscriptionIdentifierAvailable: Bool? = nil,
        sharedSubscriptionAvailable: Bool? = nil
    ) {
        self.payloadFormatIndicator = payloadFormatIndicator
        self.messageExpiryInterval = messageExpiryInterval
        self.contentType = contentType
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.subscriptionIdentifiers = subscriptionIdentifiers
        self.sessionExpiryInterval = sessionExpiryInterval
        self.assignedClientIdentifier = assignedClientIdentifier
        self.serverKeepAlive = serverKeepAlive
        self.authenticationMethod = authenticationMethod
        self.authenticationData = authenticationData
        self.requestProblemInformation = requestProblemInformation
        self.willDelayInterval = willDelayInterval
        self.requestResponseInformation = requestResponseInformation
        self.responseInformation = responseInformation
        self.serverReference = serverReference
        self.reasonString = reasonString
        self.receiveMaximum = receiveMaximum
        self.topicAliasMaximum = topicAliasMaximum
        self.topicAlias = topicAlias
        self.maximumQoS = maximumQoS
        self.retainAvailable = retainAvailable
        self.userProperties = userProperties
        self.maximumPacketSize = maximumPacketSize
        self.wildcardSubscriptionAvailable = wildcardSubscriptionAvailable
        self.subscriptionIdentifierAvailable = subscriptionIdentifierAvailable
        self.sharedSubscriptionAvailable = sharedSubscriptionAvailable
    }

    /// No properties at all.
    public static var none: MQTTProperties { MQTTProperties() }

    /// Whether no property is present.
    public var isEmpty: Bool { self.presentIdentifiers.isEmpty }

    /// The single Subscription Identifier of a SUBSCRIBE packet (the first one, when read).
    public var subscriptionIdentifier: UInt32? {
        get { self.subscriptionIdentifiers.first }
        set { self.subscriptionIdentifiers = newValue.map { [$0] } ?? [] }
    }

    /// The identifiers of the properties that are present, in identifier order (each once).
    public var presentIdentifiers: [MQTTPropertyIdentifier] {
        var result: [MQTTPropertyIdentifier] = []
        if self.payloadFormatIndicator != nil { result.append(.payloadFormatIndicator) }
        if self.messageExpiryInterval != nil { result.append(.messageExpiryInterval) }
        if self.contentType != nil { result.append(.contentType) }
        if self.responseTopic != nil { result.append(.responseTopic) }
        if self.correlationData != nil { result.append(.correlationData) }
        if !self.subscriptionIdentifiers.isEmpty { result.append(.subscriptionIdentifier) }
        if self.sessionExpiryInterval != nil { result.append(.sessionExpiryInterval) }
        if self.assignedClientIdentifier != nil { result.append(.assignedClientIdentifier) }
        if self.serverKeepAlive != nil { result.append(.serverKeepAlive) }
        if self.authenticationMethod != nil { result.append(.authenticationMethod) }
        if self.authenticationData != nil { result.append(.authenticationData) }
        if self.requestProblemInformation != nil { result.append(.requestProblemInformation) }
        if self.willDelayInterval != nil { result.append(.willDelayInterval) }
        if self.requestResponseInformation != nil { result.append(.requestResponseInformation) }
        if self.responseInformation != nil { result.append(.responseInformation) }
        if self.serverReference != nil { result.append(.serverReference) }
        if self.reasonString != nil { result.append(.reasonString) }
        if self.receiveMaximum != nil { result.append(.receiveMaximum) }
        if self.topicAliasMaximum != nil { result.append(.topicAliasMaximum) }
        if self.topicAlias != nil { result.append(.topicAlias) }
        if self.maximumQoS != nil { result.append(.maximumQoS) }
        if self.retainAvailable != nil { result.append(.retainAvailable) }
        if !self.userProperties.isEmpty { result.append(.userProperty) }
        if self.maximumPacketSize != nil { result.append(.maximumPacketSize) }
        if self.wildcardSubscriptionAvailable != nil { result.append(.wildcardSubscriptionAvailable) }
        if self.subscriptionIdentifierAvailable != nil { result.append(.subscriptionIdentifierAvailable) }
        if self.sharedSubscriptionAvailable != nil { result.append(.sharedSubscriptionAvailable) }
        return result
    }
}

// MARK: - Decoding

extension MQTTProperties {
    /// Reads a property section (Property Length followed by the properties) for `context`.
    static func decode(
        from reader: inout MQTTPacketReader,
        context: MQTTPropertyContext
    ) throws(MQTTCodecError) -> MQTTProperties {
        let length = try reader.readVariableByteInteger("\(context) Property Length")
        guard Int(length) <= reader.remaining else {
            throw .malformed(
                .unexpectedEndOfPacket,
                "\(context) Property Length \(length) exceeds the \(reader.remaining) byte(s) left in the packet"
            )
        }
        var section = MQTTPacketReader(
            try reader.readSlice(length: Int(length), "\(context) properties"),
            packetType: reader.packetType
        )
        var properties = MQTTProperties()
        var seen: UInt64 = 0
        while !section.isAtEnd {
            let rawIdentifier = try section.readVariableByteInteger("property identifier")
            guard rawIdentifier <= UInt8.max, let identifier = MQTTPropertyIdentifier(rawValue: UInt8(rawIdentifier))
            else {
                throw .malformed(.unknownProperty, "unknown property identifier 0x\(String(rawIdentifier, radix: 16)) in \(context)")
            }
            guard identifier.isAllowed(in: context) else {
                throw .malformed(.propertyNotAllowed, "\(identifier) (0x\(String(identifier.rawValue, radix: 16))) is not allowed in \(context)")
            }
            let bit: UInt64 = 1 << UInt64(identifier.rawValue)
            if seen & bit != 0 && !identifier.mayRepeat(in: context) {
                throw .protocolError(.duplicateProperty, "\(identifier) appears more than once in \(context)")
            }
            seen |= bit
            try properties.decodeValue(of: identifier, from: &section, context: context)
        }
        try properties.validateCombination(context: context)
        return properties
    }

    private mutating func decodeValue(
        of identifier: MQTTPropertyIdentifier,
        from reader: inout MQTTPacketReader,
        context: MQTTPropertyContext
    ) throws(MQTTCodecError) {
        let name = identifier.description
        switch identifier {
        case .payloadFormatIndicator:
            let raw = try reader.readByte(name)
            guard let value = MQTTPayloadFormatIndicator(rawValue: raw) else {
                throw Self.invalidValue(identifier, "\(raw)", context)
            }
            self.payloadFormatIndicator = value
        case .messageExpiryInterval:
            self.messageExpiryInterval = try reader.readUInt32(name)
        case .contentType:
            self.contentType = try reader.readString(name)
        case .responseTopic:
            self.responseTopic = try reader.readString(name)
        case .correlationData:
            self.correlationData = try reader.readBinary(name)
        case .subscriptionIdentifier:
            self.subscriptionIdentifiers.append(try reader.readVariableByteInteger(name))
        case .sessionExpiryInterval:
            self.sessionExpiryInterval = try reader.readUInt32(name)
        case .assignedClientIdentifier:
            self.assignedClientIdentifier = try reader.readString(name)
        case .serverKeepAlive:
            self.serverKeepAlive = try reader.readUInt16(name)
        case .authenticationMethod:
            self.authenticationMethod = try reader.readString(name)
        case .authenticationData:
            self.authenticationData = try reader.readBinary(name)
        case .requestProblemInformation:
            self.requestProblemInformation = try Self.readBool(identifier, &reader, context)
        case .willDelayInterval:
            self.willDelayInterval = try reader.readUInt32(name)
        case .requestResponseInformation:
            self.requestResponseInformation = try Self.readBool(identifier, &reader, context)
        case .responseInformation:
            self.responseInformation = try reader.readString(name)
        case .serverReference:
            self.serverReference = try reader.readString(name)
        case .reasonString:
            self.reasonString = try reader.readString(name)
        case .receiveMaximum:
            self.receiveMaximum = try reader.readUInt16(name)
        case .topicAliasMaximum:
            self.topicAliasMaximum = try reader.readUInt16(name)
        case .topicAlias:
            self.topicAlias = try reader.readUInt16(name)
        case .maximumQoS:
            let raw = try reader.readByte(name)
            guard let value = MQTTQoS(rawValue: raw) else { throw Self.invalidValue(identifier, "\(raw)", context) }
            self.maximumQoS = value
        case .retainAvailable:
            self.retainAvailable = try Self.readBool(identifier, &reader, context)
        case .userProperty:
            let key = try reader.readString("User Property name")
            let value = try reader.readString("User Property value")
            self.userProperties.append(MQTTUserProperty(name: key, value: value))
        case .maximumPacketSize:
            self.maximumPacketSize = try reader.readUInt32(name)
        case .wildcardSubscriptionAvailable:
            self.wildcardSubscriptionAvailable = try Self.readBool(identifier, &reader, context)
        case .subscriptionIdentifierAvailable:
            self.subscriptionIdentifierAvailable = try Self.readBool(identifier, &reader, context)
        case .sharedSubscriptionAvailable:
            self.sharedSubscriptionAvailable = try Self.readBool(identifier, &reader, context)
        }
    }

    private static func readBool(
        _ identifier: MQTTPropertyIdentifier,
        _ reader: inout MQTTPacketReader,
        _ context: MQTTPropertyContext
    ) throws(MQTTCodecError) -> Bool {
        let raw = try reader.readByte(identifier.description)
        switch raw {
        case 0: return false
        case 1: return true
        default: throw invalidValue(identifier, "\(raw)", context)
        }
    }

    private static func invalidValue(
        _ identifier: MQTTPropertyIdentifier,
        _ value: String,
        _ context: MQTTPropertyContext
    ) -> MQTTCodecError {
        .protocolError(.invalidPropertyValue, "\(identifier) has the invalid value \(value) in \(context)")
    }

    /// Rules on values and on combinations of properties, shared by decoder and encoder.
    func validateCombination(context: MQTTPropertyContext) throws(MQTTCodecError) {
        for identifier in self.subscriptionIdentifiers where identifier == 0 || identifier > MQTTVariableByteInteger.maxValue {
            throw Self.invalidValue(.subscriptionIdentifier, "\(identifier)", context)
        }
        if self.subscriptionIdentifiers.count > 1 && !MQTTPropertyIdentifier.subscriptionIdentifier.mayRepeat(in: context) {
            throw .protocolError(.duplicateProperty, "Subscription Identifier appears more than once in \(context)")
        }
        if self.receiveMaximum == 0 { throw Self.invalidValue(.receiveMaximum, "0", context) }
        if self.maximumPacketSize == 0 { throw Self.invalidValue(.maximumPacketSize, "0", context) }
        if self.topicAlias == 0 { throw Self.invalidValue(.topicAlias, "0", context) }
        if self.maximumQoS == .exactlyOnce { throw Self.invalidValue(.maximumQoS, "2", context) }
        if let responseTopic = self.responseTopic, MQTTTopic.containsWildcard(responseTopic) {
            throw MQTTCodecError(
                kind: .invalidTopicName,
                reasonCode: .topicNameInvalid,
                message: "Response Topic \"\(responseTopic)\" contains wildcard characters"
            )
        }
        if self.authenticationData != nil && self.authenticationMethod == nil {
            throw .protocolError(.missingAuthenticationMethod, "\(context) has Authentication Data without an Authentication Method")
        }
    }
}

// MARK: - Encoding

extension MQTTProperties {
    /// Validates the properties for `context` and returns the size of their content (without
    /// the Property Length prefix).
    func contentLength(context: MQTTPropertyContext) throws(MQTTCodecError) -> Int {
        for identifier in self.presentIdentifiers where !identifier.isAllowed(in: context) {
            throw .malformed(.propertyNotAllowed, "\(identifier) is not allowed in \(context)")
        }
        try self.validateCombination(context: context)

        var size = 0
        if self.payloadFormatIndicator != nil { size += 2 }
        if self.messageExpiryInterval != nil { size += 5 }
        if let value = self.contentType { size += 1 + (try MQTTUTF8String.encodedSize(of: value, field: "Content Type")) }
        if let value = self.responseTopic { size += 1 + (try MQTTUTF8String.encodedSize(of: value, field: "Response Topic")) }
        if let value = self.correlationData {
            size += 1 + (try MQTTUTF8String.binaryEncodedSize(of: value, field: "Correlation Data"))
        }
        for value in self.subscriptionIdentifiers { size += 1 + MQTTVariableByteInteger.encodedSize(of: value) }
        if self.sessionExpiryInterval != nil { size += 5 }
        if let value = self.assignedClientIdentifier {
            size += 1 + (try MQTTUTF8String.encodedSize(of: value, field: "Assigned Client Identifier"))
        }
        if self.serverKeepAlive != nil { size += 3 }
        if let value = self.authenticationMethod {
            size += 1 + (try MQTTUTF8String.encodedSize(of: value, field: "Authentication Method"))
        }
        if let value = self.authenticationData {
            size += 1 + (try MQTTUTF8String.binaryEncodedSize(of: value, field: "Authentication Data"))
        }
        if self.requestProblemInformation != nil { size += 2 }
        if self.willDelayInterval != nil { size += 5 }
        if self.requestResponseInformation != nil { size += 2 }
        if let value = self.responseInformation {
            size += 1 + (try MQTTUTF8String.encodedSize(of: value, field: "Response Information"))
        }
        if let value = self.serverReference {
            size += 1 + (try MQTTUTF8String.encodedSize(of: value, field: "Server Reference"))
        }
        if let value = self.reasonString { size += 1 + (try MQTTUTF8String.encodedSize(of: value, field: "Reason String")) }
        if self.receiveMaximum != nil { size += 3 }
        if self.topicAliasMaximum != nil { size += 3 }
        if self.topicAlias != nil { size += 3 }
        if self.maximumQoS != nil { size += 2 }
        if self.retainAvailable != nil { size += 2 }
        for property in self.userProperties {
            size += 1 + (try MQTTUTF8String.encodedSize(of: property.name, field: "User Property name"))
            size += try MQTTUTF8String.encodedSize(of: property.value, field: "User Property value")
        }
        if self.maximumPacketSize != nil { size += 5 }
        if self.wildcardSubscriptionAvailable != nil { size += 2 }
        if self.subscriptionIdentifierAvailable != nil { size += 2 }
        if self.sharedSubscriptionAvailable != nil { size += 2 }
        guard size <= Int(MQTTVariableByteInteger.maxValue) else {
            throw .malformed(.packetTooLarge, "\(context) properties are \(size) bytes long")
        }
        return size
    }

    /// Validates the properties and returns the size of the whole section including the
    /// Property Length prefix.
    func sectionLength(context: MQTTPropertyContext) throws(MQTTCodecError) -> (section: Int, content: Int) {
        let content = try self.contentLength(context: context)
        return (MQTTVariableByteInteger.encodedSize(of: UInt32(content)) + content, content)
    }

    /// Writes Property Length and the properties, in identifier order. `contentLength` must
    /// come from ``contentLength(context:)``.
    func write(contentLength: Int, to buffer: inout ByteBuffer) {
        MQTTVariableByteInteger.writeUnchecked(UInt32(contentLength), to: &buffer)
        func id(_ identifier: MQTTPropertyIdentifier) { buffer.writeInteger(identifier.rawValue) }
        if let value = self.payloadFormatIndicator { id(.payloadFormatIndicator); buffer.writeInteger(value.rawValue) }
        if let value = self.messageExpiryInterval { id(.messageExpiryInterval); buffer.writeInteger(value) }
        if let value = self.contentType { id(.contentType); buffer.writeMQTTString(value) }
        if let value = self.responseTopic { id(.responseTopic); buffer.writeMQTTString(value) }
        if let value = self.correlationData { id(.correlationData); buffer.writeMQTTBinary(value) }
        for value in self.subscriptionIdentifiers {
            id(.subscriptionIdentifier)
            MQTTVariableByteInteger.writeUnchecked(value, to: &buffer)
        }
        if let value = self.sessionExpiryInterval { id(.sessionExpiryInterval); buffer.writeInteger(value) }
        if let value = self.assignedClientIdentifier { id(.assignedClientIdentifier); buffer.writeMQTTString(value) }
        if let value = self.serverKeepAlive { id(.serverKeepAlive); buffer.writeInteger(value) }
        if let value = self.authenticationMethod { id(.authenticationMethod); buffer.writeMQTTString(value) }
        if let value = self.authenticationData { id(.authenticationData); buffer.writeMQTTBinary(value) }
        if let value = self.requestProblemInformation { id(.requestProblemInformation); buffer.writeInteger(UInt8(value ? 1 : 0)) }
        if let value = self.willDelayInterval { id(.willDelayInterval); buffer.writeInteger(value) }
        if let value = self.requestResponseInformation {
            id(.requestResponseInformation)
            buffer.writeInteger(UInt8(value ? 1 : 0))
        }
        if let value = self.responseInformation { id(.responseInformation); buffer.writeMQTTString(value) }
        if let value = self.serverReference { id(.serverReference); buffer.writeMQTTString(value) }
        if let value = self.reasonString { id(.reasonString); buffer.writeMQTTString(value) }
        if let value = self.receiveMaximum { id(.receiveMaximum); buffer.writeInteger(value) }
        if let value = self.topicAliasMaximum { id(.topicAliasMaximum); buffer.writeInteger(value) }
        if let value = self.topicAlias { id(.topicAlias); buffer.writeInteger(value) }
        if let value = self.maximumQoS { id(.maximumQoS); buffer.writeInteger(value.rawValue) }
        if let value = self.retainAvailable { id(.retainAvailable); buffer.writeInteger(UInt8(value ? 1 : 0)) }
        for property in self.userProperties {
            id(.userProperty)
            buffer.writeMQTTString(property.name)
            buffer.writeMQTTString(property.value)
        }
        if let value = self.maximumPacketSize { id(.maximumPacketSize); buffer.writeInteger(value) }
        if let value = self.wildcardSubscriptionAvailable {
            id(.wildcardSubscriptionAvailable)
            buffer.writeInteger(UInt8(value ? 1 : 0))
        }
        if let value = self.subscriptionIdentifierAvailable {
            id(.subscriptionIdentifierAvailable)
            buffer.writeInteger(UInt8(value ? 1 : 0))
        }
        if let value = self.sharedSubscriptionAvailable {
            id(.sharedSubscriptionAvailable)
            buffer.writeInteger(UInt8(value ? 1 : 0))
        }
    }
}
