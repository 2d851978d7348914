import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SluiceCore
import SluiceEntrypoints
import Synchronization
import Testing

@testable import SluiceGateway

/// A connector whose broker subscriptions are streams the test feeds; it counts them and shares
/// only QoS none subscriptions. With `handsOver`, its subscriptions hand their messages over
/// (``HandingOverMessageSource``), as the MQTT 5 endpoint's do.
final class ScriptedConnector: EndpointConnector {
    struct Upstream {
        let request: SubscribeRequest
        let continuation: AsyncThrowingStream<Message, any Error>.Continuation
    }

    /// A stream that hands its messages over, and counts the messages it handed over.
    struct HandingOverStream: AsyncSequence, HandingOverMessageSource {
        let stream: AsyncThrowingStream<Message, any Error>
        let handedOver: NIOLockedValueBox<Int>

        func makeAsyncIterator() -> AsyncThrowingStream<Message, any Error>.AsyncIterator {
            Issue.record("a subscription that hands its messages over is iterated")
            return stream.makeAsyncIterator()
        }

        func handOver(to receive: @escaping @Sendable (Message) -> Bool) async throws {
            for try await message in stream {
                handedOver.withLockedValue { $0 += 1 }
                guard receive(message) else { return }
            }
        }
    }

    let handsOver: Bool
    private let state = Mutex<(upstreams: [Upstream], released: Int, failNext: GatewayError?)>(([], 0, nil))
    /// Whether each subscribe ran on an event loop's thread.
    let subscribedOnEventLoop = Mutex<[Bool]>([])
    /// Messages handed over (`handsOver`).
    let handedOver = NIOLockedValueBox(0)

    init(handsOver: Bool = false) { self.handsOver = handsOver }

    func start() async throws {}
    func publish(_ message: Message) async throws {}
    func close() async {
        for upstream in upstreams { upstream.continuation.finish() }
    }

    func sharesSubscription(for request: SubscribeRequest) -> Bool { request.qos == .none }

    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        subscribedOnEventLoop.withLock { $0.append(MultiThreadedEventLoopGroup.currentEventLoop != nil) }
        if let failure = state.withLock({ state -> GatewayError? in
            defer { state.failNext = nil }
            return state.failNext
        }) {
            throw failure
        }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Message.self, bufferingPolicy: .unbounded)
        continuation.onTermination = { [weak self] _ in self?.state.withLock { $0.released += 1 } }
        state.withLock { $0.upstreams.append(Upstream(request: request, continuation: continuation)) }
        return handsOver ? MessageSubscription(HandingOverStream(stream: stream, handedOver: handedOver)) : MessageSubscription(stream)
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

    @Test(
        "Subscribers at QoS none share one broker subscription; each identifier gets every message, one identifier's subscribers split them",
        arguments: [false, true])
    func sharesOneSubscription(handsOver: Bool) async throws {
        let base = ScriptedConnector(handsOver: handsOver)
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
        #expect(base.handedOver.withLockedValue { $0 } == (handsOver ? 4 : 0))
    }

    @Test("The broker subscription does not run on the event loop of the request that started it")
    func pumpLeavesTheRequestsLoop() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        // As a request answered on its connection's loop subscribes.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let subscription = try await Task(executorPreference: EventLoopTaskExecutor(loop)) {
            #expect(loop.inEventLoop)
            return try await connector.subscribe(request("a"))
        }.value
        #expect(base.subscribedOnEventLoop.withLock { $0 } == [false])
        var iterator = subscription.makeAsyncIterator()
        base.upstreams[0].continuation.yield(Message(content: "m"))
        #expect(try await contents(&iterator, count: 1) == ["m"])
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

    @Test("The last subscriber to leave ends the broker subscription; the next one starts a new one", arguments: [false, true])
    func lastLeaverEndsSubscription(handsOver: Bool) async throws {
        let base = ScriptedConnector(handsOver: handsOver)
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

    @Test("A failing broker subscription fails the subscribers waiting for it, then ends the others after what they have", arguments: [false, true])
    func upstreamFailures(handsOver: Bool) async throws {
        let base = ScriptedConnector(handsOver: handsOver)
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

    /// A connector whose subscribers' buffers hold 2 messages, and that ends a subscriber whose
    /// buffer stays full for 100 ms.
    func slowPolicyConnector(_ base: ScriptedConnector) -> FanOutConnector {
        FanOutConnector(base: base, settings: FanOutSettings(subscriberBufferSize: 2, slowSubscriberTimeout: .milliseconds(100)), logger: logger)
    }

    /// Waits for the reader of a subscriber that writes itself to see it ended as too slow.
    func expectEndedAsSlow(_ source: any WakeableMessageSource) async throws {
        do {
            _ = try await source.next(wakingOn: StreamWaker())
            Issue.record("the subscriber should have ended")
        } catch let error as GatewayError {
            #expect(error.code == .slowSubscriber)
        }
    }

    @Test("A slow subscriber's messages are dropped while its buffer is full; full for longer than the timeout, it is ended and its connection closed")
    func slowSubscriber() async throws {
        let base = ScriptedConnector()
        let closed = Mutex(0)
        let connector = slowPolicyConnector(base)
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

    // MARK: Writing to the client's connection

    /// A subscription that writes to `connection` itself, with its subscriber.
    func direct(
        _ connector: FanOutConnector, _ id: String, connection: RecordingConnection
    ) async throws -> (MessageSubscription, any WakeableMessageSource, FanOutSubscriber) {
        let subscription = try await connector.subscribe(request(id))
        let source = try #require(subscription.wakeable)
        let subscriber = try #require(source as? FanOutMessages).subscriber
        source.deliver(to: connection)
        return (subscription, source, subscriber)
    }

    @Test("A subscriber given its connection writes to it from the event loop: in order, all that came meanwhile with one flush; its reader only sees the end")
    func writesToTheConnection() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(subscriberBufferSize: 5), logger: logger)
        let connection = RecordingConnection()
        let (subscription, source, _) = try await direct(connector, "a", connection: connection)
        let upstream = base.upstreams[0].continuation
        // While the event loop is busy, five messages come: they go out in one turn, one flush.
        let release = connection.block()
        for index in 1...5 { upstream.yield(Message(content: "m\(index)")) }
        let queue = connector.loopQueue(for: connection.eventLoop)
        try await eventually { queue.waitingDeliveries == 5 }
        release()
        try await eventually { connection.written.count == 5 }
        #expect(connection.written == ["m1", "m2", "m3", "m4", "m5"])
        #expect(connection.writes == 1)
        #expect(connection.flushes == 1)
        upstream.yield(Message(content: "m6"))
        try await eventually { connection.written.count == 6 }
        // The reader never takes a message: its wait ends with the subscription.
        upstream.finish()
        guard case .end = try await source.next(wakingOn: StreamWaker()) else {
            Issue.record("the reader should see the end")
            return
        }
        await source.stopDelivering()
        #expect(connection.written == ["m1", "m2", "m3", "m4", "m5", "m6"])
        withExtendedLifetime(subscription) {}
    }

    @Test("Subscribers that write themselves get every message from their loops, in order, on every loop; one that shares its identifier splits them, and gets them all again once alone")
    func loopsHandOverToTheirSubscribers() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        // Eight connections over the event loops of the group (each takes the next loop).
        let connections = (0..<8).map { _ in RecordingConnection() }
        var subscriptions: [MessageSubscription] = []
        for (index, connection) in connections.enumerated() {
            subscriptions.append(try await direct(connector, "s\(index)", connection: connection).0)
        }
        #expect(Set(connections.map { ObjectIdentifier($0.eventLoop) }).count == min(8, System.coreCount))
        let upstream = base.upstreams[0].continuation
        for index in 1...50 { upstream.yield(Message(content: "m\(index)")) }
        let all = (1...50).map { "m\($0)" }
        try await eventually { connections.allSatisfy { $0.written.count == 50 } }
        for connection in connections { #expect(connection.written == all) }

        // A second subscriber of s0's identifier: from then on they split the messages.
        do {
            let twin = RecordingConnection()
            let (twinSubscription, twinSource, _) = try await direct(connector, "s0", connection: twin)
            for index in 51...54 { upstream.yield(Message(content: "m\(index)")) }
            try await eventually { connections[0].written.count + twin.written.count == 54 && connections[1].written.count == 54 }
            #expect(connections[0].written.dropFirst(50).sorted() == ["m51", "m53"] || connections[0].written.dropFirst(50).sorted() == ["m52", "m54"])
            #expect(Set(connections[0].written.dropFirst(50) + twin.written) == ["m51", "m52", "m53", "m54"])
            #expect(connections[1].written == all + ["m51", "m52", "m53", "m54"])
            await twinSource.stopDelivering()
            withExtendedLifetime(twinSubscription) {}
        }

        // The twin is gone: s0 is alone again and gets every message, after the ones it had.
        try await eventually { connector.hubSubscriberCount == 8 }
        for index in 55...57 { upstream.yield(Message(content: "m\(index)")) }
        try await eventually { connections[0].written.suffix(3) == ["m55", "m56", "m57"] }
        #expect(connections[0].written.count == 50 + 2 + 3)
        withExtendedLifetime(subscriptions) {}
    }

    @Test("A subscriber that comes to share its identifier while its loop is behind still writes its messages in order")
    func orderHoldsWhenASubscriberComesToShare() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        let connection = RecordingConnection()
        let (subscription, _, _) = try await direct(connector, "a", connection: connection)
        let upstream = base.upstreams[0].continuation
        let queue = connector.loopQueue(for: connection.eventLoop)
        let release = connection.block()
        for index in 1...2 { upstream.yield(Message(content: "m\(index)")) }
        try await eventually { queue.waitingDeliveries == 2 }
        // m1 and m2 wait for the loop when a second subscriber of "a" comes: they now take turns.
        let twin = RecordingConnection()
        let (twinSubscription, _, _) = try await direct(connector, "a", connection: twin)
        for index in 3...6 { upstream.yield(Message(content: "m\(index)")) }
        try await eventually { queue.waitingDeliveries >= 4 }
        release()
        try await eventually { connection.written.count + twin.written.count == 6 }
        func numbers(_ written: [String]) -> [Int] { written.compactMap { Int($0.dropFirst()) } }
        #expect(Array(numbers(connection.written).prefix(2)) == [1, 2])
        #expect(numbers(connection.written) == numbers(connection.written).sorted())
        #expect(numbers(twin.written) == numbers(twin.written).sorted())
        #expect(Set(numbers(connection.written) + numbers(twin.written)) == Set(1...6))
        withExtendedLifetime((subscription, twinSubscription)) {}
    }

    @Test("A loop that falls behind keeps at most the buffer size of messages for its subscribers and drops the newer ones")
    func aLoopBehindDropsTheNewerMessages() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(subscriberBufferSize: 3), logger: logger)
        let connection = RecordingConnection()
        let (subscription, _, _) = try await direct(connector, "a", connection: connection)
        let upstream = base.upstreams[0].continuation
        let queue = connector.loopQueue(for: connection.eventLoop)
        let release = connection.block()
        for index in 1...3 { upstream.yield(Message(content: "m\(index)")) }
        try await eventually { queue.waitingDeliveries == 3 }
        // The loop is full: these are not kept.
        for index in 4...6 { upstream.yield(Message(content: "m\(index)")) }
        upstream.yield(Message(content: "probe"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(queue.waitingDeliveries == 3)
        release()
        try await eventually { connection.written == ["m1", "m2", "m3"] }
        // Caught up: messages go again.
        upstream.yield(Message(content: "m7"))
        try await eventually { connection.written == ["m1", "m2", "m3", "m7"] }
        withExtendedLifetime(subscription) {}
    }

    @Test("Subscribers of a loop that stays behind for longer than the slow timeout are ended, as a full buffer's are")
    func aLoopBehindForTooLongEndsItsSubscribers() async throws {
        let base = ScriptedConnector()
        let connector = slowPolicyConnector(base)
        let connection = RecordingConnection()
        let (subscription, source, _) = try await direct(connector, "a", connection: connection)
        let upstream = base.upstreams[0].continuation
        let release = connection.block()
        for index in 1...4 { upstream.yield(Message(content: "m\(index)")) }
        try await Task.sleep(for: .milliseconds(300))
        release()
        try await expectEndedAsSlow(source)
        await source.stopDelivering()
        withExtendedLifetime(subscription) {}
    }

    @Test("Above its high-water mark a connection gets nothing more until its last write has left; stopping writes what waits, then nothing")
    func waitsForABusyConnection() async throws {
        let base = ScriptedConnector()
        let connector = FanOutConnector(base: base, settings: FanOutSettings(), logger: logger)
        let connection = RecordingConnection()
        let (subscription, source, _) = try await direct(connector, "a", connection: connection)
        let upstream = base.upstreams[0].continuation
        connection.setWritable(false)
        upstream.yield(Message(content: "m1"))
        try await eventually { connection.written == ["m1"] }
        #expect(connection.pendingPromises == 1)
        upstream.yield(Message(content: "m2"))
        upstream.yield(Message(content: "m3"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(connection.written == ["m1"])
        // The socket took it: the rest goes.
        connection.setWritable(true)
        connection.completePromises()
        try await eventually { connection.written == ["m1", "m2", "m3"] }
        // Busy again; stopping writes what waits all the same, and after it nothing is written.
        connection.setWritable(false)
        upstream.yield(Message(content: "m4"))
        try await eventually { connection.written.count == 4 }
        upstream.yield(Message(content: "m5"))
        try await Task.sleep(for: .milliseconds(50))
        await source.stopDelivering()
        #expect(connection.written == ["m1", "m2", "m3", "m4", "m5"])
        upstream.yield(Message(content: "m6"))
        try await Task.sleep(for: .milliseconds(50))
        #expect(connection.written.count == 5)
        connection.completePromises()
        withExtendedLifetime(subscription) {}
    }

    @Test("A connection that takes nothing for longer than the timeout ends its subscriber's wait with the reason")
    func slowConnection() async throws {
        let base = ScriptedConnector()
        let connector = slowPolicyConnector(base)
        let connection = RecordingConnection()
        let (subscription, source, _) = try await direct(connector, "a", connection: connection)
        let upstream = base.upstreams[0].continuation
        connection.setWritable(false)
        upstream.yield(Message(content: "m1"))
        try await eventually { connection.written == ["m1"] }
        // m1 has not left; m2 and m3 wait, m4 and m5 find the buffer full.
        for index in 2...5 { upstream.yield(Message(content: "m\(index)")) }
        try await expectEndedAsSlow(source)
        await source.stopDelivering()
        // m1 went before the connection filled up; m2 and m3 waited and were dropped with it.
        #expect(connection.written == ["m1"])
        connection.completePromises()
        withExtendedLifetime(subscription) {}
    }
}

/// A client connection that records what is written to it, on an event loop of its own; the test
/// decides when it is writable and when its writes have left.
final class RecordingConnection: LiveConnection {
    let eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    private let state = Mutex<(written: [String], writes: Int, flushes: Int, writable: Bool, promises: [EventLoopPromise<Void>])>(([], 0, 0, true, []))

    var isWritable: Bool { state.withLock { $0.writable } }

    func write<Messages: Collection<Message>>(_ messages: Messages, promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        state.withLock { state in
            state.written += messages.map { String(buffer: $0.content) }
            state.writes += 1
            if let promise { state.promises.append(promise) }
        }
    }

    func flush() {
        eventLoop.preconditionInEventLoop()
        state.withLock { $0.flushes += 1 }
    }

    var written: [String] { state.withLock { $0.written } }
    var writes: Int { state.withLock { $0.writes } }
    var flushes: Int { state.withLock { $0.flushes } }
    var pendingPromises: Int { state.withLock { $0.promises.count } }
    func setWritable(_ writable: Bool) { state.withLock { $0.writable = writable } }

    /// The socket took everything: completes the writes waited for.
    func completePromises() {
        let promises = state.withLock { state in
            defer { state.promises = [] }
            return state.promises
        }
        eventLoop.execute { for promise in promises { promise.succeed() } }
    }

    /// Keeps the event loop busy until the returned function is called.
    func block() -> @Sendable () -> Void {
        let gate = ConditionLock(value: false)
        eventLoop.execute {
            gate.lock(whenValue: true)
            gate.unlock()
        }
        return {
            gate.lock()
            gate.unlock(withValue: true)
        }
    }
}
