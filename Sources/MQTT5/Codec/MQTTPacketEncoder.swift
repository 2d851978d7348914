import NIOCore

/// Encodes MQTT 5.0 control packets into a `ByteBuffer`.
///
/// Encoding validates the packet first (string lengths and U+0000, properties allowed in the
/// packet, property values, reason codes allowed in the packet, packet identifiers, QoS and
/// flag rules) and computes its exact size; it refuses, with an ``MQTTCodecError`` and without
/// writing anything, a packet whose total size exceeds ``maximumPacketSize`` (the peer's
/// Maximum Packet Size). Whatever this encoder produces, ``MQTTPacketDecoder`` accepts.
///
/// It conforms to NIO's `MessageToByteEncoder`; the codec itself does no I/O.
public struct MQTTPacketEncoder: Sendable {
    /// The Maximum Packet Size the peer announced (total packet size, fixed header included).
    public var maximumPacketSize: Int

    /// - Parameter maximumPacketSize: the peer's Maximum Packet Size in bytes; values above the
    ///   protocol maximum are clamped to it.
    public init(maximumPacketSize: Int = MQTTPacketDecoder.protocolMaximumPacketSize) {
        self.maximumPacketSize = min(max(maximumPacketSize, 0), MQTTPacketDecoder.protocolMaximumPacketSize)
    }

    /// The total encoded size of `packet` in bytes, after validating it. Does not check
    /// ``maximumPacketSize``.
    public func encodedSize(of packet: MQTTPacket) throws(MQTTCodecError) -> Int {
        let plan = try Plan(packet)
        return plan.totalSize
    }

    /// Appends the encoding of `packet` to `buffer`. On error nothing is written.
    public func encode(_ packet: MQTTPacket, into buffer: inout ByteBuffer) throws(MQTTCodecError) {
        let plan = try Plan(packet)
        guard plan.totalSize <= self.maximumPacketSize else {
            throw MQTTCodecError(
                kind: .packetTooLarge,
                reasonCode: .packetTooLarge,
                message: "\(packet.packetType) of \(plan.totalSize) bytes exceeds the Maximum Packet Size of \(self.maximumPacketSize) bytes"
            )
        }
        buffer.reserveCapacity(minimumWritableBytes: plan.totalSize)
        let start = buffer.writerIndex
        plan.write(packet, to: &buffer)
        assert(buffer.writerIndex - start == plan.totalSize, "MQTT encoder size mismatch for \(packet.packetType)")
    }

    /// Returns the encoding of `packet` in a new buffer.
    public func encode(
        _ packet: MQTTPacket,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(MQTTCodecError) -> ByteBuffer {
        let plan = try Plan(packet)
        var buffer = allocator.buffer(capacity: min(plan.totalSize, self.maximumPacketSize))
        try self.encode(packet, into: &buffer)
        return buffer
    }
}

extension MQTTPacketEncoder: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket

    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        try self.encode(data, into: &out)
    }
}

// MARK: - Size computation and writing

extension MQTTPacketEncoder {
    /// The validated sizes of one packet: computed (throwing) first, then used to write
    /// (non-throwing).
    struct Plan {
        var firstByte: UInt8
        var remainingLength: Int
        /// Content length of the packet's property section, or -1 when the section is omitted.
        var propertyLength: Int = -1
        /// Content length of the Will Properties (CONNECT with a will only).
        var willPropertyLength: Int = -1
        /// Whether the reason code byte is written (acks, DISCONNECT, AUTH short forms).
        var writesReasonCode = true

        var totalSize: Int {
            1 + MQTTVariableByteInteger.encodedSize(of: UInt32(self.remainingLength)) + self.remainingLength
        }

        init(_ packet: MQTTPacket) throws(MQTTCodecError) {
            self.firstByte = packet.packetType.rawValue << 4 | (packet.packetType.requiredFlags ?? 0)
            self.remainingLength = 0
            switch packet {
            case .connect(let connect):
                try self.planConnect(connect)
            case .connack(let connack):
                try connack.reasonCode.checkAllowed(in: .connack)
                if connack.sessionPresent && connack.reasonCode != .success {
                    throw .protocolError(.invalidConnackFlags, "CONNACK cannot have Session Present with reason code \(connack.reasonCode)")
                }
                let section = try connack.properties.sectionLength(context: .connack)
                self.propertyLength = section.content
                self.remainingLength = 2 + section.section
            case .publish(let publish):
                try self.planPublish(publish)
            case .puback(let ack):
                try self.planPubAck(ack, type: .puback, context: .puback)
            case .pubrec(let ack):
                try self.planPubAck(ack, type: .pubrec, context: .pubrec)
            case .pubrel(let ack):
                try self.planPubAck(ack, type: .pubrel, context: .pubrel)
            case .pubcomp(let ack):
                try self.planPubAck(ack, type: .pubcomp, context: .pubcomp)
            case .subscribe(let subscribe):
                try Self.checkPacketIdentifier(subscribe.packetIdentifier, .subscribe)
                guard !subscribe.subscriptions.isEmpty else {
                    throw .protocolError(.emptyPayload, "SUBSCRIBE must contain at least one subscription")
                }
                let section = try subscribe.properties.sectionLength(context: .subscribe)
                self.propertyLength = section.content
                var size = 2 + section.section
                for subscription in subscribe.subscriptions {
                    size += try MQTTUTF8String.encodedSize(of: subscription.topicFilter, field: "Topic Filter") + 1
                    try MQTTPacketDecoder.checkSharedNoLocal(filter: subscription.topicFilter, options: subscription.options)
                }
                self.remainingLength = size
            case .suback(let suback):
                try self.planAckList(suback.packetIdentifier, suback.reasonCodes, suback.properties, type: .suback, context: .suback)
            case .unsubscribe(let unsubscribe):
                try Self.checkPacketIdentifier(unsubscribe.packetIdentifier, .unsubscribe)
                guard !unsubscribe.topicFilters.isEmpty else {
                    throw .protocolError(.emptyPayload, "UNSUBSCRIBE must contain at least one Topic Filter")
                }
                let section = try unsubscribe.properties.sectionLength(context: .unsubscribe)
                self.propertyLength = section.content
                var size = 2 + section.section
                for filter in unsubscribe.topicFilters {
                    size += try MQTTUTF8String.encodedSize(of: filter, field: "Topic Filter")
                }
                self.remainingLength = size
            case .unsuback(let unsuback):
                try self.planAckList(
                    unsuback.packetIdentifier, unsuback.reasonCodes, unsuback.properties, type: .unsuback, context: .unsuback
                )
            case .pingreq, .pingresp:
                self.remainingLength = 0
            case .disconnect(let disconnect):
                try disconnect.reasonCode.checkAllowed(in: .disconnect)
                if disconnect.properties.isEmpty {
                    self.writesReasonCode = disconnect.reasonCode != .success
                    self.remainingLength = self.writesReasonCode ? 1 : 0
                } else {
                    let section = try disconnect.properties.sectionLength(context: .disconnect)
                    self.propertyLength = section.content
                    self.remainingLength = 1 + section.section
                }
            case .auth(let auth):
                try auth.reasonCode.checkAllowed(in: .auth)
                if auth.properties.isEmpty && auth.reasonCode == .success {
                    self.writesReasonCode = false
                    self.remainingLength = 0
                } else {
                    let section = try auth.properties.sectionLength(context: .auth)
                    self.propertyLength = section.content
                    self.remainingLength = 1 + section.section
                }
            }
            guard self.remainingLength <= Int(MQTTVariableByteInteger.maxValue) else {
                throw MQTTCodecError(
                    kind: .packetTooLarge,
                    reasonCode: .packetTooLarge,
                    message: "\(packet.packetType) Remaining Length \(self.remainingLength) exceeds \(MQTTVariableByteInteger.maxValue)"
                )
            }
        }

        private static func checkPacketIdentifier(_ identifier: UInt16, _ type: MQTTPacketType) throws(MQTTCodecError) {
            guard identifier != 0 else {
                throw .protocolError(.invalidPacketIdentifier, "\(type) must have a non-zero Packet Identifier")
            }
        }

        private mutating func planConnect(_ connect: MQTTConnectPacket) throws(MQTTCodecError) {
            // Protocol Name (2 + 4), Protocol Version, Connect Flags, Keep Alive.
            var size = 6 + 1 + 1 + 2
            let section = try connect.properties.sectionLength(context: .connect)
            self.propertyLength = section.content
            size += section.section
            size += try MQTTUTF8String.encodedSize(of: connect.clientIdentifier, field: "Client Identifier")
            if let will = connect.will {
                let willSection = try will.properties.sectionLength(context: .will)
                self.willPropertyLength = willSection.content
                size += willSection.section
                try MQTTPacketDecoder.checkTopicName(will.topic, hasTopicAlias: false, field: "Will Topic")
                size += try MQTTUTF8String.encodedSize(of: will.topic, field: "Will Topic")
                size += try MQTTUTF8String.binaryEncodedSize(of: will.payload, field: "Will Payload")
            }
            if let username = connect.username {
                size += try MQTTUTF8String.encodedSize(of: username, field: "User Name")
            }
            if let password = connect.password {
                size += try MQTTUTF8String.binaryEncodedSize(of: password, field: "Password")
            }
            self.remainingLength = size
        }

        private mutating func planPublish(_ publish: MQTTPublishPacket) throws(MQTTCodecError) {
            switch publish.qos {
            case .atMostOnce:
                guard publish.packetIdentifier == nil else {
                    throw .protocolError(.invalidPacketIdentifier, "a QoS 0 PUBLISH must not have a Packet Identifier")
                }
                guard !publish.dup else {
                    throw .protocolError(.invalidDupFlag, "a QoS 0 PUBLISH must not have the DUP flag set")
                }
            case .atLeastOnce, .exactlyOnce:
                guard let identifier = publish.packetIdentifier, identifier != 0 else {
                    throw .protocolError(.invalidPacketIdentifier, "a \(publish.qos) PUBLISH needs a non-zero Packet Identifier")
                }
            }
            try MQTTPacketDecoder.checkTopicName(
                publish.topicName, hasTopicAlias: publish.properties.topicAlias != nil, field: "Topic Name"
            )
            var size = try MQTTUTF8String.encodedSize(of: publish.topicName, field: "Topic Name")
            if publish.qos != .atMostOnce { size += 2 }
            let section = try publish.properties.sectionLength(context: .publish)
            self.propertyLength = section.content
            size += section.section
            size += publish.payload.readableBytes
            self.remainingLength = size
            self.firstByte |= (publish.dup ? 0b1000 : 0) | (publish.qos.rawValue << 1) | (publish.retain ? 1 : 0)
        }

        private mutating func planPubAck(
            _ ack: MQTTPubAckPacket,
            type: MQTTPacketType,
            context: MQTTPropertyContext
        ) throws(MQTTCodecError) {
            try Self.checkPacketIdentifier(ack.packetIdentifier, type)
            try ack.reasonCode.checkAllowed(in: type)
            if ack.properties.isEmpty {
                self.writesReasonCode = ack.reasonCode != .success
                self.remainingLength = self.writesReasonCode ? 3 : 2
            } else {
                let section = try ack.properties.sectionLength(context: context)
                self.propertyLength = section.content
                self.remainingLength = 3 + section.section
            }
        }

        private mutating func planAckList(
            _ identifier: UInt16,
            _ codes: [MQTTReasonCode],
            _ properties: MQTTProperties,
            type: MQTTPacketType,
            context: MQTTPropertyContext
        ) throws(MQTTCodecError) {
            try Self.checkPacketIdentifier(identifier, type)
            guard !codes.isEmpty else {
                throw .protocolError(.emptyPayload, "\(type) must contain at least one reason code")
            }
            for code in codes { try code.checkAllowed(in: type) }
            let section = try properties.sectionLength(context: context)
            self.propertyLength = section.content
            self.remainingLength = 2 + section.section + codes.count
        }

        // MARK: Writing

        private func writeProperties(_ properties: MQTTProperties, to buffer: inout ByteBuffer) {
            if self.propertyLength >= 0 {
                properties.write(contentLength: self.propertyLength, to: &buffer)
            }
        }

        func write(_ packet: MQTTPacket, to buffer: inout ByteBuffer) {
            buffer.writeInteger(self.firstByte)
            MQTTVariableByteInteger.writeUnchecked(UInt32(self.remainingLength), to: &buffer)
            switch packet {
            case .connect(let connect):
                buffer.writeMQTTString("MQTT")
                buffer.writeInteger(UInt8(5))
                var flags: UInt8 = connect.cleanStart ? 0b0000_0010 : 0
                if let will = connect.will {
                    flags |= 0b0000_0100 | (will.qos.rawValue << 3) | (will.retain ? 0b0010_0000 : 0)
                }
                if connect.password != nil { flags |= 0b0100_0000 }
                if connect.username != nil { flags |= 0b1000_0000 }
                buffer.writeInteger(flags)
                buffer.writeInteger(connect.keepAlive)
                self.writeProperties(connect.properties, to: &buffer)
                buffer.writeMQTTString(connect.clientIdentifier)
                if let will = connect.will {
                    will.properties.write(contentLength: self.willPropertyLength, to: &buffer)
                    buffer.writeMQTTString(will.topic)
                    buffer.writeMQTTBinary(will.payload)
                }
                if let username = connect.username { buffer.writeMQTTString(username) }
                if let password = connect.password { buffer.writeMQTTBinary(password) }
            case .connack(let connack):
                buffer.writeInteger(UInt8(connack.sessionPresent ? 1 : 0))
                buffer.writeInteger(connack.reasonCode.rawValue)
                self.writeProperties(connack.properties, to: &buffer)
            case .publish(let publish):
                buffer.writeMQTTString(publish.topicName)
                if let identifier = publish.packetIdentifier, publish.qos != .atMostOnce {
                    buffer.writeInteger(identifier)
                }
                self.writeProperties(publish.properties, to: &buffer)
                buffer.writeImmutableBuffer(publish.payload)
            case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
                buffer.writeInteger(ack.packetIdentifier)
                if self.writesReasonCode { buffer.writeInteger(ack.reasonCode.rawValue) }
                self.writeProperties(ack.properties, to: &buffer)
            case .subscribe(let subscribe):
                buffer.writeInteger(subscribe.packetIdentifier)
                self.writeProperties(subscribe.properties, to: &buffer)
                for subscription in subscribe.subscriptions {
                    buffer.writeMQTTString(subscription.topicFilter)
                    buffer.writeInteger(subscription.options.rawValue)
                }
            case .suback(let suback):
                buffer.writeInteger(suback.packetIdentifier)
                self.writeProperties(suback.properties, to: &buffer)
                for code in suback.reasonCodes { buffer.writeInteger(code.rawValue) }
            case .unsubscribe(let unsubscribe):
                buffer.writeInteger(unsubscribe.packetIdentifier)
                self.writeProperties(unsubscribe.properties, to: &buffer)
                for filter in unsubscribe.topicFilters { buffer.writeMQTTString(filter) }
            case .unsuback(let unsuback):
                buffer.writeInteger(unsuback.packetIdentifier)
                self.writeProperties(unsuback.properties, to: &buffer)
                for code in unsuback.reasonCodes { buffer.writeInteger(code.rawValue) }
            case .pingreq, .pingresp:
                break
            case .disconnect(let disconnect):
                if self.writesReasonCode { buffer.writeInteger(disconnect.reasonCode.rawValue) }
                self.writeProperties(disconnect.properties, to: &buffer)
            case .auth(let auth):
                if self.writesReasonCode { buffer.writeInteger(auth.reasonCode.rawValue) }
                self.writeProperties(auth.properties, to: &buffer)
            }
        }
    }
}
