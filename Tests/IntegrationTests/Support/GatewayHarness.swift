import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceCore
import SluiceEndpoints
import SluiceEntrypoints
import SluiceGateway
import Synchronization
import Testing

/// Deploys definitions into a fresh registry with the standard connectors and serves them on a
/// loopback port for `body`.
func withGateway<R: Sendable>(
    _ definitions: [String], _ body: @Sendable (_ port: Int, _ client: any TestClientProtocol) async throws -> R
) async throws -> R {
    try await withGateway(definitions, fanOut: FanOutSettings()) { port, client, _ in try await body(port, client) }
}

/// ``withGateway(_:_:)`` with live fan-out settings, giving `body` the registry too.
func withGateway<R: Sendable>(
    _ definitions: [String], fanOut: FanOutSettings,
    _ body: @Sendable (_ port: Int, _ client: any TestClientProtocol, _ registry: ApiRegistry) async throws -> R
) async throws -> R {
    var logger = Logger(label: "integration")
    logger.logLevel = ProcessInfo.processInfo.environment["SLUICE_TEST_LOG"] == nil ? .critical : .debug
    let registry = ApiRegistry(catalog: GatewayCatalog.standard, logger: logger, drainTimeout: .seconds(2), fanOut: fanOut)
    for definition in definitions {
        let entries = try DefinitionSource.entries(fromText: definition, fileName: "test.yaml")
        for entry in entries {
            switch DefinitionValidator(catalog: GatewayCatalog.standard).validate(document: entry.document) {
            case .valid(let api): try await registry.deploy(api, origin: .management)
            case .invalid(let problems): throw Failure("invalid test definition: \(problems)")
            }
        }
    }
    var settings = GatewaySettings()
    settings.port = 0
    settings.drainTimeout = .seconds(2)
    let app = try GatewayServer.makeApplication(
        settings: settings, registry: registry, logger: logger, services: [GatewayService(registry: registry)])
    return try await app.test(.live) { client in
        try await body(try #require(client.port), client, registry)
    }
}

/// Races `body` against a deadline.
func withTimeout<R: Sendable>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
    try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw Failure("timed out after \(timeout) waiting for \(what)")
        }
        return result
    }
}

/// One Server-Sent Event as a test sees it: data, id, and the `:name: value` comments (headers
/// and metadata when the entrypoint writes them).
struct SSEEvent: Sendable {
    var id: String?
    var event: String?
    var data: String
    var comments: [String: String]
}

/// A streaming SSE client over a raw NIO HTTP/1.1 connection.
final class SSEClient: Sendable {
    let status: Int
    let events: AsyncStream<SSEEvent>
    private let channel: any Channel

    private init(status: Int, events: AsyncStream<SSEEvent>, channel: any Channel) {
        self.status = status
        self.events = events
        self.channel = channel
    }

    /// Connects and returns once the response head arrived. Non-200 responses keep their body as
    /// a single event's data.
    static func connect(port: Int, path: String, identifier: String? = nil) async throws -> SSEClient {
        try await connect(port: port, path: path, headers: [("Accept", "text/event-stream")] + (identifier.map { [("X-Sluice-Client-Identifier", $0)] } ?? []))
    }

    /// A GET with the given headers; a response that is not `text/event-stream` arrives as one
    /// event holding the whole body.
    static func connect(port: Int, path: String, headers extra: [(String, String)]) async throws -> SSEClient {
        let (events, continuation) = AsyncStream<SSEEvent>.makeStream()
        let head = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Int.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(SSEHandler(head: head, continuation: continuation))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            head.fail(error)
            throw error
        }
        let headers = HTTPHeaders([("Host", "127.0.0.1")] + extra)
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        let status = try await head.futureResult.get()
        return SSEClient(status: status, events: events, channel: channel)
    }

    /// The next `message` event, skipping heartbeats and other events.
    func nextMessage(timeout: Duration = .seconds(10)) async throws -> SSEEvent {
        let events = self.events
        return try await withTimeout(timeout, "an SSE message") {
            for await event in events where event.event == "message" || event.event == nil && !event.data.isEmpty {
                return event
            }
            throw Failure("the SSE stream ended")
        }
    }

    /// Messages received within `duration` (for "nothing arrives" checks).
    func messages(within duration: Duration) async -> [SSEEvent] {
        let events = self.events
        let collected = Mutex<[SSEEvent]>([])
        _ = try? await withTimeout(duration, "quiet") {
            for await event in events where event.event == "message" {
                collected.withLock { $0.append(event) }
            }
            return ()
        }
        return collected.withLock { $0 }
    }

    func close() async {
        try? await channel.close()
    }

    deinit { channel.close(promise: nil) }
}

/// Parses a chunked SSE body into events. Confined to the channel's event loop.
private final class SSEHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    let head: EventLoopPromise<Int>
    let continuation: AsyncStream<SSEEvent>.Continuation
    var pending = ""
    var status = 0
    var isEventStream = false

    init(head: EventLoopPromise<Int>, continuation: AsyncStream<SSEEvent>.Continuation) {
        self.head = head
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let response):
            status = Int(response.status.code)
            isEventStream = response.headers["Content-Type"].first?.hasPrefix("text/event-stream") == true
            head.succeed(status)
        case .body(let buffer):
            pending += String(buffer: buffer)
            if !isEventStream { return }
            while let range = pending.range(of: "\n\n") {
                let block = String(pending[..<range.lowerBound])
                pending.removeSubrange(..<range.upperBound)
                continuation.yield(Self.parse(block))
            }
        case .end:
            if !isEventStream { continuation.yield(SSEEvent(data: pending, comments: [:])) }
            continuation.finish()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        head.fail(Failure("connection closed before a response"))
        continuation.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        head.fail(error)
        continuation.finish()
        context.close(promise: nil)
    }

    static func parse(_ block: String) -> SSEEvent {
        var event = SSEEvent(data: "", comments: [:])
        var data: [String] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") {
                let comment = line.dropFirst()
                if let colon = comment.range(of: ": ") {
                    event.comments[String(comment[..<colon.lowerBound])] = String(comment[colon.upperBound...])
                }
            } else if line.hasPrefix("data: ") {
                data.append(String(line.dropFirst(6)))
            } else if line.hasPrefix("id: ") {
                event.id = String(line.dropFirst(4))
            } else if line.hasPrefix("event: ") {
                event.event = String(line.dropFirst(7))
            }
        }
        event.data = data.joined(separator: "\n")
        return event
    }
}

/// A message API on `/<id>` with every entrypoint the broker tests use: POST (request headers
/// become message headers), SSE (headers and metadata as comments), WebSocket and HTTP GET (one
/// message or `getDuration` ms, headers and metadata in the payload), in front of one endpoint of
/// `type` with the given configuration and shared configuration (YAML flow).
func messageAPIDefinition(
    id: String, type: String, configuration: String, shared: String, sseQoS: String = "auto", getQoS: String = "auto", getDuration: Int
) -> String {
    """
    id: \(id)
    name: \(id)
    definitionVersion: 4.0.0
    type: message
    listeners:
      - type: http
        paths: [{path: /\(id)}]
        entrypoints:
          - {type: http-post, qos: auto, configuration: {requestHeadersToMessage: true}}
          - {type: sse, qos: \(sseQoS), configuration: {heartbeatIntervalInMs: 2000, headersAsComment: true, metadataAsComment: true}}
          - {type: websocket, qos: auto}
          - {type: http-get, qos: \(getQoS), configuration: {messagesLimitCount: 1, messagesLimitDurationMs: \(getDuration), headersInPayload: true, metadataInPayload: true}}
    endpointGroups:
      - name: \(type)
        type: \(type)
        sharedConfiguration: \(shared)
        endpoints:
          - name: broker
            type: \(type)
            inheritConfiguration: true
            configuration: \(configuration)
    plans: [{name: open, security: {type: key-less}}]
    """
}

/// An MQTT 5 API in front of the broker at `port`.
func mqttDefinition(id: String, port: Int, shared: String, sseQoS: String = "auto", getQoS: String = "auto") -> String {
    messageAPIDefinition(
        id: id, type: "mqtt5", configuration: "{serverHost: 127.0.0.1, serverPort: \(port)}", shared: shared, sseQoS: sseQoS, getQoS: getQoS,
        getDuration: 1500)
}

/// A whole HTTP GET on its own connection (the test client serialises requests on one).
func httpGet(port: Int, path: String, headers: [(String, String)]) async throws -> (status: Int, body: String) {
    let client = try await SSEClient.connect(port: port, path: path, headers: headers)
    var body = ""
    for await event in client.events { body += event.data }
    return (client.status, body)
}

/// Contract §4 through any endpoint: two SSE clients sending the same identifier split the
/// messages POSTed to `path`, a client with another identifier gets every one of them.
func expectSameIdentifierSplitsOthersGetAll(port: Int, client: some TestClientProtocol, path: String) async throws {
    let first = try await SSEClient.connect(port: port, path: path, identifier: "workers")
    let second = try await SSEClient.connect(port: port, path: path, identifier: "workers")
    let audit = try await SSEClient.connect(port: port, path: path, identifier: "audit")
    let expected = (0..<10).map { "job \($0)" }
    for message in expected {
        #expect(try await client.post(path, message).status == 202)
    }
    var auditSeen: [String] = []
    for _ in expected { auditSeen.append(try await audit.nextMessage().data) }
    #expect(auditSeen == expected)
    let a = await first.messages(within: .seconds(1)).map(\.data)
    let b = await second.messages(within: .milliseconds(300)).map(\.data)
    #expect(Set(a + b) == Set(expected))
    #expect(a.count + b.count == expected.count)
    #expect(!a.isEmpty && !b.isEmpty, "clients with one identifier must split the messages: \(a) / \(b)")
    for stream in [first, second, audit] { await stream.close() }
}

/// Live fan-out (SSE at QoS none): four clients with identifiers of their own each get every
/// message, two that share one split them evenly, and `brokerSubscriptions` (read while they are
/// connected) finds the one broker subscription they all share. `ordered`: whether the broker keeps
/// the publish order for a subscriber (not Kafka across partitions). `warmUp`: post probes until the
/// first client gets one, for a broker subscription that becomes live some time after it is made
/// (a Kafka group at `latest`).
func expectLiveFanOut(
    port: Int, client: some TestClientProtocol, path: String, ordered: Bool = true, warmUp: Bool = false,
    brokerSubscriptions: @Sendable () async throws -> Int
) async throws {
    var own: [SSEClient] = []
    for index in 0..<4 { own.append(try await SSEClient.connect(port: port, path: path, identifier: "live-\(index)")) }
    let pair = [try await SSEClient.connect(port: port, path: path, identifier: "pair"), try await SSEClient.connect(port: port, path: path, identifier: "pair")]
    #expect(try await brokerSubscriptions() == 1)
    if warmUp {
        let first = own[0]
        let arrived = Mutex(false)
        let reader = Task {
            _ = try await first.nextMessage(timeout: .seconds(40))
            arrived.withLock { $0 = true }
        }
        var index = 0
        while !arrived.withLock({ $0 }) {
            _ = try await client.post(path, "probe \(index)")
            index += 1
            if index > 150 { throw Failure("no probe arrived") }
            try await Task.sleep(for: .milliseconds(250))
        }
        try await reader.value
    }
    let expected = (0..<6).map { "tick \($0)" }
    for message in expected {
        #expect(try await client.post(path, message).status == 202)
    }
    for stream in own {
        var seen: [String] = []
        while seen.count < expected.count {
            let data = try await stream.nextMessage(timeout: .seconds(20)).data
            if !data.hasPrefix("probe") { seen.append(data) }
        }
        if ordered { #expect(seen == expected) } else { #expect(seen.sorted() == expected.sorted()) }
    }
    let a = await pair[0].messages(within: .seconds(2)).map(\.data).filter { !$0.hasPrefix("probe") }
    let b = await pair[1].messages(within: .milliseconds(300)).map(\.data).filter { !$0.hasPrefix("probe") }
    #expect(Set(a + b) == Set(expected))
    #expect(a.count == 3 && b.count == 3, "two clients with one identifier take turns: \(a) / \(b)")
    for stream in own + pair { await stream.close() }
}

extension TestClientProtocol {
    /// POSTs `body` with extra headers; returns the status and the body text.
    func post(_ path: String, _ body: String, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        var fields = HTTPFields()
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        fields[.accept] = "application/json"
        let response = try await execute(uri: path, method: .post, headers: fields, body: ByteBuffer(string: body))
        return (Int(response.status.code), String(buffer: response.body))
    }
}

/// A client that sends one request on a socket with a tiny receive buffer, then reads nothing
/// until told to: a subscriber too slow for its messages.
final class StalledClient: Sendable {
    let descriptor: Int32

    init(port: Int, request: String) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure("socket() failed") }
        var size: Int32 = 4096
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw Failure("connect() failed")
        }
        let bytes = Array(request.utf8)
        guard send(descriptor, bytes, bytes.count, 0) == bytes.count else { throw Failure("send() failed") }
    }

    /// Reads whatever the server had queued; true when the stream then ends (the server closed
    /// the connection), false when it is still open after `timeout`.
    func drainsToEndOfStream(within timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) > 0 {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { return true }
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return false
    }

    deinit { close(descriptor) }
}
