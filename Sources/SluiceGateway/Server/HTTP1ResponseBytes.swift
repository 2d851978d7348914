import HTTPTypes
import NIOCore

/// A whole HTTP/1.1 response, head and collected body, as the bytes NIO's HTTP/1 encoder would
/// write for it: for the publish path, which then writes it once, from the encoder's place in
/// the pipeline (above TLS), rather than as three parts through the HTTP types codec and the
/// encoder.
enum HTTP1ResponseBytes {
    /// The response's bytes, or nil when the encoder has something to decide: a head without one
    /// `Content-Length` that matches the body, or with a `Transfer-Encoding`.
    static func serialized(_ head: HTTPResponse, body: [ByteBuffer]) -> ByteBuffer? {
        let length = body.reduce(0) { $0 + $1.readableBytes }
        var declared: Int?
        var size = 32 + length
        for field in head.headerFields {
            switch field.name {
            case .contentLength:
                guard declared == nil, let value = Int(field.value), value == length else { return nil }
                declared = value
            case .transferEncoding:
                return nil
            default:
                break
            }
            size += field.name.rawName.utf8.count + field.value.utf8.count + 4
        }
        guard declared != nil else { return nil }
        let reason = head.status.reasonPhrase
        size += reason.utf8.count
        var bytes = ByteBuffer()
        bytes.reserveCapacity(size)
        bytes.writeStaticString("HTTP/1.1 ")
        bytes.writeString(String(head.status.code))
        bytes.writeStaticString(" ")
        bytes.writeString(reason)
        bytes.writeStaticString("\r\n")
        for field in head.headerFields {
            bytes.writeString(field.name.rawName)
            bytes.writeStaticString(": ")
            bytes.writeString(field.value)
            bytes.writeStaticString("\r\n")
        }
        bytes.writeStaticString("\r\n")
        for buffer in body { bytes.writeImmutableBuffer(buffer) }
        return bytes
    }
}
