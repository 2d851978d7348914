import Foundation
import Hummingbird
import HummingbirdTesting
import SluiceCore
import Testing

@testable import SluiceGateway

/// `http.idleTimeoutMs` over real sockets: a keep-alive connection with nothing in progress is
/// closed once the timeout has passed, on both paths (Hummingbird's with POSTs taken on the loop,
/// and the event-stream connections'), and never while a request is read or answered or a stream
/// is live.
@Suite(.timeLimit(.minutes(1))) struct IdleConnectionTests {
    static let timeout = 300

    static func app(_ id: String) async throws -> some ApplicationProtocol {
        var settings = testSettings()
        settings.idleTimeout = .milliseconds(timeout)
        let definition = mockDefinition(
            id: id,
            entrypoints: entrypoints(
                "type: http-post",
                // A poll answered after a second without messages: longer than the idle timeout.
                "type: http-get\n        configuration: {messagesLimitCount: 5, messagesLimitDurationMs: 1000}",
                "type: sse\n        configuration: {heartbeatIntervalInMs: 5000}"),
            endpointType: "recording", mockConfiguration: "{messageInterval: 60000}")
        return try makeApp(try await makeRegistry(definition), settings: settings)
    }

    /// Waits up to `seconds` for the connection to close; whether it did.
    static func closes(_ connection: RawConnection, within seconds: Double = 3) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while connection.isOpen, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        return !connection.isOpen
    }

    @Test("Requests one after another keep a connection; once idle it is closed")
    func busyThenIdle() async throws {
        let app = try await Self.app("idle-busy")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try await RawConnection.open(port: port)
            // Taken POSTs, 100 ms apart, for a second: three times the timeout.
            for index in 0..<10 {
                try await connection.send(CollectedPostTests.post("/demo", "m\(index)"))
                try await Task.sleep(for: .milliseconds(100))
                #expect(connection.isOpen, "closed after \(index + 1) POSTs")
            }
            #expect(CollectedPostTests.statuses(connection.text) == Array(repeating: "202", count: 10))
            let quiet = ContinuousClock.now
            #expect(try await Self.closes(connection))
            #expect(ContinuousClock.now - quiet >= .milliseconds(Self.timeout - 150))
            await connection.close()
        }
        #expect(recorded.withLock { $0["idle-busy"]?.count } == 10)
    }

    @Test("A request answered after longer than the timeout is not cut; the idle time counts after its answer")
    func longRequest() async throws {
        let app = try await Self.app("idle-long")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try await RawConnection.open(port: port)
            // A poll that Hummingbird answers after a second.
            let start = ContinuousClock.now
            try await connection.send("GET /demo HTTP/1.1\r\nHost: test\r\nAccept: application/json\r\n\r\n")
            // Its head goes out at once; its body ends (the last chunk) after the second.
            try await connection.waitFor("\r\n0\r\n\r\n")
            #expect(ContinuousClock.now - start >= .milliseconds(900), "\(connection.text)")
            #expect(CollectedPostTests.statuses(connection.text) == ["200"])
            #expect(try await Self.closes(connection))
            await connection.close()
        }
    }

    @Test("A later request's head sent in part holds the connection no longer than silence")
    func partialLaterHead() async throws {
        let app = try await Self.app("idle-partial")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try await RawConnection.open(port: port)
            try await connection.send(CollectedPostTests.post("/demo", "first"))
            try await connection.waitFor("202 Accepted")
            for part in ["POST /demo HTTP/1.1\r\n", "Host: te"] {
                try await connection.send(part)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await Self.closes(connection))
            #expect(CollectedPostTests.statuses(connection.text) == ["202"])
            await connection.close()
        }
        #expect(recorded.withLock { $0["idle-partial"]?.map { $0.content.text } } == ["first"])
    }

    @Test("On an event-stream connection: a live stream is kept, an idle connection between requests is closed")
    func eventStreamConnection() async throws {
        let app = try await Self.app("idle-stream")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // A stream with nothing to send for longer than the timeout stays open.
            let stream = try await RawConnection.open(port: port)
            try await stream.send("GET /demo HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
            try await stream.waitFor("HTTP/1.1 200 ")
            try await Task.sleep(for: .milliseconds(Self.timeout * 3))
            #expect(stream.isOpen)
            await stream.close()
            // A first request for a stream that is answered at once (no API there): the connection
            // is then idle, and closed.
            let answered = try await RawConnection.open(port: port)
            try await answered.send("GET /nowhere HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
            try await answered.waitFor("HTTP/1.1 404 ")
            #expect(try await Self.closes(answered))
            await answered.close()
        }
    }
}
