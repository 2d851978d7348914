import KafkaClient
import Logging
import Synchronization

/// One shared producer per endpoint configuration (DESIGN §5), across the APIs and revisions that
/// use it: connectors lease the producer made for their librdkafka properties, and the last lease
/// returned closes it. A redeployed API with an unchanged Kafka configuration keeps its producer,
/// its connections and its batches.
final class KafkaProducerPool: Sendable {
    static let shared = KafkaProducerPool()

    private struct Entry {
        let producer: KafkaProducer
        var leases: Int
    }

    private let entries = Mutex<[[String: String]: Entry]>([:])

    /// The producer for these properties, made when none is open.
    func lease(_ properties: [String: String], logger: Logger) throws(KafkaError) -> KafkaProducer {
        try entries.withLock { (entries) throws(KafkaError) -> KafkaProducer in
            if var entry = entries[properties] {
                entry.leases += 1
                entries[properties] = entry
                return entry.producer
            }
            let producer = try KafkaProducer(properties: properties, logger: logger)
            entries[properties] = Entry(producer: producer, leases: 1)
            return producer
        }
    }

    /// Returns a lease; the last one closes the producer (waiting for records in flight).
    func release(_ properties: [String: String]) async {
        let closing: KafkaProducer? = entries.withLock { entries in
            guard var entry = entries[properties] else { return nil }
            entry.leases -= 1
            if entry.leases > 0 {
                entries[properties] = entry
                return nil
            }
            entries[properties] = nil
            return entry.producer
        }
        await closing?.close()
    }

    /// The leases on the producer for these properties (0: none is open).
    func leases(_ properties: [String: String]) -> Int { entries.withLock { $0[properties]?.leases ?? 0 } }
}
