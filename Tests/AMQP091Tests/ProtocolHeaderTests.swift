import NIOCore
import Testing

import AMQP091

@Suite("Protocol header")
struct ProtocolHeaderTests {
    @Test("encodes as \"AMQP\" 0 0 9 1, byte exact")
    func encodeByteExact() {
        var buffer = ByteBuffer()
        AMQPProtocolHeader.amqp091.encode(into: &buffer)
        #expect(TestSupport.bytes(buffer) == [0x41, 0x4D, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01])
    }

    @Test("decodes the 0-9-1 header and consumes 8 bytes")
    func decode() throws {
        var buffer = TestSupport.buffer([0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1, 0xAA])
        let header = try AMQPProtocolHeader.decode(from: &buffer)
        #expect(header == .amqp091)
        #expect(header?.isAMQP091 == true)
        #expect(buffer.readableBytes == 1)
    }

    @Test("every prefix returns nil and leaves the reader index untouched")
    func prefixes() throws {
        let full: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1]
        for length in 0..<full.count {
            var buffer = TestSupport.buffer(Array(full.prefix(length)))
            let before = buffer.readerIndex
            #expect(try AMQPProtocolHeader.decode(from: &buffer) == nil)
            #expect(buffer.readerIndex == before)
        }
    }

    @Test("bytes that are not \"AMQP\" fail as soon as they differ")
    func garbage() {
        var buffer = TestSupport.buffer([0x41, 0x4D, 0x58])
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try AMQPProtocolHeader.decode(from: &buffer) }
        #expect(error?.code == .invalidProtocolHeader)
        #expect(buffer.readerIndex == 0)

        var http = TestSupport.buffer(Array("GET / HTTP/1.1\r\n".utf8))
        #expect(TestSupport.codecError { () throws(AMQPCodecError) in try AMQPProtocolHeader.decode(from: &http) }?.code == .invalidProtocolHeader)
    }

    @Test("another version is refused by default and readable on request")
    func otherVersion() throws {
        let amqp10: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 3, 1, 0, 0]
        var strict = TestSupport.buffer(amqp10)
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try AMQPProtocolHeader.decode(from: &strict) }
        #expect(error?.code == .invalidProtocolHeader)
        #expect(strict.readerIndex == 0)

        var lenient = TestSupport.buffer(amqp10)
        let header = try AMQPProtocolHeader.decode(from: &lenient, requireAMQP091: false)
        #expect(header == AMQPProtocolHeader(protocolID: 3, major: 1, minor: 0, revision: 0))
        #expect(header?.isAMQP091 == false)
        #expect(lenient.readableBytes == 0)
    }
}
