import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOWebSocket
import HummingbirdWSClient
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import SluiceCore
import SluiceEndpoints
import SluiceEntrypoints
import Synchronization
import Testing

@testable import SluiceGateway

/// A test endpoint whose published messages go to every subscriber, sharing one subscription at
/// QoS none: with it, the gateway's live fan-out runs without a broker.
struct BroadcastEndpointFactory: EndpointConnectorFactory {
    var type: String { "broadcast" }
    var title: String { "Broadcast" }
    var configurationSchema: JSONSchema { MockConfiguration.schema }
    var sharedConfigurationSchema: JSONSchema { .emptyObject }
    var supportedQoS: Set<QoS> { [.none, .auto] }
    var capabilities: ConnectorCapabilities { [.autoAck] }
    func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes { [.publish, .subscribe] }
    func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector { BroadcastConnector() }
}

final class BroadcastConnector: EndpointConnector {
    private let subscribers = Mutex<[AsyncThrowingStream<Message, any Error>.Continuation]>([])

    func start() async throws {}
    func publish(_ message: Message) async throws {
        for subscriber in subscribers.withLock({ $0 }) { subscriber.yield(message) }
    }
    func sharesSubscription(for request: SubscribeRequest) -> Bool { request.qos == .none }
    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Message.self)
        subscribers.withLock { $0.append(continuation) }
        return MessageSubscription(stream)
    }
    func close() async {
        for subscriber in subscribers.withLock({ $0 }) { subscriber.finish() }
    }
}

/// A raw HTTP/1 client connection that keeps what it received, for streams read as they come.
final class RawConnection: Sendable {
    let channel: any Channel
    private let received: NIOLockedValueBox<ByteBuffer>

    /// `trusting`: a certificate file; the connection is then TLS, to `localhost`.
    static func open(port: Int, trusting certificate: String? = nil) async throws -> RawConnection {
        let received = NIOLockedValueBox(ByteBuffer())
        let tls = try certificate.map { file -> NIOSSLContext in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(file)
            return try NIOSSLContext(configuration: configuration)
        }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: "localhost"))
                    }
                    try channel.pipeline.syncOperations.addHandler(CollectedPostTests.Collector(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, received: received)
    }

    private init(channel: any Channel, received: NIOLockedValueBox<ByteBuffer>) {
        self.channel = channel
        self.received = received
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    var text: String { received.withLockedValue { String(buffer: $0) } }

    /// Waits until what was received contains `expected` (at most `seconds`).
    func waitFor(_ expected: String, seconds: Double = 5) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !text.contains(expected), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(text.contains(expected), "waited for \(expected.debugDescription), received \(text.debugDescription)")
    }

    var isOpen: Bool { channel.isActive }

    func close() async {
        try? await channel.close()
    }
}

/// Connections whose first request asks for an event stream, served from the event loop
/// (`GatewayChildChannel`, `EventStreamConnectionHandler`, `SSELoopStream`), over real sockets.
@Suite(.timeLimit(.minutes(1))) struct EventStreamConnectionTests {
    static let catalog = ConnectorCatalog(
        endpoints: Array(testCatalog.endpoints.values) + [BroadcastEndpointFactory()], entrypoints: Array(testCatalog.entrypoints.values))

    static func broadcastDefinition(_ id: String, heartbeat: Int = 2000) -> String {
        mockDefinition(
            id: id, path: "/live",
            entrypoints: entrypoints(
                "type: sse\n        qos: none\n        configuration: {heartbeatIntervalInMs: \(heartbeat)}", "type: http-post",
                "type: websocket\n        qos: none\n        configuration: {publisher: {enabled: false}}"),
            endpointType: "broadcast", mockConfiguration: "{}")
    }

    static let streamRequest = "GET /live HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"

    /// Publishes `content` through the API's POST entrypoint, on its own connection.
    static func publish(_ content: String, port: Int) async throws {
        let answer = try await CollectedPostTests.exchange(port: port, CollectedPostTests.post("/live", content, close: true))
        #expect(CollectedPostTests.statuses(answer) == ["202"])
    }

    /// The SSE ids in raw (chunked) responses.
    static func ids(_ responses: String) -> [String] {
        responses.matches(of: #/\nid: (\w+)\n/#.matchingSemantics(.unicodeScalar)).map { String($0.output.1) }
    }

    static func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<300 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition())
    }

    @Test("The first request's head decides: an event stream, or anything else for Hummingbird")
    func classification() {
        func classify(_ text: String) -> ConnectionSniffer.FirstRequest? { ConnectionSniffer.classify(ByteBuffer(string: text)) }
        #expect(classify("GET /live HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n") == .eventStream)
        #expect(classify("GET /live HTTP/1.1\r\naccept: Text/Event-Stream\r\n\r\n") == .eventStream)
        #expect(classify("GET /live HTTP/1.1\r\nAccept: application/json, text/event-stream;q=0.9\r\n\r\n") == .eventStream)
        #expect(classify("GET /live HTTP/1.1\nAccept: text/event-stream\n\n") == .eventStream)
        #expect(classify("GET /live HTTP/1.1\r\nAccept: text/event-stream\r\nUpgrade: websocket\r\n\r\n") == .other)
        #expect(classify("GET /live HTTP/1.1\r\nX-Accept: text/event-stream\r\n\r\n") == .other)
        #expect(classify("GET /live HTTP/1.1\r\nAccept: application/json\r\n\r\n") == .other)
        #expect(classify("POST /live HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n") == .other)
        #expect(classify("NOT HTTP") == .other)
        #expect(classify("G") == nil)
        #expect(classify("GET /live HTTP/1.1\r\nAccept: text/ev") == nil)
        #expect(classify("GET /" + String(repeating: "x", count: ConnectionSniffer.headLimit)) == .other)
    }

    @Test("The passage past the HTTP handlers is offered only for bodies sent in chunks")
    func chunkedResponses() {
        #expect(EventLoopResponseWriter.isChunked(HTTPResponse(status: .ok)))
        #expect(EventLoopResponseWriter.isChunked(HTTPResponse(status: .ok, headerFields: [.transferEncoding: "chunked"])))
        #expect(!EventLoopResponseWriter.isChunked(HTTPResponse(status: .ok, headerFields: [.contentLength: "3"])))
        #expect(!EventLoopResponseWriter.isChunked(HTTPResponse(status: .noContent)))
        #expect(!EventLoopResponseWriter.isChunked(HTTPResponse(status: .notModified)))
        #expect(!EventLoopResponseWriter.isChunked(HTTPResponse(status: .continue)))
    }

    @Test("A live stream on the event loop: messages, heartbeats, goaway on redeploy, then the connection serves its next request")
    func liveStreamLifecycle() async throws {
        let registry = try await makeRegistry(Self.broadcastDefinition("loop-live"), catalog: Self.catalog)
        let app = try makeApp(registry)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let stream = try await RawConnection.open(port: port)
            try await stream.send(Self.streamRequest)
            try await stream.waitFor("retry: 2000\n\n")
            #expect(stream.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(stream.text.contains("Content-Type: text/event-stream;charset=UTF-8\r\n"))
            #expect(stream.text.contains("Connection: keep-alive\r\n"))
            let api = try #require(registry.api(id: "loop-live"))
            #expect(api.activeCount == 1)

            try await Self.publish("first", port: port)
            try await Self.publish("second", port: port)
            try await stream.waitFor("data: first\n\n")
            try await stream.waitFor("data: second\n\n")
            // Silence: a heartbeat within 1.5 intervals.
            try await stream.waitFor(":\n\n", seconds: 4)

            try await registry.deploy(
                try deployable(Self.broadcastDefinition("loop-live").replacingOccurrences(of: "loop-live api", with: "v2"), catalog: Self.catalog),
                origin: .management)
            try await stream.waitFor("event: goaway\ndata: The API was redeployed or undeployed\n\n")
            try await stream.waitFor("0\r\n\r\n")
            // Messages went past the HTTP handlers, heartbeats and goaway through them: one
            // well-formed chunked body, in order.
            let response = try ChunkedResponse(stream.text)
            #expect(response.head.contains("Transfer-Encoding: chunked") || response.head.contains("transfer-encoding: chunked"))
            #expect(response.body.hasPrefix("retry: 2000\n\n"))
            let first = try #require(response.body.range(of: "data: first\n\n"))
            let second = try #require(response.body.range(of: "data: second\n\n"))
            let heartbeat = try #require(response.body.range(of: ":\n\n", range: second.upperBound..<response.body.endIndex))
            #expect(first.upperBound <= second.lowerBound && second.upperBound <= heartbeat.lowerBound)
            #expect(response.body.hasSuffix("event: goaway\ndata: The API was redeployed or undeployed\n\n"))
            #expect(response.rest.isEmpty)
            try await Self.eventually { api.activeCount == 0 }
            // The response ended; the connection serves the next request.
            try await stream.send("GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n")
            try await stream.waitFor("HTTP/1.1 404 ")
            #expect(stream.isOpen)
            await stream.close()
        }
    }

    @Test("A client that goes ends its stream: it leaves the fan-out and the API's in-flight count")
    func clientGoneEndsTheStream() async throws {
        let registry = try await makeRegistry(Self.broadcastDefinition("loop-gone"), catalog: Self.catalog)
        let app = try makeApp(registry)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let api = try #require(registry.api(id: "loop-gone"))
            var streams: [RawConnection] = []
            for client in 0..<3 {
                let stream = try await RawConnection.open(port: port)
                // Each its own client: subscribers of one identifier would share the messages.
                try await stream.send(Self.streamRequest.replacingOccurrences(of: "\r\n\r\n", with: "\r\nX-Sluice-Client-Identifier: c\(client)\r\n\r\n"))
                try await stream.waitFor("retry: 2000\n\n")
                streams.append(stream)
            }
            #expect(api.activeCount == 3)
            await streams[0].close()
            try await Self.eventually { api.activeCount == 2 }
            try await Self.eventually { (api.endpoint as? FanOutConnector)?.hubSubscriberCount == 2 }
            try await Self.publish("after", port: port)
            try await streams[1].waitFor("data: after\n\n")
            try await streams[2].waitFor("data: after\n\n")
            let fanOut = try #require(api.endpoint as? FanOutConnector)
            #expect(fanOut.hubSubscriberCount == 2)
            for stream in streams.dropFirst() { await stream.close() }
            try await Self.eventually { api.activeCount == 0 }
            // Nothing holds the subscribers any more: they left the fan-out, which ended.
            try await Self.eventually { fanOut.hubSubscriberCount == nil }
        }
    }

    @Test("A client that closes an idle stream is noticed at once, without a write to find out")
    func idleClientCloseIsNoticed() async throws {
        let registry = try await makeRegistry(Self.broadcastDefinition("loop-idle-close", heartbeat: 600_000), catalog: Self.catalog)
        let app = try makeApp(registry)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let api = try #require(registry.api(id: "loop-idle-close"))
            let stream = try await RawConnection.open(port: port)
            try await stream.send(Self.streamRequest)
            try await stream.waitFor("retry: 600000\n\n")
            #expect(api.activeCount == 1)
            await stream.close()
            try await Self.eventually { api.activeCount == 0 }
        }
    }

    @Test("A client that sends its requests and closes its side still gets the answers")
    func halfClosedClientGetsItsAnswer() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "loop-half-closed", mockConfiguration: "{messageInterval: 10, messageCount: 2}")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let stream = "GET /demo HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
            for (requests, statuses, ids) in [
                ("GET /nowhere HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n", ["404"], [String]()),
                (stream, ["200"], ["0", "1"]),
                (stream + "GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n" + stream, ["200", "404", "200"], ["0", "1", "0", "1"]),
            ] {
                let connection = try await RawConnection.open(port: port)
                try await connection.send(requests)
                try await connection.channel.close(mode: .output)
                try await connection.channel.closeFuture.get()
                #expect(CollectedPostTests.statuses(connection.text) == statuses)
                #expect(Self.ids(connection.text) == ids)
            }
        }
    }

    @Test("Requests pipelined behind a stream are answered after it, in order; a malformed one gets its 400 in its turn")
    func pipelinedBehindAStream() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "loop-pipelined", mockConfiguration: "{messageInterval: 10, messageCount: 2}")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let stream = "GET /demo HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
            let responses = try await CollectedPostTests.exchange(
                port: port,
                stream + "GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n" + stream + "NOT HTTP AT ALL\r\n\r\n")
            #expect(CollectedPostTests.statuses(responses) == ["200", "404", "200", "400"])
            #expect(Self.ids(responses) == ["0", "1", "0", "1"])
        }
    }

    @Test("On a stream's connection: a body over the limit is refused with 413, Connection: close is honoured, an upgrade is refused")
    func limitsAndClose() async throws {
        let app = try makeApp(
            try await makeRegistry(mockDefinition(id: "loop-limits", mockConfiguration: "{messageInterval: 10, messageCount: 1}")),
            settings: testSettings(maxBodySize: 8))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let tooLarge = try await CollectedPostTests.exchange(
                port: port, "GET /demo HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\nContent-Length: 9\r\n\r\n123456789")
            #expect(CollectedPostTests.statuses(tooLarge) == ["413"])
            let closing = try await CollectedPostTests.exchange(
                port: port,
                "GET /demo HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\nGET /nowhere HTTP/1.1\r\n\r\n")
            #expect(CollectedPostTests.statuses(closing) == ["200"])
            #expect(closing.contains("Connection: close\r\n"))
            #expect(Self.ids(closing) == ["0"])
            // A WebSocket upgrade behind a stream: refused with the reason, not misrouted.
            let upgrade = try await CollectedPostTests.exchange(
                port: port,
                "GET /demo HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
                    + "GET /demo HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            #expect(CollectedPostTests.statuses(upgrade) == ["200", "400"])
            #expect(upgrade.hasSuffix("An upgrade needs a connection of its own: this one serves event streams"))
        }
    }

    @Test("Over TLS a live stream's chunks, written past the HTTP handlers, still go through TLS")
    func liveStreamOverTLS() async throws {
        let tls = try TestCertificate()
        defer { tls.remove() }
        let registry = try await makeRegistry(Self.broadcastDefinition("loop-tls"), catalog: Self.catalog)
        let app = try makeApp(registry, settings: tls.settings)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let stream = try await RawConnection.open(port: port, trusting: tls.certificate)
            try await stream.send(Self.streamRequest)
            try await stream.waitFor("retry: 2000\n\n")
            let publisher = try await RawConnection.open(port: port, trusting: tls.certificate)
            for content in ["over", "tls"] {
                try await publisher.send(CollectedPostTests.post("/live", content))
            }
            try await Self.eventually { CollectedPostTests.statuses(publisher.text) == ["202", "202"] }
            try await stream.waitFor("data: tls\n\n")
            let response = try ChunkedResponse(stream.text, complete: false)
            #expect(response.body.hasPrefix("retry: 2000\n\n"))
            #expect(response.body.contains("data: over\n\n"))
            #expect(response.body.hasSuffix("data: tls\n\n"))
            #expect(!response.ended)
            await publisher.close()
            await stream.close()
        }
    }

    @Test("A live WebSocket session's frames go past the WebSocket handlers, in each length form, and its close after them")
    func liveWebSocketFrames() async throws {
        let registry = try await makeRegistry(Self.broadcastDefinition("loop-ws"), catalog: Self.catalog)
        let app = try makeApp(registry)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // 7-bit, 16-bit and 64-bit payload lengths.
            let contents = ["short", String(repeating: "m", count: 300), String(repeating: "l", count: 70_000)]
            let received = Mutex<[String]>([])
            let subscribed = AsyncStream.makeStream(of: Void.self)
            async let session = WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/live", configuration: .init(maxFrameSize: 1 << 20), logger: Logger(label: "ws")
            ) { inbound, _, _ in
                subscribed.continuation.yield()
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .binary(let buffer) = message else { continue }
                    received.withLock { $0.append(String(buffer: buffer)) }
                }
            }
            for await _ in subscribed.stream { break }
            // At QoS none a message reaches only a subscription already live, and the session
            // subscribes beside the client's handler: probe until one arrives.
            for _ in 0..<250 where received.withLock({ $0.isEmpty }) {
                try await Self.publish("probe", port: port)
                try await Task.sleep(for: .milliseconds(20))
            }
            try #require(!received.withLock { $0.isEmpty })
            for content in contents { try await Self.publish(content, port: port) }
            try await Self.eventually { received.withLock { $0.filter { $0 != "probe" }.count } == contents.count }
            #expect(received.withLock { $0.filter { $0 != "probe" } } == contents)
            // A close frame, written through the handlers after the frames that went past them.
            try await registry.deploy(
                try deployable(Self.broadcastDefinition("loop-ws").replacingOccurrences(of: "loop-ws api", with: "v2"), catalog: Self.catalog),
                origin: .management)
            let close = try await session
            #expect(close?.closeCode == .init(codeNumber: 1013))
            #expect(close?.reason == "The API was redeployed or undeployed")
        }
    }

    @Test("Graceful shutdown ends live streams on the event loop with goaway, and the server exits")
    func gracefulShutdown() async throws {
        let registry = try await makeRegistry(Self.broadcastDefinition("loop-shutdown"), catalog: Self.catalog)
        let port = Mutex<Int?>(nil)
        let app = try makeApp(registry, withGatewayService: false) { channel in
            port.withLock { $0 = channel.localAddress?.port }
        }
        var logger = Logger(label: "group")
        logger.logLevel = .warning
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: app), .init(service: GatewayService(registry: registry))], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var bound: Int?
            for _ in 0..<100 where bound == nil {
                try await Task.sleep(for: .milliseconds(50))
                bound = port.withLock { $0 }
            }
            let serverPort = try #require(bound)
            let stream = try await RawConnection.open(port: serverPort)
            try await stream.send(Self.streamRequest)
            try await stream.waitFor("retry: 2000\n\n")
            // A connection that sent nothing yet closes at once.
            let silent = try await RawConnection.open(port: serverPort)
            let started = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await stream.waitFor("event: goaway\ndata: The gateway is stopping\n\n")
            try await tasks.next()
            #expect(ContinuousClock.now - started < .seconds(10))
            try await Self.eventually { !stream.isOpen && !silent.isOpen }
        }
    }
}
