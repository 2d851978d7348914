import NIOCore
import SluiceCore
import Testing
@testable import SluiceEntrypoints

/// Encodes a whole response: start, every message, finish.
private func encode(
    _ format: HTTPGetFormat, headers: Bool = false, metadata: Bool = false, _ messages: [Message],
    error: GatewayError? = nil, pagination: HTTPGetPagination = HTTPGetPagination(nextCursor: nil, limit: nil)
) -> String {
    let encoder = HTTPGetEncoder(format: format, includeHeaders: headers, includeMetadata: metadata)
    var buffer = ByteBuffer()
    encoder.start(into: &buffer)
    for (index, message) in messages.enumerated() {
        encoder.item(message, index: index, into: &buffer)
    }
    encoder.finish(error: error, pagination: pagination, into: &buffer)
    return String(buffer: buffer)
}

private let richMessage = Message(
    id: "7", content: "payload", headers: [("h", "v1"), ("x-trace", "abc"), ("h", "v2")],
    metadata: ["topic": "orders", "partition": 0, "retained": false])

extension Message {
    /// A message with headers given as ordered pairs (a name may repeat).
    fileprivate init(id: String?, content: String, headers: [(String, String)], metadata: JSONObject = [:]) {
        self.init(id: id, content: content, headers: MessageHeaders(headers.map { (name: $0.0, value: $0.1) }), metadata: metadata)
    }
}

@Suite("HTTPGetFormat.negotiate")
struct HTTPGetNegotiationTests {
    @Test func missingOrEmptyHeaderMeansText() {
        #expect(HTTPGetFormat.negotiate(accept: nil) == .text)
        #expect(HTTPGetFormat.negotiate(accept: "") == .text)
        #expect(HTTPGetFormat.negotiate(accept: "   ") == .text)
    }

    @Test(arguments: [
        ("application/json", HTTPGetFormat.json), ("application/xml", .xml), ("text/xml", .xml), ("text/plain", .text),
        ("*/*", .json), ("application/*", .json), ("text/*", .text), ("Application/JSON", .json),
        ("application/json; charset=utf-8", .json), ("text/plain;charset=UTF-8", .text),
    ])
    func singleMediaTypes(accept: String, format: HTTPGetFormat) {
        #expect(HTTPGetFormat.negotiate(accept: accept) == format)
    }

    @Test(arguments: [
        ("application/json;q=0.5, application/xml", HTTPGetFormat.xml),
        ("application/xml;q=0.2, text/plain;q=0.9, application/json;q=0.5", .text),
        ("text/plain;q=0, application/json", .json),
        ("*/*;q=0.1, text/plain", .text),
        ("text/html, */*;q=0.8", .json),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", .xml),
        ("application/json ; q=0.3 , text/plain ; q=0.2", .json),
        ("application/xml;q=0.9, application/json;q=0.9", .xml),
        ("application/json;Q=0.1, application/xml;q=0.2", .xml),
    ])
    func qualityValues(accept: String, format: HTTPGetFormat) {
        #expect(HTTPGetFormat.negotiate(accept: accept) == format)
    }

    @Test func moreSpecificWinsAtEqualQuality() {
        #expect(HTTPGetFormat.negotiate(accept: "*/*, text/plain") == .text)
        #expect(HTTPGetFormat.negotiate(accept: "text/*, application/xml") == .xml)
        #expect(HTTPGetFormat.negotiate(accept: "*/*, application/xml") == .xml)
    }

    @Test(arguments: ["text/html", "image/png, text/html", "text/plain;q=0", "application/octet-stream", "*/*;q=0", ",", "text/event-stream"])
    func unsupported(accept: String) {
        #expect(HTTPGetFormat.negotiate(accept: accept) == nil)
    }

    @Test func contentTypes() {
        #expect(HTTPGetFormat.json.contentType == "application/json")
        #expect(HTTPGetFormat.xml.contentType == "application/xml")
        #expect(HTTPGetFormat.text.contentType == "text/plain; charset=utf-8")
    }
}

@Suite("HTTPGetEncoder JSON")
struct HTTPGetJSONTests {
    @Test func itemsWithAndWithoutId() {
        let output = encode(
            .json, [Message(id: "1", content: "hello"), Message(content: "wor\"ld")],
            pagination: HTTPGetPagination(nextCursor: "1", limit: "10"))
        #expect(output == #"{"items":[{"id":"1","content":"hello"},{"content":"wor\"ld"}],"pagination":{"nextCursor":"1","limit":"10"}}"#)
    }

    @Test func headersAndMetadataOnlyWhenEnabled() {
        #expect(encode(.json, [richMessage]) == #"{"items":[{"id":"7","content":"payload"}]}"#)
        #expect(
            encode(.json, headers: true, [richMessage])
                == #"{"items":[{"id":"7","content":"payload","headers":{"h":["v1","v2"],"x-trace":["abc"]}}]}"#)
        #expect(
            encode(.json, metadata: true, [richMessage])
                == #"{"items":[{"id":"7","content":"payload","metadata":{"topic":"orders","partition":0,"retained":false}}]}"#)
        #expect(
            encode(.json, headers: true, metadata: true, [Message(content: "c")])
                == #"{"items":[{"content":"c","headers":{},"metadata":{}}]}"#)
    }

    @Test func emptyResult() {
        #expect(encode(.json, []) == #"{"items":[]}"#)
        #expect(encode(.json, [], pagination: HTTPGetPagination(nextCursor: "5", limit: nil)) == #"{"items":[],"pagination":{"nextCursor":"5"}}"#)
        #expect(encode(.json, [], pagination: HTTPGetPagination(nextCursor: nil, limit: "3")) == #"{"items":[],"pagination":{"limit":"3"}}"#)
    }

    @Test func errorRendering() {
        let output = encode(
            .json, [Message(id: "1", content: "a")], error: .connectionFailed(detail: "the broker's reason"),
            pagination: HTTPGetPagination(nextCursor: "1", limit: nil))
        #expect(
            output
                == #"{"items":[{"id":"1","content":"a"}],"error":{"message":"Endpoint connection failed","http_status_code":500,"detail":"the broker's reason"},"pagination":{"nextCursor":"1"}}"#
        )
        #expect(encode(.json, [], error: .unknown()) == #"{"items":[],"error":{"message":"Endpoint unknown error","http_status_code":500}}"#)
    }

    @Test func contentIsEscaped() {
        let output = encode(.json, [Message(id: "a\"b", content: "line1\nline2\t\u{01}\\ é 😀 \u{2028}")])
        #expect(output == #"{"items":[{"id":"a\"b","content":"line1\nline2\t\u0001\\ é 😀 \u2028"}]}"#)
    }

    @Test func outputParsesWithJSONParser() throws {
        let messages = [
            Message(id: "0", content: "{\"not\": \"parsed\"}", headers: [("h", "v1"), ("h", "v2")], metadata: ["n": 1.5, "o": ["k": nil]]),
            Message(content: "\u{0}\u{1F}\"\\</script>"),
            Message(id: "2", content: "日本 😀", headers: [("", "empty name")], metadata: ["": "empty key"]),
        ]
        let output = encode(
            .json, headers: true, metadata: true, messages, error: .configurationInvalid(),
            pagination: HTTPGetPagination(nextCursor: "2", limit: "3"))
        let value = try JSONParser.parse(output)
        let items = try #require(value["items"]?.arrayValue)
        #expect(items.count == 3)
        #expect(items[0] == ["id": "0", "content": "{\"not\": \"parsed\"}", "headers": ["h": ["v1", "v2"]], "metadata": ["n": 1.5, "o": ["k": nil]]])
        #expect(items[1] == ["content": "\u{0}\u{1F}\"\\</script>", "headers": [:], "metadata": [:]])
        #expect(items[2] == ["id": "2", "content": "日本 😀", "headers": ["": ["empty name"]], "metadata": ["": "empty key"]])
        #expect(value["error"] == ["message": "Endpoint configuration invalid", "http_status_code": 500])
        #expect(value["pagination"] == ["nextCursor": "2", "limit": "3"])
        #expect(Array(try #require(value.objectValue).keys) == ["items", "error", "pagination"])
    }

    @Test func contentThatIsNotUTF8IsStillValidJSON() throws {
        let message = Message(content: ByteBuffer(bytes: [0x61, 0xFF, 0xFE, 0x62]))
        let value = try JSONParser.parse(encode(.json, [message]))
        #expect(value["items"]?.arrayValue?.first?["content"] == "a\u{FFFD}\u{FFFD}b")
    }

    @Test func itemsStreamOneByOne() {
        let encoder = HTTPGetEncoder(format: .json, includeHeaders: false, includeMetadata: false)
        var buffer = ByteBuffer()
        encoder.start(into: &buffer)
        #expect(String(buffer: buffer) == #"{"items":["#)
        encoder.item(Message(id: "1", content: "a"), index: 0, into: &buffer)
        #expect(String(buffer: buffer) == #"{"items":[{"id":"1","content":"a"}"#)
        encoder.item(Message(id: "2", content: "b"), index: 1, into: &buffer)
        #expect(String(buffer: buffer) == #"{"items":[{"id":"1","content":"a"},{"id":"2","content":"b"}"#)
    }

    @Test func contentReaderIndexIsRespected() {
        var content = ByteBuffer(string: "skipped:kept")
        content.moveReaderIndex(forwardBy: 8)
        #expect(encode(.json, [Message(content: content)]) == #"{"items":[{"content":"kept"}]}"#)
    }
}

@Suite("HTTPGetEncoder XML")
struct HTTPGetXMLTests {
    @Test func fullResponse() {
        let output = encode(
            .xml, [Message(id: "1", content: "hello"), Message(content: "<b>bold</b> & co")],
            pagination: HTTPGetPagination(nextCursor: "1", limit: "10"))
        #expect(
            output
                == "<response><items><item><id>1</id><content><![CDATA[hello]]></content></item>"
                + "<item><content><![CDATA[<b>bold</b> & co]]></content></item></items>"
                + "<pagination><nextCursor>1</nextCursor><limit>10</limit></pagination></response>")
    }

    @Test func emptyResponse() {
        #expect(encode(.xml, []) == "<response><items></items></response>")
        #expect(
            encode(.xml, [], pagination: HTTPGetPagination(nextCursor: "9", limit: nil))
                == "<response><items></items><pagination><nextCursor>9</nextCursor></pagination></response>")
    }

    @Test func cdataEndMarkerIsSplit() {
        #expect(
            encode(.xml, [Message(content: "a]]>b")])
                == "<response><items><item><content><![CDATA[a]]]]><![CDATA[>b]]></content></item></items></response>")
        #expect(XML.cdata("]]>]]>") == "<![CDATA[]]]]><![CDATA[>]]]]><![CDATA[>]]>")
        #expect(XML.cdata("]]") == "<![CDATA[]]]]>")
    }

    @Test func cdataReplacesInvalidControlCharacters() {
        #expect(XML.cdata("a\u{01}b\tc\nd\re\u{1F}") == "<![CDATA[a\u{FFFD}b\tc\nd\re\u{FFFD}]]>")
    }

    /// U+FFFE and U+FFFF are not allowed anywhere in XML 1.0: CDATA replaces them as escaping does.
    @Test func cdataReplacesNonCharacters() {
        #expect(XML.cdata("a\u{FFFE}b\u{FFFF}") == "<![CDATA[a\u{FFFD}b\u{FFFD}]]>")
    }

    @Test func escaping() {
        #expect(XML.escape(#"<a & 'b' "c">"#) == "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;")
        #expect(XML.escape("tab\tnl\ncr\r") == "tab\tnl\ncr\r")
        #expect(XML.escape("bell\u{07}") == "bell\u{FFFD}")
        #expect(XML.escape("é 😀") == "é 😀")
        #expect(
            encode(.xml, [Message(id: "<1&2>", content: "x")], pagination: HTTPGetPagination(nextCursor: "<1&2>", limit: "a\"b"))
                == "<response><items><item><id>&lt;1&amp;2&gt;</id><content><![CDATA[x]]></content></item></items>"
                + "<pagination><nextCursor>&lt;1&amp;2&gt;</nextCursor><limit>a&quot;b</limit></pagination></response>")
    }

    @Test func headersAndMetadata() {
        let output = encode(.xml, headers: true, metadata: true, [richMessage])
        #expect(
            output
                == "<response><items><item><id>7</id><content><![CDATA[payload]]></content>"
                + "<headers><h>v1,v2</h><x-trace>abc</x-trace></headers>"
                + "<metadata><topic>orders</topic><partition>0</partition><retained>false</retained></metadata>"
                + "</item></items></response>")
        #expect(
            encode(.xml, headers: true, metadata: true, [Message(content: "c")])
                == "<response><items><item><content><![CDATA[c]]></content><headers></headers><metadata></metadata></item></items></response>")
        #expect(encode(.xml, [richMessage]) == "<response><items><item><id>7</id><content><![CDATA[payload]]></content></item></items></response>")
    }

    @Test func headerValuesAreEscaped() {
        let message = Message(id: nil, content: "c", headers: [("h", "a<b"), ("h", "c&d")], metadata: ["m": "x>y", "o": ["k": 1]])
        #expect(
            encode(.xml, headers: true, metadata: true, [message])
                == "<response><items><item><content><![CDATA[c]]></content><headers><h>a&lt;b,c&amp;d</h></headers>"
                + "<metadata><m>x&gt;y</m><o>{&quot;k&quot;:1}</o></metadata></item></items></response>")
    }

    @Test(arguments: [
        ("content-type", "content-type"), ("1abc", "_abc"), ("a b", "a_b"), ("", "_"), ("xml-header", "_xml-header"),
        ("XMLish", "_XMLish"), ("_ok", "_ok"), ("a:b", "a_b"), ("-x", "_x"), (".x", "_x"), ("a.b-c_1", "a.b-c_1"),
    ])
    func elementNames(name: String, element: String) {
        #expect(XML.elementName(name) == element)
    }

    @Test func errorRendering() {
        #expect(
            encode(.xml, [], error: .connectionFailed(), pagination: HTTPGetPagination(nextCursor: "3", limit: nil))
                == "<response><items></items><error><message>Endpoint connection failed</message><httpStatusCode>500</httpStatusCode></error>"
                + "<pagination><nextCursor>3</nextCursor></pagination></response>")
    }
}

@Suite("HTTPGetEncoder text")
struct HTTPGetTextTests {
    @Test func fullResponse() {
        let output = encode(
            .text, [Message(id: "1", content: "hello"), Message(content: "second")],
            pagination: HTTPGetPagination(nextCursor: "1", limit: "10"))
        #expect(output == "items\nitem\nid: 1\ncontent: hello\n\nitem\ncontent: second\n\npagination\nnextCursor: 1\nlimit: 10\n")
    }

    @Test func emptyResponse() {
        #expect(encode(.text, []) == "items\n")
        #expect(encode(.text, [], pagination: HTTPGetPagination(nextCursor: "4", limit: nil)) == "items\n\npagination\nnextCursor: 4\n")
    }

    @Test func headersAndMetadata() {
        #expect(
            encode(.text, headers: true, metadata: true, [richMessage])
                == "items\nitem\nid: 7\ncontent: payload\nheaders: {h=[v1, v2], x-trace=[abc]}\nmetadata: {topic=orders, partition=0, retained=false}\n")
        #expect(encode(.text, headers: true, metadata: true, [Message(content: "c")]) == "items\nitem\ncontent: c\nheaders: {}\nmetadata: {}\n")
        #expect(encode(.text, [richMessage]) == "items\nitem\nid: 7\ncontent: payload\n")
    }

    @Test func errorRendering() {
        #expect(
            encode(.text, [Message(id: "1", content: "a")], error: .unknown(), pagination: HTTPGetPagination(nextCursor: "1", limit: nil))
                == "items\nitem\nid: 1\ncontent: a\n\nerror\nmessage: Endpoint unknown error\nhttp_status_code: 500\n\npagination\nnextCursor: 1\n")
    }

    @Test func plainMetadataValues() {
        #expect(HTTPGetEncoder.plain("text") == "text")
        #expect(HTTPGetEncoder.plain(3) == "3")
        #expect(HTTPGetEncoder.plain(true) == "true")
        #expect(HTTPGetEncoder.plain(nil) == "null")
        #expect(HTTPGetEncoder.plain(["a": [1, "b"]]) == #"{"a":[1,"b"]}"#)
    }
}

@Suite("HTTPGetPagination and status mapping")
struct HTTPGetPaginationTests {
    @Test func isEmpty() {
        #expect(HTTPGetPagination(nextCursor: nil, limit: nil).isEmpty)
        #expect(!HTTPGetPagination(nextCursor: "", limit: nil).isEmpty)
        #expect(!HTTPGetPagination(nextCursor: nil, limit: "1").isEmpty)
    }

    @Test func statuses() {
        #expect(HTTPStatusMapping.status(for: .endpointConnectionFailed) == 500)
        #expect(HTTPStatusMapping.status(for: .endpointConfigurationInvalid) == 500)
        #expect(HTTPStatusMapping.status(for: .endpointUnknownError) == 500)
        #expect(HTTPStatusMapping.status(for: .incompatibleQoS) == 400)
        #expect(HTTPStatusMapping.status(for: .incompatibleQoSCapabilities) == 400)
        #expect(HTTPStatusMapping.status(for: .unsupportedAccept) == 400)
        #expect(HTTPStatusMapping.status(for: .notFound) == 404)
        #expect(HTTPStatusMapping.status(for: .payloadTooLarge) == 413)
    }
}
