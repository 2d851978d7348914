import SluiceCore

/// The configuration of a RabbitMQ endpoint (contract §2 RabbitMQ, AMQP 0-9-1): where the broker
/// is, how to connect, and the producer's and consumer's own exchanges. Read from JSON that passed
/// ``schema`` and ``sharedSchema``.
public struct RabbitMQEndpointConfiguration: Sendable, Hashable {
    public var serverHost: String
    public var serverPort: Int
    public var virtualHost: String
    public var username: String?
    public var password: String?
    public var tls: TLSStores?
    public var producer: Role?
    public var consumer: Role?

    public struct Exchange: Sendable, Hashable {
        public var name: String
        public var type: String
        public var durable: Bool
        public var autoDelete: Bool
    }

    /// A producer or consumer: its exchange and routing key.
    public struct Role: Sendable, Hashable {
        public var exchange: Exchange
        public var routingKey: String
    }

    public static let exchangeTypes = ["direct", "fanout", "topic", "headers"]

    public static let schema = JSONSchema.object(
        title: "RabbitMQ",
        description: "Where the RabbitMQ broker is (AMQP 0-9-1).",
        [
            ("serverHost", .string(title: "Server host", minLength: 1)),
            ("serverPort", .integer(title: "Server port", default: 5672, minimum: 1, maximum: 65_535, acceptsNumericString: true)),
            ("virtualHost", .string(title: "Virtual host", default: "/", minLength: 1)),
        ],
        required: ["serverHost"])

    static let roleEnabled = JSONSchema.propertyEquals("enabled", true)

    static func roleSchema(title: String, enabledTitle: String) -> JSONSchema {
        .object(
            title: title,
            [
                ("enabled", .boolean(title: enabledTitle, default: false)),
                ("routingKey", .string(title: "Routing key", description: "Topic exchanges accept * and # in a consumer's key.", default: "")),
                (
                    "exchange",
                    .object(
                        title: "Exchange",
                        [
                            ("name", .string(title: "Name", minLength: 1)),
                            ("type", .string(title: "Type", default: "direct", enum: exchangeTypes)),
                            ("durable", .boolean(title: "Durable", default: false)),
                            ("autoDelete", .boolean(title: "Auto delete", default: false)),
                        ],
                        defaultValue: [:])
                ),
            ],
            allOf: [.when(roleEnabled, then: .object([("exchange", .object([], required: ["name"]))], required: ["exchange"]))],
            defaultValue: [:])
    }

    public static let sharedSchema = JSONSchema.object(
        title: "RabbitMQ options",
        [
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
            ("producer", roleSchema(title: "Producer", enabledTitle: "Use producer")),
            ("consumer", roleSchema(title: "Consumer", enabledTitle: "Use consumer")),
        ])

    /// Checks beyond the schema: a role must be enabled, credentials are needed (guest/guest is
    /// never assumed), stores must be complete.
    public static func problems(sharedConfiguration shared: JSONValue, at path: DocumentPath) -> [Problem] {
        var problems: [Problem] = []
        let consumerEnabled = shared["consumer"]?["enabled"]?.boolValue ?? false
        let producerEnabled = shared["producer"]?["enabled"]?.boolValue ?? false
        if !consumerEnabled, !producerEnabled {
            problems.append(Problem(path, "enable the producer, the consumer or both"))
        }
        let hasUsername = !(shared["security"]?["auth"]?["username"]?.stringValue ?? "").isEmpty
        let hasClientCertificate = shared["security"]?["ssl"]?["keyStore"] != nil
        if !hasUsername, !hasClientCertificate {
            problems.append(Problem(path + "security" + "auth" + "username", "a user name is needed (guest/guest is not assumed), or a client certificate for EXTERNAL"))
        }
        problems += TLSStores.problems(in: shared["security"]?["ssl"], spelling: .pathContent, at: path + "security" + "ssl")
        return problems
    }

    /// Reads a configuration that passed the schemas.
    public init(configuration: JSONValue, sharedConfiguration shared: JSONValue) {
        serverHost = configuration["serverHost"]?.stringValue ?? ""
        serverPort = configuration["serverPort"]?.integerValue ?? 5672
        virtualHost = configuration["virtualHost"]?.stringValue ?? "/"
        username = shared["security"]?["auth"]?["username"]?.stringValue
        password = shared["security"]?["auth"]?["password"]?.stringValue
        let stores = TLSStores.read(ssl: shared["security"]?["ssl"], spelling: .pathContent)
        tls = stores.trustStore != nil || stores.keyStore != nil ? stores : nil
        producer = Self.role(shared["producer"])
        consumer = Self.role(shared["consumer"])
    }

    private static func role(_ json: JSONValue?) -> Role? {
        guard let json, json["enabled"]?.boolValue == true, let name = json["exchange"]?["name"]?.stringValue else { return nil }
        let exchange = Exchange(
            name: name, type: json["exchange"]?["type"]?.stringValue ?? "direct",
            durable: json["exchange"]?["durable"]?.boolValue ?? false, autoDelete: json["exchange"]?["autoDelete"]?.boolValue ?? false)
        return Role(exchange: exchange, routingKey: json["routingKey"]?.stringValue ?? "")
    }

    /// The queue a subscriber consumes from (contract: `<prefix>/<client identifier>`): durable
    /// for QoS auto, transient (auto-delete, broker auto-ack) for none, under the API's prefix.
    public static func queueName(apiId: String, clientIdentifier: String, durable: Bool) -> String {
        durable ? "sluice/\(apiId)/\(clientIdentifier)" : "sluice/\(apiId)/transient/\(clientIdentifier)"
    }
}
