import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceCore
import Testing

@testable import SluiceGateway

/// Routes and handlers without sockets (`.router`): dispatch, the contract's error bodies,
/// headers, content negotiation and the HTTP entrypoints over the Mock endpoint.
@Suite struct GatewayResponderTests {
    @Test func unknownPathGetsTheContractNotFound() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition()))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/nothing-here", method: .get)
            #expect(response.status == .notFound)
            #expect(response.body.text == "No context-path matches the request URI.")
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(response.headers[GatewayHeaders.requestId] != nil)
        }
    }

    @Test func pathMatchingIsOnSegmentBoundaries() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(path: "/demo")))
        try await app.test(.router) { client in
            let response1 = try await client.execute(uri: "/demonstration", method: .post)
            #expect(response1.status == .notFound)
            let response2 = try await client.execute(uri: "/demo/", method: .post)
            #expect(response2.status == .accepted)
            let response3 = try await client.execute(uri: "/demo/sub/path?x=1", method: .post)
            #expect(response3.status == .accepted)
        }
    }

    @Test func longestPathAndHostWin() async throws {
        let registry = try await makeRegistry(
            mockDefinition(id: "root", path: "/", mockConfiguration: "{messageInterval: 10, messageContent: root}"),
            mockDefinition(id: "deep", path: "/a/b", mockConfiguration: "{messageInterval: 10, messageContent: deep}"),
            mockDefinition(id: "hosted", path: "/a", host: "api.example.com", mockConfiguration: "{messageInterval: 10, messageContent: hosted}"))
        #expect(registry.table.route(host: "localhost", path: "/a/b/c")?.id == "deep")
        #expect(registry.table.route(host: "localhost", path: "/a/x")?.id == "root")
        #expect(registry.table.route(host: "API.example.com:8082", path: "/a/x")?.id == "hosted")
        #expect(registry.table.route(host: "api.example.com", path: "/a/b")?.id == "hosted")
        #expect(registry.table.route(host: nil, path: "/zzz")?.id == "root")
    }

    @Test func pathsMatchByteForByteOnSegmentBoundaries() async throws {
        let registry = try await makeRegistry(
            mockDefinition(id: "cafe", path: "/café", mockConfiguration: "{messageInterval: 10, messageContent: cafe}"))
        #expect(registry.table.route(host: "any.example.com", path: "/café")?.id == "cafe")
        #expect(registry.table.route(host: nil, path: "/café/menu")?.id == "cafe")
        #expect(registry.table.route(host: nil, path: "//café//menu/")?.id == "cafe")
        #expect(registry.table.route(host: nil, path: "/cafés") == nil)
        #expect(registry.table.route(host: nil, path: "/caf") == nil)
        #expect(RoutingTable.matches(prefix: "/a", path: "/a") && RoutingTable.matches(prefix: "/a", path: "/a/b"))
        #expect(!RoutingTable.matches(prefix: "/a", path: "/ab") && !RoutingTable.matches(prefix: "/a/b", path: "/a"))
        #expect(RoutingTable.matches(prefix: "/", path: "/anything"))
    }

    @Test func transactionIdIsKeptAndRequestIdIsNew() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition()))
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/demo", method: .post, headers: [HTTPField.Name("X-Gravitee-Transaction-Id")!: "tx-42"], body: ByteBuffer(string: "x"))
            #expect(response.headers[GatewayHeaders.transactionId] == "tx-42")
            let requestId = try #require(response.headers[GatewayHeaders.requestId])
            #expect(UUID(uuidString: requestId) != nil)
        }
    }

    @Test func postIsAcceptedAfterThePublish() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "rec-post", endpointType: "recording")))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo", method: .post, body: ByteBuffer(string: "payload-1"))
            #expect(response.status == .accepted)
            #expect(response.body.readableBytes == 0)
        }
        let messages = recorded.withLock { $0["rec-post"] ?? [] }
        #expect(messages.map { $0.content.text } == ["payload-1"])
        #expect(messages.first?.headers.isEmpty == true)
    }

    @Test func postCopiesRequestHeadersWhenConfigured() async throws {
        let definition = mockDefinition(
            id: "rec-headers", entrypoints: entrypoints("{type: http-post, configuration: {requestHeadersToMessage: true}}"),
            endpointType: "recording")
        let app = try makeApp(try await makeRegistry(definition))
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/demo", method: .post, headers: [HTTPField.Name("X-Trace")!: "abc", .authorization: "Bearer secret"],
                body: ByteBuffer(string: "p"))
            #expect(response.status == .accepted)
        }
        let message = try #require(recorded.withLock { $0["rec-headers"]?.first })
        #expect(message.headers.values(for: "x-trace") == ["abc"])
        #expect(message.headers.values(for: "authorization").isEmpty)
    }

    @Test func oversizeBodyIs413AndNothingIsPublished() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "rec-big", endpointType: "recording")), settings: testSettings(maxBodySize: 16))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo", method: .post, body: ByteBuffer(repeating: 0x41, count: 17))
            #expect(response.status == .contentTooLarge)
            #expect(try json(response.body)["http_status_code"] == 413)
            let fits = try await client.execute(uri: "/demo", method: .post, body: ByteBuffer(repeating: 0x41, count: 16))
            #expect(fits.status == .accepted)
        }
        #expect(recorded.withLock { $0["rec-big"]?.count } == 1)
    }

    @Test func publishFailureIsTheEndpointErrorNeverA202() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(endpointType: "failing")))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo", method: .post, headers: [.accept: "application/json"], body: ByteBuffer(string: "x"))
            #expect(response.status == .internalServerError)
            let body = try json(response.body)
            #expect(body["message"] == "Endpoint connection failed")
            #expect(body["http_status_code"] == 500)
            let text = try await client.execute(uri: "/demo", method: .post, headers: [.accept: "text/plain"], body: ByteBuffer(string: "x"))
            #expect(text.body.text.hasPrefix("Endpoint connection failed"))
        }
    }

    @Test func subscribeFailureIsA500BeforeAnyByte() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(endpointType: "failing")))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo", method: .get, headers: [.accept: "application/json"])
            #expect(response.status == .internalServerError)
            #expect(try json(response.body)["message"] == "Endpoint connection failed")
        }
    }

    @Test func incompatibleQoSGetsTheContractBody() async throws {
        let definition = mockDefinition(
            entrypoints: entrypoints("{type: sse, qos: at-least-once}"), endpointType: "auto-only")
        let app = try makeApp(try await makeRegistry(definition))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo", method: .get, headers: [.accept: "text/event-stream"])
            #expect(response.status == .badRequest)
            #expect(response.body.text == #"{"message":"Incompatible Qos between entrypoint and endpoint","http_status_code":400}"#)
        }
    }

    @Test func missingCapabilityGetsTheContractBody() async throws {
        let definition = mockDefinition(
            entrypoints: entrypoints("{type: http-get, qos: at-most-once}"), endpointType: "no-recover")
        let app = try makeApp(try await makeRegistry(definition))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo", method: .get)
            #expect(response.status == .badRequest)
            #expect(
                response.body.text
                    == #"{"message":"Incompatible Qos capabilities between entrypoint requirements and endpoint supports","http_status_code":400}"#)
        }
    }

    @Test func httpGetStreamsJSONWithPagination() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition()))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo?limit=2&cursor=4", method: .get, headers: [.accept: "application/json"])
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let body = try json(response.body)
            #expect(body["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["5", "6"])
            #expect(body["items"]?.arrayValue?.first?["content"] == "mock message")
            #expect(body["items"]?.arrayValue?.first?["headers"] == nil)
            #expect(body["pagination"] == ["nextCursor": "6", "limit": "2"])
        }
    }

    @Test func httpGetEndsAfterTheDurationWithTheCursorKnown() async throws {
        let definition = mockDefinition(
            entrypoints: entrypoints("{type: http-get, configuration: {messagesLimitDurationMs: 200}}"),
            mockConfiguration: "{messageInterval: 60000}")
        let app = try makeApp(try await makeRegistry(definition))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo?cursor=9", method: .get, headers: [.accept: "application/json"])
            #expect(response.body.text == #"{"items":[],"pagination":{"nextCursor":"9"}}"#)
        }
    }

    @Test func httpGetSpeaksXMLAndText() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition()))
        try await app.test(.router) { client in
            let xml = try await client.execute(uri: "/demo?limit=1", method: .get, headers: [.accept: "application/xml"])
            #expect(xml.headers[.contentType] == "application/xml")
            #expect(
                xml.body.text
                    == "<response><items><item><id>0</id><content><![CDATA[mock message]]></content></item></items><pagination><nextCursor>0</nextCursor><limit>1</limit></pagination></response>"
            )
            let text = try await client.execute(uri: "/demo?limit=1", method: .get)
            #expect(text.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(text.body.text == "items\nitem\nid: 0\ncontent: mock message\n\npagination\nnextCursor: 0\nlimit: 1\n")
        }
    }

    @Test func httpGetRefusesUnsupportedAcceptAndBadLimits() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition()))
        try await app.test(.router) { client in
            let accept = try await client.execute(uri: "/demo", method: .get, headers: [.accept: "image/png"])
            #expect(accept.status == .badRequest)
            #expect(accept.body.text == "Unsupported accept header: [image/png]")
            let cursor = try await client.execute(uri: "/demo?cursor=abc", method: .get, headers: [.accept: "application/json"])
            #expect(cursor.status == .badRequest)
            #expect(try json(cursor.body)["message"] == "Invalid cursor 'abc': a Mock cursor is a message id (0, 1, 2, ...)")
            let limit = try await client.execute(uri: "/demo?limit=zero", method: .get, headers: [.accept: "application/json"])
            #expect(limit.status == .badRequest)
            #expect(try json(limit.body)["message"]?.stringValue?.contains("limit") == true)
        }
    }

    @Test func clientIdentifierIsEchoedAndChecked() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition()))
        try await app.test(.router) { client in
            let computed = ClientIdentifier.computed(remoteAddress: nil)
            let plain = try await client.execute(uri: "/demo?limit=1", method: .get)
            #expect(plain.headers[GatewayHeaders.clientIdentifier] == computed)
            let sent = try await client.execute(uri: "/demo?limit=1", method: .get, headers: [GatewayHeaders.clientIdentifier: "alice"])
            #expect(sent.headers[GatewayHeaders.clientIdentifier] == "alice-\(computed)")
            let echoed = try await client.execute(uri: "/demo?limit=1", method: .get, headers: [GatewayHeaders.graviteeClientIdentifier: "alice-\(computed)"])
            #expect(echoed.headers[GatewayHeaders.clientIdentifier] == "alice-\(computed)")
            let query = try await client.execute(uri: "/demo?limit=1&X-Gravitee-Client-Identifier=bob", method: .get)
            #expect(query.headers[GatewayHeaders.clientIdentifier] == "bob-\(computed)")
            let bad = try await client.execute(uri: "/demo?limit=1", method: .get, headers: [GatewayHeaders.clientIdentifier: "a/b#c"])
            #expect(bad.status == .badRequest)
        }
    }

    @Test func aPublishersIdentifierIsCheckedButNotReturned() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition()))
        try await app.test(.router) { client in
            let post = try await client.execute(
                uri: "/demo", method: .post, headers: [GatewayHeaders.clientIdentifier: "alice"], body: ByteBuffer(string: "x"))
            #expect(post.status == .accepted)
            #expect(post.headers[GatewayHeaders.clientIdentifier] == nil)
            let badHeader = try await client.execute(
                uri: "/demo", method: .post, headers: [GatewayHeaders.clientIdentifier: "a/b"], body: ByteBuffer(string: "x"))
            #expect(badHeader.status == .badRequest)
            let badQuery = try await client.execute(uri: "/demo?X-Sluice-Client-Identifier=a%23b", method: .post, body: ByteBuffer(string: "x"))
            #expect(badQuery.status == .badRequest)
        }
    }

    @Test func sseStreamsEventsAndResumesAfterLastEventID() async throws {
        let definition = mockDefinition(
            entrypoints: entrypoints("{type: sse, configuration: {heartbeatIntervalInMs: 2000, headersAsComment: true, metadataAsComment: true}}"),
            mockConfiguration: "{messageInterval: 10, messageCount: 4, messageContent: \"line one\\nline two\", headers: [{name: h, value: v}], metadata: [{name: m, value: w}]}")
        let app = try makeApp(try await makeRegistry(definition))
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/demo", method: .get, headers: [.accept: "text/event-stream", HTTPField.Name("Last-Event-ID")!: "1"])
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream;charset=UTF-8")
            #expect(response.headers[.cacheControl] == "no-cache")
            let expected =
                "retry: 2000\n\n"
                + "id: 2\nevent: message\ndata: line one\ndata: line two\n:h: v\n:m: w\n\n"
                + "id: 3\nevent: message\ndata: line one\ndata: line two\n:h: v\n:m: w\n\n"
            #expect(response.body.text == expected)
        }
    }

    @Test func entrypointSpecificityPicksSSEOverGet() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(mockConfiguration: "{messageInterval: 10, messageCount: 1}")))
        try await app.test(.router) { client in
            let sse = try await client.execute(uri: "/demo", method: .get, headers: [.accept: "application/json, text/event-stream"])
            #expect(sse.headers[.contentType] == "text/event-stream;charset=UTF-8")
            let get = try await client.execute(uri: "/demo", method: .get, headers: [.accept: "application/json"])
            #expect(get.headers[.contentType] == "application/json")
        }
    }

    @Test func missingEntrypointIsNotFound() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(entrypoints: entrypoints("{type: http-post}"))))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/demo", method: .get)
            #expect(response.status == .notFound)
            #expect(response.body.text == "No context-path matches the request URI.")
            let response4 = try await client.execute(uri: "/demo", method: .put)
            #expect(response4.status == .notFound)
        }
    }

    @Test func entrypointLoggerCarriesTheRequestsMetadata() async throws {
        let dispatcher = Dispatcher(registry: try await makeRegistry(mockDefinition()), limits: .init(), logger: Logger(label: "test"))
        let target = try #require(dispatcher.entrypoint(of: try dispatcher.api(host: nil, path: "/demo"), for: .post))
        let context = dispatcher.context(for: target, clientIdentity: .known("client"), requestId: "request-1")
        #expect(context.logger[metadataKey: "api"] == "demo")
        #expect(context.logger[metadataKey: "entrypoint"] == "http-post")
        #expect(context.logger[metadataKey: "request"] == "request-1")
    }
}
