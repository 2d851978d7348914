import NIOCore
import Testing

import AMQP091

@Suite("Frames")
struct FrameTests {
    // MARK: Byte-exact well-known frames

    @Test("heartbeat frame is 08 0000 00000000 CE")
    func heartbeatByteExact() throws {
        let bytes = try TestSupport.encode(.heartbeat)
        #expect(bytes == [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xCE])
        #expect(try TestSupport.decodeOne(bytes) == .heartbeat)
    }

    @Test("connection.tune-ok frame, byte exact")
    func tuneOkByteExact() throws {
        let frame = AMQPFrame.method(.connection(.tuneOk(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 60))), channel: 0)
        let expected: [UInt8] = [
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C,  // method frame, channel 0, size 12
            0x00, 0x0A, 0x00, 0x1F,  // class 10, method 31
            0x07, 0xFF,  // channel-max 2047
            0x00, 0x02, 0x00, 0x00,  // frame-max 131072
            0x00, 0x3C,  // heartbeat 60
            0xCE,
        ]
        #expect(try TestSupport.encode(frame) == expected)
        #expect(try TestSupport.decodeOne(expected) == frame)
    }

    @Test("basic.publish frame, byte exact (bits packed into one octet)")
    func basicPublishByteExact() throws {
        let frame = AMQPFrame.method(
            .basic(.publish(.init(exchange: "amq.topic", routingKey: "hello", mandatory: true, immediate: true))),
            channel: 1
        )
        var payload: [UInt8] = [0x00, 0x3C, 0x00, 0x28]  // class 60, method 40
        payload += [0x00, 0x00]  // reserved-1 (ticket)
        payload += [0x09] + Array("amq.topic".utf8)
        payload += [0x05] + Array("hello".utf8)
        payload += [0b0000_0011]  // mandatory (bit 0), immediate (bit 1)
        let expected = [0x01, 0x00, 0x01, 0x00, 0x00, 0x00, UInt8(payload.count)] + payload + [0xCE]
        #expect(try TestSupport.encode(frame) == expected)
        #expect(try TestSupport.decodeOne(expected) == frame)
    }

    @Test("content header frame with content-type and delivery-mode, byte exact")
    func contentHeaderByteExact() throws {
        let header = AMQPContentHeader(bodySize: 5, properties: .init(contentType: "text/plain", deliveryMode: 2))
        let frame = AMQPFrame.header(header, channel: 1)
        var payload: [UInt8] = [0x00, 0x3C, 0x00, 0x00]  // class 60, weight 0
        payload += TestSupport.be64(5)
        payload += [0x90, 0x00]  // content-type (bit 15) + delivery-mode (bit 12)
        payload += TestSupport.shortstr("text/plain")
        payload += [0x02]
        let expected = TestSupport.rawFrame(type: 2, channel: 1, payload: payload)
        #expect(try TestSupport.encode(frame) == expected)
        #expect(try TestSupport.decodeOne(expected) == frame)
    }

    @Test("body frame carries raw bytes")
    func bodyFrame() throws {
        let frame = AMQPFrame.body(TestSupport.buffer(Array("hello".utf8)), channel: 7)
        let expected = TestSupport.rawFrame(type: 3, channel: 7, payload: Array("hello".utf8))
        #expect(try TestSupport.encode(frame) == expected)
        #expect(try TestSupport.decodeOne(expected) == frame)
    }

    // MARK: Round trips and streaming

    @Test("every sample frame round trips through encode and decode")
    func sampleFramesRoundTrip() throws {
        for frame in TestSupport.sampleFrames() {
            let bytes = try TestSupport.encode(frame)
            #expect(bytes.last == 0xCE)
            #expect(bytes.count == Int(UInt32(bytes[3]) << 24 | UInt32(bytes[4]) << 16 | UInt32(bytes[5]) << 8 | UInt32(bytes[6])) + 8)
            #expect(try TestSupport.decodeOne(bytes) == frame, "\(frame)")
        }
    }

    @Test("many frames in one buffer decode in order, then nil")
    func streamOfFrames() throws {
        let frames = TestSupport.sampleFrames()
        var buffer = ByteBuffer()
        for frame in frames {
            try frame.encode(into: &buffer)
        }
        let decoder = AMQPFrameDecoder(maxFrameSize: 0)
        var decoded: [AMQPFrame] = []
        while let frame = try decoder.decode(from: &buffer) {
            decoded.append(frame)
        }
        #expect(decoded == frames)
        #expect(buffer.readableBytes == 0)
    }

    @Test("frames fed one byte at a time decode exactly once each")
    func byteByByte() throws {
        let frames = TestSupport.sampleFrames()
        var all = ByteBuffer()
        for frame in frames {
            try frame.encode(into: &all)
        }
        let decoder = AMQPFrameDecoder(maxFrameSize: 0)
        var inbound = ByteBuffer()
        var decoded: [AMQPFrame] = []
        while let byte = all.readInteger(as: UInt8.self) {
            inbound.writeInteger(byte)
            while let frame = try decoder.decode(from: &inbound) {
                decoded.append(frame)
            }
        }
        #expect(decoded == frames)
    }

    @Test("a frame exactly frame_max bytes long is accepted, one byte more is refused")
    func frameMaxBoundary() throws {
        let maxFrameSize: UInt32 = 4096
        let fits = AMQPFrame.body(TestSupport.buffer(Array(repeating: 0xAB, count: 4096 - 8)), channel: 1)
        let bytes = try TestSupport.encode(fits, maxFrameSize: maxFrameSize)
        #expect(bytes.count == 4096)
        #expect(try TestSupport.decodeOne(bytes, maxFrameSize: maxFrameSize) == fits)

        let tooBig = AMQPFrame.body(TestSupport.buffer(Array(repeating: 0xAB, count: 4096 - 7)), channel: 1)
        let error = TestSupport.codecError { () throws(AMQPCodecError) in try TestSupport.encodeTyped(tooBig, maxFrameSize: maxFrameSize) }
        #expect(error?.code == .frameTooLarge)
        let raw = try TestSupport.encode(tooBig)
        let decodeError = TestSupport.codecError { () throws(AMQPCodecError) in
            var buffer = TestSupport.buffer(raw)
            return try AMQPFrameDecoder(maxFrameSize: maxFrameSize).decode(from: &buffer)
        }
        #expect(decodeError?.code == .frameTooLarge)
        #expect(decodeError?.replyCode == .frameError)
    }

    @Test("encoding failure leaves the output buffer unchanged")
    func encodeFailureIsAtomic() throws {
        var buffer = ByteBuffer()
        try AMQPFrame.heartbeat.encode(into: &buffer)
        let before = TestSupport.bytes(buffer)
        let long = AMQPShortString(String(repeating: "q", count: 256))
        let frame = AMQPFrame.method(.queue(.declare(.init(queue: long))), channel: 1)
        #expect(throws: AMQPCodecError.self) { try frame.encode(into: &buffer) }
        #expect(TestSupport.bytes(buffer) == before)
    }

    // MARK: Content splitting

    @Test("bodies split into frames of at most frame_max - 8 bytes")
    func bodySplitting() throws {
        let body = TestSupport.buffer((0..<10_000).map { UInt8($0 % 251) })
        let frames = try AMQPFrame.bodyFrames(channel: 3, body: body, maxFrameSize: 4096)
        #expect(frames.count == 3)  // 4088 + 4088 + 1824
        var reassembled: [UInt8] = []
        for frame in frames {
            guard case .body(let chunk) = frame.payload else {
                Issue.record("not a body frame: \(frame)")
                continue
            }
            #expect(frame.channel == 3)
            #expect(chunk.readableBytes <= 4096 - 8)
            reassembled += TestSupport.bytes(chunk)
            #expect(try TestSupport.encode(frame, maxFrameSize: 4096).count <= 4096)
        }
        #expect(reassembled == TestSupport.bytes(body))
        #expect(frames.map { if case .body(let b) = $0.payload { b.readableBytes } else { -1 } } == [4088, 4088, 1824])
    }

    @Test("split sizes at the boundaries", arguments: [0, 1, 4087, 4088, 4089, 8176, 8177])
    func bodySplittingBoundaries(size: Int) throws {
        let body = TestSupport.buffer(Array(repeating: 7, count: size))
        let frames = try AMQPFrame.bodyFrames(channel: 1, body: body, maxFrameSize: 4096)
        #expect(frames.count == (size + 4087) / 4088)
    }

    @Test("frame_max 0 means one body frame; frame_max <= 8 is refused")
    func bodySplittingLimits() throws {
        let body = TestSupport.buffer(Array(repeating: 1, count: 100_000))
        #expect(try AMQPFrame.bodyFrames(channel: 1, body: body, maxFrameSize: 0).count == 1)
        let error = TestSupport.codecError { () throws(AMQPCodecError) in
            try AMQPFrame.bodyFrames(channel: 1, body: body, maxFrameSize: 8)
        }
        #expect(error?.code == .invalidArgument)
        #expect(try AMQPFrame.bodyFrames(channel: 1, body: body, maxFrameSize: 9).count == 100_000)
    }

    @Test("encodeContent writes method, header and split body frames")
    func encodeContent() throws {
        let body = TestSupport.buffer(Array(repeating: 0x5A, count: 300))
        let method = AMQPMethod.basic(.publish(.init(exchange: "x", routingKey: "k")))
        let properties = AMQPBasicProperties(contentType: "application/octet-stream", deliveryMode: 2)
        var out = ByteBuffer()
        try AMQPFrame.encodeContent(channel: 5, method: method, properties: properties, body: body, maxFrameSize: 108, into: &out)

        let decoder = AMQPFrameDecoder(maxFrameSize: 108)
        var frames: [AMQPFrame] = []
        while let frame = try decoder.decode(from: &out) {
            frames.append(frame)
        }
        #expect(frames.count == 2 + 3)
        #expect(frames[0] == .method(method, channel: 5))
        #expect(frames[1] == .header(AMQPContentHeader(bodySize: 300, properties: properties), channel: 5))
        var assembler = AMQPCommandAssembler()
        var commands: [AMQPCommand] = []
        for frame in frames {
            if let command = try assembler.process(frame) { commands.append(command) }
        }
        #expect(commands.count == 1)
        #expect(commands.first?.content?.body == body)
        #expect(commands.first?.content?.properties == properties)
    }

    @Test("content frames are refused for methods without content")
    func contentForNonContentMethod() {
        let error = TestSupport.codecError { () throws(AMQPCodecError) in
            try AMQPFrame.contentFrames(channel: 1, method: .basic(.qosOk), body: ByteBuffer(), maxFrameSize: 4096)
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test("a method frame over frame_max is refused when encoding content")
    func encodeContentFrameTooLarge() {
        var out = ByteBuffer()
        let method = AMQPMethod.basic(.publish(.init(exchange: AMQPShortString(String(repeating: "e", count: 200)), routingKey: "k")))
        let error = TestSupport.codecError { () throws(AMQPCodecError) in
            try AMQPFrame.encodeContent(channel: 1, method: method, body: TestSupport.buffer([1]), maxFrameSize: 100, into: &out)
        }
        #expect(error?.code == .frameTooLarge)
        #expect(out.readableBytes == 0)
    }

    @Test("frame metadata")
    func metadata() {
        #expect(AMQPFrame.heartbeat.type == .heartbeat)
        #expect(AMQPFrame.method(.tx(.select), channel: 1).type == .method)
        #expect(AMQPFrameType(rawValue: 4).isKnown == false)
        #expect(AMQPFrame.frameEnd == 0xCE)
        #expect(AMQPFrameDecoder().maxFrameSize == 131_072)
        #expect(AMQPFrame.heartbeat.description.contains("heartbeat"))
    }
}

extension TestSupport {
    static func encodeTyped(_ frame: AMQPFrame, maxFrameSize: UInt32) throws(AMQPCodecError) -> [UInt8] {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer, maxFrameSize: maxFrameSize)
        return Self.bytes(buffer)
    }
}
