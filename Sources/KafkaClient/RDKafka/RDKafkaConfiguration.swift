import CRdKafka

/// Builds a `rd_kafka_conf_t` from properties. The caller owns the result until `rd_kafka_new`
/// takes it.
enum RDKafkaConfiguration {
    /// librdkafka properties whose values are secrets: never echoed in an error.
    static let secretNames: Set<String> = [
        "sasl.password", "ssl.key.password", "ssl.key.pem", "ssl_key", "ssl.keystore.password",
        "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "sasl.kerberos.keytab",
    ]

    static func make(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.configuration, message: "librdkafka could not allocate a configuration")
        }
        // Sorted so that an error names the same property every time.
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            var errorText = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let detail: String
                if secretNames.contains(name) {
                    detail = "invalid value for the secret property \(name)"
                } else {
                    detail = rdKafkaString(errorText)
                }
                throw KafkaError(.configuration, message: "librdkafka refused the configuration: \(detail)")
            }
        }
        return conf
    }
}
