import Foundation
import MQTT5
import NIOCore
import NIOPosix
import NIOSSL
import SluiceCore
import Synchronization

/// The `mqtt5` endpoint type (contract §2 MQTT 5).
public struct MQTT5EndpointFactory: EndpointConnectorFactory {
    public init() {}

    public var type: String { "mqtt5" }
    public var title: String { "MQTT 5" }
    public var configurationSchema: JSONSchema { MQTT5EndpointConfiguration.schema }
    public var sharedConfigurationSchema: JSONSchema { MQTT5EndpointConfiguration.sharedSchema }
    public var supportedQoS: Set<QoS> { Self.qualities }
    private static let qualities: Set<QoS> = Set(QoS.allCases)
    /// MQTT messages have no id to resume from: no `recover`.
    public var capabilities: ConnectorCapabilities { [.autoAck, .manualAck] }

    public func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes {
        ConnectorModes(roles: sharedConfiguration)
    }

    public func normalize(sharedConfiguration: JSONValue) -> JSONValue {
        MQTT5EndpointConfiguration.normalize(sharedConfiguration: sharedConfiguration)
    }

    public func check(
        configuration: JSONValue, at configurationPath: DocumentPath,
        sharedConfiguration: JSONValue, at sharedPath: DocumentPath, problems: inout Problems
    ) {
        problems.append(contentsOf: MQTT5EndpointConfiguration.problems(sharedConfiguration: sharedConfiguration, at: sharedPath))
    }

    public func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector {
        MQTT5Connector(settings: settings)
    }
}

/// One MQTT 5 endpoint of a deployed API.
///
/// - Publishing goes through one shared connection, at QoS 1: a publish returns after the PUBACK.
/// - Each subscriber gets its own MQTT connection and session, subscribed to the shared
///   subscription `$share/<client identifier>/<topic>`: subscribers with the same identifier split
///   the messages, different identifiers each get all of them. The MQTT client id is stable for
///   (API, endpoint, client identifier, slot), where the slot is the lowest one not in use, so a
///   client that comes back resumes its session (and what the broker kept for it) when the session
///   expiry allows.
/// - A lost connection is re-established up to `reconnectAttempts` times with backoff; after that
///   the client gets `Endpoint connection failed` with the reason.
public final class MQTT5Connector: EndpointConnector {
    public let configuration: MQTT5EndpointConfiguration
    let names: MQTT5ClientNames
    private let state = Mutex(State())
    /// The publishing session; a session that gave up is replaced on the next publish.
    private let producerSessions = SharedResourcePerLoop<MQTTSession> { $0.closeError == nil }

    private struct State {
        var tls: TLSConfiguration?
        var slots: [String: Set<Int>] = [:]
        var subscribers: [ObjectIdentifier: MQTTSession] = [:]
        var closed = false
    }

    init(settings: EndpointSettings) {
        configuration = MQTT5EndpointConfiguration(configuration: settings.configuration, sharedConfiguration: settings.sharedConfiguration)
        names = MQTT5ClientNames(apiId: settings.apiId, group: settings.groupName, endpoint: settings.name)
    }

    /// Reads the TLS stores (an unreadable store refuses the deployment) and starts connecting
    /// the producer. A broker that is down does not: its clients get the error.
    public func start() async throws {
        if let stores = configuration.tls {
            do {
                let tls = try NIOSSLStores.clientConfiguration(stores)
                state.withLock { $0.tls = tls }
            } catch {
                throw GatewayError.configurationInvalid(detail: error.description)
            }
        }
        if configuration.producer != nil {
            Task { _ = try? await self.producer() }
        }
    }

    // MARK: Publish

    public func publish(_ message: Message) async throws {
        guard let producer = configuration.producer else {
            throw GatewayError(.endpointUnsupported, "The endpoint has no producer")
        }
        var properties = MQTTProperties()
        for (name, value) in message.headers {
            properties.userProperties.append(MQTTUserProperty(name: name, value: value))
        }
        if let expiry = producer.messageExpiryInterval { properties.messageExpiryInterval = UInt32(clamping: expiry) }
        if let responseTopic = producer.responseTopic { properties.responseTopic = responseTopic }
        let session = try await self.producer()
        do {
            try await session.publish(
                topic: producer.topic, payload: message.content, qos: .atLeastOnce, retain: producer.retained, properties: properties)
        } catch {
            throw GatewayError(mqtt: error)
        }
    }

    /// The producer session of the caller's event loop, connected on first use with a fresh client
    /// id: one per loop, so that a publish and its PUBACK stay on the loop of the request.
    private func producer() async throws -> MQTTSession {
        try await producerSessions.get { eventLoop in
            try await self.connect(clientIdentifier: self.names.producer(), cleanStart: true, on: eventLoop)
        }
    }

    // MARK: Subscribe

    public func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        guard let consumer = configuration.consumer else {
            throw GatewayError(.endpointUnsupported, "The endpoint has no consumer")
        }
        let slot = try state.withLock { state -> Int in
            if state.closed { throw GatewayError(.stopping, "The endpoint is closed") }
            var used = state.slots[request.clientIdentifier, default: []]
            let slot = (0...).first { !used.contains($0) }!
            used.insert(slot)
            state.slots[request.clientIdentifier] = used
            return slot
        }
        let lease = SubscriberLease(connector: self, clientIdentifier: request.clientIdentifier, slot: slot)
        let clientIdentifier = names.subscriber(clientIdentifier: request.clientIdentifier, slot: slot)
        let session = try await connect(clientIdentifier: clientIdentifier, cleanStart: configuration.cleanStart)
        lease.attach(session)
        let filter = "$share/\(request.clientIdentifier)/\(consumer.topic)"
        let subscription: MQTTClientSubscription
        do {
            // Under a QoS that acknowledges (everything but none), the broker gets the PUBACK when
            // the entrypoint acknowledges the message (after the client has it, for auto and
            // at-least-once); until then it redelivers to the session.
            subscription = try await session.subscribe(
                filter, options: MQTTSubscriptionOptions(maximumQoS: .atLeastOnce),
                acknowledgement: request.qos == .none ? .onReceipt : .manual)
        } catch {
            throw GatewayError(mqtt: error)
        }
        return MessageSubscription(MQTT5Messages(subscription: subscription, lease: lease))
    }

    public func cursorProblem(_ cursor: String) -> String? {
        "MQTT 5 messages have no position to resume from"
    }

    /// At QoS none a subscriber's own `$share/<id>/<topic>` subscription gets what a shared one
    /// gets from the moment it joins: live messages only (MQTT 5 sends no retained messages to a
    /// new shared subscription).
    public func sharesSubscription(for request: SubscribeRequest) -> Bool {
        request.qos == .none && request.resumeAfter == nil
    }

    // MARK: Close

    public func close() async {
        let subscribers = state.withLock { state -> [MQTTSession] in
            state.closed = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        // The producer's id is never used again: its session ends with it.
        var endSession = MQTTProperties()
        endSession.sessionExpiryInterval = 0
        for session in await producerSessions.close() {
            await session.disconnect(properties: endSession)
        }
        await withTaskGroup(of: Void.self) { group in
            for session in subscribers { group.addTask { await session.disconnect() } }
        }
    }

    // MARK: Connections

    private func connect(
        clientIdentifier: String, cleanStart: Bool, on eventLoop: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MQTTSession {
        let tls = state.withLock { $0.tls }
        if configuration.tls != nil, tls == nil {
            throw GatewayError.configurationInvalid(detail: "the TLS stores were not read")
        }
        var connect = MQTTConnectSettings(clientIdentifier: clientIdentifier, cleanStart: cleanStart)
        connect.sessionExpiryInterval = configuration.sessionExpiryInterval.map { UInt32(clamping: $0) } ?? 0
        connect.username = configuration.username
        connect.password = configuration.password.map { ByteBuffer(string: $0) }
        // The server certificate is verified against the host as configured (a name, or an IP
        // address that must be in its subject alternative names).
        var clientConfiguration = MQTTClientConfiguration(host: configuration.serverHost, port: configuration.serverPort, connect: connect, tls: tls)
        clientConfiguration.resubscribesOnResume = true
        do {
            return try await MQTTSession.connect(
                configuration: clientConfiguration, retry: MQTTRetryPolicy(maximumRetries: configuration.reconnectAttempts),
                eventLoopGroup: eventLoop)
        } catch {
            throw GatewayError(mqtt: error)
        }
    }

    fileprivate func register(_ session: MQTTSession, for lease: SubscriberLease) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.subscribers[ObjectIdentifier(lease)] = session
            return true
        }
    }

    fileprivate func release(_ lease: SubscriberLease) -> MQTTSession? {
        state.withLock { state in
            state.slots[lease.clientIdentifier]?.remove(lease.slot)
            if state.slots[lease.clientIdentifier]?.isEmpty == true { state.slots[lease.clientIdentifier] = nil }
            return state.subscribers.removeValue(forKey: ObjectIdentifier(lease))
        }
    }
}

/// MQTT client ids: stable for what they serve, unique per connection.
struct MQTT5ClientNames: Sendable {
    /// A digest of (API, group, endpoint) so that two endpoints never share ids.
    let endpointDigest: String

    init(apiId: String, group: String, endpoint: String) {
        endpointDigest = Hex.sha256("\(apiId)\u{0}\(group)\u{0}\(endpoint)", length: 12)
    }

    /// `sluice-<endpoint>-p-<random>`: a fresh id per producer connection.
    func producer() -> String {
        "sluice-\(endpointDigest)-p-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// `sluice-<endpoint>-<client identifier digest>-<slot>`.
    func subscriber(clientIdentifier: String, slot: Int) -> String {
        "sluice-\(endpointDigest)-\(Hex.sha256(clientIdentifier, length: 16))-\(slot)"
    }
}

/// Holds a subscriber's slot and connection; both are released when the subscription is no
/// longer referenced (the client went away) or the connector closes.
final class SubscriberLease: Sendable {
    private let connector: MQTT5Connector
    let clientIdentifier: String
    let slot: Int
    private let session = Mutex<MQTTSession?>(nil)

    init(connector: MQTT5Connector, clientIdentifier: String, slot: Int) {
        self.connector = connector
        self.clientIdentifier = clientIdentifier
        self.slot = slot
    }

    func attach(_ session: MQTTSession) {
        self.session.withLock { $0 = session }
        if !connector.register(session, for: self) {
            Task { await session.disconnect() }
        }
    }

    deinit {
        let registered = connector.release(self)
        let session = registered ?? self.session.withLock { $0 }
        if let session {
            Task { await session.disconnect() }
        }
    }
}

/// The messages of one subscriber, with the contract's metadata.
struct MQTT5Messages: AsyncSequence, HandingOverMessageSource {
    typealias Element = Message
    let subscription: MQTTClientSubscription
    let lease: SubscriberLease

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: subscription.makeAsyncIterator(), lease: lease)
    }

    /// On the MQTT connection's event loop, as each message arrives.
    func handOver(to receive: @escaping @Sendable (Message) -> Bool) async throws {
        do {
            try await subscription.handOver { receive(AsyncIterator.message($0)) }
        } catch {
            if error.kind == .cancelled { throw CancellationError() }
            throw GatewayError(mqtt: error)
        }
        withExtendedLifetime(lease) {}
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: MQTTClientSubscription.AsyncIterator
        let lease: SubscriberLease

        mutating func next() async throws -> Message? {
            do {
                guard let message = try await base.next() else { return nil }
                return Self.message(message)
            } catch {
                if error.kind == .cancelled { throw CancellationError() }
                throw GatewayError(mqtt: error)
            }
        }

        static func message(_ message: MQTTMessage) -> Message {
            var headers = MessageHeaders()
            for property in message.properties.userProperties {
                headers.add(name: property.name, value: property.value)
            }
            var metadata: JSONObject = [
                "topic": .string(message.topic),
                "qos": .integer(Int(message.qos.rawValue)),
                "retain": .bool(message.retain),
            ]
            if let contentType = message.properties.contentType { metadata["contentType"] = .string(contentType) }
            if let expiry = message.properties.messageExpiryInterval { metadata["messageExpiryInterval"] = .integer(Int(expiry)) }
            if let responseTopic = message.properties.responseTopic { metadata["responseTopic"] = .string(responseTopic) }
            let acknowledgement = message.needsAcknowledgement ? MessageAcknowledgement { message.acknowledge() } : nil
            return Message(content: message.payload, headers: headers, metadata: metadata, acknowledgement: acknowledgement)
        }
    }
}

extension GatewayError {
    /// The gateway's view of an MQTT client failure: connection problems (including refused
    /// credentials and TLS) are `Endpoint connection failed`, refused messages and subscriptions
    /// `Endpoint unknown error`; the detail carries the broker's reason, never a secret.
    init(mqtt error: MQTTClientError) {
        var detail = error.reasonCode.map { MQTT5Connector.describe($0) } ?? error.message
        if let reason = error.reasonString { detail += ": \(reason)" }
        if let reference = error.serverReference { detail += " (server reference \(reference))" }
        switch error.kind {
        case .connectionFailed, .connectTimeout, .tlsFailure, .connectionRefusedByServer, .serverDisconnected, .connectionClosed,
            .keepAliveTimeout, .notConnected:
            self = .connectionFailed(detail: detail, underlying: error)
        case .cancelled:
            self = GatewayError(.stopping, "The request was cancelled", underlying: error)
        case .publishFailed, .subscribeFailed, .unsubscribeFailed, .invalidRequest, .protocolError:
            self = .unknown(detail: detail, underlying: error)
        }
    }
}

extension MQTT5Connector {
    /// A reason code as words: `not authorized (0x87)`.
    static func describe(_ code: MQTTReasonCode) -> String {
        "\(code.description) (0x\(String(code.rawValue, radix: 16, uppercase: true)))"
    }
}
