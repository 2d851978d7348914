import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import SluiceCore
import Synchronization
import Testing

@testable import SluiceGateway

/// Every entrypoint over real sockets: SSE resume, WebSocket both ways and its limits, hot
/// redeploy with open streams, graceful shutdown, TLS on the listener.
@Suite(.timeLimit(.minutes(1))) struct LiveGatewayTests {
    static let sse: HTTPFields = [.accept: "text/event-stream"]

    static func ids(_ body: String) -> [String] {
        body.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) }
    }

    @Test func sseResumesAfterLastEventIDOverSockets() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(mockConfiguration: "{messageInterval: 10, messageCount: 5}")))
        try await app.test(.live) { client in
            let all = try await client.execute(uri: "/demo", method: .get, headers: Self.sse)
            #expect(Self.ids(all.body.text) == ["0", "1", "2", "3", "4"])
            var resume = Self.sse
            resume[HTTPField.Name("Last-Event-ID")!] = "2"
            let rest = try await client.execute(uri: "/demo", method: .get, headers: resume)
            #expect(Self.ids(rest.body.text) == ["3", "4"])
        }
    }

    @Test func httpGetAndPostOverSockets() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "live-rec", endpointType: "recording")))
        try await app.test(.live) { client in
            let post = try await client.execute(uri: "/demo", method: .post, body: ByteBuffer(string: "over the wire"))
            #expect(post.status == .accepted)
            let get = try await client.execute(uri: "/demo?limit=2", method: .get, headers: [.accept: "application/json"])
            #expect(try json(get.body)["pagination"]?["nextCursor"] == "1")
        }
        #expect(recorded.withLock { $0["live-rec"]?.map { $0.content.text } } == ["over the wire"])
    }

    @Test func webSocketPublishesAndSubscribes() async throws {
        let definition = mockDefinition(
            id: "ws-rec", endpointType: "recording", mockConfiguration: "{messageInterval: 10, messageCount: 3, messageContent: pushed}")
        let app = try makeApp(try await makeRegistry(definition))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let received = Mutex<[String]>([])
            let close = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/demo", logger: Logger(label: "ws")) { inbound, outbound, _ in
                try await outbound.write(.text("text frame"))
                try await outbound.write(.binary(ByteBuffer(string: "binary frame")))
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                for _ in 0..<3 {
                    guard case .binary(let buffer)? = try await iterator.next() else {
                        Issue.record("expected a binary frame")
                        return
                    }
                    received.withLock { $0.append(buffer.text) }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            #expect(received.withLock { $0 } == ["pushed", "pushed", "pushed"])
            _ = close
        }
        #expect(recorded.withLock { $0["ws-rec"]?.map { $0.content.text } } == ["text frame", "binary frame"])
    }

    @Test func webSocketMessageOverTheLimitIsClosedWith1009() async throws {
        var settings = testSettings()
        settings.webSocketMaxMessageSize = 1024
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "ws-big", endpointType: "recording")), settings: settings)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let close = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/demo", logger: Logger(label: "ws")) { inbound, outbound, _ in
                try await outbound.write(.binary(ByteBuffer(repeating: 1, count: 2048)))
                for try await _ in inbound {}
            }
            #expect(close?.closeCode == .messageTooLarge)
        }
        #expect(recorded.withLock { $0["ws-big"] } == nil)
    }

    @Test func webSocketFrameOverTheFrameLimitIsRefused() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "ws-frame", endpointType: "recording")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let close = try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/demo", configuration: .init(maxFrameSize: 1 << 20), logger: Logger(label: "ws")
            ) { inbound, outbound, _ in
                try await outbound.write(.binary(ByteBuffer(repeating: 1, count: 70_000)))
                for try await _ in inbound {}
            }
            #expect(close?.closeCode == .messageTooLarge)
        }
        #expect(recorded.withLock { $0["ws-frame"] } == nil)
    }

    @Test func webSocketWithPublishingDisabledRefusesFrames() async throws {
        let definition = mockDefinition(
            entrypoints: entrypoints("{type: websocket, configuration: {publisher: {enabled: false}}}"),
            mockConfiguration: "{messageInterval: 60000}")
        let app = try makeApp(try await makeRegistry(definition))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let close = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/demo", logger: Logger(label: "ws")) { inbound, outbound, _ in
                try await outbound.write(.text("not allowed"))
                for try await _ in inbound {}
            }
            #expect(close?.closeCode == .unacceptableData)
        }
    }

    @Test func redeployEndsOpenStreamsCleanly() async throws {
        let registry = try await makeRegistry(mockDefinition(mockConfiguration: "{messageInterval: 50}"))
        let app = try makeApp(registry)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            async let sse = client.execute(uri: "/demo", method: .get, headers: Self.sse)
            async let webSocket = WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/demo", logger: Logger(label: "ws")) { inbound, _, _ in
                for try await _ in inbound {}
            }
            try await Task.sleep(for: .milliseconds(400))
            // A changed definition: a new revision replaces the running one.
            try await registry.deploy(try deployable(mockDefinition(mockConfiguration: "{messageInterval: 50, messageContent: v2}")), origin: .management)
            let body = try await sse.body.text
            #expect(body.hasSuffix("event: goaway\ndata: The API was redeployed or undeployed\n\n"))
            #expect(!Self.ids(body).isEmpty)
            let close = try await webSocket
            #expect(close?.closeCode == WebSocketErrorCode(codeNumber: 1013))
            // The new version serves at once.
            let after = try await client.execute(uri: "/demo?limit=1", method: .get, headers: [.accept: "application/json"])
            #expect(try json(after.body)["items"]?.arrayValue?.first?["content"] == "v2")
            registry.undeploy(id: "demo")
            let gone = try await client.execute(uri: "/demo?limit=1", method: .get)
            #expect(gone.status == .notFound)
        }
    }

    @Test func gracefulShutdownEndsStreamsAndExits() async throws {
        let registry = try await makeRegistry(mockDefinition(mockConfiguration: "{messageInterval: 50}"))
        let port = Mutex<Int?>(nil)
        let app = try makeApp(registry, withGatewayService: false) { channel in
            port.withLock { $0 = channel.localAddress?.port }
        }
        var logger = Logger(label: "group")
        logger.logLevel = .warning
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: app), .init(service: GatewayService(registry: registry))],
                logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var bound: Int?
            for _ in 0..<100 where bound == nil {
                try await Task.sleep(for: .milliseconds(50))
                bound = port.withLock { $0 }
            }
            let serverPort = try #require(bound)
            let client = TestClient(host: "127.0.0.1", port: serverPort)
            client.connect()
            async let sse = client.execute(.init("/demo", method: .get, headers: Self.sse))
            async let webSocket = WebSocketClient.connect(url: "ws://127.0.0.1:\(serverPort)/demo", logger: Logger(label: "ws")) { inbound, _, _ in
                for try await _ in inbound {}
            }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            await group.triggerGracefulShutdown()
            let body = try await sse.body?.text ?? ""
            #expect(body.hasSuffix("event: goaway\ndata: The gateway is stopping\n\n"))
            let close = try await webSocket
            #expect(close?.closeCode == WebSocketErrorCode(codeNumber: 1013))
            try await tasks.next()
            #expect(ContinuousClock.now - started < .seconds(10))
            try? await client.shutdown()
        }
    }

    @Test func tlsListenerServesWithItsCertificate() async throws {
        let tls = try TestCertificate()
        defer { tls.remove() }
        let (certificate, key, settings) = (tls.certificate, tls.key, tls.settings)
        let app = try makeApp(try await makeRegistry(mockDefinition()), settings: settings)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificate)
            let secure = TestClient(host: "127.0.0.1", port: port, configuration: .init(tlsConfiguration: tls, serverName: "localhost"))
            secure.connect()
            let response = try await secure.execute(.init("/demo", method: .post, body: ByteBuffer(string: "secret")))
            #expect(response.status == .accepted)
            try await secure.shutdown()
        }

        // A broken key is an error at start-up, never a plain-text listener.
        try "not a key".write(toFile: key, atomically: true, encoding: .utf8)
        #expect(throws: GatewayServer.StartError.self) {
            _ = try makeApp(ApiRegistry(catalog: testCatalog, logger: Logger(label: "t")), settings: settings)
        }
    }
}
