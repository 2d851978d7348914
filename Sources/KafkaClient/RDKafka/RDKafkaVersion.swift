import CRdKafka

/// The librdkafka the dynamic loader chose.
enum RDKafkaVersion {
    static var number: Int32 { rd_kafka_version() }
    static var string: String { String(cString: rd_kafka_version_str()) }
    /// The file it was loaded from, when the loader can tell.
    static var path: String? { sluice_rdkafka_library_path().map { String(cString: $0) } }
}
