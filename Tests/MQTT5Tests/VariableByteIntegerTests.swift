import MQTT5
import NIOCore
import Testing

@Suite("Variable Byte Integer (§1.5.5)")
struct VariableByteIntegerTests {
    /// The boundary values of the specification's table in §1.5.5.
    static let specTable: [(UInt32, [UInt8])] = [
        (0, [0x00]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]),
        (2_097_151, [0xFF, 0xFF, 0x7F]),
        (2_097_152, [0x80, 0x80, 0x80, 0x01]),
        (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ]

    @Test("encodes the spec's boundary values", arguments: specTable)
    func encodesBoundaries(value: UInt32, expected: [UInt8]) throws {
        var buffer = ByteBuffer()
        let written = try MQTTVariableByteInteger.write(value, to: &buffer)
        #expect(written == expected.count)
        #expect(MQTTVariableByteInteger.encodedSize(of: value) == expected.count)
        #expect(MQTT5TestSupport.bytes(buffer) == expected)
    }

    @Test("decodes the spec's boundary values", arguments: specTable)
    func decodesBoundaries(expected: UInt32, bytes: [UInt8]) throws {
        var buffer = MQTT5TestSupport.buffer(bytes + [0xAB])
        let value = try MQTTVariableByteInteger.read(from: &buffer)
        #expect(value == expected)
        #expect(buffer.readableBytes == 1)
    }

    @Test("refuses to encode a value above 268,435,455")
    func refusesTooLarge() {
        var buffer = ByteBuffer()
        #expect(throws: MQTTCodecError.self) { try MQTTVariableByteInteger.write(268_435_456, to: &buffer) }
        #expect(buffer.readableBytes == 0)
        #expect(MQTTVariableByteInteger.encodedSize(of: .max) == 5)
    }

    @Test("a fifth byte is malformed", arguments: [
        [0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        [0x80, 0x80, 0x80, 0x80, 0x01],
        [0x80, 0x80, 0x80, 0x80],  // four continuation bytes: the fifth cannot be valid
    ] as [[UInt8]])
    func fifthByteIsMalformed(bytes: [UInt8]) {
        var buffer = MQTT5TestSupport.buffer(bytes)
        do {
            _ = try MQTTVariableByteInteger.read(from: &buffer)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .malformedVariableByteInteger)
            #expect(error.reasonCode == .malformedPacket)
            #expect(buffer.readerIndex == 0)
        }
    }

    @Test("a non-minimal encoding is malformed", arguments: [
        [0x80, 0x00],
        [0xFF, 0x80, 0x00],
        [0x80, 0x80, 0x80, 0x00],
    ] as [[UInt8]])
    func nonMinimalIsMalformed(bytes: [UInt8]) {
        var buffer = MQTT5TestSupport.buffer(bytes)
        #expect(throws: MQTTCodecError.self) { try MQTTVariableByteInteger.read(from: &buffer) }
    }

    @Test("an incomplete integer returns nil and leaves the reader index")
    func incomplete() throws {
        for bytes: [UInt8] in [[], [0x80], [0xFF, 0xFF], [0x80, 0x80, 0x80]] {
            var buffer = MQTT5TestSupport.buffer(bytes)
            #expect(try MQTTVariableByteInteger.read(from: &buffer) == nil)
            #expect(buffer.readerIndex == 0)
        }
    }

    @Test("random values round trip")
    func randomRoundTrip() throws {
        var rng = MQTT5SeededGenerator(seed: 0x5EED_0001)
        for _ in 0..<5_000 {
            let bits = UInt32.random(in: 0...28, using: &rng)
            let value = UInt32.random(in: 0...MQTTVariableByteInteger.maxValue, using: &rng) >> (28 - min(bits, 28))
            var buffer = ByteBuffer()
            try MQTTVariableByteInteger.write(value, to: &buffer)
            #expect(buffer.readableBytes == MQTTVariableByteInteger.encodedSize(of: value))
            #expect(try MQTTVariableByteInteger.read(from: &buffer) == value)
        }
    }

    @Test("a 5-byte Remaining Length in a packet is malformed")
    func remainingLengthFiveBytes() {
        let error = MQTT5TestSupport.decodeError([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(error?.kind == .malformedVariableByteInteger)
        #expect(error?.reasonCode == .malformedPacket)
    }

    @Test("a 5-byte Property Length is malformed")
    func propertyLengthFiveBytes() {
        let bytes = MQTT5TestSupport.packet(0xE0, [0x00, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(MQTT5TestSupport.decodeError(bytes)?.kind == .malformedVariableByteInteger)
    }

    @Test("a Subscription Identifier with 5 bytes is malformed")
    func subscriptionIdentifierFiveBytes() {
        let bytes = MQTT5TestSupport.rawPacket(context: .publish, propertyContent: [0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(MQTT5TestSupport.decodeError(bytes)?.kind == .malformedVariableByteInteger)
    }
}
