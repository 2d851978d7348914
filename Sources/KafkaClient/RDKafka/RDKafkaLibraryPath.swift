import CRdKafka

/// Where the dynamic loader found librdkafka (for the version error message).
enum RDKafkaLibraryPath {
    static var path: String? {
        sluice_rdkafka_library_path().map { String(cString: $0) }
    }
}
