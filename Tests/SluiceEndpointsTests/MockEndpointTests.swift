import NIOCore
import SluiceCore
import Testing

@testable import SluiceEndpoints

@Suite struct MockEndpointTests {
    static func configuration(_ json: JSONValue) throws -> MockConfiguration {
        var problems = Problems()
        let normalised = MockConfiguration.schema.validate(json, at: .root, problems: &problems)
        #expect(!problems.hasErrors, "\(problems.all)")
        return MockConfiguration(try #require(normalised))
    }

    static func collect(_ connector: MockConnector, resumeAfter: String? = nil, upTo limit: Int = 100) async throws -> [Message] {
        var messages: [Message] = []
        let subscription = try await connector.subscribe(SubscribeRequest(clientIdentifier: "c", qos: .auto, resumeAfter: resumeAfter, entrypoint: "test"))
        for try await message in subscription {
            messages.append(message)
            if messages.count >= limit { break }
        }
        return messages
    }

    @Test func defaultsComeFromTheSchema() throws {
        let configuration = try Self.configuration([:])
        #expect(configuration.messageInterval == .milliseconds(1000))
        #expect(configuration.messageContent == "mock message")
        #expect(configuration.messageCount == nil)
        #expect(configuration.headers.isEmpty)
        #expect(configuration.metadata.isEmpty)
    }

    @Test func resumePositionRules() {
        #expect(MockConfiguration.firstIndex(resumingAfter: nil) == 0)
        #expect(MockConfiguration.firstIndex(resumingAfter: "0") == 1)
        #expect(MockConfiguration.firstIndex(resumingAfter: "41") == 42)
        #expect(MockConfiguration.firstIndex(resumingAfter: "abc") == 0)
        #expect(MockConfiguration.firstIndex(resumingAfter: "-3") == 0)
        #expect(MockConfiguration.firstIndex(resumingAfter: "99999999999999999999999") == 0)
    }

    @Test func emitsNumberedMessagesUpToTheCount() async throws {
        let connector = MockConnector(
            configuration: try Self.configuration([
                "messageInterval": 5, "messageCount": 3, "messageContent": "hi",
                "headers": [["name": "h", "value": "v"]], "metadata": [["name": "m", "value": "w"]],
            ]))
        let messages = try await Self.collect(connector)
        #expect(messages.map(\.id) == ["0", "1", "2"])
        #expect(messages.allSatisfy { String(buffer: $0.content) == "hi" })
        #expect(messages.first?.headers.values(for: "h") == ["v"])
        #expect(messages.first?.metadata["m"] == "w")
    }

    @Test func resumesAfterACursorWithinTheCount() async throws {
        let connector = MockConnector(configuration: try Self.configuration(["messageInterval": 5, "messageCount": 5]))
        #expect(try await Self.collect(connector, resumeAfter: "2").map(\.id) == ["3", "4"])
        #expect(try await Self.collect(connector, resumeAfter: "4").isEmpty)
        #expect(try await Self.collect(connector, resumeAfter: "x").map(\.id) == ["0", "1", "2", "3", "4"])
    }

    @Test func firstMessageComesAfterOneInterval() async throws {
        let connector = MockConnector(configuration: try Self.configuration(["messageInterval": 200, "messageCount": 1]))
        let start = ContinuousClock.now
        _ = try await Self.collect(connector)
        #expect(ContinuousClock.now - start >= .milliseconds(190))
    }

    @Test func cancellationEndsTheSubscription() async throws {
        let connector = MockConnector(configuration: try Self.configuration(["messageInterval": 60_000]))
        let task = Task { try await Self.collect(connector) }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(try await task.value.isEmpty)
    }

    @Test func cursorsMustBeMessageIds() throws {
        let connector = MockConnector(configuration: try Self.configuration([:]))
        #expect(connector.cursorProblem("12") == nil)
        #expect(connector.cursorProblem("-1") != nil)
        #expect(connector.cursorProblem("t@0#1") != nil)
    }

    @Test func publishAcceptsEveryMessage() async throws {
        let connector = MockConnector(configuration: try Self.configuration([:]))
        try await connector.publish(Message(content: ByteBuffer(bytes: [0, 1, 2])))
    }

    @Test func schemaRefusesBadValuesWithPaths() {
        var problems = Problems()
        _ = MockConfiguration.schema.validate(
            ["messageInterval": 0, "messageCount": "many", "headers": [["value": "x"]]], at: DocumentPath.root + "configuration",
            problems: &problems)
        #expect(
            problems.errors.map(\.description).sorted() == [
                "configuration.headers[0].name: is required",
                "configuration.messageCount: must be an integer >= 0",
                "configuration.messageInterval: must be an integer >= 1",
            ])
    }

    @Test func factoryDescribesTheContract() {
        let factory = MockEndpointFactory()
        #expect(factory.type == "mock")
        #expect(factory.supportedQoS == Set(QoS.allCases))
        #expect(factory.capabilities == [.autoAck, .manualAck, .recover])
        #expect(factory.modes(configuration: [:], sharedConfiguration: [:]) == [.publish, .subscribe])
    }
}
