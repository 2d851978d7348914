//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: content header frames and basic properties.
//===----------------------------------------------------------------------===//

import NIOCore

/// The 14 properties of class `basic`, each optional. A property that is
/// `nil` is absent on the wire (its flag bit is clear).
public struct AMQPBasicProperties: Hashable, Sendable {
    /// MIME content type.
    public var contentType: AMQPShortString?
    /// MIME content encoding.
    public var contentEncoding: AMQPShortString?
    /// Application headers.
    public var headers: AMQPFieldTable?
    /// 1 = transient, 2 = persistent.
    public var deliveryMode: UInt8?
    /// Priority, 0 to 9 (RabbitMQ honours up to the queue's `x-max-priority`).
    public var priority: UInt8?
    /// Application correlation identifier.
    public var correlationID: AMQPShortString?
    /// Address to reply to (RabbitMQ: a queue name, or `amq.rabbitmq.reply-to`).
    public var replyTo: AMQPShortString?
    /// Per-message TTL in milliseconds, as a decimal string (RabbitMQ).
    public var expiration: AMQPShortString?
    /// Application message identifier.
    public var messageID: AMQPShortString?
    /// Message timestamp (seconds since the epoch).
    public var timestamp: UInt64?
    /// Message type name.
    public var type: AMQPShortString?
    /// Creating user id (RabbitMQ validates it against the connection's user).
    public var userID: AMQPShortString?
    /// Creating application id.
    public var appID: AMQPShortString?
    /// Reserved (formerly `cluster-id`); must be empty/absent.
    public var clusterID: AMQPShortString?

    /// `deliveryMode` value for transient messages.
    public static let transient: UInt8 = 1
    /// `deliveryMode` value for persistent messages.
    public static let persistent: UInt8 = 2

    /// No properties set.
    public static let none = AMQPBasicProperties()

    public init(
        contentType: AMQPShortString? = nil,
        contentEncoding: AMQPShortString? = nil,
        headers: AMQPFieldTable? = nil,
        deliveryMode: UInt8? = nil,
        priority: UInt8? = nil,
        correlationID: AMQPShortString? = nil,
        replyTo: AMQPShortString? = nil,
        expiration: AMQPShortString? = nil,
        messageID: AMQPShortString? = nil,
        timestamp: UInt64? = nil,
        type: AMQPShortString? = nil,
        userID: AMQPShortString? = nil,
        appID: AMQPShortString? = nil,
        clusterID: AMQPShortString? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }

    /// Property flag bits, most significant first as on the wire.
    enum Flag {
        static let contentType: UInt16 = 1 << 15
        static let contentEncoding: UInt16 = 1 << 14
        static let headers: UInt16 = 1 << 13
        static let deliveryMode: UInt16 = 1 << 12
        static let priority: UInt16 = 1 << 11
        static let correlationID: UInt16 = 1 << 10
        static let replyTo: UInt16 = 1 << 9
        static let expiration: UInt16 = 1 << 8
        static let messageID: UInt16 = 1 << 7
        static let timestamp: UInt16 = 1 << 6
        static let type: UInt16 = 1 << 5
        static let userID: UInt16 = 1 << 4
        static let appID: UInt16 = 1 << 3
        static let clusterID: UInt16 = 1 << 2
        /// Bit 0 of every flag word says another flag word follows.
        static let continuation: UInt16 = 1
        /// All bits that name a basic property.
        static let known: UInt16 = 0b1111_1111_1111_1100
    }

    /// The property flags word these properties encode to (never with the
    /// continuation bit: the 14 basic properties fit in one word).
    public var propertyFlags: UInt16 {
        var flags: UInt16 = 0
        if self.contentType != nil { flags |= Flag.contentType }
        if self.contentEncoding != nil { flags |= Flag.contentEncoding }
        if self.headers != nil { flags |= Flag.headers }
        if self.deliveryMode != nil { flags |= Flag.deliveryMode }
        if self.priority != nil { flags |= Flag.priority }
        if self.correlationID != nil { flags |= Flag.correlationID }
        if self.replyTo != nil { flags |= Flag.replyTo }
        if self.expiration != nil { flags |= Flag.expiration }
        if self.messageID != nil { flags |= Flag.messageID }
        if self.timestamp != nil { flags |= Flag.timestamp }
        if self.type != nil { flags |= Flag.type }
        if self.userID != nil { flags |= Flag.userID }
        if self.appID != nil { flags |= Flag.appID }
        if self.clusterID != nil { flags |= Flag.clusterID }
        return flags
    }

    /// Reads the property flag words and then the properties they name.
    static func decode(from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> AMQPBasicProperties {
        let flags = try r.readShort("property flags")
        if flags & ~(Flag.known | Flag.continuation) != 0 {
            throw .syntaxError(
                .invalidPropertyFlags,
                "property flags 0x\(String(flags, radix: 16)) set a bit that names no basic property"
            )
        }
        // Continuation words: each one costs two payload bytes, so the loop is
        // bounded by the frame size. Basic has no properties beyond the first
        // word, so any flag set in a continuation word is an error.
        var word = flags
        while word & Flag.continuation != 0 {
            word = try r.readShort("property flags continuation")
            if word & ~Flag.continuation != 0 {
                throw .syntaxError(
                    .invalidPropertyFlags,
                    "property flags continuation word 0x\(String(word, radix: 16)) names properties basic does not define"
                )
            }
        }

        var p = AMQPBasicProperties()
        if flags & Flag.contentType != 0 { p.contentType = try r.readShortString("content-type property") }
        if flags & Flag.contentEncoding != 0 { p.contentEncoding = try r.readShortString("content-encoding property") }
        if flags & Flag.headers != 0 { p.headers = try r.readTable("headers property") }
        if flags & Flag.deliveryMode != 0 { p.deliveryMode = try r.readOctet("delivery-mode property") }
        if flags & Flag.priority != 0 { p.priority = try r.readOctet("priority property") }
        if flags & Flag.correlationID != 0 { p.correlationID = try r.readShortString("correlation-id property") }
        if flags & Flag.replyTo != 0 { p.replyTo = try r.readShortString("reply-to property") }
        if flags & Flag.expiration != 0 { p.expiration = try r.readShortString("expiration property") }
        if flags & Flag.messageID != 0 { p.messageID = try r.readShortString("message-id property") }
        if flags & Flag.timestamp != 0 { p.timestamp = try r.readLongLong("timestamp property") }
        if flags & Flag.type != 0 { p.type = try r.readShortString("type property") }
        if flags & Flag.userID != 0 { p.userID = try r.readShortString("user-id property") }
        if flags & Flag.appID != 0 { p.appID = try r.readShortString("app-id property") }
        if flags & Flag.clusterID != 0 { p.clusterID = try r.readShortString("cluster-id property") }
        return p
    }

    func encode(into b: inout ByteBuffer) throws(AMQPCodecError) {
        b.writeAMQPShort(self.propertyFlags)
        if let v = self.contentType { try b.writeAMQPShortString(v) }
        if let v = self.contentEncoding { try b.writeAMQPShortString(v) }
        if let v = self.headers { try b.writeAMQPTable(v) }
        if let v = self.deliveryMode { b.writeInteger(v) }
        if let v = self.priority { b.writeInteger(v) }
        if let v = self.correlationID { try b.writeAMQPShortString(v) }
        if let v = self.replyTo { try b.writeAMQPShortString(v) }
        if let v = self.expiration { try b.writeAMQPShortString(v) }
        if let v = self.messageID { try b.writeAMQPShortString(v) }
        if let v = self.timestamp { b.writeAMQPLongLong(v) }
        if let v = self.type { try b.writeAMQPShortString(v) }
        if let v = self.userID { try b.writeAMQPShortString(v) }
        if let v = self.appID { try b.writeAMQPShortString(v) }
        if let v = self.clusterID { try b.writeAMQPShortString(v) }
    }
}

/// The payload of a content header frame: which class the content belongs to,
/// the total body size, and the class properties.
///
/// Only class `basic` (60) has content in AMQP 0-9-1.
public struct AMQPContentHeader: Hashable, Sendable {
    /// The content class; always 60 (basic) in AMQP 0-9-1.
    public var classID: UInt16
    /// Unused by the specification; must be zero.
    public var weight: UInt16
    /// The total size of the body that follows in body frames.
    public var bodySize: UInt64
    public var properties: AMQPBasicProperties

    public init(
        classID: UInt16 = AMQPMethod.Basic.classID,
        weight: UInt16 = 0,
        bodySize: UInt64,
        properties: AMQPBasicProperties = .none
    ) {
        self.classID = classID
        self.weight = weight
        self.bodySize = bodySize
        self.properties = properties
    }

    /// Decodes a whole content header frame payload.
    public static func decode(payload: ByteBuffer) throws(AMQPCodecError) -> AMQPContentHeader {
        var r = AMQPPayloadReader(payload)
        let classID = try r.readShort("content header class-id")
        guard classID == AMQPMethod.Basic.classID else {
            throw AMQPCodecError(
                code: .unknownContentClass,
                message: "content header for class \(classID); only basic (60) has content",
                replyCode: .frameError
            )
        }
        let weight = try r.readShort("content header weight")
        let bodySize = try r.readLongLong("content header body-size")
        let properties = try AMQPBasicProperties.decode(from: &r)
        try r.expectEnd("content header")
        return AMQPContentHeader(classID: classID, weight: weight, bodySize: bodySize, properties: properties)
    }

    /// Encodes the content header payload into `buffer`. On error `buffer` is
    /// left as it was.
    public func encode(into buffer: inout ByteBuffer) throws(AMQPCodecError) {
        guard self.classID == AMQPMethod.Basic.classID else {
            throw AMQPCodecError(
                code: .unknownContentClass,
                message: "cannot encode a content header for class \(self.classID); only basic (60) has content",
                replyCode: nil
            )
        }
        let start = buffer.writerIndex
        do throws(AMQPCodecError) {
            buffer.writeAMQPShort(self.classID)
            buffer.writeAMQPShort(self.weight)
            buffer.writeAMQPLongLong(self.bodySize)
            try self.properties.encode(into: &buffer)
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }
}
