import Crypto
import NIOCore

/// The client identifier of contract §4: it names Kafka consumer groups, MQTT shared
/// subscriptions, RabbitMQ and Solace queues.
public enum ClientIdentifier {
    /// Header and query parameter names a client may send its identifier with.
    public static let headerNames = ["X-Sluice-Client-Identifier", "X-Gravitee-Client-Identifier"]

    /// Identifiers longer than this are refused (they end up in broker resource names).
    public static let maximumLength = 200

    /// The identifier computed for a caller without a subscription: the SHA-256 (hex) of its
    /// remote address (the IP address, without the port, so that reconnects keep it).
    public static func computed(remoteAddress: String?) -> String {
        Hex.string(SHA256.hash(data: Array((remoteAddress ?? "unknown").utf8)))
    }

    /// The effective identifier: `<sent>-<computed>`, unless the sent value already ends with the
    /// computed one (a client echoing back what it was given).
    public static func effective(sent: String?, computed: String) -> String {
        guard let sent, !sent.isEmpty else { return computed }
        if sent.hasSuffix(computed) { return sent }
        return "\(sent)-\(computed)"
    }

    /// Whether a client-sent identifier is acceptable: printable ASCII without separators that
    /// brokers treat specially, and not too long.
    public static func isAcceptable(_ sent: String) -> Bool {
        sent.utf8.count <= maximumLength
            && sent.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && scalar.value > 0x20 && scalar.value < 0x7F && !"/+#*>$;,".unicodeScalars.contains(scalar)
            }
    }
}

/// A request's client identifier: known, or still to be computed from what the client sent (a
/// valid identifier, or none) and its address. The computation (a SHA-256 of the address) is
/// left until something asks for the identifier: a subscription does, a publication does not.
public enum ClientIdentity: Sendable {
    case known(String)
    case derived(sent: String?, remoteAddress: SocketAddress?)

    /// The effective identifier (``ClientIdentifier/effective(sent:computed:)``).
    public var effective: String {
        switch self {
        case .known(let identifier):
            return identifier
        case .derived(let sent, let remoteAddress):
            return ClientIdentifier.effective(sent: sent, computed: ClientIdentifier.computed(remoteAddress: remoteAddress?.ipAddress))
        }
    }
}
