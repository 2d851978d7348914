import NIOCore

/// One record header: Kafka header values are bytes and may be null.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }
}

/// A record to produce.
public struct KafkaProducerRecord: Sendable {
    public var topic: String
    /// Nil: librdkafka's partitioner chooses (by key when there is one).
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: ByteBuffer
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: ByteBuffer, headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// Where the broker stored a produced record (the offset may be unknown, -1, for a record that
/// an idempotent producer retried).
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// A topic partition and an offset in it.
public struct KafkaPartitionOffset: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// A topic partition.
public struct KafkaTopicPartition: Sendable, Hashable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
}

/// A consumed record.
public struct KafkaConsumerMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: ByteBuffer
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch (create or log-append time), when the record has one.
    public var timestamp: Int64?

    public var position: KafkaPartitionOffset { KafkaPartitionOffset(topic: topic, partition: partition, offset: offset) }
}

/// What a consumer subscribes to.
public enum KafkaSubscription: Sendable, Hashable {
    case topics([String])
    /// A regular expression (POSIX extended, as librdkafka matches it) over topic names.
    case pattern(String)

    var librdkafkaNames: [String] {
        switch self {
        case .topics(let topics): topics
        case .pattern(let pattern): [pattern.hasPrefix("^") ? pattern : "^" + pattern]
        }
    }
}

/// Metadata of the cluster as one broker sees it.
public struct KafkaClusterMetadata: Sendable {
    public var brokers: [String]
    /// Topic name → number of partitions.
    public var topics: [String: Int]
}
