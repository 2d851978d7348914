/// The librdkafka loaded at run time.
public enum KafkaLibrary {
    /// Sluice needs 2.2 or newer: 2.0.x misreads the tagged fields of ApiVersions responses that
    /// modern brokers send (fixed upstream in 2.2.0).
    public static let minimumVersion: Int32 = 0x0202_00FF

    /// The loaded library's version as librdkafka prints it (`2.16.0`).
    public static var versionString: String { RDKafkaVersion.string }

    public static var version: Int32 { RDKafkaVersion.number }

    /// The file the dynamic loader took librdkafka from, when it can tell.
    public static var loadedFrom: String? { RDKafkaVersion.path }

    /// Throws a configuration error naming the version found and how to get a newer one.
    public static func requireSupportedVersion() throws(KafkaError) {
        guard version < minimumVersion else { return }
        let place = loadedFrom.map { " (loaded from \($0))" } ?? ""
        throw KafkaError(
            .configuration,
            message: "librdkafka \(versionString)\(place) is too old: Sluice needs librdkafka 2.2 or newer at run time. "
                + "Run scripts/setup.sh, which puts the self-contained librdkafka of the confluent-kafka wheel in .librdkafka/, "
                + "or set LD_LIBRARY_PATH to a directory holding librdkafka.so.1 of version 2.2 or newer.")
    }
}
