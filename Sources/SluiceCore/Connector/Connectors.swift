import Foundation
import NIOCore

/// What a connector can do with its broker.
public struct ConnectorModes: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let publish = ConnectorModes(rawValue: 1)
    public static let subscribe = ConnectorModes(rawValue: 2)

    /// The roles a broker endpoint's shared configuration enables (contract §2): `producer` →
    /// publish, `consumer` → subscribe, each when its `enabled` is true.
    public init(roles sharedConfiguration: JSONValue) {
        self = []
        if sharedConfiguration["producer"]?["enabled"]?.boolValue == true { insert(.publish) }
        if sharedConfiguration["consumer"]?["enabled"]?.boolValue == true { insert(.subscribe) }
    }
}

/// The acknowledgement capabilities an endpoint offers (contract §2), and an entrypoint needs.
public struct ConnectorCapabilities: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let autoAck = ConnectorCapabilities(rawValue: 1)
    public static let manualAck = ConnectorCapabilities(rawValue: 2)
    /// The endpoint can resume a stream after a message id.
    public static let recover = ConnectorCapabilities(rawValue: 4)

    public var description: String {
        [(Self.autoAck, "auto-ack"), (Self.manualAck, "manual-ack"), (Self.recover, "recover")]
            .filter { contains($0.0) }.map(\.1).joined(separator: ", ")
    }
}

/// One endpoint of a deployed API with its configuration validated and defaults applied.
public struct EndpointSettings: Sendable, Hashable {
    public var apiId: String
    public var groupName: String
    public var name: String
    public var type: String
    public var configuration: JSONValue
    public var sharedConfiguration: JSONValue

    public init(apiId: String, groupName: String, name: String, type: String, configuration: JSONValue, sharedConfiguration: JSONValue) {
        self.apiId = apiId
        self.groupName = groupName
        self.name = name
        self.type = type
        self.configuration = configuration
        self.sharedConfiguration = sharedConfiguration
    }
}

/// What a client asks for when it subscribes.
public struct SubscribeRequest: Sendable {
    /// Drives consumer groups, shared subscriptions and queue names (contract §4).
    public var clientIdentifier: String
    public var qos: QoS
    /// Resume after this message id (HTTP GET `cursor`, SSE `Last-Event-ID`).
    public var resumeAfter: String?
    /// The entrypoint type asking (`sse`, `http-get`, ...), for logs and metrics.
    public var entrypoint: String
    /// Closes the client's connection at once: for a subscriber that must go although its
    /// entrypoint is stuck writing to a client that reads nothing (live fan-out's slow-subscriber
    /// policy). Its stream then ends as if the client had left.
    public var closeConnection: (@Sendable () -> Void)?

    public init(
        clientIdentifier: String, qos: QoS, resumeAfter: String? = nil, entrypoint: String, closeConnection: (@Sendable () -> Void)? = nil
    ) {
        self.clientIdentifier = clientIdentifier
        self.qos = qos
        self.resumeAfter = resumeAfter
        self.entrypoint = entrypoint
        self.closeConnection = closeConnection
    }
}

/// A pulled stream of consumed messages: the connector fetches only as the client drains it.
public struct MessageSubscription: AsyncSequence, Sendable {
    public typealias Element = Message

    private let makeIterator: @Sendable () -> AsyncIterator
    /// Set when the messages can be waited for together with other events (live fan-out).
    public let wakeable: (any WakeableMessageSource)?
    /// Set when the messages can be handed over as they arrive (live fan-out's broker side).
    public let handingOver: (any HandingOverMessageSource)?

    public init<Base: AsyncSequence & Sendable>(_ base: Base) where Base.Element == Message {
        makeIterator = { AsyncIterator(base.makeAsyncIterator()) }
        wakeable = base as? any WakeableMessageSource
        handingOver = base as? any HandingOverMessageSource
    }

    public func makeAsyncIterator() -> AsyncIterator { makeIterator() }

    public struct AsyncIterator: AsyncIteratorProtocol {
        private let box: Box

        init<Base: AsyncIteratorProtocol>(_ base: Base) where Base.Element == Message { box = TypedBox(base) }

        public mutating func next() async throws -> Message? {
            try await box.next()
        }
    }

    /// The base iterator, typed (no cast per message); a class because iterators are mutated.
    class Box {
        func next() async throws -> Message? { nil }
    }

    final class TypedBox<Base: AsyncIteratorProtocol>: Box where Base.Element == Message {
        var base: Base
        init(_ base: Base) { self.base = base }
        override func next() async throws -> Message? { try await base.next() }
    }
}

/// A subscription that can hand each message over as it arrives, on the thread that received it,
/// instead of waking a reader task for it: for a reader that does little per message and passes
/// it on (live fan-out), a hop between threads less on the way to the clients.
public protocol HandingOverMessageSource: Sendable {
    /// Calls `receive` with each message, in order, until it returns false (then returns), the
    /// subscription ends (returns) or fails (throws, as iterating would). `receive` runs on the
    /// endpoint's thread (what waited before the call, on the caller's), one call at a time, and
    /// must not block. Use either this or iteration, not both.
    func handOver(to receive: @escaping @Sendable (Message) -> Bool) async throws
}

/// A live connection to one endpoint of a deployed API.
public protocol EndpointConnector: Sendable {
    /// Connects (or checks the configuration) before the API takes traffic.
    func start() async throws
    /// Returns after the broker acknowledged the message; throws a ``GatewayError`` otherwise.
    func publish(_ message: Message) async throws
    /// Subscribes for one client. The subscription is released when it is no longer iterated.
    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription
    /// Closes broker connections; open subscriptions end.
    func close() async
    /// Why a client-given cursor (HTTP GET `cursor`) cannot be a position of this endpoint, or nil
    /// when it can. The reason is shown to the client.
    func cursorProblem(_ cursor: String) -> String?
    /// Whether the gateway may serve this subscriber from one broker subscription shared with
    /// other subscribers (live fan-out). Only when the subscriber would get exactly what such a
    /// subscription delivers from the moment it joins: QoS none (nothing to acknowledge, no state
    /// of its own), no resume position, and a subscription that starts at the live end (no
    /// replay of older messages). Subscribers sharing a client identifier still split the
    /// messages between them; different identifiers each get every message.
    func sharesSubscription(for request: SubscribeRequest) -> Bool
}

extension EndpointConnector {
    public func cursorProblem(_ cursor: String) -> String? { nil }
    public func sharesSubscription(for request: SubscribeRequest) -> Bool { false }
}

/// Everything Sluice knows about an endpoint type: its schemas (the single source of truth for its
/// configuration), what it can do, and how to connect.
public protocol EndpointConnectorFactory: Sendable {
    /// The `type` of endpoints and endpoint groups: `mock`, `kafka`, `mqtt5`, ...
    var type: String { get }
    var title: String { get }
    var configurationSchema: JSONSchema { get }
    var sharedConfigurationSchema: JSONSchema { get }
    var supportedQoS: Set<QoS> { get }
    var capabilities: ConnectorCapabilities { get }
    /// The modes a given configuration enables (a Kafka endpoint may be producer-only).
    func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes
    /// Rewrites accepted alternative spellings (`reconnectAttempt`) into the schema's before
    /// validation.
    func normalize(sharedConfiguration: JSONValue) -> JSONValue
    /// Checks that go beyond the schema; problems are reported at the given paths.
    func check(
        configuration: JSONValue, at configurationPath: DocumentPath,
        sharedConfiguration: JSONValue, at sharedPath: DocumentPath, problems: inout Problems)
    func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector
}

extension EndpointConnectorFactory {
    public func normalize(sharedConfiguration: JSONValue) -> JSONValue { sharedConfiguration }

    public func check(
        configuration: JSONValue, at configurationPath: DocumentPath,
        sharedConfiguration: JSONValue, at sharedPath: DocumentPath, problems: inout Problems
    ) {}

    /// The connector type as the management API and the console describe it.
    public var catalogueEntry: JSONValue {
        [
            "type": .string(type),
            "title": .string(title),
            "kind": "endpoint",
            "qos": .array(QoS.allCases.filter(supportedQoS.contains).map { .string($0.rawValue) }),
            "capabilities": .array(capabilities.description.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }),
            "configurationSchema": configurationSchema.json,
            "sharedConfigurationSchema": sharedConfigurationSchema.json,
        ]
    }
}

/// Everything Sluice knows about an entrypoint type, apart from how it speaks HTTP: its schema, the
/// QoS levels it offers and what each needs from the endpoint.
public struct EntrypointDescriptor: Sendable {
    public var type: String
    public var title: String
    public var configurationSchema: JSONSchema
    public var supportedQoS: Set<QoS>
    /// The listener type that carries it.
    public var listenerType: ListenerType
    /// Capabilities the endpoint must offer for the entrypoint to run at a QoS.
    public var requirements: @Sendable (QoS) -> ConnectorCapabilities
    /// The modes the entrypoint uses with a given (validated) configuration.
    public var modes: @Sendable (JSONValue) -> ConnectorModes

    public init(
        type: String, title: String, configurationSchema: JSONSchema, supportedQoS: Set<QoS>,
        listenerType: ListenerType = .http,
        requirements: @escaping @Sendable (QoS) -> ConnectorCapabilities = { _ in [] },
        modes: @escaping @Sendable (JSONValue) -> ConnectorModes
    ) {
        self.type = type
        self.title = title
        self.configurationSchema = configurationSchema
        self.supportedQoS = supportedQoS
        self.listenerType = listenerType
        self.requirements = requirements
        self.modes = modes
    }

    public var catalogueEntry: JSONValue {
        [
            "type": .string(type),
            "title": .string(title),
            "kind": "entrypoint",
            "listenerType": .string(listenerType.rawValue),
            "qos": .array(QoS.allCases.filter(supportedQoS.contains).map { .string($0.rawValue) }),
            "configurationSchema": configurationSchema.json,
        ]
    }
}

/// The connector types a gateway knows.
public struct ConnectorCatalog: Sendable {
    public let endpoints: [String: any EndpointConnectorFactory]
    public let entrypoints: [String: EntrypointDescriptor]

    public init(endpoints: [any EndpointConnectorFactory], entrypoints: [EntrypointDescriptor]) {
        self.endpoints = Dictionary(endpoints.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
        self.entrypoints = Dictionary(entrypoints.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
