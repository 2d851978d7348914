import NIOCore
import Testing

import AMQP091

@Suite("Field tables and arrays")
struct FieldTableTests {
    static func roundTrip(_ table: AMQPFieldTable) throws -> AMQPFieldTable {
        var buffer = ByteBuffer()
        try table.encode(into: &buffer)
        let decoded = try AMQPFieldTable.decode(from: &buffer)
        #expect(buffer.readableBytes == 0)
        return decoded
    }

    static let everyValue: [AMQPFieldValue] = [
        .bool(true), .bool(false),
        .int8(.min), .int8(.max), .uint8(.max),
        .int16(.min), .uint16(.max),
        .int32(.min), .uint32(.max),
        .int64(.min), .int64(.max),
        .float(-1.5), .float(.infinity), .float(.nan), .float(-0.0),
        .double(.pi), .double(.nan), .double(-.infinity),
        .decimal(AMQPDecimal(scale: 255, value: .max)),
        .longString(""), .longString("text"), .longString(AMQPLongString(bytes: [0xFF, 0xFE, 0x00])),
        .byteArray([]), .byteArray([0, 0xCE, 0xFF]),
        .array([]), .array([.int32(1), .void, .array([.table(["a": .bool(true)])])]),
        .timestamp(0), .timestamp(.max),
        .table([:]), .table(["nested": .table(["deeper": .longString("x")])]),
        .void,
    ]

    @Test("each value type round trips alone", arguments: everyValue)
    func singleValueRoundTrip(value: AMQPFieldValue) throws {
        let table: AMQPFieldTable = ["k": value]
        #expect(try Self.roundTrip(table) == table)
        // And inside an array.
        let inArray: AMQPFieldTable = ["arr": .array([value, value])]
        #expect(try Self.roundTrip(inArray) == inArray)
    }

    @Test("a table with every type (and nesting) round trips in order")
    func everyTypeTable() throws {
        let table = TestSupport.everyTypeTable
        let decoded = try Self.roundTrip(table)
        #expect(decoded == table)
        #expect(decoded.keys == table.keys)
        #expect(Set(table.map { $0.value.typeTag }).count == 17)
    }

    @Test("type tags match RabbitMQ's field table types")
    func typeTags() {
        let tags: [(AMQPFieldValue, Character)] = [
            (.bool(true), "t"), (.int8(0), "b"), (.uint8(0), "B"), (.int16(0), "s"), (.uint16(0), "u"),
            (.int32(0), "I"), (.uint32(0), "i"), (.int64(0), "l"), (.float(0), "f"), (.double(0), "d"),
            (.decimal(.init(scale: 0, value: 0)), "D"), (.longString(""), "S"), (.byteArray([]), "x"),
            (.array([]), "A"), (.timestamp(0), "T"), (.table([:]), "F"), (.void, "V"),
        ]
        for (value, tag) in tags {
            #expect(value.typeTag == tag.asciiValue, "\(value)")
        }
    }

    @Test("byte exact encoding of a small table")
    func byteExact() throws {
        let table: AMQPFieldTable = ["a": .bool(true), "n": .int32(-2), "s": .longString("hi")]
        var buffer = ByteBuffer()
        try table.encode(into: &buffer)
        var expected: [UInt8] = []
        expected += [0x01, 0x61, 0x74, 0x01]  // "a" t 1
        expected += [0x01, 0x6E, 0x49, 0xFF, 0xFF, 0xFF, 0xFE]  // "n" I -2
        expected += [0x01, 0x73, 0x53, 0x00, 0x00, 0x00, 0x02, 0x68, 0x69]  // "s" S "hi"
        #expect(TestSupport.bytes(buffer) == TestSupport.be32(UInt32(expected.count)) + expected)
        #expect(try table.encodedSize() == expected.count + 4)
    }

    @Test("byte exact encoding of arrays, decimals and void")
    func byteExactComposite() throws {
        let table: AMQPFieldTable = ["A": .array([.uint8(7), .void]), "D": .decimal(.init(scale: 2, value: 1234))]
        var buffer = ByteBuffer()
        try table.encode(into: &buffer)
        var expected: [UInt8] = []
        expected += [0x01, 0x41, 0x41] + TestSupport.be32(3) + [0x42, 0x07, 0x56]
        expected += [0x01, 0x44, 0x44, 0x02] + TestSupport.be32(1234)
        #expect(TestSupport.bytes(buffer) == TestSupport.be32(UInt32(expected.count)) + expected)
    }

    @Test("order and duplicate keys are kept")
    func orderAndDuplicates() throws {
        var table = AMQPFieldTable()
        table.append(key: "z", value: .int8(1))
        table.append(key: "a", value: .int8(2))
        table.append(key: "z", value: .int8(3))
        let decoded = try Self.roundTrip(table)
        #expect(decoded.keys == ["z", "a", "z"])
        #expect(decoded["z"] == .int8(1))
        #expect(decoded.count == 3)
    }

    @Test("subscript by key sets, replaces and removes")
    func subscriptByKey() {
        var table: AMQPFieldTable = ["a": .int8(1)]
        table["b"] = .string("two")
        table["a"] = .bool(false)
        #expect(table.keys == ["a", "b"])
        #expect(table["a"] == .bool(false))
        #expect(table["b"]?.stringValue == "two")
        table["a"] = nil
        #expect(table.keys == ["b"])
        #expect(table["missing"] == nil)
    }

    @Test("NaN floats compare equal to themselves (bit pattern equality)")
    func nanEquality() {
        #expect(AMQPFieldValue.float(.nan) == .float(.nan))
        #expect(AMQPFieldValue.double(.nan) == .double(.nan))
        #expect(AMQPFieldValue.double(0.0) != .double(-0.0))
        #expect(Set<AMQPFieldValue>([.double(.nan), .double(.nan)]).count == 1)
    }

    @Test("value accessors")
    func accessors() {
        #expect(AMQPFieldValue.int16(-3).integerValue == -3)
        #expect(AMQPFieldValue.uint32(7).integerValue == 7)
        #expect(AMQPFieldValue.bool(true).boolValue == true)
        #expect(AMQPFieldValue.longString("x").stringValue == "x")
        #expect(AMQPFieldValue.table(["a": .void]).tableValue?.count == 1)
        #expect(AMQPFieldValue.array([.void]).arrayValue?.count == 1)
        let literal: AMQPFieldValue = ["k": "v", "list": [true, "s"]]
        #expect(literal == .table(["k": .longString("v"), "list": .array([.bool(true), .longString("s")])]))
    }

    @Test("nesting up to the bound round trips; deeper is refused both ways")
    func nestingDepth() throws {
        func nested(_ depth: Int) -> AMQPFieldTable {
            var table: AMQPFieldTable = ["leaf": .bool(true)]
            for _ in 1..<depth {
                table = ["t": .table(table)]
            }
            return table
        }
        let maximum = AMQPFieldTable.maximumNestingDepth
        #expect(try Self.roundTrip(nested(maximum)) == nested(maximum))

        let encodeError = TestSupport.codecError { () throws(AMQPCodecError) in
            var buffer = ByteBuffer()
            try nested(maximum + 1).encode(into: &buffer)
        }
        #expect(encodeError?.code == .nestingTooDeep)

        // Arrays count as nesting levels too.
        var value: AMQPFieldValue = .void
        for _ in 0..<maximum {
            value = .array([value])
        }
        let deepArrays: AMQPFieldTable = ["a": value]
        let arrayError = TestSupport.codecError { () throws(AMQPCodecError) in
            var buffer = ByteBuffer()
            try deepArrays.encode(into: &buffer)
        }
        #expect(arrayError?.code == .nestingTooDeep)
    }

    @Test("over-deep tables built by hand are refused when decoding, without recursion blow-up")
    func overDeepDecode() {
        // 2_000 levels of nested tables: {"t": F{"t": F{...}}}
        let levels = 2_000
        var body: [UInt8] = []
        for _ in 0..<levels {
            body = [0x01, 0x74, 0x46] + TestSupport.be32(UInt32(body.count)) + body
        }
        var buffer = TestSupport.buffer(TestSupport.be32(UInt32(body.count)) + body)
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try AMQPFieldTable.decode(from: &buffer) }
        #expect(error?.code == .nestingTooDeep)
        #expect(error?.replyCode == .syntaxError)
        #expect(buffer.readerIndex == 0)
    }

    @Test("unknown field type tag is a typed error")
    func unknownTag() {
        let entries: [UInt8] = [0x01, 0x6B, 0x51, 0x00]  // "k" 'Q' ...
        var buffer = TestSupport.buffer(TestSupport.be32(UInt32(entries.count)) + entries)
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try AMQPFieldTable.decode(from: &buffer) }
        #expect(error?.code == .unknownFieldType)
        #expect(error?.replyCode == .syntaxError)
        #expect(error?.message.contains("'Q'") == true)
    }

    @Test("table and value lengths larger than the data are typed errors")
    func lengthOverflow() {
        // Table claims 100 bytes, only 4 follow.
        var short = TestSupport.buffer(TestSupport.be32(100) + [0x01, 0x61, 0x56, 0x00])
        #expect(TestSupport.codecError { () throws(AMQPCodecError) in try AMQPFieldTable.decode(from: &short) }?.code == .lengthExceedsFrame)

        // A long string inside claiming 4 GiB.
        let entries: [UInt8] = [0x01, 0x61, 0x53] + TestSupport.be32(.max)
        var huge = TestSupport.buffer(TestSupport.be32(UInt32(entries.count)) + entries)
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try AMQPFieldTable.decode(from: &huge) }
        #expect(error?.code == .lengthExceedsFrame)
        #expect(error?.replyCode == .frameError)

        // A value running past the end of its table (table size 4, int32 needs 5 more).
        let overrun: [UInt8] = TestSupport.be32(4) + [0x01, 0x61, 0x49, 0x00, 0x00, 0x00, 0x01]
        var overrunBuffer = TestSupport.buffer(overrun)
        #expect(TestSupport.codecError { () throws(AMQPCodecError) in try AMQPFieldTable.decode(from: &overrunBuffer) }?.code == .truncated)
    }

    @Test("a key longer than 255 bytes cannot be encoded")
    func longKey() {
        let table = AMQPFieldTable([(AMQPShortString(String(repeating: "k", count: 256)), AMQPFieldValue.void)])
        let error = TestSupport.codecError { () throws(AMQPCodecError) in
            var buffer = ByteBuffer()
            try table.encode(into: &buffer)
        }
        #expect(error?.code == .valueTooLarge)
        #expect(error?.replyCode == nil)
    }

    @Test("keys and long strings keep invalid UTF-8 bytes")
    func invalidUTF8() throws {
        let key = AMQPShortString(bytes: [0xC3, 0x28])
        let table = AMQPFieldTable([(key, AMQPFieldValue.longString(AMQPLongString(bytes: [0xE2, 0x82])))])
        let decoded = try Self.roundTrip(table)
        #expect(decoded.first?.key.bytes == [0xC3, 0x28])
        #expect(decoded.first?.key.string == nil)
        #expect(decoded.first?.value.stringValue == nil)
        #expect(decoded == table)
    }

    @Test("RabbitMQ capability helpers")
    func capabilities() throws {
        let properties = AMQPCapabilities.clientProperties(product: "Sluice", version: "0.1", connectionName: "gateway-1")
        #expect(properties["product"]?.stringValue == "Sluice")
        #expect(properties["connection_name"]?.stringValue == "gateway-1")
        let announced = AMQPCapabilities.announced(in: try Self.roundTrip(properties))
        #expect(announced.contains(AMQPCapabilities.authenticationFailureClose))
        #expect(announced.contains(AMQPCapabilities.publisherConfirms))
        #expect(announced.contains(AMQPCapabilities.connectionBlocked))
        #expect(announced.contains(AMQPCapabilities.consumerCancelNotify))
        #expect(AMQPCapabilities.announced(in: TestSupport.rabbitServerProperties).count == 9)
        #expect(AMQPCapabilities.announced(in: [:]).isEmpty)
        #expect(AMQPLongString.plainSASLResponse(username: "u", password: "p").bytes == [0, 0x75, 0, 0x70])
    }
}
