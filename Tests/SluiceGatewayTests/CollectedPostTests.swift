import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Synchronization
import NIOPosix
import SluiceCore
import Testing

@testable import SluiceGateway

/// POSTs answered on the event loop (`CollectedPostHandler`) over real sockets: HTTP/1 order with
/// requests that Hummingbird answers, errors, and the same answers as Hummingbird's own path.
@Suite(.timeLimit(.minutes(1))) struct CollectedPostTests {
    /// Sends `request` as one write and returns all the server answered until it closed.
    static func exchange(port: Int, _ request: String) async throws -> String {
        let received = NIOLockedValueBox(ByteBuffer())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received: received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: request))
        try await channel.closeFuture.get()
        return received.withLockedValue { String(buffer: $0) }
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<ByteBuffer>
        init(received: NIOLockedValueBox<ByteBuffer>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            received.withLockedValue { _ = $0.writeBuffer(&buffer) }
        }
    }

    /// The status lines of a run of HTTP/1 responses, in order.
    static func statuses(_ responses: String) -> [String] {
        // A body need not end with a line break, so a status line may follow it directly.
        responses.matches(of: #/HTTP/1\.1 (\d{3}) /#).map { String($0.output.1) }
    }

    static func post(_ path: String, _ body: String, close: Bool = false) -> String {
        "POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.utf8.count)\r\n\(close ? "Connection: close\r\n" : "")\r\n\(body)"
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "collected-order", endpointType: "recording")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // A taken POST, a GET that Hummingbird answers, a POST sent while that GET may still
            // be unanswered, a POST to no API, and a last POST that closes the connection.
            let responses = try await Self.exchange(
                port: port,
                Self.post("/demo", "one") + "GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n" + Self.post("/demo", "two")
                    + Self.post("/nowhere", "lost") + Self.post("/demo", "three", close: true))
            #expect(Self.statuses(responses) == ["202", "404", "202", "404", "202"])
            #expect(responses.hasSuffix("\r\n\r\n"))
        }
        #expect(recorded.withLock { $0["collected-order"]?.map { $0.content.text } } == ["one", "two", "three"])
    }

    @Test("Over TLS, POSTs pipelined in records of their own are all answered, in order")
    func pipelinedPostsOverTLS() async throws {
        let tls = try TestCertificate()
        defer { tls.remove() }
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "collected-tls", endpointType: "recording")), settings: tls.settings)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try await RawConnection.open(port: port, trusting: tls.certificate)
            for content in ["one", "two", "three"] {
                try await connection.send(Self.post("/demo", content))
            }
            for _ in 0..<300 where Self.statuses(connection.text).count < 3 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(Self.statuses(connection.text) == ["202", "202", "202"])
            await connection.close()
        }
        #expect(recorded.withLock { $0["collected-tls"]?.map { $0.content.text } } == ["one", "two", "three"])
    }

    @Test("POSTs pipelined in writes of their own are all answered, in order", arguments: [0, 2, 20])
    func pipelinedPostsInSeparateWrites(pause: Int) async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "collected-apart-\(pause)", endpointType: "recording")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try await RawConnection.open(port: port)
            for content in ["one", "two", "three"] {
                try await connection.send(Self.post("/demo", content))
                try await Task.sleep(for: .milliseconds(pause))
            }
            for _ in 0..<300 where Self.statuses(connection.text).count < 3 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(Self.statuses(connection.text) == ["202", "202", "202"])
            await connection.close()
        }
        #expect(recorded.withLock { $0["collected-apart-\(pause)"]?.map { $0.content.text } } == ["one", "two", "three"])
    }

    /// Whether the server closed the connection within a while after answering `request`, and
    /// the statuses it answered.
    static func closesAfter(_ request: String, port: Int, answers: Int) async throws -> (closed: Bool, statuses: [String]) {
        let connection = try await RawConnection.open(port: port)
        try await connection.send(request)
        for _ in 0..<300 where Self.statuses(connection.text).count < answers { try await Task.sleep(for: .milliseconds(10)) }
        for _ in 0..<50 where connection.isOpen { try await Task.sleep(for: .milliseconds(10)) }
        let closed = !connection.isOpen
        await connection.close()
        return (closed, Self.statuses(connection.text))
    }

    @Test("A request closes its connection as its HTTP version and options say, on both paths")
    func connectionPersistence() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "collected-persistence", endpointType: "recording")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let post10 = "POST /demo HTTP/1.0\r\nHost: test\r\nContent-Length: 3\r\n"
            // HTTP/1.0 without keep-alive: answered, then closed (a taken POST, and a GET that
            // Hummingbird answers).
            #expect(try await Self.closesAfter(post10 + "\r\none", port: port, answers: 1) == (true, ["202"]))
            #expect(try await Self.closesAfter("GET /nowhere HTTP/1.0\r\nHost: test\r\n\r\n", port: port, answers: 1) == (true, ["404"]))
            // HTTP/1.0 with keep-alive stays open for the next request.
            #expect(
                try await Self.closesAfter(post10 + "Connection: keep-alive\r\n\r\ntwo" + post10 + "Connection: Keep-Alive\r\n\r\nsix", port: port, answers: 2)
                    == (false, ["202", "202"]))
            // HTTP/1.1 with close among other options: closed after the answer, and what was
            // pipelined behind it is not served.
            #expect(
                try await Self.closesAfter(
                    "GET /nowhere HTTP/1.1\r\nHost: test\r\nConnection: keep-alive, close\r\n\r\n" + Self.post("/demo", "lost"), port: port,
                    answers: 1) == (true, ["404"]))
            #expect(
                try await Self.closesAfter(
                    "POST /demo HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\nConnection: te, Close\r\n\r\nten" + Self.post("/demo", "lost"),
                    port: port, answers: 1) == (true, ["202"]))
            // HTTP/1.1 without options stays open.
            #expect(try await Self.closesAfter(Self.post("/demo", "end"), port: port, answers: 1) == (false, ["202"]))
        }
        #expect(recorded.withLock { $0["collected-persistence"]?.map { $0.content.text } } == ["one", "two", "six", "ten", "end"])
    }

    @Test("A request expecting 100-continue gets it before its body, unless it is over the limit or HTTP/1.0")
    func expectContinue() async throws {
        let app = try makeApp(
            try await makeRegistry(mockDefinition(id: "collected-continue", endpointType: "recording")), settings: testSettings(maxBodySize: 16))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Taken on the loop: 100 Continue, and only after the body, 202.
            let connection = try await RawConnection.open(port: port)
            try await connection.send("POST /demo HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\nExpect: 100-Continue\r\n\r\n")
            try await connection.waitFor("HTTP/1.1 100 Continue\r\n\r\n")
            #expect(Self.statuses(connection.text) == ["100"])
            try await connection.send("body")
            try await connection.waitFor("202 Accepted")
            // A request handed on to Hummingbird, on the same connection: 100, then its answer.
            try await connection.send("GET /nowhere HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n\r\n")
            try await connection.waitFor("404 Not Found")
            #expect(Self.statuses(connection.text) == ["100", "202", "100", "404"])
            await connection.close()
            // Over the limit: the final answer at once, no body needed.
            let over = try await RawConnection.open(port: port)
            try await over.send("POST /demo HTTP/1.1\r\nHost: test\r\nContent-Length: 17\r\nExpect: 100-continue\r\n\r\n")
            try await over.waitFor("413 ")
            #expect(Self.statuses(over.text) == ["413"])
            await over.close()
            // HTTP/1.0: the expectation is ignored; the body is read as it comes.
            #expect(
                try await Self.closesAfter(
                    "POST /demo HTTP/1.0\r\nHost: test\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nold", port: port, answers: 1)
                    == (true, ["202"]))
        }
        #expect(recorded.withLock { $0["collected-continue"]?.map { $0.content.text } } == ["body", "old"])
    }

    @Test(
        "A connection whose first request cannot be decoded gets 400 and is closed",
        arguments: [
            "NOT HTTP AT ALL\r\n\r\n",
            "POST /demo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            "POST /demo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /demo HTTP/1.1\r\nHost: test\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n",
        ])
    func malformedFirstRequest(request: String) async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "collected-malformed-first", endpointType: "recording")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let (closed, statuses) = try await Self.closesAfter(request, port: port, answers: 1)
            #expect(closed)
            #expect(statuses == ["400"])
        }
        #expect(recorded.withLock { $0["collected-malformed-first"] } == nil)
    }

    @Test("A connection that has not sent its first request's head in time is closed; one that has is kept")
    func requestHeadTimeout() async throws {
        var settings = testSettings()
        settings.requestHeadTimeout = .milliseconds(200)
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "collected-head-timeout", endpointType: "recording")), settings: settings)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Nothing, part of a POST's head, part of an event stream's head.
            for partial in ["", "POST /demo HTTP/1.1\r\nHost: te", "GET /demo HTTP/1.1\r\nAccept: text/event-stream\r\n"] {
                let connection = try await RawConnection.open(port: port)
                if !partial.isEmpty { try await connection.send(partial) }
                for _ in 0..<300 where connection.isOpen { try await Task.sleep(for: .milliseconds(10)) }
                #expect(!connection.isOpen, "\(partial.debugDescription)")
                #expect(connection.text.isEmpty)
                await connection.close()
            }
            // A first request in time is answered, and its connection stays open past the timeout.
            #expect(try await Self.closesAfter(Self.post("/demo", "kept"), port: port, answers: 1) == (false, ["202"]))
        }
        #expect(recorded.withLock { $0["collected-head-timeout"]?.map { $0.content.text } } == ["kept"])
    }

    @Test func malformedRequestAfterATakenPostIsAnsweredAfterIt() async throws {
        let app = try makeApp(try await makeRegistry(mockDefinition(id: "collected-garbage", endpointType: "recording")))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let responses = try await Self.exchange(port: port, Self.post("/demo", "kept") + "NOT HTTP AT ALL\r\n\r\n")
            #expect(Self.statuses(responses) == ["202", "400"])
        }
        #expect(recorded.withLock { $0["collected-garbage"]?.map { $0.content.text } } == ["kept"])
    }

    @Test func takenAndHandedOnPostsGetTheSameAnswers() async throws {
        let registry = try await makeRegistry(
            mockDefinition(id: "collected-same", endpointType: "recording"),
            mockDefinition(id: "collected-failing", path: "/failing", endpointType: "failing"))
        let app = try makeApp(registry, settings: testSettings(maxBodySize: 16))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            for (path, body) in [("/demo", "small"), ("/demo", String(repeating: "x", count: 17)), ("/failing", "x"), ("/nowhere", "x")] {
                // With Content-Length the POST is taken on the event loop (within the limit);
                // chunked, it goes to Hummingbird.
                let taken = try await Self.exchange(port: port, Self.post(path, body, close: true))
                let chunked = try await Self.exchange(
                    port: port,
                    "POST \(path) HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        + "\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n")
                let (takenHead, takenBody) = Self.split(taken)
                let (chunkedHead, chunkedBody) = Self.split(chunked)
                #expect(Self.statuses(taken) == Self.statuses(chunked), "\(path) \(body.count)")
                #expect(takenBody == chunkedBody, "\(path) \(body.count)")
                #expect(Self.headerNames(takenHead) == Self.headerNames(chunkedHead), "\(path) \(body.count)")
            }
        }
        #expect(recorded.withLock { $0["collected-same"]?.map { $0.content.text } } == ["small", "small"])
    }

    static func split(_ response: String) -> (head: String, body: String) {
        guard let end = response.range(of: "\r\n\r\n") else { return (response, "") }
        return (String(response[..<end.lowerBound]), String(response[end.upperBound...]))
    }

    /// Header names, without those that depend on the framing or the connection.
    static func headerNames(_ head: String) -> [String] {
        head.components(separatedBy: "\r\n").dropFirst().compactMap { $0.split(separator: ":").first.map { $0.lowercased() } }
            .filter { !["connection", "content-length", "transfer-encoding"].contains($0) }.sorted()
    }

    @Test func dateHeaderIsAnIMFFixdate() {
        #expect(HTTPDateCache.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDateCache.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }
}

/// `CollectedPostHandler` alone, on a testing channel: what it takes, what it hands on, and the
/// order it keeps.
@Suite(.timeLimit(.minutes(1))) struct CollectedPostHandlerTests {
    /// A responder that records the bodies it gets and answers once `gate` lets it.
    final class Responder: Sendable {
        let bodies = Mutex<[String]>([])
        let gate: AsyncStream<Void>
        let open: AsyncStream<Void>.Continuation

        init(gated: Bool) {
            (gate, open) = AsyncStream.makeStream()
            if !gated { open.finish() }
        }

        var respond: LoopResponder {
            { request, _ in
                var request = request
                let body = (try? await request.collectBody(upTo: 1024)) ?? ByteBuffer()
                self.bodies.withLock { $0.append(String(buffer: body)) }
                for await _ in self.gate { break }
                return Response(status: .accepted, headers: [.contentLength: "2"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
            }
        }
    }

    static func post(_ body: String, headers: HTTPFields = [:]) -> [HTTPRequestPart] {
        var fields = headers
        if fields[.transferEncoding] == nil { fields[.contentLength] = "\(body.utf8.count)" }
        return [.head(HTTPRequest(method: .post, scheme: nil, authority: "test", path: "/p", headerFields: fields)), .body(ByteBuffer(string: body)), .end(nil)]
    }

    static let get: [HTTPRequestPart] = [.head(HTTPRequest(method: .get, scheme: nil, authority: "test", path: "/p")), .end(nil)]

    static func channel(_ responder: Responder, maxBodySize: Int = 64) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        let respond = responder.respond
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(CollectedPostHandler(maxBodySize: maxBodySize, idleTimeout: .seconds(60), respond: respond))
        }
        return channel
    }

    static func send(_ parts: [HTTPRequestPart], to channel: NIOAsyncTestingChannel) async throws {
        for part in parts { try await channel.writeInbound(part) }
    }

    /// The parts handed on to the next handler (Hummingbird), up to now.
    static func handedOn(_ channel: NIOAsyncTestingChannel) async throws -> [HTTPRequestPart] {
        var parts: [HTTPRequestPart] = []
        while let part = try await channel.readInbound(as: HTTPRequestPart.self) { parts.append(part) }
        return parts
    }

    struct UnexpectedPart: Error {}

    static func response(_ channel: NIOAsyncTestingChannel) async throws -> (HTTPResponse, String) {
        guard case .head(let head) = try await channel.waitForOutboundWrite(as: HTTPResponsePart.self) else {
            throw UnexpectedPart()
        }
        var body = ""
        while true {
            switch try await channel.waitForOutboundWrite(as: HTTPResponsePart.self) {
            case .body(let buffer): body += String(buffer: buffer)
            case .end: return (head, body)
            case .head: throw UnexpectedPart()
            }
        }
    }

    @Test func aPostWithinTheLimitIsAnsweredHereAndNotHandedOn() async throws {
        let responder = Responder(gated: false)
        let channel = try await Self.channel(responder)
        try await Self.send(Self.post("abc"), to: channel)
        let (head, body) = try await Self.response(channel)
        #expect(head.status == .accepted)
        #expect(body == "ok")
        #expect(try await Self.handedOn(channel).isEmpty)
        #expect(responder.bodies.withLock { $0 } == ["abc"])
    }

    @Test func postsThatAskMoreOfTheConnectionAreHandedOn() async throws {
        let responder = Responder(gated: false)
        let channel = try await Self.channel(responder, maxBodySize: 4)
        // A head whose Content-Length fields are given as they are.
        func post(lengths: [String]) -> [HTTPRequestPart] {
            let fields = HTTPFields(lengths.map { HTTPField(name: .contentLength, value: $0) })
            return [.head(HTTPRequest(method: .post, scheme: nil, authority: "test", path: "/p", headerFields: fields)), .body(ByteBuffer(string: "x")), .end(nil)]
        }
        let handedOn: [[HTTPRequestPart]] = [
            Self.post("too long"),
            Self.post("x", headers: [.transferEncoding: "chunked"]),
            Self.post("x", headers: [.expect: "something-else"]),
            Self.post("x", headers: [.upgrade: "websocket", .connection: "upgrade"]),
            post(lengths: ["1", "1"]),
            post(lengths: ["-1"]),
            post(lengths: ["one"]),
            post(lengths: []),
            Self.get,
        ]
        for parts in handedOn {
            try await Self.send(parts, to: channel)
            #expect(try await Self.handedOn(channel) == parts)
            // What Hummingbird would answer, so that the next request may be taken.
            try await channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try await channel.writeOutbound(HTTPResponsePart.end(nil))
            _ = try await channel.readOutbound(as: HTTPResponsePart.self)
            _ = try await channel.readOutbound(as: HTTPResponsePart.self)
        }
        #expect(responder.bodies.withLock { $0 }.isEmpty)
    }

    @Test func requestsArrivingWhileAPostIsAnsweredWaitAndKeepTheirOrder() async throws {
        let responder = Responder(gated: true)
        let channel = try await Self.channel(responder)
        try await Self.send(Self.post("first") + Self.get + Self.post("second"), to: channel)
        // The GET and the second POST wait: nothing is handed on before the first answer.
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await Self.handedOn(channel).isEmpty)
        responder.open.yield()
        #expect(try await Self.response(channel).0.status == .accepted)
        // Then the GET goes to Hummingbird, and the POST behind it too, since the GET is not
        // answered yet.
        #expect(try await Self.handedOn(channel) == Self.get + Self.post("second"))
        // Once both are answered, a new POST is taken again.
        for _ in 0..<2 {
            try await channel.writeOutbound(HTTPResponsePart.end(nil))
            _ = try await channel.readOutbound(as: HTTPResponsePart.self)
        }
        responder.open.finish()
        try await Self.send(Self.post("third"), to: channel)
        #expect(try await Self.response(channel).0.status == .accepted)
        #expect(responder.bodies.withLock { $0 } == ["first", "third"])
    }

    /// Counts the reads asked of the socket (what NIO's channel does after each read completes).
    final class ReadCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = Any
        let reads = Atomic(0)

        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    /// Asks the pipeline for a read, on the channel's loop.
    static func read(_ channel: NIOAsyncTestingChannel) async throws {
        try await channel.testingEventLoop.executeInContext { channel.pipeline.read() }
    }

    @Test func readingGoesOnWhileAPostIsAnsweredUntilSomethingWaitsBehindIt() async throws {
        let responder = Responder(gated: true)
        let channel = try await Self.channel(responder)
        let counter = ReadCounter()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        }
        try await Self.send(Self.post("first"), to: channel)
        // Nothing waits behind the POST being answered: the connection goes on reading (a
        // pause would cost two changes of the socket's read interest per request).
        try await Self.read(channel)
        #expect(counter.reads.load(ordering: .relaxed) == 1)
        // Something waits: reading pauses, and resumes once the POST is answered.
        try await Self.send(Self.get, to: channel)
        try await Self.read(channel)
        #expect(counter.reads.load(ordering: .relaxed) == 1)
        responder.open.yield()
        #expect(try await Self.response(channel).0.status == .accepted)
        #expect(try await Self.handedOn(channel) == Self.get)
        // (Read on the loop, after the answer's turn.)
        #expect(try await channel.testingEventLoop.executeInContext { counter.reads.load(ordering: .relaxed) } == 2)
        responder.open.finish()
    }

    @Test(arguments: ["close", "Close", "keep-alive, close", "TE,CLOSE ", "\tclose\t"])
    func aPostAskingToCloseIsAnsweredThenTheConnectionCloses(connection: String) async throws {
        let responder = Responder(gated: false)
        let channel = try await Self.channel(responder)
        try await Self.send(Self.post("bye", headers: [.connection: connection]), to: channel)
        let (head, _) = try await Self.response(channel)
        #expect(head.headerFields[.connection] == "close")
        try await channel.closeFuture.get()
    }

    @Test func connectionOptionsOtherThanCloseKeepTheConnection() {
        for value in ["keep-alive", "closed", "upgrade, keep-alive", "clos", "", "close-ish", "xclose"] {
            #expect(!CollectedPostHandler.HeadFacts.asksToClose(value), "\(value)")
        }
        for value in ["close", "CLOSE", "keep-alive,close", " close ", "a, b, close, c"] {
            #expect(CollectedPostHandler.HeadFacts.asksToClose(value), "\(value)")
        }
    }

    @Test func aServerQuiescingWhileAPostIsAnsweredClosesAfterTheAnswer() async throws {
        let responder = Responder(gated: true)
        let channel = try await Self.channel(responder)
        try await Self.send(Self.post("last"), to: channel)
        try await channel.testingEventLoop.executeInContext {
            channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        responder.open.finish()
        let (head, _) = try await Self.response(channel)
        #expect(head.status == .accepted)
        #expect(head.headerFields[.connection] == "close")
        try await channel.closeFuture.get()
    }
}

/// What waits behind a request being answered, and when reading pauses.
@Suite struct HeldRequestPartsTests {
    static let head = HTTPRequestPart.head(HTTPRequest(method: .get, scheme: nil, authority: "test", path: "/p"))

    /// What `held` gives, part by part, until nothing waits (an error as nil).
    static func drain(_ held: inout HeldRequestParts) -> [HTTPRequestPart?] {
        var taken: [HTTPRequestPart?] = []
        while let part = held.next() { taken.append(try? part.get()) }
        return taken
    }

    @Test func partsAreTakenInTheOrderTheyCame() {
        var held = HeldRequestParts()
        #expect(held.isEmpty)
        held.hold(.success(Self.head))
        held.hold(.failure(ChannelError.ioOnClosedChannel))
        held.hold(.success(.end(nil)))
        #expect(!held.isEmpty)
        let taken = Self.drain(&held)
        #expect(taken == [Self.head, nil, .end(nil)])
        #expect(held.isEmpty)
    }

    @Test func readingPausesOnlyWhileSomethingWaitsBehindAnAnswer() {
        var held = HeldRequestParts()
        // Nothing answered, or nothing waiting: reads go on, and none is held back.
        var decisions = [held.allowsRead(answering: false), held.allowsRead(answering: true), held.releasesRead(answering: false)]
        #expect(decisions == [true, true, false])
        held.hold(.success(Self.head))
        // Something waits behind an answer: the read is held back until it has been taken, and
        // released once only.
        decisions = [held.allowsRead(answering: false), held.allowsRead(answering: true), held.releasesRead(answering: true)]
        #expect(decisions == [true, false, false])
        _ = held.next()
        decisions = [held.releasesRead(answering: true), held.releasesRead(answering: false)]
        #expect(decisions == [true, false])
    }

    @Test func aReadHeldBackIsReleasedOnceTheConnectionTakesMore() {
        var held = HeldRequestParts()
        held.hold(.success(Self.head))
        let allowed = held.allowsRead(answering: true)
        // The answer is out and the connection takes more (what waits is about to be
        // received): the read held back may go.
        let released = held.releasesRead(answering: false)
        #expect(!allowed && released)
    }
}
