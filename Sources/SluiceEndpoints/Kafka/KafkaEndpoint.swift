import Foundation
import KafkaClient
import Logging
import NIOCore
import SluiceCore
import Synchronization

/// The `kafka` endpoint type (contract §2 Kafka).
public struct KafkaEndpointFactory: EndpointConnectorFactory {
    public init() {}

    public var type: String { "kafka" }
    public var title: String { "Kafka" }
    public var configurationSchema: JSONSchema { KafkaEndpointConfiguration.schema }
    public var sharedConfigurationSchema: JSONSchema { KafkaEndpointConfiguration.sharedSchema }
    public var supportedQoS: Set<QoS> { Self.qualities }
    private static let qualities: Set<QoS> = [.none, .auto, .atMostOnce, .atLeastOnce]
    public var capabilities: ConnectorCapabilities { [.autoAck, .manualAck, .recover] }

    public func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes {
        ConnectorModes(roles: sharedConfiguration)
    }

    public func normalize(sharedConfiguration: JSONValue) -> JSONValue {
        KafkaEndpointConfiguration.normalize(sharedConfiguration: sharedConfiguration)
    }

    public func check(
        configuration: JSONValue, at configurationPath: DocumentPath,
        sharedConfiguration: JSONValue, at sharedPath: DocumentPath, problems: inout Problems
    ) {
        problems.append(contentsOf: KafkaEndpointConfiguration.problems(configuration: configuration, at: configurationPath))
        problems.append(contentsOf: KafkaEndpointConfiguration.problems(sharedConfiguration: sharedConfiguration, at: sharedPath))
    }

    public func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector {
        KafkaConnector(settings: settings)
    }
}

/// One Kafka endpoint of a deployed API, over librdkafka (``KafkaClient``).
///
/// - Publish: one shared producer per endpoint configuration (``KafkaProducerPool``); each message
///   goes to every producer topic and the client gets its `202` after every delivery report
///   (acks=all). Message headers become record headers; the record key is the message header
///   ``recordKeyHeader`` when the client sends it (it is not forwarded as a record header).
/// - Subscribe: a consumer per subscriber in the group named by the client identifier, so clients
///   with one identifier split the partitions and different identifiers each get everything.
///   QoS none never commits; auto stores each offset the entrypoint acknowledges and commits them
///   every second; at-most-once and at-least-once commit synchronously when the entrypoint
///   acknowledges (before the write for at-most-once, after it for at-least-once). Message ids are
///   cursors (``KafkaCursor``); a cursor or `Last-Event-ID` resumes after the offsets it names.
///   The consumer leaves its group when the client goes or the API is undeployed.
public final class KafkaConnector: EndpointConnector {
    public let configuration: KafkaEndpointConfiguration
    let apiId: String
    let logger: Logger
    /// A message header that sets the record key (`X-Gravitee-Kafka-Record-Key` is accepted too).
    public static let recordKeyHeader = "X-Sluice-Kafka-Record-Key"
    static let recordKeyHeaders = [recordKeyHeader, "X-Gravitee-Kafka-Record-Key"]

    private struct State {
        var producerProperties: [String: String]?
        var producer: KafkaProducer?
        var consumers: [ObjectIdentifier: KafkaConsumer] = [:]
        /// Consumers of subscribers that left, still leaving their groups: ``close()`` waits for
        /// them, so that the process never exits with librdkafka still at work.
        var retiring: [ObjectIdentifier: Task<Void, Never>] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    init(settings: EndpointSettings) {
        configuration = KafkaEndpointConfiguration(configuration: settings.configuration, sharedConfiguration: settings.sharedConfiguration)
        apiId = settings.apiId
        var logger = Logger(label: "sluice.endpoint.kafka")
        logger[metadataKey: "api"] = .string(settings.apiId)
        logger[metadataKey: "endpoint"] = .string(settings.name)
        self.logger = logger
    }

    /// Refuses the deployment when the loaded librdkafka is too old or a TLS store cannot be read.
    /// Brokers that are down do not: clients get the error.
    public func start() async throws {
        do {
            try KafkaLibrary.requireSupportedVersion()
        } catch {
            throw GatewayError.configurationInvalid(detail: error.message)
        }
        let properties = try configuration.producer != nil ? KafkaProperties.producer(configuration) : KafkaProperties.common(configuration)
        if configuration.producer != nil {
            state.withLock { $0.producerProperties = properties }
        }
    }

    // MARK: Publish

    public func publish(_ message: Message) async throws {
        guard let producerConfiguration = configuration.producer else {
            throw GatewayError(.endpointUnsupported, "The endpoint has no producer")
        }
        let producer = try producerLease()
        var key: [UInt8]? = nil
        var headers: [KafkaHeader] = []
        for (name, value) in message.headers {
            if key == nil, Self.recordKeyHeaders.contains(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) {
                key = Array(value.utf8)
            } else {
                headers.append(KafkaHeader(name: name, value: Array(value.utf8)))
            }
        }
        if let attribute = message.metadata["kafka.recordKey"]?.stringValue { key = Array(attribute.utf8) }
        let records = producerConfiguration.topics.map {
            KafkaProducerRecord(topic: $0, key: key, value: message.content, headers: headers)
        }
        do {
            if records.count == 1 {
                try await producer.send(records[0])
            } else {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for record in records {
                        group.addTask { try await producer.send(record) }
                    }
                    try await group.waitForAll()
                }
            }
        } catch {
            throw GatewayError(kafka: error)
        }
    }

    private func producerLease() throws -> KafkaProducer {
        try state.withLock { (state) throws -> KafkaProducer in
            if state.closed { throw GatewayError(.stopping, "The endpoint is closed") }
            if let producer = state.producer { return producer }
            let properties = try state.producerProperties ?? KafkaProperties.producer(configuration)
            do {
                let producer = try KafkaProducerPool.shared.lease(properties, logger: logger)
                state.producerProperties = properties
                state.producer = producer
                return producer
            } catch {
                throw GatewayError(kafka: error)
            }
        }
    }

    // MARK: Subscribe

    public func cursorProblem(_ cursor: String) -> String? {
        do {
            _ = try KafkaCursor(parsing: cursor, base64: configuration.consumer?.encodeMessageId ?? true)
            return nil
        } catch {
            return error.description
        }
    }

    public func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        guard let consumerConfiguration = configuration.consumer else {
            throw GatewayError(.endpointUnsupported, "The endpoint has no consumer")
        }
        let base64 = consumerConfiguration.encodeMessageId
        // An unreadable Last-Event-ID starts where the group left off (HTTP GET cursors were
        // checked by cursorProblem before).
        let cursor = request.resumeAfter.flatMap { try? KafkaCursor(parsing: $0, base64: base64) } ?? KafkaCursor()
        var properties = try KafkaProperties.consumer(configuration, groupId: request.clientIdentifier, autoCommit: request.qos == .auto)
        // Brokers and metrics see the API a consumer serves (producers are shared across APIs).
        properties["client.id"] = "sluice-\(apiId)"
        var logger = self.logger
        logger[metadataKey: "group"] = .string(request.clientIdentifier)
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(
                properties: properties, subscription: .topics(consumerConfiguration.subscription),
                startAfter: cursor.entries.map { KafkaPartitionOffset(topic: $0.topic, partition: $0.partition, offset: $0.offset) },
                logger: logger)
        } catch {
            throw GatewayError(kafka: error)
        }
        let registered = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.consumers[ObjectIdentifier(consumer)] = consumer
            return true
        }
        guard registered else {
            await consumer.close()
            throw GatewayError(.stopping, "The endpoint is closed")
        }
        let lease = KafkaConsumerLease(consumer: consumer) { [weak self] consumer in
            guard let self else {
                Task { await consumer.close() }
                return
            }
            self.retire(consumer)
        }
        let commit: KafkaMessages.Commit =
            switch request.qos {
            case .none: .never
            case .auto: .store
            case .atMostOnce: .beforeDelivery
            case .atLeastOnce: .afterDelivery
            }
        return MessageSubscription(KafkaMessages(lease: lease, commit: commit, cursor: cursor, base64: base64))
    }

    /// At QoS none nothing is committed, so a subscriber's group starts where `autoOffsetReset`
    /// says: shared only when that is the live end (`latest`) and no cursor asks for a position.
    public func sharesSubscription(for request: SubscribeRequest) -> Bool {
        request.qos == .none && request.resumeAfter == nil && configuration.consumer?.autoOffsetReset == .latest
    }

    /// Consumers of subscribers still open or leaving their group (for tests: none may leak).
    var openConsumers: Int { state.withLock { $0.consumers.count + $0.retiring.count } }

    /// Closes the consumer of a subscriber that left, tracked until it has left its group.
    private func retire(_ consumer: KafkaConsumer) {
        let id = ObjectIdentifier(consumer)
        state.withLock { state in
            guard state.consumers.removeValue(forKey: id) != nil else { return }
            state.retiring[id] = Task {
                await consumer.close()
                self.state.withLock { _ = $0.retiring.removeValue(forKey: id) }
            }
        }
    }

    // MARK: Close

    public func close() async {
        let (properties, consumers, retiring): ([String: String]?, [KafkaConsumer], [Task<Void, Never>]) = state.withLock { state in
            state.closed = true
            defer {
                state.consumers = [:]
                state.producer = nil
            }
            return (state.producer != nil ? state.producerProperties : nil, Array(state.consumers.values), Array(state.retiring.values))
        }
        await withTaskGroup(of: Void.self) { group in
            for consumer in consumers { group.addTask { await consumer.close() } }
            for task in retiring { group.addTask { await task.value } }
            if let properties { group.addTask { await KafkaProducerPool.shared.release(properties) } }
        }
    }
}

/// Has a subscriber's consumer closed (it leaves its group) when the last copy of its
/// subscription goes.
final class KafkaConsumerLease: Sendable {
    let consumer: KafkaConsumer
    private let onClose: @Sendable (KafkaConsumer) -> Void

    init(consumer: KafkaConsumer, onClose: @escaping @Sendable (KafkaConsumer) -> Void) {
        self.consumer = consumer
        self.onClose = onClose
    }

    deinit {
        onClose(consumer)
    }
}

/// One subscriber's records as gateway messages with the contract's metadata and ids.
struct KafkaMessages: AsyncSequence, Sendable {
    typealias Element = Message

    enum Commit: Sendable {
        /// QoS none.
        case never
        /// QoS auto: stored when acknowledged, committed every second.
        case store
        /// At-most-once: committed when acknowledged, before the write; a failed commit fails the
        /// stream, so the message is not delivered.
        case beforeDelivery
        /// At-least-once: committed when acknowledged, after the write. A partition that moved
        /// to another member meanwhile (a rebalance) refuses the commit: that member delivers the
        /// message again, which at-least-once allows, so the stream goes on.
        case afterDelivery
    }

    let lease: KafkaConsumerLease
    let commit: Commit
    let cursor: KafkaCursor
    let base64: Bool

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: lease.consumer.messages.makeAsyncIterator(), lease: lease, commit: commit, cursor: cursor, base64: base64)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: KafkaConsumer.Messages.AsyncIterator
        let lease: KafkaConsumerLease
        let commit: Commit
        var cursor: KafkaCursor
        let base64: Bool

        mutating func next() async throws -> Message? {
            let record: KafkaConsumerMessage
            do {
                guard let next = try await base.next() else { return nil }
                record = next
            } catch let error as KafkaError {
                throw GatewayError(kafka: error)
            }
            cursor.advance(topic: record.topic, partition: record.partition, offset: record.offset)
            var message = Self.message(record, id: cursor.encoded(base64: base64))
            let consumer = lease.consumer
            let position = record.position
            switch commit {
            case .never:
                break
            case .store:
                message.acknowledgement = MessageAcknowledgement {
                    do { try consumer.store(consumed: [position]) } catch { throw GatewayError(kafka: error) }
                }
            case .beforeDelivery:
                message.acknowledgement = MessageAcknowledgement {
                    do { try await consumer.commit(consumed: [position]) } catch { throw GatewayError(kafka: error) }
                }
            case .afterDelivery:
                message.acknowledgement = MessageAcknowledgement {
                    do {
                        try await consumer.commit(consumed: [position])
                    } catch let error as KafkaError where error.meansPartitionMoved {
                        return
                    } catch {
                        throw GatewayError(kafka: error)
                    }
                }
            }
            return message
        }

        static func message(_ record: KafkaConsumerMessage, id: String) -> Message {
            var headers = MessageHeaders()
            for header in record.headers {
                headers.add(name: header.name, value: header.value.map { String(decoding: $0, as: UTF8.self) } ?? "")
            }
            var metadata: JSONObject = [
                "topic": .string(record.topic),
                "partition": .integer(Int(record.partition)),
                "offset": .integer(Int(record.offset)),
            ]
            if let key = record.key { metadata["key"] = .string(String(decoding: key, as: UTF8.self)) }
            if let timestamp = record.timestamp { metadata["sourceTimestamp"] = .integer(Int(timestamp)) }
            return Message(id: id, content: record.value, headers: headers, metadata: metadata)
        }
    }
}

extension GatewayError {
    /// The gateway's view of a Kafka failure: unreachable brokers, TLS and SASL are
    /// `Endpoint connection failed`; a configuration librdkafka refuses is `Endpoint configuration
    /// invalid`; everything else the broker refused or failed (authorization, timeouts, no
    /// committed offset with `autoOffsetReset: none`) is `Endpoint unknown error`. The detail is
    /// librdkafka's reason, which never contains a configured secret.
    init(kafka error: any Error) {
        guard let error = error as? KafkaError else {
            self = (error as? GatewayError) ?? .unknown(underlying: nil)
            return
        }
        switch error.kind {
        case .connection:
            self = .connectionFailed(detail: error.description, underlying: error)
        case .configuration:
            self = .configurationInvalid(detail: error.description)
        case .noCommittedOffset:
            self = .unknown(detail: "no committed offset for this client and autoOffsetReset is none (\(error.description))", underlying: error)
        case .broker:
            self = .unknown(detail: error.description, underlying: error)
        case .closed:
            self = GatewayError(.stopping, "The endpoint is closed")
        }
    }
}
