import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Testing

@testable import SluiceGateway

/// The publish path's serialized responses are the bytes NIO's encoder writes for the same
/// response, and it leaves to the encoder what it cannot decide alone.
@Suite struct HTTP1ResponseBytesTests {
    /// What the HTTP types codec and NIO's HTTP/1 encoder write for `head` and `body`.
    static func encodedByNIO(_ head: HTTPResponse, body: [ByteBuffer]) throws -> ByteBuffer {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        try channel.writeOutbound(HTTPResponsePart.head(head))
        for buffer in body { try channel.writeOutbound(HTTPResponsePart.body(buffer)) }
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        var bytes = ByteBuffer()
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(var buffer) = part else {
                Issue.record("a file region")
                continue
            }
            bytes.writeBuffer(&buffer)
        }
        _ = try channel.finish()
        return bytes
    }

    static func head(_ status: HTTPResponse.Status, _ fields: [(String, String)]) -> HTTPResponse {
        var head = HTTPResponse(status: status)
        for (name, value) in fields { head.headerFields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return head
    }

    static let cases: [(HTTPResponse, [String])] = [
        (head(.accepted, [("Content-Length", "0"), ("X-Sluice-Request-Id", "r-1"), ("Date", "Sun, 29 Nov 2026 19:26:48 GMT"), ("Server", "Sluice")]), []),
        (head(.accepted, [("Content-Length", "0"), ("Connection", "close")]), []),
        (head(.badRequest, [("content-type", "application/json"), ("Content-Length", "27")]), [#"{"message":"Bad request x"}"#]),
        (head(.serviceUnavailable, [("Content-Length", "11"), ("X-Mixed-Case", "a b")]), ["hello", " world"]),
        (head(HTTPResponse.Status(code: 299, reasonPhrase: "Custom Reason"), [("Content-Length", "1")]), ["x"]),
        // A status made from its code alone has no phrase, one made with another phrase keeps
        // it: NIO writes the standard phrase of a code it knows either way.
        (head(HTTPResponse.Status(code: 400), [("Content-Length", "0")]), []),
        (head(HTTPResponse.Status(code: 404, reasonPhrase: "Gone Fishing"), [("Content-Length", "0")]), []),
        (head(HTTPResponse.Status(code: 599), [("Content-Length", "0")]), []),
    ]

    @Test("A response with its length is the same bytes as NIO's encoder writes", arguments: 0..<cases.count)
    func sameBytesAsTheEncoder(index: Int) throws {
        let (head, strings) = Self.cases[index]
        let body = strings.map { ByteBuffer(string: $0) }
        let bytes = try #require(HTTP1ResponseBytes.serialized(head, body: body))
        #expect(String(buffer: bytes) == String(buffer: try Self.encodedByNIO(head, body: body)))
    }

    @Test("Without one Content-Length that matches the body, or with a Transfer-Encoding, the encoder decides")
    func leavesTheRestToTheEncoder() {
        let body = [ByteBuffer(string: "abc")]
        #expect(HTTP1ResponseBytes.serialized(Self.head(.ok, []), body: body) == nil)
        #expect(HTTP1ResponseBytes.serialized(Self.head(.ok, [("Content-Length", "4")]), body: body) == nil)
        #expect(HTTP1ResponseBytes.serialized(Self.head(.ok, [("Content-Length", "3"), ("Content-Length", "3")]), body: body) == nil)
        #expect(HTTP1ResponseBytes.serialized(Self.head(.ok, [("Content-Length", "x")]), body: body) == nil)
        #expect(HTTP1ResponseBytes.serialized(Self.head(.ok, [("Content-Length", "3"), ("Transfer-Encoding", "chunked")]), body: body) == nil)
    }
}
