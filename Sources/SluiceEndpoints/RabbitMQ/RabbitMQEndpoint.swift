import AMQP091
import Foundation
import NIOCore
import NIOSSL
import SluiceCore
import Synchronization

/// The `rabbitmq` endpoint type (contract §2 RabbitMQ).
public struct RabbitMQEndpointFactory: EndpointConnectorFactory {
    public init() {}

    public var type: String { "rabbitmq" }
    public var title: String { "RabbitMQ" }
    public var configurationSchema: JSONSchema { RabbitMQEndpointConfiguration.schema }
    public var sharedConfigurationSchema: JSONSchema { RabbitMQEndpointConfiguration.sharedSchema }
    /// At-most-once and at-least-once are refused (contract): no recover.
    public var supportedQoS: Set<QoS> { Self.qualities }
    private static let qualities: Set<QoS> = [.none, .auto]
    public var capabilities: ConnectorCapabilities { [.autoAck, .manualAck] }

    public func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes {
        ConnectorModes(roles: sharedConfiguration)
    }

    public func check(
        configuration: JSONValue, at configurationPath: DocumentPath,
        sharedConfiguration: JSONValue, at sharedPath: DocumentPath, problems: inout Problems
    ) {
        problems.append(contentsOf: RabbitMQEndpointConfiguration.problems(sharedConfiguration: sharedConfiguration, at: sharedPath))
    }

    public func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector {
        RabbitMQConnector(settings: settings)
    }
}

/// One RabbitMQ endpoint of a deployed API: one AMQP session (a connection that recovers:
/// reconnects with backoff, declares its topology again, resumes consumers, re-sends unconfirmed
/// publishes), a confirm-mode channel for publishing, a channel per subscriber.
///
/// - Publish: the producer exchange is declared as configured (a clash with an existing one is
///   `Endpoint configuration invalid` with the broker's reason), messages are published
///   `mandatory` with the producer routing key and the client gets its `202` after the broker's
///   confirm; a nack or an unroutable message is an error, never a `202`.
/// - Subscribe: the consumer exchange is declared, the queue
///   `sluice/<api>/<client identifier>` (durable, manual ack after delivery) for QoS auto, or
///   `sluice/<api>/transient/<client identifier>` (auto-delete, broker auto-ack) for none, is
///   declared and bound with the consumer routing key: clients with the same identifier share the
///   queue, different identifiers each get every message.
/// - A lost connection is recovered up to ``recovery``'s attempts; after that the next request
///   opens a new session.
public final class RabbitMQConnector: EndpointConnector {
    public let configuration: RabbitMQEndpointConfiguration
    let apiId: String
    /// Unacknowledged deliveries a subscriber may hold.
    static let prefetch: UInt16 = 100
    private let tls = Mutex<TLSConfiguration?>(nil)
    /// Reconnection (and the first connect): 6 attempts, backoff from 250 ms doubling to 2 s,
    /// about 8 s in all before clients get `Endpoint connection failed`.
    static let recovery = AMQPRecoveryPolicy(maximumAttempts: 6, initialBackoff: .milliseconds(250), maximumBackoff: .seconds(2))
    private let connectionResource = SharedResource<AMQPSession> { $0.closeError == nil }
    private let publisherResource = SharedResource<AMQPSessionChannel> { $0.session.closeError == nil }

    init(settings: EndpointSettings) {
        configuration = RabbitMQEndpointConfiguration(configuration: settings.configuration, sharedConfiguration: settings.sharedConfiguration)
        apiId = settings.apiId
    }

    /// Reads the TLS stores (an unreadable store refuses the deployment). A broker that is down
    /// does not: its clients get the error.
    public func start() async throws {
        if let stores = configuration.tls {
            do {
                let tls = try NIOSSLStores.clientConfiguration(stores)
                self.tls.withLock { $0 = tls }
            } catch {
                throw GatewayError.configurationInvalid(detail: error.description)
            }
        }
    }

    // MARK: Publish

    public func publish(_ message: Message) async throws {
        guard let producer = configuration.producer else {
            throw GatewayError(.endpointUnsupported, "The endpoint has no producer")
        }
        var properties = AMQPBasicProperties()
        if !message.headers.isEmpty {
            properties.headers = AMQPFieldTable(message.headers.map { (AMQPShortString($0.name), AMQPFieldValue.longString(AMQPLongString($0.value))) })
        }
        properties.deliveryMode = producer.exchange.durable ? 2 : 1
        let channel = try await publisherResource.get { try await self.openPublisher() }
        do {
            try await channel.publish(
                exchange: producer.exchange.name, routingKey: producer.routingKey, body: message.content, properties: properties, mandatory: true)
        } catch {
            if error.code == .channelClosedByServer {
                // The broker closed the channel (e.g. the exchange was deleted): open a new one next time.
                publisherResource.reset()
            }
            throw GatewayError(amqp: error)
        }
    }

    /// The confirm-mode publishing channel, with the producer exchange declared.
    private func openPublisher() async throws -> AMQPSessionChannel {
        let connection = try await connectionResource.get { try await self.openConnection() }
        do {
            let channel = try await connection.openChannel()
            try await declare(configuration.producer!.exchange, on: channel)
            try await channel.confirmSelect()
            return channel
        } catch {
            throw GatewayError(amqp: error)
        }
    }

    // MARK: Subscribe

    public func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        guard let consumer = configuration.consumer else {
            throw GatewayError(.endpointUnsupported, "The endpoint has no consumer")
        }
        let durable = request.qos != .none
        let queue = RabbitMQEndpointConfiguration.queueName(apiId: apiId, clientIdentifier: request.clientIdentifier, durable: durable)
        let connection = try await connectionResource.get { try await self.openConnection() }
        let channel: AMQPSessionChannel
        do {
            channel = try await connection.openChannel()
        } catch {
            throw GatewayError(amqp: error)
        }
        do {
            try await declare(consumer.exchange, on: channel)
            try await channel.queueDeclare(queue, durable: durable, autoDelete: !durable)
            try await channel.queueBind(queue: queue, exchange: consumer.exchange.name, routingKey: consumer.routingKey)
            try await channel.basicQos(prefetch: Self.prefetch)
            let deliveries = try await channel.consume(queue: queue, noAck: !durable)
            return MessageSubscription(RabbitMQMessages(consumer: deliveries, channel: channel, acknowledges: durable))
        } catch {
            await channel.close()
            throw GatewayError(amqp: error)
        }
    }

    /// At QoS none a subscriber's queue is new, exclusive to the connection's life and auto-deleted:
    /// it holds only what arrives after it is bound, as a shared queue does.
    public func sharesSubscription(for request: SubscribeRequest) -> Bool {
        request.qos == .none
    }

    // MARK: Close

    public func close() async {
        _ = await publisherResource.close()
        await connectionResource.close()?.close()
    }

    // MARK: Connection

    private func openConnection() async throws -> AMQPSession {
        var amqp = AMQPConnectionConfiguration(
            host: configuration.serverHost, port: configuration.serverPort, virtualHost: configuration.virtualHost,
            username: configuration.username ?? "", password: configuration.password ?? "", tls: tls.withLock { $0 },
            connectionName: "sluice \(apiId)")
        // Without a user name the client certificate is the identity (SASL EXTERNAL).
        if configuration.username?.isEmpty ?? true { amqp.authentication = .external }
        do {
            return try await AMQPSession.connect(configuration: amqp, recovery: Self.recovery)
        } catch {
            // Whatever goes wrong before the connection is open (a TLS alert read as a frame
            // from a plaintext client included) is a connection failure.
            let mapped = GatewayError(amqp: error)
            throw mapped.code == .endpointConnectionFailed ? mapped : GatewayError.connectionFailed(detail: mapped.detail, underlying: error)
        }
    }

    private func declare(_ exchange: RabbitMQEndpointConfiguration.Exchange, on channel: AMQPSessionChannel) async throws {
        guard !exchange.name.isEmpty, !exchange.name.hasPrefix("amq.") else { return }
        try await channel.exchangeDeclare(exchange.name, type: exchange.type, durable: exchange.durable, autoDelete: exchange.autoDelete)
    }
}

/// The deliveries of one subscriber, with the contract's metadata; the channel closes when the
/// subscription is no longer referenced.
struct RabbitMQMessages: AsyncSequence, Sendable {
    typealias Element = Message
    let consumer: AMQPSessionConsumer
    let channel: AMQPSessionChannel
    let acknowledges: Bool
    let lease: ChannelLease

    init(consumer: AMQPSessionConsumer, channel: AMQPSessionChannel, acknowledges: Bool) {
        self.consumer = consumer
        self.channel = channel
        self.acknowledges = acknowledges
        self.lease = ChannelLease(channel)
    }

    /// Closes its channel when the last copy of the subscription goes.
    final class ChannelLease: Sendable {
        let channel: AMQPSessionChannel
        init(_ channel: AMQPSessionChannel) { self.channel = channel }
        deinit {
            let channel = self.channel
            Task { await channel.close() }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: consumer.makeAsyncIterator(), channel: channel, acknowledges: acknowledges, lease: lease)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: AMQPSessionConsumer.AsyncIterator
        let channel: AMQPSessionChannel
        let acknowledges: Bool
        let lease: ChannelLease

        mutating func next() async throws -> Message? {
            let delivery: AMQPDelivery
            do {
                guard let next = try await base.next() else { return nil }
                delivery = next
            } catch let error as AMQPClientError {
                throw GatewayError(amqp: error)
            }
            var message = Self.message(delivery)
            if acknowledges {
                let channel = self.channel
                message.acknowledgement = MessageAcknowledgement {
                    do {
                        // A delivery of a connection lost meanwhile is not acknowledged: the
                        // broker redelivers it.
                        try await channel.ack(delivery)
                    } catch {
                        throw GatewayError(amqp: error)
                    }
                }
            }
            return message
        }

        static func message(_ delivery: AMQPDelivery) -> Message {
            var headers = MessageHeaders()
            let properties = delivery.properties
            for entry in properties.headers?.entries ?? [] {
                headers.add(name: entry.key.string ?? entry.key.description, value: Self.text(entry.value))
            }
            var metadata: JSONObject = [
                "deliveryTag": .integer(Int(clamping: delivery.deliveryTag)),
                "exchange": .string(delivery.exchange),
                "routingKey": .string(delivery.routingKey),
            ]
            if let value = properties.appID?.string { metadata["appId"] = .string(value) }
            if let value = properties.expiration?.string { metadata["expiration"] = .string(value) }
            if let value = properties.type?.string { metadata["type"] = .string(value) }
            if let value = properties.deliveryMode { metadata["deliveryMode"] = .integer(Int(value)) }
            if let value = properties.replyTo?.string { metadata["replyTo"] = .string(value) }
            if let value = properties.priority { metadata["priority"] = .integer(Int(value)) }
            if let value = properties.timestamp { metadata["timestamp"] = .integer(Int(clamping: value)) }
            if let value = properties.userID?.string { metadata["userId"] = .string(value) }
            return Message(content: delivery.body, headers: headers, metadata: metadata)
        }

        /// A header value as text: strings as they are, other values in their natural spelling.
        static func text(_ value: AMQPFieldValue) -> String {
            switch value {
            case .longString(let string): return string.string ?? ""
            case .bool(let bool): return bool ? "true" : "false"
            case .byteArray(let bytes): return String(decoding: bytes, as: UTF8.self)
            default:
                if let integer = value.integerValue { return String(integer) }
                return value.description
            }
        }
    }
}

extension GatewayError {
    /// The gateway's view of an AMQP failure: connection problems (refused credentials, virtual
    /// host, TLS) are `Endpoint connection failed`; a channel the broker closed over the
    /// configuration (406 PRECONDITION_FAILED, 404, 403 on a resource) is
    /// `Endpoint configuration invalid`; a nacked or returned message `Endpoint unknown error`.
    /// The detail carries the broker's reply, never a secret.
    init(amqp error: any Error) {
        guard let error = error as? AMQPClientError else {
            self = (error as? GatewayError) ?? .unknown(underlying: nil)
            return
        }
        var detail = error.replyText.map { "\(error.replyCode.map { "\($0) " } ?? "")\($0)" } ?? error.message
        if error.code == .publishReturned { detail = "unroutable: \(detail)" }
        switch error.code {
        case .connectFailed, .connectTimeout, .tlsFailure, .authenticationFailed, .virtualHostNotAllowed, .mechanismNotSupported,
            .connectionClosedByServer, .connectionLost, .heartbeatTimeout, .noFreeChannel:
            self = .connectionFailed(detail: detail, underlying: error)
        case .channelClosedByServer:
            self = .configurationInvalid(detail: detail)
        case .publishNacked, .publishReturned, .consumerCancelled, .protocolError, .invalidState, .closed:
            self = .unknown(detail: detail, underlying: error)
        }
    }
}
