import NIOCore
import Testing

import AMQP091

@Suite("Content headers")
struct ContentHeaderTests {
    /// One case per basic property: its name, the flag bit (15 = first), the
    /// properties with only it set, and its encoded value bytes.
    struct PropertyCase: Sendable, CustomTestStringConvertible {
        var name: String
        var bit: Int
        var properties: AMQPBasicProperties
        var valueBytes: [UInt8]
        var testDescription: String { self.name }
    }

    static let headersTable: AMQPFieldTable = ["h": .int8(1)]

    static let propertyCases: [PropertyCase] = [
        .init(name: "content-type", bit: 15, properties: .init(contentType: "text/plain"), valueBytes: TestSupport.shortstr("text/plain")),
        .init(name: "content-encoding", bit: 14, properties: .init(contentEncoding: "gzip"), valueBytes: TestSupport.shortstr("gzip")),
        .init(name: "headers", bit: 13, properties: .init(headers: headersTable), valueBytes: TestSupport.be32(4) + [1, 0x68, 0x62, 1]),
        .init(name: "delivery-mode", bit: 12, properties: .init(deliveryMode: 2), valueBytes: [2]),
        .init(name: "priority", bit: 11, properties: .init(priority: 9), valueBytes: [9]),
        .init(name: "correlation-id", bit: 10, properties: .init(correlationID: "c1"), valueBytes: TestSupport.shortstr("c1")),
        .init(name: "reply-to", bit: 9, properties: .init(replyTo: "rq"), valueBytes: TestSupport.shortstr("rq")),
        .init(name: "expiration", bit: 8, properties: .init(expiration: "1000"), valueBytes: TestSupport.shortstr("1000")),
        .init(name: "message-id", bit: 7, properties: .init(messageID: "m1"), valueBytes: TestSupport.shortstr("m1")),
        .init(name: "timestamp", bit: 6, properties: .init(timestamp: 1_700_000_000), valueBytes: TestSupport.be64(1_700_000_000)),
        .init(name: "type", bit: 5, properties: .init(type: "evt"), valueBytes: TestSupport.shortstr("evt")),
        .init(name: "user-id", bit: 4, properties: .init(userID: "guest"), valueBytes: TestSupport.shortstr("guest")),
        .init(name: "app-id", bit: 3, properties: .init(appID: "sluice"), valueBytes: TestSupport.shortstr("sluice")),
        .init(name: "cluster-id", bit: 2, properties: .init(clusterID: "c"), valueBytes: TestSupport.shortstr("c")),
    ]

    static func headerBytes(classID: UInt16 = 60, weight: UInt16 = 0, bodySize: UInt64, flags: [UInt16], values: [UInt8]) -> [UInt8] {
        TestSupport.be16(classID) + TestSupport.be16(weight) + TestSupport.be64(bodySize) + flags.flatMap(TestSupport.be16) + values
    }

    static func decode(_ bytes: [UInt8]) throws(AMQPCodecError) -> AMQPContentHeader {
        try AMQPContentHeader.decode(payload: TestSupport.buffer(bytes))
    }

    @Test("each property alone: flag bit, bytes and round trip", arguments: propertyCases)
    func singleProperty(_ c: PropertyCase) throws {
        let header = AMQPContentHeader(bodySize: 10, properties: c.properties)
        #expect(c.properties.propertyFlags == UInt16(1) << UInt16(c.bit))
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        let expected = Self.headerBytes(bodySize: 10, flags: [UInt16(1) << UInt16(c.bit)], values: c.valueBytes)
        #expect(TestSupport.bytes(buffer) == expected)
        #expect(try Self.decode(expected) == header)
        // And in a frame.
        let frame = AMQPFrame.header(header, channel: 1)
        #expect(try TestSupport.decodeOne(try TestSupport.encode(frame)) == frame)
    }

    @Test("all 14 properties together, in flag order")
    func allProperties() throws {
        let properties = AMQPBasicProperties(
            contentType: "text/plain",
            contentEncoding: "gzip",
            headers: Self.headersTable,
            deliveryMode: 2,
            priority: 9,
            correlationID: "c1",
            replyTo: "rq",
            expiration: "1000",
            messageID: "m1",
            timestamp: 1_700_000_000,
            type: "evt",
            userID: "guest",
            appID: "sluice",
            clusterID: "c"
        )
        #expect(properties.propertyFlags == 0xFFFC)
        let header = AMQPContentHeader(bodySize: 123_456, properties: properties)
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        let expected = Self.headerBytes(bodySize: 123_456, flags: [0xFFFC], values: Self.propertyCases.flatMap(\.valueBytes))
        #expect(TestSupport.bytes(buffer) == expected)
        #expect(try Self.decode(expected) == header)

        let rich = AMQPContentHeader(bodySize: .max, properties: TestSupport.allProperties)
        var richBuffer = ByteBuffer()
        try rich.encode(into: &richBuffer)
        #expect(try AMQPContentHeader.decode(payload: richBuffer) == rich)
    }

    @Test("no properties: flags 0x0000")
    func noProperties() throws {
        let header = AMQPContentHeader(bodySize: 0)
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        #expect(TestSupport.bytes(buffer) == Self.headerBytes(bodySize: 0, flags: [0], values: []))
        #expect(try AMQPContentHeader.decode(payload: buffer) == header)
    }

    @Test("weight is kept")
    func weight() throws {
        let bytes = Self.headerBytes(weight: 7, bodySize: 1, flags: [0], values: [])
        #expect(try Self.decode(bytes).weight == 7)
    }

    @Test("continuation bit: empty continuation words are accepted and dropped on re-encode")
    func continuationAccepted() throws {
        // content-type + continuation, then a second word with continuation, then a final zero word.
        let bytes = Self.headerBytes(bodySize: 3, flags: [0x8001, 0x0001, 0x0000], values: TestSupport.shortstr("a/b"))
        let header = try Self.decode(bytes)
        #expect(header == AMQPContentHeader(bodySize: 3, properties: .init(contentType: "a/b")))
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        #expect(TestSupport.bytes(buffer) == Self.headerBytes(bodySize: 3, flags: [0x8000], values: TestSupport.shortstr("a/b")))
    }

    @Test("continuation bit: a property flag in a continuation word is refused")
    func continuationWithFlags() {
        let bytes = Self.headerBytes(bodySize: 0, flags: [0x0001, 0x8000], values: [])
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try Self.decode(bytes) }
        #expect(error?.code == .invalidPropertyFlags)
        #expect(error?.replyCode == .syntaxError)
    }

    @Test("continuation bit with no following word is truncated")
    func continuationTruncated() {
        let bytes = Self.headerBytes(bodySize: 0, flags: [0x0001], values: [])
        #expect(TestSupport.codecError { () throws(AMQPCodecError) in try Self.decode(bytes) }?.code == .truncated)
    }

    @Test("the unused flag bit 1 is refused")
    func unusedFlagBit() {
        let bytes = Self.headerBytes(bodySize: 0, flags: [0x0002], values: [])
        #expect(TestSupport.codecError { () throws(AMQPCodecError) in try Self.decode(bytes) }?.code == .invalidPropertyFlags)
    }

    @Test("a class other than basic is refused")
    func otherClass() {
        let bytes = Self.headerBytes(classID: 50, bodySize: 0, flags: [0], values: [])
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try Self.decode(bytes) }
        #expect(error?.code == .unknownContentClass)
        let encodeError = TestSupport.codecError { () throws(AMQPCodecError) in
            var buffer = ByteBuffer()
            try AMQPContentHeader(classID: 50, bodySize: 0).encode(into: &buffer)
        }
        #expect(encodeError?.code == .unknownContentClass)
    }

    @Test("a flagged property missing from the payload is truncated; extra bytes are trailing")
    func truncatedAndTrailing() {
        let missing = Self.headerBytes(bodySize: 0, flags: [0x0040], values: [0, 0, 0])  // timestamp needs 8
        #expect(TestSupport.codecError { () throws(AMQPCodecError) in try Self.decode(missing) }?.code == .truncated)
        let extra = Self.headerBytes(bodySize: 0, flags: [0x1000], values: [2, 0xAA])
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try Self.decode(extra) }
        #expect(error?.code == .trailingBytes)
        #expect(error?.replyCode == .syntaxError)
        let shortHeader: [UInt8] = [0, 60, 0, 0, 0, 0]
        #expect(TestSupport.codecError { () throws(AMQPCodecError) in try Self.decode(shortHeader) }?.code == .truncated)
    }

    @Test("a property string longer than 255 bytes cannot be encoded; buffer unchanged")
    func tooLongProperty() {
        var buffer = TestSupport.buffer([1, 2, 3])
        let header = AMQPContentHeader(bodySize: 0, properties: .init(messageID: AMQPShortString(String(repeating: "m", count: 300))))
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try header.encode(into: &buffer) }
        #expect(error?.code == .valueTooLarge)
        #expect(TestSupport.bytes(buffer) == [1, 2, 3])
    }
}
