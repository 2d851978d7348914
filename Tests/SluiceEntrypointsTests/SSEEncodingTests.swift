import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import NIOWebSocket
import SluiceCore
import Testing
@testable import SluiceEntrypoints

private func encoded(_ write: (inout ByteBuffer) -> Void) -> String {
    var buffer = ByteBuffer()
    write(&buffer)
    return String(buffer: buffer)
}

private func message(
    _ message: Message, metadataAsComment: Bool = false, headersAsComment: Bool = false
) -> String {
    let encoder = SSEEncoder(metadataAsComment: metadataAsComment, headersAsComment: headersAsComment)
    return encoded { encoder.message(message, into: &$0) }
}

@Suite("SSEEncoder")
struct SSEEncodingTests {
    @Test func retryLine() {
        #expect(encoded { SSEEncoder.retry(milliseconds: 5000, into: &$0) } == "retry: 5000\n\n")
        #expect(encoded { SSEEncoder.retry(milliseconds: 2000, into: &$0) } == "retry: 2000\n\n")
    }

    @Test func heartbeat() {
        #expect(encoded { SSEEncoder.heartbeat(into: &$0) } == ":\n\n")
    }

    @Test func messageWithId() {
        #expect(message(Message(id: "42", content: "hello")) == "id: 42\nevent: message\ndata: hello\n\n")
    }

    @Test func messageWithoutId() {
        #expect(message(Message(content: "hello")) == "event: message\ndata: hello\n\n")
    }

    @Test func emptyContentStillHasADataLine() {
        #expect(message(Message(id: "0", content: "")) == "id: 0\nevent: message\ndata: \n\n")
    }

    @Test(arguments: [
        ("a\nb", "data: a\ndata: b\n"),
        ("a\r\nb", "data: a\ndata: b\n"),
        ("a\rb", "data: a\ndata: b\n"),
        ("a\nb\r\nc\rd", "data: a\ndata: b\ndata: c\ndata: d\n"),
        ("a\n", "data: a\ndata: \n"),
        ("a\r", "data: a\ndata: \n"),
        ("a\r\n", "data: a\ndata: \n"),
        ("\n", "data: \ndata: \n"),
        ("\r\n", "data: \ndata: \n"),
        ("\n\r", "data: \ndata: \ndata: \n"),
        ("a\n\nb", "data: a\ndata: \ndata: b\n"),
        ("{\"json\": true}", "data: {\"json\": true}\n"),
    ])
    func oneDataLinePerContentLine(content: String, dataLines: String) {
        #expect(message(Message(content: content)) == "event: message\n" + dataLines + "\n")
    }

    @Test func contentBytesAreCopiedAsTheyAre() {
        let bytes: [UInt8] = [0x61, 0xFF, 0x0A, 0xC3, 0xA9]
        let encoder = SSEEncoder()
        var buffer = ByteBuffer()
        encoder.message(Message(content: ByteBuffer(bytes: bytes)), into: &buffer)
        let expected: [UInt8] = Array("event: message\ndata: a".utf8) + [0xFF] + Array("\ndata: ".utf8) + [0xC3, 0xA9] + Array("\n\n".utf8)
        #expect(buffer.readBytes(length: buffer.readableBytes) == expected)
    }

    @Test func contentReaderIndexIsRespected() {
        var content = ByteBuffer(string: "skip\nfirst\nsecond")
        content.moveReaderIndex(forwardBy: 5)
        #expect(message(Message(content: content)) == "event: message\ndata: first\ndata: second\n\n")
    }

    @Test func messageContentIsNotConsumed() {
        let original = Message(id: "1", content: "a\nb")
        _ = message(original)
        #expect(String(buffer: original.content) == "a\nb")
    }

    @Test func idIsKeptOnOneLine() {
        #expect(message(Message(id: "1\n2\r3\r\n4", content: "x")) == "id: 1 2 3 4\nevent: message\ndata: x\n\n")
    }

    @Test func headersAndMetadataAsComments() {
        let msg = Message(
            id: "5", content: "c", headers: MessageHeaders([(name: "h", value: "v1"), (name: "h", value: "v2"), (name: "x", value: "y")]),
            metadata: ["topic": "orders", "partition": 3, "flags": ["a": true]])
        #expect(message(msg) == "id: 5\nevent: message\ndata: c\n\n")
        #expect(message(msg, headersAsComment: true) == "id: 5\nevent: message\ndata: c\n:h: v1\n:h: v2\n:x: y\n\n")
        #expect(
            message(msg, metadataAsComment: true)
                == "id: 5\nevent: message\ndata: c\n:topic: orders\n:partition: 3\n:flags: {\"a\":true}\n\n")
        #expect(
            message(msg, metadataAsComment: true, headersAsComment: true)
                == "id: 5\nevent: message\ndata: c\n:h: v1\n:h: v2\n:x: y\n:topic: orders\n:partition: 3\n:flags: {\"a\":true}\n\n")
    }

    @Test func commentsAreKeptOnOneLine() {
        let msg = Message(content: "c", headers: MessageHeaders([(name: "h\nx", value: "v\r\nw")]), metadata: ["m": "a\rb"])
        #expect(message(msg, metadataAsComment: true, headersAsComment: true) == "event: message\ndata: c\n:h x: v w\n:m: a b\n\n")
    }

    @Test func events() {
        #expect(encoded { SSEEncoder.event("goaway", data: "Stopping, please reconnect", into: &$0) } == "event: goaway\ndata: Stopping, please reconnect\n\n")
        #expect(
            encoded { SSEEncoder.event("error", data: "{\"message\":\"Endpoint connection failed\"}", into: &$0) }
                == "event: error\ndata: {\"message\":\"Endpoint connection failed\"}\n\n")
        #expect(encoded { SSEEncoder.event("error", data: "line1\nline2\r\nline3", into: &$0) } == "event: error\ndata: line1\ndata: line2\ndata: line3\n\n")
        #expect(encoded { SSEEncoder.event("goaway", data: "", into: &$0) } == "event: goaway\ndata: \n\n")
    }

    @Test func aStreamOfEvents() {
        let encoder = SSEEncoder()
        var buffer = ByteBuffer()
        SSEEncoder.retry(milliseconds: 5000, into: &buffer)
        encoder.message(Message(id: "0", content: "a"), into: &buffer)
        SSEEncoder.heartbeat(into: &buffer)
        encoder.message(Message(id: "1", content: "b\nc"), into: &buffer)
        SSEEncoder.event("goaway", data: "bye", into: &buffer)
        #expect(
            String(buffer: buffer)
                == "retry: 5000\n\nid: 0\nevent: message\ndata: a\n\n:\n\nid: 1\nevent: message\ndata: b\ndata: c\n\nevent: goaway\ndata: bye\n\n")
    }

    @Test("A live connection writes the messages that came meanwhile as one chunk, each encoded once for every subscriber")
    func liveConnectionWritesOneChunk() throws {
        let channel = EmbeddedChannel()
        let connection = SSELiveConnection(channel: channel, encoder: SSEEncoder())
        var first = Message(id: "1", content: "a")
        first.encodings = WireEncodings()
        connection.write([first, Message(id: "2", content: "b")], promise: nil)
        connection.flush()
        #expect(try body(channel.readOutbound(as: HTTPResponsePart.self)) == "id: 1\nevent: message\ndata: a\n\nid: 2\nevent: message\ndata: b\n\n")
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        // The first message's bytes are kept with it: another subscriber writes them as they are.
        let kept = first.encodings?.encoding(SSEEncoder().encodingKey) { ByteBuffer(string: "encoded again") }
        #expect(kept.map { String(buffer: $0) } == "id: 1\nevent: message\ndata: a\n\n")
        connection.write([first], promise: nil)
        connection.flush()
        #expect(try body(channel.readOutbound(as: HTTPResponsePart.self)) == "id: 1\nevent: message\ndata: a\n\n")
    }

    @Test("Past the chunk limit a live connection writes each message's shared buffer as it is")
    func liveConnectionWritesLargeBacklogsUncopied() throws {
        let channel = EmbeddedChannel()
        let connection = SSELiveConnection(channel: channel, encoder: SSEEncoder())
        let large = String(repeating: "x", count: CoalescedWrites.limit / 2 - 64)
        let messages = (1...3).map { index -> Message in
            var message = Message(id: "\(index)", content: ByteBuffer(string: large))
            message.encodings = WireEncodings()
            return message
        }
        connection.write(messages, promise: nil)
        connection.flush()
        // The first two fit in one chunk; the third goes alone, as the buffer every subscriber shares.
        let first = try #require(body(channel.readOutbound(as: HTTPResponsePart.self)))
        #expect(first.components(separatedBy: "event: message").count == 3)
        guard case .body(let third) = try channel.readOutbound(as: HTTPResponsePart.self) else {
            Issue.record("a third write was expected")
            return
        }
        let shared = try #require(messages[2].encodings?.encoding(SSEEncoder().encodingKey) { ByteBuffer() })
        #expect(third == shared)
        #expect(third.withUnsafeReadableBytes { $0.baseAddress } == shared.withUnsafeReadableBytes { $0.baseAddress })
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
    }

    /// Records what a live connection writes past the HTTP handlers.
    final class RecordingPassage: FramedPassage, @unchecked Sendable {
        let eventLoop: any EventLoop
        var written: [ByteBuffer] = []
        var flushes = 0
        init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }
        func writeFramed(_ chunks: ByteBuffer, promise: EventLoopPromise<Void>?) {
            written.append(chunks)
            promise?.succeed()
        }
        func flush() { flushes += 1 }
    }

    @Test("With a passage, a live connection writes framed chunks past the HTTP handlers, framed once for every subscriber")
    func liveConnectionWritesFramedChunks() throws {
        let channel = EmbeddedChannel()
        let passage = RecordingPassage(eventLoop: channel.eventLoop)
        let connection = SSELiveConnection(channel: channel, encoder: SSEEncoder(), passage: passage)
        var first = Message(id: "1", content: "a")
        first.encodings = WireEncodings()
        connection.write([first, Message(id: "2", content: "b")], promise: nil)
        connection.flush()
        // Two chunks back to back in one write, nothing through the channel.
        let one = "id: 1\nevent: message\ndata: a\n\n"
        let two = "id: 2\nevent: message\ndata: b\n\n"
        #expect(passage.written.map { String(buffer: $0) } == ["\(String(one.utf8.count, radix: 16))\r\n\(one)\r\n\(String(two.utf8.count, radix: 16))\r\n\(two)\r\n"])
        #expect(passage.flushes == 1)
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        // A second subscriber writes the first message's framed buffer as it is, shared.
        let second = SSELiveConnection(channel: channel, encoder: SSEEncoder(), passage: passage)
        let written = passage.written.count
        second.write([first], promise: nil)
        let framed = try #require(first.encodings?.encoding(SSEEncoder().encodingKey + "+chunked") { ByteBuffer(string: "framed again") })
        #expect(passage.written[written] == framed)
        #expect(passage.written[written].withUnsafeReadableBytes { $0.baseAddress } == framed.withUnsafeReadableBytes { $0.baseAddress })
    }

    @Test("A live WebSocket frame framed once is what NIO's frame encoder writes", arguments: [0, 5, 125, 126, 300, 65_535, 65_536, 70_000])
    func webSocketFraming(length: Int) throws {
        let payload = ByteBuffer(repeating: 0x61, count: length)
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.writeOutbound(WebSocketFrame(fin: true, opcode: .binary, data: payload))
        var expected = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { expected.writeBuffer(&part) }
        #expect(WebSocketFraming.binaryFrame(payload) == expected)
    }

    @Test("Chunk framing: size in hex, CRLF, the bytes, CRLF; nothing for nothing")
    func chunkFraming() {
        #expect(String(buffer: ChunkedFraming.frame(ByteBuffer(string: "hello"))) == "5\r\nhello\r\n")
        let large = String(repeating: "x", count: 300)
        #expect(String(buffer: ChunkedFraming.frame(ByteBuffer(string: large))) == "12c\r\n\(large)\r\n")
        #expect(ChunkedFraming.frame(ByteBuffer()).readableBytes == 0)
        var offset = ByteBuffer(string: "..abc")
        offset.moveReaderIndex(forwardBy: 2)
        #expect(String(buffer: ChunkedFraming.frame(offset)) == "3\r\nabc\r\n")
    }

    private func body(_ part: HTTPResponsePart?) -> String? {
        guard case .body(let buffer) = part else { return nil }
        return String(buffer: buffer)
    }
}
