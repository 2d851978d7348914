import NIOCore

/// Decodes MQTT 5.0 control packets from a `ByteBuffer`.
///
/// The decoder is a pure value: it keeps no state between calls. ``decode(buffer:)`` looks at the
/// fixed header first; it throws at once if the packet type or flags are invalid or if the
/// packet's total size (fixed header + Remaining Length) exceeds ``maximumPacketSize``, before
/// any of the body has to arrive. When more bytes are needed it returns `nil` and leaves the
/// reader index where it was. Every malformed input is reported as an ``MQTTCodecError``.
///
/// It conforms to NIO's `NIOSingleStepByteToMessageDecoder`, so a channel pipeline can wrap it
/// in `ByteToMessageHandler` later; the codec itself does no I/O.
public struct MQTTPacketDecoder: Sendable {
    /// The largest packet MQTT can express: 1 byte of type and flags, a 4-byte Remaining Length
    /// and 268,435,455 bytes of content.
    public static let protocolMaximumPacketSize = 1 + 4 + Int(MQTTVariableByteInteger.maxValue)

    /// The Maximum Packet Size this side announced (total packet size, fixed header included).
    public var maximumPacketSize: Int

    /// - Parameter maximumPacketSize: the negotiated Maximum Packet Size in bytes; values above
    ///   the protocol maximum are clamped to it.
    public init(maximumPacketSize: Int = MQTTPacketDecoder.protocolMaximumPacketSize) {
        self.maximumPacketSize = min(max(maximumPacketSize, 0), Self.protocolMaximumPacketSize)
    }

    /// Decodes one packet from the front of `buffer`.
    ///
    /// - Returns: the packet (the reader index moves past it), or `nil` when more bytes are
    ///   needed (the reader index is unchanged).
    /// - Throws: ``MQTTCodecError``; the reader index is unchanged. The connection should be
    ///   closed with the error's reason code.
    public func decode(buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        let start = buffer.readerIndex
        guard let firstByte = buffer.getInteger(at: start, as: UInt8.self) else { return nil }

        let type = try Self.packetType(firstByte: firstByte)
        let flags = firstByte & 0x0F
        try Self.checkFlags(flags, for: type)

        guard let (remainingLength, lengthSize) = try MQTTVariableByteInteger.get(from: buffer, at: start + 1) else {
            // The Remaining Length is incomplete; refuse now if even its smallest possible
            // value makes the packet too large.
            try self.checkPartialRemainingLength(buffer, at: start + 1, type: type)
            return nil
        }
        let totalSize = 1 + lengthSize + Int(remainingLength)
        guard totalSize <= self.maximumPacketSize else {
            throw MQTTCodecError(
                kind: .packetTooLarge,
                reasonCode: .packetTooLarge,
                message: "\(type) of \(totalSize) bytes exceeds the Maximum Packet Size of \(self.maximumPacketSize) bytes"
            )
        }
        guard buffer.readableBytes >= totalSize,
            let body = buffer.getSlice(at: start + 1 + lengthSize, length: Int(remainingLength))
        else {
            return nil
        }

        let packet = try Self.decodeBody(type: type, flags: flags, body: body)
        buffer.moveReaderIndex(forwardBy: totalSize)
        return packet
    }

    private func checkPartialRemainingLength(
        _ buffer: ByteBuffer,
        at index: Int,
        type: MQTTPacketType
    ) throws(MQTTCodecError) {
        var partial = 0
        var count = 0
        while let byte = buffer.getInteger(at: index + count, as: UInt8.self) {
            // Only continuation bytes can be here (otherwise the integer would be complete).
            partial |= Int(byte & 0x7F) << (7 * count)
            count += 1
        }
        guard count > 0 else { return }
        // A following byte contributes at least 1 << (7 * count).
        let smallestTotal = 1 + (count + 1) + partial + (1 << (7 * count))
        guard smallestTotal <= self.maximumPacketSize else {
            throw MQTTCodecError(
                kind: .packetTooLarge,
                reasonCode: .packetTooLarge,
                message: "\(type) of at least \(smallestTotal) bytes exceeds the Maximum Packet Size of \(self.maximumPacketSize) bytes"
            )
        }
    }

    /// Decodes exactly one packet that must fill `bytes` completely.
    ///
    /// - Throws: ``MQTTCodecError``; `.unexpectedEndOfPacket` if the bytes end before the packet
    ///   does, `.trailingBytes` if bytes are left after it.
    public func decodeComplete(_ bytes: ByteBuffer) throws(MQTTCodecError) -> MQTTPacket {
        var buffer = bytes
        guard let packet = try self.decode(buffer: &buffer) else {
            throw .malformed(.unexpectedEndOfPacket, "input ended before the packet did")
        }
        guard buffer.readableBytes == 0 else {
            throw .malformed(.trailingBytes, "\(buffer.readableBytes) byte(s) follow the packet")
        }
        return packet
    }

    static func packetType(firstByte: UInt8) throws(MQTTCodecError) -> MQTTPacketType {
        guard let type = MQTTPacketType(rawValue: firstByte >> 4) else {
            throw .malformed(.invalidPacketType, "packet type 0 is reserved")
        }
        return type
    }

    static func checkFlags(_ flags: UInt8, for type: MQTTPacketType) throws(MQTTCodecError) {
        if let required = type.requiredFlags {
            guard flags == required else {
                throw .malformed(
                    .invalidFixedHeaderFlags,
                    "\(type) fixed header flags must be 0b\(Self.binary(required)), got 0b\(Self.binary(flags))"
                )
            }
        } else {
            // PUBLISH: DUP (bit 3), QoS (bits 2-1), RETAIN (bit 0).
            let qos = (flags >> 1) & 0b11
            guard qos != 3 else {
                throw .malformed(.invalidQoS, "PUBLISH has QoS 3 in its fixed header")
            }
            if qos == 0 && flags & 0b1000 != 0 {
                throw .protocolError(.invalidDupFlag, "PUBLISH with QoS 0 has the DUP flag set")
            }
        }
    }

    private static func binary(_ value: UInt8) -> String {
        let digits = String(value, radix: 2)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    // MARK: Packet bodies

    static func decodeBody(type: MQTTPacketType, flags: UInt8, body: ByteBuffer) throws(MQTTCodecError) -> MQTTPacket {
        var reader = MQTTPacketReader(body, packetType: type)
        switch type {
        case .connect:
            return .connect(try decodeConnect(&reader))
        case .connack:
            return .connack(try decodeConnAck(&reader))
        case .publish:
            return .publish(try decodePublish(&reader, flags: flags))
        case .puback:
            return .puback(try decodePubAck(&reader, context: .puback))
        case .pubrec:
            return .pubrec(try decodePubAck(&reader, context: .pubrec))
        case .pubrel:
            return .pubrel(try decodePubAck(&reader, context: .pubrel))
        case .pubcomp:
            return .pubcomp(try decodePubAck(&reader, context: .pubcomp))
        case .subscribe:
            return .subscribe(try decodeSubscribe(&reader))
        case .suback:
            let (identifier, codes, properties) = try decodeAckList(&reader, context: .suback)
            return .suback(MQTTSubAckPacket(packetIdentifier: identifier, reasonCodes: codes, properties: properties))
        case .unsubscribe:
            return .unsubscribe(try decodeUnsubscribe(&reader))
        case .unsuback:
            let (identifier, codes, properties) = try decodeAckList(&reader, context: .unsuback)
            return .unsuback(MQTTUnsubAckPacket(packetIdentifier: identifier, reasonCodes: codes, properties: properties))
        case .pingreq:
            try reader.expectEnd()
            return .pingreq
        case .pingresp:
            try reader.expectEnd()
            return .pingresp
        case .disconnect:
            return .disconnect(try decodeDisconnect(&reader))
        case .auth:
            return .auth(try decodeAuth(&reader))
        }
    }

    private static func decodeConnect(_ reader: inout MQTTPacketReader) throws(MQTTCodecError) -> MQTTConnectPacket {
        let protocolName = try reader.readString("Protocol Name")
        guard protocolName == "MQTT" else {
            throw MQTTCodecError(
                kind: .unsupportedProtocolVersion,
                reasonCode: .unsupportedProtocolVersion,
                message: "CONNECT Protocol Name is \"\(protocolName)\", not \"MQTT\""
            )
        }
        let version = try reader.readByte("Protocol Version")
        guard version == 5 else {
            throw MQTTCodecError(
                kind: .unsupportedProtocolVersion,
                reasonCode: .unsupportedProtocolVersion,
                message: "CONNECT Protocol Version is \(version), only 5 is supported"
            )
        }
        let flags = try reader.readByte("Connect Flags")
        guard flags & 0b0000_0001 == 0 else {
            throw .malformed(.invalidConnectFlags, "CONNECT reserved flag (bit 0) is set")
        }
        let cleanStart = flags & 0b0000_0010 != 0
        let willFlag = flags & 0b0000_0100 != 0
        let willQoSRaw = (flags >> 3) & 0b11
        let willRetain = flags & 0b0010_0000 != 0
        let passwordFlag = flags & 0b0100_0000 != 0
        let usernameFlag = flags & 0b1000_0000 != 0
        guard let willQoS = MQTTQoS(rawValue: willQoSRaw) else {
            throw .malformed(.invalidQoS, "CONNECT has Will QoS 3")
        }
        if !willFlag && (willQoSRaw != 0 || willRetain) {
            throw .malformed(.invalidConnectFlags, "CONNECT has Will QoS or Will Retain set without the Will Flag")
        }
        let keepAlive = try reader.readUInt16("Keep Alive")
        let properties = try MQTTProperties.decode(from: &reader, context: .connect)
        let clientIdentifier = try reader.readString("Client Identifier")

        var will: MQTTWill?
        if willFlag {
            let willProperties = try MQTTProperties.decode(from: &reader, context: .will)
            let topic = try reader.readString("Will Topic")
            try checkTopicName(topic, hasTopicAlias: false, field: "Will Topic")
            let payload = try reader.readBinary("Will Payload")
            will = MQTTWill(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username: String? = if usernameFlag { try reader.readString("User Name") } else { nil }
        let password: ByteBuffer? = if passwordFlag { try reader.readBinary("Password") } else { nil }
        try reader.expectEnd()
        return MQTTConnectPacket(
            clientIdentifier: clientIdentifier,
            cleanStart: cleanStart,
            keepAlive: keepAlive,
            username: username,
            password: password,
            will: will,
            properties: properties
        )
    }

    private static func decodeConnAck(_ reader: inout MQTTPacketReader) throws(MQTTCodecError) -> MQTTConnAckPacket {
        let flags = try reader.readByte("Connect Acknowledge Flags")
        guard flags & 0b1111_1110 == 0 else {
            throw .malformed(.invalidConnackFlags, "CONNACK reserved acknowledge flags are set")
        }
        let sessionPresent = flags & 1 != 0
        let reasonCode = try reader.readReasonCode()
        if sessionPresent && reasonCode != .success {
            throw .protocolError(.invalidConnackFlags, "CONNACK has Session Present with reason code \(reasonCode)")
        }
        let properties = try MQTTProperties.decode(from: &reader, context: .connack)
        try reader.expectEnd()
        return MQTTConnAckPacket(sessionPresent: sessionPresent, reasonCode: reasonCode, properties: properties)
    }

    private static func decodePublish(_ reader: inout MQTTPacketReader, flags: UInt8) throws(MQTTCodecError) -> MQTTPublishPacket {
        // Flags were validated by checkFlags.
        let qos = MQTTQoS(rawValue: (flags >> 1) & 0b11) ?? .atMostOnce
        let topicName = try reader.readString("Topic Name")
        let packetIdentifier: UInt16? = if qos == .atMostOnce { nil } else { try reader.readPacketIdentifier() }
        let properties = try MQTTProperties.decode(from: &reader, context: .publish)
        try checkTopicName(topicName, hasTopicAlias: properties.topicAlias != nil, field: "Topic Name")
        let payload = reader.readRest()
        return MQTTPublishPacket(
            topicName: topicName,
            payload: payload,
            qos: qos,
            packetIdentifier: packetIdentifier,
            dup: flags & 0b1000 != 0,
            retain: flags & 0b0001 != 0,
            properties: properties
        )
    }

    static func checkTopicName(_ topic: String, hasTopicAlias: Bool, field: String) throws(MQTTCodecError) {
        if MQTTTopic.containsWildcard(topic) {
            throw MQTTCodecError(
                kind: .invalidTopicName,
                reasonCode: .topicNameInvalid,
                message: "\(field) \"\(topic)\" contains wildcard characters"
            )
        }
        if topic.utf8.isEmpty && !hasTopicAlias {
            throw .protocolError(.invalidTopicName, "\(field) is empty and there is no Topic Alias")
        }
    }

    private static func decodePubAck(
        _ reader: inout MQTTPacketReader,
        context: MQTTPropertyContext
    ) throws(MQTTCodecError) -> MQTTPubAckPacket {
        let identifier = try reader.readPacketIdentifier()
        guard !reader.isAtEnd else {
            return MQTTPubAckPacket(packetIdentifier: identifier)
        }
        let reasonCode = try reader.readReasonCode()
        guard !reader.isAtEnd else {
            return MQTTPubAckPacket(packetIdentifier: identifier, reasonCode: reasonCode)
        }
        let properties = try MQTTProperties.decode(from: &reader, context: context)
        try reader.expectEnd()
        return MQTTPubAckPacket(packetIdentifier: identifier, reasonCode: reasonCode, properties: properties)
    }

    private static func decodeSubscribe(_ reader: inout MQTTPacketReader) throws(MQTTCodecError) -> MQTTSubscribePacket {
        let identifier = try reader.readPacketIdentifier()
        let properties = try MQTTProperties.decode(from: &reader, context: .subscribe)
        var subscriptions: [MQTTSubscription] = []
        while !reader.isAtEnd {
            let filter = try reader.readString("Topic Filter")
            let options = try decodeSubscriptionOptions(try reader.readByte("Subscription Options"), filter: filter)
            subscriptions.append(MQTTSubscription(topicFilter: filter, options: options))
        }
        guard !subscriptions.isEmpty else {
            throw .protocolError(.emptyPayload, "SUBSCRIBE contains no Topic Filter")
        }
        return MQTTSubscribePacket(packetIdentifier: identifier, subscriptions: subscriptions, properties: properties)
    }

    static func decodeSubscriptionOptions(_ raw: UInt8, filter: String) throws(MQTTCodecError) -> MQTTSubscriptionOptions {
        guard raw & 0b1100_0000 == 0 else {
            throw .malformed(.invalidSubscriptionOptions, "Subscription Options reserved bits are set for \"\(filter)\"")
        }
        guard let qos = MQTTQoS(rawValue: raw & 0b11) else {
            throw .malformed(.invalidQoS, "Subscription Options have Maximum QoS 3 for \"\(filter)\"")
        }
        guard let retainHandling = MQTTRetainHandling(rawValue: (raw >> 4) & 0b11) else {
            throw .protocolError(.invalidSubscriptionOptions, "Subscription Options have Retain Handling 3 for \"\(filter)\"")
        }
        let options = MQTTSubscriptionOptions(
            maximumQoS: qos,
            noLocal: raw & 0b0100 != 0,
            retainAsPublished: raw & 0b1000 != 0,
            retainHandling: retainHandling
        )
        try checkSharedNoLocal(filter: filter, options: options)
        return options
    }

    static func checkSharedNoLocal(filter: String, options: MQTTSubscriptionOptions) throws(MQTTCodecError) {
        if options.noLocal && MQTTTopic.isSharedSubscription(filter) {
            throw .protocolError(.invalidSubscriptionOptions, "No Local is set on the shared subscription \"\(filter)\"")
        }
    }

    private static func decodeAckList(
        _ reader: inout MQTTPacketReader,
        context: MQTTPropertyContext
    ) throws(MQTTCodecError) -> (UInt16, [MQTTReasonCode], MQTTProperties) {
        let identifier = try reader.readPacketIdentifier()
        let properties = try MQTTProperties.decode(from: &reader, context: context)
        var codes: [MQTTReasonCode] = []
        codes.reserveCapacity(reader.remaining)
        while !reader.isAtEnd {
            codes.append(try reader.readReasonCode())
        }
        guard !codes.isEmpty else {
            throw .protocolError(.emptyPayload, "\(reader.packetType) contains no reason code")
        }
        return (identifier, codes, properties)
    }

    private static func decodeUnsubscribe(_ reader: inout MQTTPacketReader) throws(MQTTCodecError) -> MQTTUnsubscribePacket {
        let identifier = try reader.readPacketIdentifier()
        let properties = try MQTTProperties.decode(from: &reader, context: .unsubscribe)
        var filters: [String] = []
        while !reader.isAtEnd {
            filters.append(try reader.readString("Topic Filter"))
        }
        guard !filters.isEmpty else {
            throw .protocolError(.emptyPayload, "UNSUBSCRIBE contains no Topic Filter")
        }
        return MQTTUnsubscribePacket(packetIdentifier: identifier, topicFilters: filters, properties: properties)
    }

    private static func decodeDisconnect(_ reader: inout MQTTPacketReader) throws(MQTTCodecError) -> MQTTDisconnectPacket {
        guard !reader.isAtEnd else { return MQTTDisconnectPacket() }
        let reasonCode = try reader.readReasonCode()
        guard !reader.isAtEnd else { return MQTTDisconnectPacket(reasonCode: reasonCode) }
        let properties = try MQTTProperties.decode(from: &reader, context: .disconnect)
        try reader.expectEnd()
        return MQTTDisconnectPacket(reasonCode: reasonCode, properties: properties)
    }

    private static func decodeAuth(_ reader: inout MQTTPacketReader) throws(MQTTCodecError) -> MQTTAuthPacket {
        guard !reader.isAtEnd else { return MQTTAuthPacket() }
        let reasonCode = try reader.readReasonCode()
        // Leniently accept a Reason Code without Property Length (Remaining Length 1).
        guard !reader.isAtEnd else { return MQTTAuthPacket(reasonCode: reasonCode) }
        let properties = try MQTTProperties.decode(from: &reader, context: .auth)
        try reader.expectEnd()
        return MQTTAuthPacket(reasonCode: reasonCode, properties: properties)
    }
}

extension MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        try self.decode(buffer: &buffer)
    }
}
