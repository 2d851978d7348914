import Logging
import NIOCore
import SluiceCore
import SluiceEntrypoints
import Synchronization
import Testing

@testable import SluiceGateway

/// A connector whose broker subscriptions are streams the test feeds; it counts them and shares
/// only QoS none subscriptions.
final class ScriptedConnector: EndpointConnector {
    struct Upstream {
        let request: SubscribeRequest
        let continuation: AsyncThrowingStream<Message, any Error>.Continuation
    }

    private let state = Mutex<(upstreams: [Upstream], released: Int, failNext: GatewayError?)>(([], 0, nil))

    func start() async throws {}
    func publish(_ message: Message) async throws {}
    func close() async {
        for upstream in upstreams { upstream.continuation.finish() }
    }

    func sharesSubscription(for request: SubscribeRequest) -> Bool { request.qos == .none }

    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        if let failure = state.withLock({ state -> GatewayError? in
            defer { state.failNext = nil }
            return state.failNext
        }) {
            throw failure
        }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Message.self, bufferingPolicy: .unbounded)
        continuation.onTermination = { [weak self] _ in self?.state.withLock { $0.released += 1 } }
        state.withLock { $0.upstreams.append(Upstream(request: request, continuation: continuation)) }
        return MessageSubscription(stream)
    }

    var upstreams: [Upstream] { state.withLock { $0.upstreams } }
    var released: Int { state.withLock { $0.released } }
    func failNextSubscribe(_ error: GatewayError) { state.withLock { $0.failNext = error } }
}

@Suite("Live fan-out")
struct FanOutConnectorTests {
    let logger = Logger(label: "fan-out-test")

    func request(_ id: String, qos: QoS = .none, closeConnection: (@Sendable () -> Void)? = nil) -> SubscribeRequest {
        SubscribeRequest(clientIdentifier: id, qos: qos, entrypoint: "sse", closeConnection: closeConnection)
    }

    func contents(_ iterator: inout MessageSubscription.AsyncIterator, count: Int) async throws -> [String] {
        var result: [String] = []
        for _ in 0..<count {
            guard let message = try await iterator.next() else { break }
            result.append(String(buffer: message.content))
        }
        return result
    }

    /// Polls until `condition` holds (the hub works on its own task), at most 2 s.
    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition())
    }

    @Test("Subscribers at QoS none share one broker subscription; each identifier gets every message, one identifier's subscribers split them")
    func sharesOneSubscription() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        var a = try await connector.subscribe(request("a")).makeAsyncIterator()
        var b = try await connector.subscribe(request("b")).makeAsyncIterator()
        var c1 = try await connector.subscribe(request("c")).makeAsyncIterator()
        var c2 = try await connector.subscribe(request("c")).makeAsyncIterator()
        #expect(base.upstreams.count == 1)
        #expect(base.upstreams[0].request.qos == .none)
        #expect(base.upstreams[0].request.clientIdentifier.hasPrefix("sluice-fanout-"))
        #expect(connector.hubSubscriberCount == 4)
        for index in 1...4 { base.upstreams[0].continuation.yield(Message(content: "m\(index)")) }
        #expect(try await contents(&a, count: 4) == ["m1", "m2", "m3", "m4"])
        #expect(try await contents(&b, count: 4) == ["m1", "m2", "m3", "m4"])
        #expect(try await contents(&c1, count: 2) == ["m1", "m3"])
        #expect(try await contents(&c2, count: 2) == ["m2", "m4"])
    }

    @Test("Every subscriber of a message gets the same shared encodings")
    func sharedEncodings() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        var a = try await connector.subscribe(request("a")).makeAsyncIterator()
        var b = try await connector.subscribe(request("b")).makeAsyncIterator()
        base.upstreams[0].continuation.yield(Message(id: "7", content: "hello"))
        let first = try #require(try await a.next())
        let second = try #require(try await b.next())
        let encodings = try #require(first.encodings)
        #expect(second.encodings === encodings)
        let encoder = SSEEncoder()
        let made = Mutex(0)
        let one = encodings.encoding(encoder.encodingKey) {
            made.withLock { $0 += 1 }
            return encoder.encoded(first)
        }
        let two = encodings.encoding(encoder.encodingKey) {
            made.withLock { $0 += 1 }
            return encoder.encoded(second)
        }
        #expect(made.withLock { $0 } == 1)
        #expect(one == two)
        #expect(String(buffer: one) == "id: 7\nevent: message\ndata: hello\n\n")
    }

    @Test("Other QoS levels and resumes keep subscriptions of their own")
    func unsharedRequestsPassThrough() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        _ = try await connector.subscribe(request("a", qos: .auto))
        _ = try await connector.subscribe(request("a", qos: .auto))
        #expect(base.upstreams.map(\.request.clientIdentifier) == ["a", "a"])
        #expect(connector.hubSubscriberCount == nil)
    }

    @Test("The last subscriber to leave ends the broker subscription; the next one starts a new one")
    func lastLeaverEndsSubscription() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        var first: MessageSubscription? = try await connector.subscribe(request("a"))
        var second: MessageSubscription? = try await connector.subscribe(request("b"))
        #expect(first != nil && second != nil)
        first = nil
        #expect(connector.hubSubscriberCount == 1)
        #expect(base.released == 0)
        second = nil
        try await eventually { base.released == 1 }
        #expect(connector.hubSubscriberCount == nil)
        var third = try await connector.subscribe(request("c")).makeAsyncIterator()
        #expect(base.upstreams.count == 2)
        base.upstreams[1].continuation.yield(Message(content: "again"))
        #expect(try await contents(&third, count: 1) == ["again"])
    }

    @Test("A failing broker subscription fails the subscribers waiting for it, then ends the others after what they have")
    func upstreamFailures() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        base.failNextSubscribe(GatewayError.connectionFailed(detail: "broker down"))
        await #expect(throws: GatewayError.self) { _ = try await connector.subscribe(self.request("a")) }
        // The failed hub is gone: the next subscriber tries again.
        var a = try await connector.subscribe(request("a")).makeAsyncIterator()
        base.upstreams[0].continuation.yield(Message(content: "kept"))
        try await eventually { connector.hubSubscriberCount == 1 }
        try await Task.sleep(for: .milliseconds(50))
        base.upstreams[0].continuation.finish(throwing: GatewayError.connectionFailed(detail: "lost"))
        #expect(try await a.next().map { String(buffer: $0.content) } == "kept")
        await #expect(throws: GatewayError.self) { _ = try await a.next() }
    }

    @Test("A slow subscriber's messages are dropped while its buffer is full; full for longer than the timeout, it is ended and its connection closed")
    func slowSubscriber() async throws {
        let base = ScriptedConnector()
        let closed = Mutex(0)
        let connector = FanOutConnector(
            base: base, settings: FanOutSettings(subscriberBufferSize: 2, slowSubscriberTimeout: .milliseconds(100)), logger: logger)
        let slow = try await connector.subscribe(request("slow", closeConnection: { closed.withLock { $0 += 1 } }))
        var fast = try await connector.subscribe(request("fast")).makeAsyncIterator()
        let upstream = base.upstreams[0].continuation
        // One at a time, so that the fast one (whose buffer is as small) never falls behind.
        for index in 1...4 {
            upstream.yield(Message(content: "m\(index)"))
            #expect(try await contents(&fast, count: 1) == ["m\(index)"])
        }
        try await Task.sleep(for: .milliseconds(150))
        upstream.yield(Message(content: "m5"))
        #expect(try await contents(&fast, count: 1) == ["m5"])
        var slowIterator = slow.makeAsyncIterator()
        do {
            _ = try await slowIterator.next()
            Issue.record("the slow subscriber should have ended")
        } catch let error as GatewayError {
            #expect(error.code == .slowSubscriber)
            #expect(error.detail?.contains("buffer of 2 messages") == true)
        }
        // Its stream is still referenced a second later (as if stuck writing): the connection goes.
        try await Task.sleep(for: .milliseconds(1300))
        #expect(closed.withLock { $0 } == 1)
        // The fast one is untouched.
        upstream.yield(Message(content: "m6"))
        #expect(try await contents(&fast, count: 1) == ["m6"])
    }

    @Test("A subscriber that drains its buffer in time is kept")
    func slowButNotTooSlow() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(
            base: base, settings: FanOutSettings(subscriberBufferSize: 2, slowSubscriberTimeout: .milliseconds(200)), logger: logger)
        var subscriber = try await connector.subscribe(request("a")).makeAsyncIterator()
        let upstream = base.upstreams[0].continuation
        for round in 0..<4 {
            for index in 0..<3 { upstream.yield(Message(content: "r\(round)-\(index)")) }
            try await Task.sleep(for: .milliseconds(120))
            // Two were buffered, the third dropped; reading them empties the buffer in time.
            #expect(try await contents(&subscriber, count: 2) == ["r\(round)-0", "r\(round)-1"])
        }
    }

    @Test("Closing the connector ends the shared subscription and its subscribers' streams")
    func closeEndsStreams() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        var a = try await connector.subscribe(request("a")).makeAsyncIterator()
        await connector.close()
        #expect(try await a.next() == nil)
        await #expect(throws: GatewayError.self) { _ = try await connector.subscribe(self.request("b")) }
    }
}
