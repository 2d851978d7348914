import CoreMetrics
import Foundation

/// What librdkafka's statistics (`statistics.interval.ms`) say about one client, reduced to what
/// Sluice reports as metrics.
public struct KafkaStatistics: Sendable, Hashable {
    /// `client.id`.
    public var clientId: String
    /// `producer` or `consumer`.
    public var role: String
    /// Messages waiting in the producer's queues (`msg_cnt`).
    public var queuedMessages: Int
    /// Cumulative since the client started: requests sent, bytes sent, responses and bytes
    /// received, messages produced and consumed (`tx`, `tx_bytes`, `rx`, `rx_bytes`, `txmsgs`,
    /// `rxmsgs`).
    public var requestsSent: Int
    public var bytesSent: Int
    public var responsesReceived: Int
    public var bytesReceived: Int
    public var messagesProduced: Int
    public var messagesConsumed: Int
    /// Average request round trip per broker (`host:port`), in seconds, for brokers that answered.
    public var brokerRoundTrip: [String: Double]
    /// Consumer group rebalances so far (`cgrp.rebalance_cnt`), for consumers.
    public var rebalances: Int?

    /// Reads librdkafka's statistics JSON; nil when it is not that.
    public init?(json: some Collection<UInt8>) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        func int(_ dictionary: [String: Any]?, _ key: String) -> Int? { (dictionary?[key] as? NSNumber)?.intValue }
        guard let type = object["type"] as? String else { return nil }
        clientId = object["client_id"] as? String ?? ""
        role = type
        queuedMessages = int(object, "msg_cnt") ?? 0
        requestsSent = int(object, "tx") ?? 0
        bytesSent = int(object, "tx_bytes") ?? 0
        responsesReceived = int(object, "rx") ?? 0
        bytesReceived = int(object, "rx_bytes") ?? 0
        messagesProduced = int(object, "txmsgs") ?? 0
        messagesConsumed = int(object, "rxmsgs") ?? 0
        brokerRoundTrip = [:]
        for case let broker as [String: Any] in (object["brokers"] as? [String: Any])?.values.map({ $0 }) ?? [] {
            guard let node = int(broker, "nodeid"), node >= 0, let name = broker["nodename"] as? String,
                let average = int(broker["rtt"] as? [String: Any], "avg"), average > 0
            else { continue }
            brokerRoundTrip[name] = Double(average) / 1_000_000
        }
        rebalances = int(object["cgrp"] as? [String: Any], "rebalance_cnt")
    }
}

/// Turns successive statistics of one client into metrics (swift-metrics), dimensions `client_id`
/// and `role`: counters `sluice_kafka_requests_sent_total`, `..._bytes_sent_total`,
/// `..._responses_received_total`, `..._bytes_received_total`, `..._messages_produced_total`,
/// `..._messages_consumed_total`, `..._rebalances_total` (incremented by what each report adds,
/// so that many clients with one `client_id` sum up); for producers the gauges
/// `sluice_kafka_producer_queued_messages` and `sluice_kafka_broker_round_trip_seconds` (with a
/// `broker` dimension). Not thread-safe: used by the client's serving thread only.
final class KafkaStatisticsMetrics {
    private let factory: any MetricsFactory
    private var last: KafkaStatistics?

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Metrics for a client with these properties: nil unless `statistics.interval.ms` asks for
    /// statistics. Without a factory, swift-metrics' bootstrapped one.
    convenience init?(properties: [String: String], factory: (any MetricsFactory)?) {
        guard let interval = properties["statistics.interval.ms"].flatMap(Int.init), interval > 0 else { return nil }
        self.init(factory: factory ?? MetricsSystem.factory)
    }

    func record(_ statistics: KafkaStatistics) {
        let dimensions = [("client_id", statistics.clientId), ("role", statistics.role)]
        func count(_ label: String, _ value: KeyPath<KafkaStatistics, Int>) {
            let delta = statistics[keyPath: value] - (last?[keyPath: value] ?? 0)
            if delta > 0 { Counter(label: label, dimensions: dimensions, factory: factory).increment(by: delta) }
        }
        count("sluice_kafka_requests_sent_total", \.requestsSent)
        count("sluice_kafka_bytes_sent_total", \.bytesSent)
        count("sluice_kafka_responses_received_total", \.responsesReceived)
        count("sluice_kafka_bytes_received_total", \.bytesReceived)
        count("sluice_kafka_messages_produced_total", \.messagesProduced)
        count("sluice_kafka_messages_consumed_total", \.messagesConsumed)
        if let rebalances = statistics.rebalances {
            let delta = rebalances - (last?.rebalances ?? 0)
            if delta > 0 { Counter(label: "sluice_kafka_rebalances_total", dimensions: dimensions, factory: factory).increment(by: delta) }
        }
        if statistics.role == "producer" {
            Gauge(label: "sluice_kafka_producer_queued_messages", dimensions: dimensions, factory: factory).record(statistics.queuedMessages)
            for (broker, seconds) in statistics.brokerRoundTrip {
                Gauge(label: "sluice_kafka_broker_round_trip_seconds", dimensions: dimensions + [("broker", broker)], factory: factory).record(seconds)
            }
        }
        last = statistics
    }
}
