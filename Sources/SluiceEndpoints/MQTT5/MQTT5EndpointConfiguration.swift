import SluiceCore

/// The configuration of an MQTT 5 endpoint (contract §2 MQTT 5): where the broker is, how to
/// connect, and the producer and consumer roles. Read from JSON that passed ``schema`` and
/// ``sharedSchema``.
public struct MQTT5EndpointConfiguration: Sendable, Hashable {
    public var serverHost: String
    public var serverPort: Int
    public var reconnectAttempts: Int
    /// Seconds; nil means none is sent (`-1`), 0 means the session ends with the connection.
    public var sessionExpiryInterval: Int?
    public var cleanStart: Bool
    public var username: String?
    public var password: String?
    public var tls: TLSStores?
    public var consumer: Consumer?
    public var producer: Producer?

    public struct Consumer: Sendable, Hashable {
        /// A topic filter; `+` and `#` wildcards allowed.
        public var topic: String
    }

    public struct Producer: Sendable, Hashable {
        public var topic: String
        public var retained: Bool
        /// Seconds; nil means no expiry (`-1`).
        public var messageExpiryInterval: Int?
        public var responseTopic: String?
    }

    public static let schema = JSONSchema.object(
        title: "MQTT 5",
        description: "Where the MQTT 5 broker is.",
        [
            ("serverHost", .string(title: "Server host", minLength: 1)),
            ("serverPort", .integer(title: "Server port", minimum: 1, maximum: 65_535, acceptsNumericString: true)),
        ],
        required: ["serverHost", "serverPort"])

    static let roleEnabled = JSONSchema.propertyEquals("enabled", true)

    public static let sharedSchema = JSONSchema.object(
        title: "MQTT 5 options",
        [
            (
                "reconnectAttempts",
                .integer(title: "Reconnect attempts", description: "Reconnections tried after a lost connection before clients get an error.", default: 3, minimum: 0, maximum: 10)
            ),
            (
                "sessionExpiryInterval",
                .integer(title: "Session expiry interval (s)", description: "0: the session ends with the connection; -1: none sent.", default: 86_400, minimum: -1, maximum: 4_294_967_295)
            ),
            ("cleanStart", .boolean(title: "Clean start", description: "Discard any previous session at connect.", default: false)),
            (
                "security",
                .object(
                    title: "Security",
                    [
                        (
                            "auth",
                            .object(
                                title: "Authentication",
                                [("username", .string(title: "Username")), ("password", .string(title: "Password", secret: true))])
                        ),
                        ("ssl", TLSStores.pathContentSchema),
                    ])
            ),
            (
                "consumer",
                .object(
                    title: "Consumer",
                    [
                        ("enabled", .boolean(title: "Use consumer", default: false)),
                        ("topic", .string(title: "Topic filter (+ and # wildcards)", minLength: 1)),
                    ],
                    allOf: [.when(roleEnabled, then: .object([], required: ["topic"]))],
                    defaultValue: [:])
            ),
            (
                "producer",
                .object(
                    title: "Producer",
                    [
                        ("enabled", .boolean(title: "Use producer", default: false)),
                        ("topic", .string(title: "Topic", minLength: 1)),
                        ("retained", .boolean(title: "Retained", description: "Every published message has RETAIN set.", default: false)),
                        ("messageExpiryInterval", .integer(title: "Message expiry interval (s)", description: "-1: no expiry.", default: -1, minimum: -1, maximum: 4_294_967_295)),
                        ("responseTopic", .string(title: "Response topic")),
                    ],
                    allOf: [.when(roleEnabled, then: .object([], required: ["topic"]))],
                    defaultValue: [:])
            ),
        ])

    /// Accepts the contract's other spelling (`reconnectAttempt`) before validation.
    public static func normalize(sharedConfiguration json: JSONValue) -> JSONValue {
        guard case .object(var object) = json, object["reconnectAttempts"] == nil, let alias = object["reconnectAttempt"] else { return json }
        object["reconnectAttempts"] = alias
        object.removeValue(forKey: "reconnectAttempt")
        return .object(object)
    }

    /// Checks beyond the schema: a role must be enabled, topics must be valid for their role,
    /// stores must be complete.
    public static func problems(sharedConfiguration shared: JSONValue, at path: DocumentPath) -> [Problem] {
        var problems: [Problem] = []
        let consumerEnabled = shared["consumer"]?["enabled"]?.boolValue ?? false
        let producerEnabled = shared["producer"]?["enabled"]?.boolValue ?? false
        if !consumerEnabled, !producerEnabled {
            problems.append(Problem(path, "enable the producer, the consumer or both"))
        }
        if consumerEnabled, let filter = shared["consumer"]?["topic"]?.stringValue, !isValidFilter(filter) {
            problems.append(Problem(path + "consumer" + "topic", "must be a topic filter: '#' only as the last level, '+' only as a whole level"))
        }
        if producerEnabled, let topic = shared["producer"]?["topic"]?.stringValue, topic.contains(where: { $0 == "+" || $0 == "#" }) {
            problems.append(Problem(path + "producer" + "topic", "must be a topic name, without the wildcards + and #"))
        }
        problems += TLSStores.problems(in: shared["security"]?["ssl"], spelling: .pathContent, at: path + "security" + "ssl")
        return problems
    }

    /// An MQTT topic filter: levels separated by `/`, `+` a whole level, `#` the whole last level.
    static func isValidFilter(_ filter: String) -> Bool {
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#"), level != "#" || index != levels.count - 1 { return false }
            if level.contains("+"), level != "+" { return false }
        }
        return !filter.isEmpty && !filter.contains("\u{0}")
    }

    /// Reads a configuration that passed the schemas.
    public init(configuration: JSONValue, sharedConfiguration shared: JSONValue) {
        serverHost = configuration["serverHost"]?.stringValue ?? ""
        serverPort = configuration["serverPort"]?.integerValue ?? 1883
        reconnectAttempts = shared["reconnectAttempts"]?.integerValue ?? 3
        let expiry = shared["sessionExpiryInterval"]?.integerValue ?? 86_400
        sessionExpiryInterval = expiry < 0 ? nil : expiry
        cleanStart = shared["cleanStart"]?.boolValue ?? false
        username = shared["security"]?["auth"]?["username"]?.stringValue
        password = shared["security"]?["auth"]?["password"]?.stringValue
        let ssl = shared["security"]?["ssl"]
        let stores = TLSStores.read(ssl: ssl, spelling: .pathContent)
        tls = stores.trustStore != nil || stores.keyStore != nil ? stores : nil
        if shared["consumer"]?["enabled"]?.boolValue == true, let topic = shared["consumer"]?["topic"]?.stringValue {
            consumer = Consumer(topic: topic)
        }
        if shared["producer"]?["enabled"]?.boolValue == true, let topic = shared["producer"]?["topic"]?.stringValue {
            let expiry = shared["producer"]?["messageExpiryInterval"]?.integerValue ?? -1
            producer = Producer(
                topic: topic, retained: shared["producer"]?["retained"]?.boolValue ?? false,
                messageExpiryInterval: expiry < 0 ? nil : expiry, responseTopic: shared["producer"]?["responseTopic"]?.stringValue)
        }
    }

    /// The shared subscription a client identifier consumes through: `$share/<id>/<topic>`.
    public func sharedSubscription(clientIdentifier: String) -> String? {
        consumer.map { "$share/\(clientIdentifier)/\($0.topic)" }
    }
}
