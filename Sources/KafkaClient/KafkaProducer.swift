import CoreMetrics
import Foundation
import Logging
import NIOCore

/// A Kafka producer: `send` returns once the broker acknowledged the record (librdkafka's delivery
/// report, with the acks the properties ask for) and throws otherwise. Thread-safe; meant to be
/// shared. librdkafka is served by a dedicated thread, never by the cooperative pool.
public final class KafkaProducer: Sendable {
    let core: RDKafkaProducerCore

    /// - Parameters:
    ///   - properties: librdkafka properties (`bootstrap.servers`, `acks`, `ssl.*`, ...). With
    ///     `statistics.interval.ms`, librdkafka's statistics become metrics (``KafkaStatistics``).
    ///   - metricsFactory: where those metrics go; nil: swift-metrics' bootstrapped factory.
    public init(properties: [String: String], logger: Logger = .kafkaDefault, metricsFactory: (any MetricsFactory)? = nil) throws(KafkaError) {
        core = try RDKafkaProducerCore.make(properties: properties, logger: logger, metricsFactory: metricsFactory)
    }

    /// Produces one record and waits for its delivery report.
    @discardableResult
    public func send(_ record: KafkaProducerRecord) async throws -> KafkaDeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            core.produce(record, continuation: continuation)
        }
    }

    /// Metadata of the cluster (blocking call run off the cooperative pool).
    public func metadata(timeout: Duration = .seconds(5)) async throws -> KafkaClusterMetadata {
        try await core.metadata(timeout: timeout)
    }

    /// Waits up to `timeout` for records in flight, fails the rest, and destroys the client.
    public func close(timeout: Duration = .seconds(5)) async {
        await core.close(timeout: timeout)
    }
}

