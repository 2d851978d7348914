import CRdKafka

/// librdkafka's mock cluster, for the failure cases a real broker cannot be made to produce.
struct RDKafkaMockCluster {
    let cluster: OpaquePointer

    /// The next requests of a Kafka API (0: Produce) fail with these error codes, in order.
    func pushRequestErrors(apiKey: Int16, _ codes: [Int32]) {
        let errors = codes.map { rd_kafka_resp_err_t(rawValue: $0) }
        errors.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, apiKey, errors.count, $0.baseAddress) }
    }

    /// Metadata requests answer this error for the topic (0 clears it).
    func setTopicError(_ topic: String, code: Int32) {
        rd_kafka_mock_topic_set_error(cluster, topic, rd_kafka_resp_err_t(rawValue: code))
    }
}

extension KafkaProducer {
    /// Test support: the mock cluster of a producer made with `test.mock.num.brokers`.
    func withMockCluster<R>(_ body: (RDKafkaMockCluster) -> R) -> R? {
        core.withMockCluster(body)
    }
}
