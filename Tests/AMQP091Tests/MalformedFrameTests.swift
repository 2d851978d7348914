import NIOCore
import Testing

import AMQP091

@Suite("Malformed frames")
struct MalformedFrameTests {
    /// Decodes `bytes` expecting a typed error; checks the reader index is untouched.
    static func decodeError(_ bytes: [UInt8], maxFrameSize: UInt32 = 131_072) -> AMQPCodecError? {
        var buffer = TestSupport.buffer(bytes)
        let decoder = AMQPFrameDecoder(maxFrameSize: maxFrameSize)
        do {
            let frame = try decoder.decode(from: &buffer)
            Issue.record("expected an error, got \(String(describing: frame))")
            return nil
        } catch {
            #expect(buffer.readerIndex == 0, "reader index moved on error")
            return error
        }
    }

    static func methodFrame(_ classID: UInt16, _ methodID: UInt16, _ arguments: [UInt8], channel: UInt16 = 1) -> [UInt8] {
        TestSupport.rawFrame(type: 1, channel: channel, payload: TestSupport.methodPayload(classID: classID, methodID: methodID, arguments))
    }

    // MARK: Framing

    @Test("unknown frame types are refused from the first byte", arguments: [UInt8(0), 4, 5, 7, 9, 0x41, 0xCE, 0xFF])
    func unknownFrameType(type: UInt8) {
        let error = Self.decodeError([type])
        #expect(error?.code == .unknownFrameType)
        #expect(error?.replyCode == .frameError)
        let full = Self.decodeError(TestSupport.rawFrame(type: type, channel: 0, payload: []))
        #expect(full?.code == .unknownFrameType)
    }

    @Test("a protocol header where a frame was expected is an unknown frame type with a hint")
    func protocolHeaderInsteadOfFrame() {
        let error = Self.decodeError([0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1])
        #expect(error?.code == .unknownFrameType)
        #expect(error?.message.contains("protocol header") == true)
    }

    @Test("a bad frame-end octet is refused", arguments: [UInt8(0x00), 0xCD, 0xCF, 0xFF])
    func badFrameEnd(end: UInt8) {
        let bytes = TestSupport.rawFrame(type: 8, channel: 0, payload: [], end: end)
        let error = Self.decodeError(bytes)
        #expect(error?.code == .invalidFrameEnd)
        #expect(error?.replyCode == .frameError)

        let method = TestSupport.rawFrame(type: 1, channel: 1, payload: TestSupport.methodPayload(classID: 90, methodID: 10), end: end)
        #expect(Self.decodeError(method)?.code == .invalidFrameEnd)
    }

    @Test("a frame whose size field is off by one hits the frame-end check")
    func sizeOffByOne() {
        var bytes = TestSupport.rawFrame(type: 1, channel: 1, payload: TestSupport.methodPayload(classID: 90, methodID: 10))
        bytes[6] -= 1  // size 3 instead of 4: the frame-end position now holds a payload byte
        #expect(Self.decodeError(bytes)?.code == .invalidFrameEnd)
    }

    @Test("heartbeats on a non-zero channel or with a payload are refused")
    func badHeartbeat() {
        let onChannel = Self.decodeError([8, 0, 1, 0, 0, 0, 0])  // only the header is needed
        #expect(onChannel?.code == .invalidHeartbeat)
        #expect(onChannel?.replyCode == .frameError)
        let withPayload = Self.decodeError([8, 0, 0, 0, 0, 0, 1])
        #expect(withPayload?.code == .invalidHeartbeat)
    }

    @Test("an oversize frame is refused from its 7-byte header, before the payload arrives")
    func oversizeRefusedEarly() {
        // Declares a 2 GiB payload; nothing of it is present.
        let header: [UInt8] = [3, 0, 1, 0x80, 0x00, 0x00, 0x00]
        let error = Self.decodeError(header, maxFrameSize: 131_072)
        #expect(error?.code == .frameTooLarge)
        #expect(error?.replyCode == .frameError)
        #expect(error?.message.contains("131072") == true)

        // Maximum declared size, every frame type.
        for type: UInt8 in [1, 2, 3] {
            let huge = Self.decodeError([type, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF], maxFrameSize: 4096)
            #expect(huge?.code == .frameTooLarge)
        }

        // One byte over the limit: payload = frame_max - 7.
        let justOver = Self.decodeError([3, 0, 1] + TestSupport.be32(4096 - 7), maxFrameSize: 4096)
        #expect(justOver?.code == .frameTooLarge)

        // Exactly at the limit only waits for more bytes.
        var atLimit = TestSupport.buffer([3, 0, 1] + TestSupport.be32(4096 - 8))
        let result = Result { () throws(AMQPCodecError) in try AMQPFrameDecoder(maxFrameSize: 4096).decode(from: &atLimit) }
        #expect(result == .success(nil))
        #expect(atLimit.readerIndex == 0)
    }

    @Test("every prefix of a valid frame returns nil with the reader index unchanged")
    func everyPrefixIsIncomplete() throws {
        let decoder = AMQPFrameDecoder(maxFrameSize: 0)
        for frame in TestSupport.sampleFrames() {
            let bytes = try TestSupport.encode(frame)
            for length in 0..<bytes.count {
                // Start at a non-zero reader index to catch absolute/relative index mix-ups.
                var buffer = TestSupport.buffer([0xEE, 0xEE] + bytes.prefix(length))
                buffer.moveReaderIndex(forwardBy: 2)
                let frameOrNil = try decoder.decode(from: &buffer)
                #expect(frameOrNil == nil, "prefix \(length) of \(frame)")
                #expect(buffer.readerIndex == 2)
                #expect(buffer.readableBytes == length)
            }
            var whole = TestSupport.buffer([0xEE] + bytes)
            whole.moveReaderIndex(forwardBy: 1)
            #expect(try decoder.decode(from: &whole) == frame)
            #expect(whole.readableBytes == 0)
        }
    }

    // MARK: Methods

    @Test("unknown class or method ids are command-invalid")
    func unknownMethod() {
        for (classID, methodID) in [(UInt16(11), UInt16(10)), (30, 10), (10, 12), (40, 41), (60, 121), (85, 12), (90, 40), (0, 0), (0xFFFF, 0xFFFF)] {
            let error = Self.decodeError(Self.methodFrame(classID, methodID, []))
            #expect(error?.code == .unknownMethod, "\(classID).\(methodID)")
            #expect(error?.replyCode == .commandInvalid)
        }
    }

    @Test("method payloads shorter than 4 bytes are truncated")
    func shortMethodPayload() {
        for payload in [[], [0], [0, 60], [0, 60, 0]] as [[UInt8]] {
            let error = Self.decodeError(TestSupport.rawFrame(type: 1, channel: 1, payload: payload))
            #expect(error?.code == .truncated)
            #expect(error?.replyCode == .frameError)
        }
    }

    @Test("every truncation of every method's arguments is a typed error", arguments: TestSupport.allMethods)
    func truncatedArguments(method: AMQPMethod) throws {
        let payload = try TestSupport.encode(method)
        for length in 4..<payload.count {
            let error = Self.decodeError(TestSupport.rawFrame(type: 1, channel: 1, payload: Array(payload.prefix(length))))
            // A cut inside a table may surface as a length error; both are typed.
            #expect(error?.code == .truncated || error?.code == .lengthExceedsFrame, "\(method.name) cut at \(length)")
        }
    }

    @Test("bytes after the last argument are a syntax error", arguments: TestSupport.allMethods)
    func trailingBytes(method: AMQPMethod) throws {
        let payload = try TestSupport.encode(method) + [0x00]
        let error = Self.decodeError(TestSupport.rawFrame(type: 1, channel: 1, payload: payload))
        #expect(error?.code == .trailingBytes)
        #expect(error?.replyCode == .syntaxError)
    }

    @Test("length fields larger than the frame are refused")
    func lengthsLargerThanFrame() {
        // basic.consume-ok with a short string claiming 200 bytes.
        let shortstr = Self.decodeError(Self.methodFrame(60, 21, [200, 0x61, 0x62]))
        #expect(shortstr?.code == .lengthExceedsFrame)
        #expect(shortstr?.replyCode == .frameError)

        // connection.secure with a long string claiming 4 GiB.
        let longstr = Self.decodeError(Self.methodFrame(10, 20, TestSupport.be32(.max) + [1, 2, 3], channel: 0))
        #expect(longstr?.code == .lengthExceedsFrame)

        // exchange.declare whose arguments table claims 1 MiB.
        let table = Self.decodeError(Self.methodFrame(40, 10, [0, 0, 1, 0x65, 0, 0] + TestSupport.be32(1 << 20)))
        #expect(table?.code == .lengthExceedsFrame)

        // A field array inside a table claiming more than its table.
        let entries: [UInt8] = [1, 0x61, 0x41] + TestSupport.be32(50) + [0x56]
        let array = Self.decodeError(Self.methodFrame(40, 10, [0, 0, 1, 0x65, 0, 0] + TestSupport.be32(UInt32(entries.count)) + entries))
        #expect(array?.code == .lengthExceedsFrame)

        // A byte array claiming more than remains.
        let xEntries: [UInt8] = [1, 0x61, 0x78] + TestSupport.be32(9) + [1, 2]
        let byteArray = Self.decodeError(Self.methodFrame(40, 10, [0, 0, 1, 0x65, 0, 0] + TestSupport.be32(UInt32(xEntries.count)) + xEntries))
        #expect(byteArray?.code == .lengthExceedsFrame)
    }

    @Test("an unknown field value tag inside method arguments is a syntax error")
    func unknownFieldTag() {
        let entries: [UInt8] = [1, 0x61, UInt8(ascii: "Z"), 0]
        let error = Self.decodeError(Self.methodFrame(50, 10, [0, 0, 1, 0x71, 0] + TestSupport.be32(UInt32(entries.count)) + entries))
        #expect(error?.code == .unknownFieldType)
        #expect(error?.replyCode == .syntaxError)
    }

    @Test("over-deep tables inside method arguments are a syntax error")
    func overDeepInMethod() {
        var body: [UInt8] = []
        for _ in 0..<100 {
            body = [0x01, 0x74, 0x46] + TestSupport.be32(UInt32(body.count)) + body
        }
        let error = Self.decodeError(Self.methodFrame(50, 10, [0, 0, 1, 0x71, 0] + TestSupport.be32(UInt32(body.count)) + body))
        #expect(error?.code == .nestingTooDeep)
        #expect(error?.replyCode == .syntaxError)
    }

    @Test("invalid UTF-8 in short strings is accepted as bytes")
    func invalidUTF8Accepted() throws {
        let bytes = Self.methodFrame(60, 30, [3, 0xFF, 0xFE, 0xFD, 0])
        let frame = try TestSupport.decodeOne(bytes, maxFrameSize: 4096)
        guard case .method(.basic(.cancel(let cancel)))? = frame?.payload else {
            Issue.record("unexpected \(String(describing: frame))")
            return
        }
        #expect(cancel.consumerTag.bytes == [0xFF, 0xFE, 0xFD])
        #expect(cancel.consumerTag.string == nil)
        #expect(try TestSupport.encode(frame!) == bytes)
    }

    @Test("content header problems are typed errors inside frames")
    func contentHeaderInFrame() {
        let badClass = TestSupport.rawFrame(type: 2, channel: 1, payload: [0, 10, 0, 0] + TestSupport.be64(0) + [0, 0])
        #expect(Self.decodeError(badClass)?.code == .unknownContentClass)
        let badFlags = TestSupport.rawFrame(type: 2, channel: 1, payload: [0, 60, 0, 0] + TestSupport.be64(0) + [0, 2])
        #expect(Self.decodeError(badFlags)?.code == .invalidPropertyFlags)
        let truncated = TestSupport.rawFrame(type: 2, channel: 1, payload: [0, 60, 0, 0])
        #expect(Self.decodeError(truncated)?.code == .truncated)
    }

    @Test("an error mid-stream leaves earlier frames decoded and the bad frame unconsumed")
    func errorMidStream() throws {
        var buffer = ByteBuffer()
        try AMQPFrame.heartbeat.encode(into: &buffer)
        buffer.writeBytes(TestSupport.rawFrame(type: 8, channel: 0, payload: [], end: 0x00))
        let decoder = AMQPFrameDecoder()
        #expect(try decoder.decode(from: &buffer) == .heartbeat)
        let index = buffer.readerIndex
        #expect(throws: AMQPCodecError.self) { try decoder.decode(from: &buffer) }
        #expect(buffer.readerIndex == index)
    }

    @Test("errors describe themselves")
    func errorDescription() {
        let error = Self.decodeError([0x04])
        #expect(error?.description.contains("unknownFrameType") == true)
        #expect(error?.description.contains("501") == true)
    }
}
