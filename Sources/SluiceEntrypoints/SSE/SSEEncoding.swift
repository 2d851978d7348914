import NIOCore
import SluiceCore

/// Encodes Server-Sent Events (contract §3 SSE) straight into byte buffers; content bytes are
/// copied once, a `data:` line per line of content so that multi-line content stays valid.
public struct SSEEncoder: Sendable {
    public let metadataAsComment: Bool
    public let headersAsComment: Bool

    public init(metadataAsComment: Bool = false, headersAsComment: Bool = false) {
        self.metadataAsComment = metadataAsComment
        self.headersAsComment = headersAsComment
    }

    public static func retry(milliseconds: Int, into buffer: inout ByteBuffer) {
        buffer.writeString("retry: \(milliseconds)\n\n")
    }

    public static func heartbeat(into buffer: inout ByteBuffer) {
        buffer.writeString(":\n\n")
    }

    /// `event: <name>` with `data` lines, for `error` and `goaway`.
    public static func event(_ name: String, data: String, into buffer: inout ByteBuffer) {
        buffer.writeString("event: \(name)\n")
        writeDataLines(ByteBuffer(string: data), into: &buffer)
        buffer.writeString("\n")
    }

    /// Names this encoder's output among a message's shared ``WireEncodings``.
    public var encodingKey: String { "sse/\(metadataAsComment ? "m" : "-")\(headersAsComment ? "h" : "-")" }

    /// One message as a buffer of its own.
    public func encoded(_ message: Message) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.content.readableBytes + 32 + (message.id?.utf8.count ?? 0))
        self.message(message, into: &buffer)
        return buffer
    }

    public func message(_ message: Message, into buffer: inout ByteBuffer) {
        if let id = message.id {
            buffer.writeString("id: ")
            buffer.writeString(Self.singleLine(id))
            buffer.writeString("\n")
        }
        buffer.writeString("event: message\n")
        Self.writeDataLines(message.content, into: &buffer)
        if headersAsComment {
            for (name, value) in message.headers {
                buffer.writeString(":\(Self.singleLine(name)): \(Self.singleLine(value))\n")
            }
        }
        if metadataAsComment {
            for (key, value) in message.metadata {
                buffer.writeString(":\(Self.singleLine(key)): \(Self.singleLine(HTTPGetEncoder.plain(value)))\n")
            }
        }
        buffer.writeString("\n")
    }

    /// One `data: ` line per line of `content`; `\r\n`, `\n` and `\r` all end a line.
    static func writeDataLines(_ content: ByteBuffer, into buffer: inout ByteBuffer) {
        let bytes = content.readableBytesView
        var lineStart = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                buffer.writeStaticString("data: ")
                buffer.writeBytes(bytes[lineStart..<index])
                buffer.writeStaticString("\n")
                if byte == UInt8(ascii: "\r"), index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "\n") {
                    index += 1
                }
                lineStart = index + 1
            }
            index += 1
        }
        buffer.writeStaticString("data: ")
        buffer.writeBytes(bytes[lineStart..<bytes.endIndex])
        buffer.writeStaticString("\n")
    }

    static func singleLine(_ text: String) -> String {
        guard text.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return text }
        return String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}
