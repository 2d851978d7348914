import CRdKafka

enum RDKafkaMetadata {
    /// Blocking: asks one broker for the cluster's metadata (all topics).
    static func read(_ handle: OpaquePointer, timeout: Duration) throws(KafkaError) -> KafkaClusterMetadata {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let code = rd_kafka_metadata(handle, 1, nil, &metadata, Int32(timeout / .milliseconds(1)))
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(code: code) }
        defer { rd_kafka_metadata_destroy(metadata) }
        var result = KafkaClusterMetadata(brokers: [], topics: [:])
        for index in 0..<Int(metadata.pointee.broker_cnt) {
            let broker = metadata.pointee.brokers[index]
            result.brokers.append("\(String(cString: broker.host)):\(broker.port)")
        }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            result.topics[String(cString: topic.topic)] = Int(topic.partition_cnt)
        }
        return result
    }
}

/// Builds a `rd_kafka_topic_partition_list_t`; the caller destroys it.
func rdKafkaPartitionList(_ offsets: [KafkaPartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
    for entry in offsets {
        rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition).pointee.offset = entry.offset
    }
    return list
}
