import NIOCore
import SluiceCore

/// The configuration of a Mock endpoint (contract §2 Mock), read from its validated JSON.
public struct MockConfiguration: Sendable, Hashable {
    public var messageInterval: Duration
    public var messageContent: String
    public var messageCount: Int?
    public var headers: MessageHeaders
    public var metadata: JSONObject

    public static let schema = JSONSchema.object(
        title: "Mock",
        description: "Generates messages without a broker and accepts every published message.",
        [
            ("messageInterval", .integer(title: "Message interval (ms)", description: "Time between two generated messages; the first comes after one interval.", default: 1000, minimum: 1)),
            ("messageContent", .string(title: "Message content", default: "mock message")),
            ("messageCount", .integer(title: "Message count", description: "How many messages in all; absent means no limit.", minimum: 0)),
            ("headers", .array(title: "Headers", of: nameValueSchema)),
            ("metadata", .array(title: "Metadata", of: nameValueSchema)),
        ])

    static let nameValueSchema = JSONSchema.object(
        [("name", .string(title: "Name", minLength: 1)), ("value", .string(title: "Value", default: ""))],
        required: ["name"])

    /// Reads a configuration that passed ``schema``.
    public init(_ json: JSONValue) {
        messageInterval = .milliseconds(json["messageInterval"]?.integerValue ?? 1000)
        messageContent = json["messageContent"]?.stringValue ?? "mock message"
        messageCount = json["messageCount"]?.integerValue
        headers = MessageHeaders(Self.pairs(json["headers"]))
        var metadata = JSONObject()
        for (name, value) in Self.pairs(json["metadata"]) { metadata[name] = .string(value) }
        self.metadata = metadata
    }

    private static func pairs(_ value: JSONValue?) -> [(name: String, value: String)] {
        (value?.arrayValue ?? []).compactMap { entry in
            guard let name = entry["name"]?.stringValue else { return nil }
            return (name: name, value: entry["value"]?.stringValue ?? "")
        }
    }

    /// The id of the first message after a resume position: `N` resumes at `N+1`, anything else at 0.
    public static func firstIndex(resumingAfter position: String?) -> Int {
        guard let position, let index = Int(position), index >= 0, index < Int.max else { return 0 }
        return index + 1
    }
}

public struct MockEndpointFactory: EndpointConnectorFactory {
    public init() {}

    public var type: String { "mock" }
    public var title: String { "Mock" }
    public var configurationSchema: JSONSchema { MockConfiguration.schema }
    public var sharedConfigurationSchema: JSONSchema { .emptyObject }
    public var supportedQoS: Set<QoS> { Self.qualities }
    private static let qualities: Set<QoS> = Set(QoS.allCases)
    public var capabilities: ConnectorCapabilities { [.autoAck, .manualAck, .recover] }

    public func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes { [.publish, .subscribe] }

    public func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector {
        MockConnector(configuration: MockConfiguration(settings.configuration))
    }
}

/// Generates `messageContent` every `messageInterval` and accepts every published message.
public struct MockConnector: EndpointConnector {
    public let configuration: MockConfiguration

    public init(configuration: MockConfiguration) { self.configuration = configuration }

    public func start() async throws {}

    public func publish(_ message: Message) async throws {}

    public func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        MessageSubscription(MockMessages(configuration: configuration, first: MockConfiguration.firstIndex(resumingAfter: request.resumeAfter)))
    }

    public func close() async {}

    public func cursorProblem(_ cursor: String) -> String? {
        guard let index = Int(cursor), index >= 0, index < Int.max else { return "a Mock cursor is a message id (0, 1, 2, ...)" }
        return nil
    }
}

/// The generated messages: pulled, so a message is made only when the reader asks for one.
struct MockMessages: AsyncSequence, Sendable {
    typealias Element = Message

    let configuration: MockConfiguration
    let first: Int

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(configuration: configuration, next: first, content: ByteBuffer(string: configuration.messageContent))
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let configuration: MockConfiguration
        var next: Int
        let content: ByteBuffer
        var deadline: ContinuousClock.Instant?

        mutating func next() async throws -> Message? {
            if let count = configuration.messageCount, next >= count { return nil }
            // Intervals are kept on a fixed schedule so that a slow reader does not shift them.
            let due = (deadline ?? .now).advanced(by: configuration.messageInterval)
            do {
                try await Task.sleep(until: due, clock: .continuous)
            } catch {
                return nil
            }
            deadline = Swift.max(due, .now - configuration.messageInterval)
            defer { next += 1 }
            return Message(id: String(next), content: content, headers: configuration.headers, metadata: configuration.metadata)
        }
    }
}
