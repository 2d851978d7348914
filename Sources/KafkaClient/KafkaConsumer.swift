import CoreMetrics
import Foundation
import Logging
import NIOCore

/// A Kafka consumer in a consumer group. Records are pulled: the consumer fetches only while its
/// small buffer has room, so a slow reader slows the fetching. Served by a dedicated thread;
/// blocking calls (commit, close) never run on the cooperative pool.
public final class KafkaConsumer: Sendable {
    private let core: RDKafkaConsumerCore

    /// - Parameters:
    ///   - properties: librdkafka properties; `group.id` is required.
    ///   - startAfter: positions to resume after, applied when each partition is first assigned
    ///     (a cursor). Partitions not named start at the committed offset or `auto.offset.reset`.
    ///   - bufferCapacity: records fetched ahead of the reader.
    public init(
        properties: [String: String], subscription: KafkaSubscription, startAfter: [KafkaPartitionOffset] = [],
        bufferCapacity: Int = 64, logger: Logger = .kafkaDefault, metricsFactory: (any MetricsFactory)? = nil
    ) throws(KafkaError) {
        guard properties["group.id"] != nil else {
            throw KafkaError(.configuration, message: "a Kafka consumer needs group.id")
        }
        core = try RDKafkaConsumerCore.make(
            properties: properties, subscription: subscription, startAfter: startAfter, bufferCapacity: max(1, bufferCapacity), logger: logger,
            metricsFactory: metricsFactory)
    }

    /// The consumed records, in the order of each partition. One reader at a time. Ends (nil) when
    /// the consumer is closed; throws a ``KafkaError`` after a terminal failure (authentication,
    /// TLS, no committed offset with `auto.offset.reset=error`, unreachable brokers before the
    /// first assignment).
    public var messages: Messages { Messages(core: core) }

    /// The partitions currently assigned to this member.
    public var assignment: Set<KafkaTopicPartition> { core.currentAssignment }

    /// Stores positions for the next automatic commit (`enable.auto.commit=true` with
    /// `enable.auto.offset.store=false`): the records up to and including these are consumed.
    public func store(consumed positions: [KafkaPartitionOffset]) throws(KafkaError) {
        try core.store(positions)
    }

    /// Commits asynchronously (returns at once; a failure is logged): the records up to and
    /// including these positions are consumed.
    public func commitInBackground(consumed positions: [KafkaPartitionOffset]) throws(KafkaError) {
        try core.commitInBackground(positions)
    }

    /// Commits synchronously: the records up to and including these positions are consumed.
    public func commit(consumed positions: [KafkaPartitionOffset]) async throws {
        try await core.commit(positions)
    }

    /// Leaves the group (so its partitions go to the other members at once) and destroys the
    /// client. The message stream ends.
    public func close() async {
        await core.close()
    }

    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = KafkaConsumerMessage
        fileprivate let core: RDKafkaConsumerCore

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core) }

        public struct AsyncIterator: AsyncIteratorProtocol {
            fileprivate let core: RDKafkaConsumerCore

            public mutating func next() async throws -> KafkaConsumerMessage? {
                try await core.next()
            }
        }
    }
}

