/// An error from librdkafka or from the client around it: librdkafka's error code and name, and a
/// message that never contains a configured secret.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, in the gateway's terms.
    public enum Kind: Sendable, Hashable {
        /// The configuration was refused (unknown property, invalid value, unsupported library).
        case configuration
        /// No broker could be reached, or TLS or SASL failed: the credentials or certificates.
        case connection
        /// The broker refused or failed a request (authorization, unknown topic, timed out, ...).
        case broker
        /// The consumer has no committed offset and `auto.offset.reset` is `error` (`none`).
        case noCommittedOffset
        /// The client was closed.
        case closed
    }

    public var kind: Kind
    /// librdkafka's `rd_kafka_resp_err_t` (0 when the error is the client's own).
    public var code: Int32
    /// librdkafka's symbolic name (`_AUTHENTICATION`, `TOPIC_AUTHORIZATION_FAILED`), or empty.
    public var name: String
    public var message: String

    public init(_ kind: Kind, code: Int32 = 0, name: String = "", message: String) {
        self.kind = kind
        self.code = code
        self.name = name
        self.message = message
    }

    public var description: String {
        name.isEmpty ? message : "\(message) [\(name)]"
    }

    public static let closed = KafkaError(.closed, message: "the Kafka client is closed")
}
