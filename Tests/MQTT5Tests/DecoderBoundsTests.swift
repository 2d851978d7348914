import MQTT5
import NIOCore
import Testing

@Suite("Partial input and Maximum Packet Size")
struct DecoderBoundsTests {
    typealias S = MQTT5TestSupport

    @Test("every prefix of a valid packet returns nil with the reader index unchanged", arguments: MQTT5TestSupport.samplePackets)
    func everyPrefix(packet: MQTTPacket) throws {
        let bytes = try S.encode(packet)
        for length in 0..<bytes.count {
            // Put two unrelated bytes in front and consume them, so the reader index is not 0.
            var buffer = S.buffer([0xEE, 0xEE] + bytes.prefix(length))
            buffer.moveReaderIndex(forwardBy: 2)
            let result = try S.decoder.decode(buffer: &buffer)
            #expect(result == nil, "prefix of \(length) bytes")
            #expect(buffer.readerIndex == 2)
            #expect(buffer.readableBytes == length)
        }
        var full = S.buffer(bytes + [0xC0])
        #expect(try S.decoder.decode(buffer: &full) == packet)
        #expect(full.readableBytes == 1)
    }

    @Test("byte-by-byte arrival decodes once the last byte is there")
    func byteByByte() throws {
        var stream = ByteBuffer()
        for packet in S.samplePackets { try S.encoder.encode(packet, into: &stream) }
        var buffer = ByteBuffer()
        var decoded: [MQTTPacket] = []
        for byte in stream.readableBytesView {
            buffer.writeInteger(byte)
            while let packet = try S.decoder.decode(buffer: &buffer) {
                decoded.append(packet)
            }
        }
        #expect(decoded == S.samplePackets)
        #expect(buffer.readableBytes == 0)
    }

    @Test("an oversize packet is refused from its fixed header alone")
    func oversizeFromHeader() {
        let decoder = MQTTPacketDecoder(maximumPacketSize: 1_024)
        // PUBLISH announcing 268,435,455 bytes; none of the body is there.
        for header: [UInt8] in [[0x30, 0xFF, 0xFF, 0xFF, 0x7F], [0x30, 0x80, 0x08], [0x82, 0xFE, 0x07]] {
            var buffer = S.buffer(header)
            do {
                _ = try decoder.decode(buffer: &buffer)
                Issue.record("expected Packet too large for \(header)")
            } catch {
                #expect(error.kind == .packetTooLarge)
                #expect(error.reasonCode == .packetTooLarge)
                #expect(buffer.readerIndex == 0)
            }
        }
    }

    @Test("an oversize packet is refused while its Remaining Length is still incomplete")
    func oversizeFromPartialLength() {
        let decoder = MQTTPacketDecoder(maximumPacketSize: 1_024)
        // Three continuation bytes: at least 2,097,152 bytes follow.
        var buffer = S.buffer([0x30, 0x80, 0x80, 0x80])
        #expect(throws: MQTTCodecError.self) { try decoder.decode(buffer: &buffer) }
        // Two continuation bytes: at least 16,384.
        buffer = S.buffer([0x30, 0x80, 0x80])
        #expect(throws: MQTTCodecError.self) { try decoder.decode(buffer: &buffer) }
        // One continuation byte: at least 128 + 1 + 3 bytes; fits, so more bytes are needed.
        buffer = S.buffer([0x30, 0x80])
        #expect((try? decoder.decode(buffer: &buffer)) == .some(nil))
        #expect(buffer.readerIndex == 0)
    }

    @Test("the limit counts the whole packet: exactly the maximum is accepted, one more is refused")
    func exactLimit() throws {
        let packet = MQTTPacket.publish(MQTTPublishPacket(topicName: "t", payload: ByteBuffer(repeating: 0x41, count: 100)))
        let bytes = try S.encode(packet)
        let size = bytes.count  // 1 + 1 + 104
        #expect(size == 106)
        #expect(try S.decode(bytes, maximumPacketSize: size) == packet)
        let error = S.decodeError(bytes, maximumPacketSize: size - 1)
        #expect(error?.kind == .packetTooLarge)
        // Only the first two bytes are needed to refuse it.
        #expect(S.decodeError(Array(bytes.prefix(2)), maximumPacketSize: size - 1)?.kind == .packetTooLarge)
    }

    @Test("the default maximum is the protocol maximum; larger values are clamped")
    func defaults() {
        #expect(MQTTPacketDecoder.protocolMaximumPacketSize == 268_435_460)
        #expect(MQTTPacketDecoder().maximumPacketSize == 268_435_460)
        #expect(MQTTPacketDecoder(maximumPacketSize: .max).maximumPacketSize == 268_435_460)
        #expect(MQTTPacketEncoder(maximumPacketSize: .max).maximumPacketSize == 268_435_460)
    }

    @Test("a packet announcing the protocol maximum waits for its body without buffering it")
    func largestLengthWaits() throws {
        var buffer = S.buffer([0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01])
        #expect(try S.decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readerIndex == 0)
    }

    @Test("decodeComplete rejects leftovers and incomplete input")
    func decodeComplete() {
        #expect(throws: MQTTCodecError.self) { try S.decoder.decodeComplete(S.buffer([0xC0, 0x00, 0xC0])) }
        #expect(throws: MQTTCodecError.self) { try S.decoder.decodeComplete(S.buffer([0xC0])) }
        #expect((try? S.decoder.decodeComplete(S.buffer([0xC0, 0x00]))) == .pingreq)
    }
}
