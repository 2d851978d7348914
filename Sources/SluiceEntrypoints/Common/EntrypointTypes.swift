import Hummingbird
import SluiceCore

/// Every entrypoint type this build of Sluice knows, with its schema and QoS rules (contract §3).
public enum EntrypointTypes {
    public static let httpGet = EntrypointDescriptor(
        type: "http-get",
        title: "HTTP GET",
        configurationSchema: HTTPGetConfiguration.schema,
        supportedQoS: [.auto, .atMostOnce, .atLeastOnce],
        requirements: { qos in qos == .atMostOnce || qos == .atLeastOnce ? .recover : [] },
        modes: { _ in .subscribe })

    public static let httpPost = EntrypointDescriptor(
        type: "http-post",
        title: "HTTP POST",
        configurationSchema: HTTPPostConfiguration.schema,
        supportedQoS: [.none, .auto],
        modes: { _ in .publish })

    public static let sse = EntrypointDescriptor(
        type: "sse",
        title: "Server-Sent Events",
        configurationSchema: SSEConfiguration.schema,
        supportedQoS: Set(QoS.allCases),
        requirements: { qos in qos == .atMostOnce || qos == .atLeastOnce ? .recover : [] },
        modes: { _ in .subscribe })

    public static let webSocket = EntrypointDescriptor(
        type: "websocket",
        title: "WebSocket",
        configurationSchema: WebSocketConfiguration.schema,
        supportedQoS: [.none, .auto],
        modes: { json in
            let configuration = WebSocketConfiguration(json)
            var modes: ConnectorModes = []
            if configuration.publisherEnabled { modes.insert(.publish) }
            if configuration.subscriberEnabled { modes.insert(.subscribe) }
            return modes
        })

    public static let all: [EntrypointDescriptor] = [httpGet, httpPost, sse, webSocket]

    /// How each entrypoint type answers a plain HTTP request. (WebSocket sessions start from an
    /// upgrade instead: ``WebSocketEntrypoint/run(inbound:outbound:context:)``.)
    public static let httpHandlers: [String: @Sendable (Request, EntrypointContext) async throws -> Response] = [
        httpGet.type: HTTPGetEntrypoint.handle,
        httpPost.type: HTTPPostEntrypoint.handle,
        sse.type: SSEEntrypoint.handle,
    ]
}

public struct HTTPGetConfiguration: Sendable, Hashable {
    public var messagesLimitCount: Int
    public var messagesLimitDuration: Duration
    public var headersInPayload: Bool
    public var metadataInPayload: Bool

    public static let schema = JSONSchema.object(
        title: "HTTP GET",
        [
            ("messagesLimitCount", .integer(title: "Limit messages count", description: "The most messages one response holds.", default: 500, minimum: 1)),
            ("messagesLimitDurationMs", .integer(title: "Limit messages duration (ms)", description: "The longest a response waits for messages.", default: 5000, minimum: 1)),
            ("headersInPayload", .boolean(title: "Allow sending messages headers to client in payload", default: false)),
            ("metadataInPayload", .boolean(title: "Allow sending messages metadata to client in payload", default: false)),
        ])

    public init(_ json: JSONValue) {
        messagesLimitCount = json["messagesLimitCount"]?.integerValue ?? 500
        messagesLimitDuration = .milliseconds(json["messagesLimitDurationMs"]?.integerValue ?? 5000)
        headersInPayload = json["headersInPayload"]?.boolValue ?? false
        metadataInPayload = json["metadataInPayload"]?.boolValue ?? false
    }
}

public struct HTTPPostConfiguration: Sendable, Hashable {
    public var requestHeadersToMessage: Bool

    public static let schema = JSONSchema.object(
        title: "HTTP POST",
        [("requestHeadersToMessage", .boolean(title: "Propagate request headers to message", default: false))])

    public init(_ json: JSONValue) {
        requestHeadersToMessage = json["requestHeadersToMessage"]?.boolValue ?? false
    }
}

public struct SSEConfiguration: Sendable, Hashable {
    public var heartbeatInterval: Duration
    public var heartbeatIntervalMilliseconds: Int
    public var metadataAsComment: Bool
    public var headersAsComment: Bool

    public static let schema = JSONSchema.object(
        title: "Server-Sent Events",
        [
            ("heartbeatIntervalInMs", .integer(title: "Heartbeat interval (ms)", description: "A comment is sent after this much silence.", default: 5000, minimum: 2000)),
            ("metadataAsComment", .boolean(title: "Send message metadata as comments", default: false)),
            ("headersAsComment", .boolean(title: "Send message headers as comments", default: false)),
        ])

    public init(_ json: JSONValue) {
        heartbeatIntervalMilliseconds = json["heartbeatIntervalInMs"]?.integerValue ?? 5000
        heartbeatInterval = .milliseconds(heartbeatIntervalMilliseconds)
        metadataAsComment = json["metadataAsComment"]?.boolValue ?? false
        headersAsComment = json["headersAsComment"]?.boolValue ?? false
    }
}

public struct WebSocketConfiguration: Sendable, Hashable {
    public var publisherEnabled: Bool
    public var subscriberEnabled: Bool

    public static let schema = JSONSchema.object(
        title: "WebSocket",
        [
            ("publisher", .object(title: "Publisher", [("enabled", .boolean(title: "Enable the publication capability", default: true))], defaultValue: [:])),
            ("subscriber", .object(title: "Subscriber", [("enabled", .boolean(title: "Enable the subscription capability", default: true))], defaultValue: [:])),
        ])

    public init(_ json: JSONValue) {
        publisherEnabled = json["publisher"]?["enabled"]?.boolValue ?? true
        subscriberEnabled = json["subscriber"]?["enabled"]?.boolValue ?? true
    }
}
