import HTTPTypes
import NIOCore
import NIOHTTP1

/// A whole HTTP/1.1 response, head and collected body, as the bytes NIO's HTTP/1 encoder would
/// write for it: for the publish path, which then writes it once, from the encoder's place in
/// the pipeline (above TLS), rather than as three parts through the HTTP types codec and the
/// encoder.
enum HTTP1ResponseBytes {
    /// The response's bytes, or nil when the encoder has something to decide: a head without one
    /// `Content-Length` that matches the body, or with a `Transfer-Encoding`.
    static func serialized(_ head: HTTPResponse, body: [ByteBuffer]) -> ByteBuffer? {
        var length = 0
        for buffer in body { length += buffer.readableBytes }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(256 + length)
        bytes.writeStaticString("HTTP/1.1 ")
        bytes.writeString(String(head.status.code))
        bytes.writeStaticString(" ")
        // NIO's phrase: the standard one for a code it knows, whatever the head says.
        bytes.writeString(HTTPResponseStatus(statusCode: head.status.code, reasonPhrase: head.status.reasonPhrase).reasonPhrase)
        bytes.writeStaticString("\r\n")
        var declared = false
        for field in head.headerFields {
            switch field.name {
            case .contentLength:
                guard !declared, Int(field.value) == length else { return nil }
                declared = true
            case .transferEncoding:
                return nil
            default:
                break
            }
            bytes.writeString(field.name.rawName)
            bytes.writeStaticString(": ")
            bytes.writeString(field.value)
            bytes.writeStaticString("\r\n")
        }
        guard declared else { return nil }
        bytes.writeStaticString("\r\n")
        for buffer in body { bytes.writeImmutableBuffer(buffer) }
        return bytes
    }
}
