import Foundation
import SluiceCore

/// The configuration of a Kafka endpoint (contract §2 Kafka): the bootstrap servers, security
/// (SASL with a JAAS line, TLS stores in the Kafka spelling) and the producer and consumer roles.
/// Read from JSON that passed ``schema`` and ``sharedSchema``; ``KafkaProperties`` turns it into
/// librdkafka settings.
public struct KafkaEndpointConfiguration: Sendable, Hashable {
    public enum SecurityProtocol: String, Sendable, CaseIterable {
        case plaintext = "PLAINTEXT"
        case saslPlaintext = "SASL_PLAINTEXT"
        case saslSSL = "SASL_SSL"
        case ssl = "SSL"

        public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
        public var usesTLS: Bool { self == .ssl || self == .saslSSL }
    }

    public enum SASLMechanism: String, Sendable, CaseIterable {
        case gssapi = "GSSAPI"
        case oauthBearer = "OAUTHBEARER"
        case plain = "PLAIN"
        case scramSHA256 = "SCRAM-SHA-256"
        case scramSHA512 = "SCRAM-SHA-512"
    }

    public enum Compression: String, Sendable, CaseIterable {
        case none, gzip, snappy, lz4, zstd
    }

    public enum AutoOffsetReset: String, Sendable, CaseIterable {
        /// Without a committed offset, start at the oldest message.
        case earliest
        /// Without a committed offset, start after the newest message.
        case latest
        /// Without a committed offset, the consumer gets an error.
        case none
    }

    public struct Producer: Sendable, Hashable {
        /// One or more topics; every message goes to each of them.
        public var topics: [String]
        public var compression: Compression
    }

    public struct Consumer: Sendable, Hashable {
        /// Topic names; may be empty when ``topicPattern`` is set.
        public var topics: [String]
        /// A regular expression that whole topic names must match (as Kafka's Java client does).
        public var topicPattern: String?
        /// Message ids and cursors are base64.
        public var encodeMessageId: Bool
        public var autoOffsetReset: AutoOffsetReset

        /// What the consumer subscribes to with librdkafka: the topic names, and the pattern as
        /// `^(<pattern>)$` (librdkafka takes a name starting with `^` as a POSIX extended regular
        /// expression that may match anywhere; the anchors make the whole name match).
        public var subscription: [String] {
            topics + (topicPattern.map { ["^(\($0))$"] } ?? [])
        }
    }

    /// Comma-separated `host:port` list, used for the first connection only.
    public var bootstrapServers: String
    public var securityProtocol: SecurityProtocol
    /// Set with the SASL protocols.
    public var saslMechanism: SASLMechanism?
    /// The parsed `saslJaasConfig`, set with the SASL protocols.
    public var jaas: KafkaJAAS?
    /// Set with the TLS protocols (`SSL`, `SASL_SSL`), even without stores: then the system's CA
    /// certificates are trusted, and ``TLSStores/hostnameVerification`` still applies.
    public var tls: TLSStores?
    public var producer: Producer?
    public var consumer: Consumer?

    // MARK: Schemas

    public static let schema = JSONSchema.object(
        title: "Kafka",
        description: "Where the Kafka cluster is.",
        [
            (
                "bootstrapServers",
                .string(
                    title: "Bootstrap servers",
                    description: "Comma-separated host:port list, used for the first connection only; then every broker the cluster advertises is used.",
                    minLength: 1)
            )
        ],
        required: ["bootstrapServers"])

    static let roleEnabled = JSONSchema.propertyEquals("enabled", true)

    static func protocolIs(_ value: SecurityProtocol) -> JSONSchema {
        JSONSchema.propertyEquals("protocol", .string(value.rawValue))
    }

    /// With a SASL protocol, the mechanism and the JAAS line are required.
    static let saslRequired = JSONSchema.object(
        [("sasl", .object([], required: ["saslMechanism", "saslJaasConfig"]))], required: ["sasl"])

    static let topicsDescription = "Topic names (an array; a comma-separated string is accepted too)."

    public static let sharedSchema = JSONSchema.object(
        title: "Kafka options",
        [
            (
                "security",
                .object(
                    title: "Security",
                    [
                        (
                            "protocol",
                            .string(title: "Security protocol", default: SecurityProtocol.plaintext.rawValue, enum: SecurityProtocol.allCases.map(\.rawValue))
                        ),
                        (
                            "sasl",
                            .object(
                                title: "SASL",
                                [
                                    (
                                        "saslMechanism",
                                        .string(
                                            title: "SASL mechanism", description: "SCRAM_SHA_256 style is accepted too.",
                                            enum: SASLMechanism.allCases.map(\.rawValue))
                                    ),
                                    (
                                        "saslJaasConfig",
                                        .string(
                                            title: "JAAS configuration",
                                            description:
                                                "One login module line, e.g. org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";",
                                            secret: true)
                                    ),
                                ])
                        ),
                        ("ssl", TLSStores.kafkaSchema),
                    ],
                    allOf: [
                        .when(protocolIs(.saslPlaintext), then: saslRequired),
                        .when(protocolIs(.saslSSL), then: saslRequired),
                    ],
                    defaultValue: [:])
            ),
            (
                "producer",
                .object(
                    title: "Producer",
                    [
                        ("enabled", .boolean(title: "Use producer", default: false)),
                        ("topics", .array(title: "Topics", description: topicsDescription + " Every message goes to each topic.", of: .string(minLength: 1))),
                        ("compressionType", .string(title: "Compression", default: Compression.none.rawValue, enum: Compression.allCases.map(\.rawValue))),
                    ],
                    allOf: [.when(roleEnabled, then: .object([], required: ["topics"]))],
                    defaultValue: [:])
            ),
            (
                "consumer",
                .object(
                    title: "Consumer",
                    [
                        ("enabled", .boolean(title: "Use consumer", default: false)),
                        ("topics", .array(title: "Topics", description: topicsDescription, of: .string(minLength: 1))),
                        (
                            "topicPattern",
                            .string(
                                title: "Topic pattern",
                                description: "A regular expression (POSIX extended, as librdkafka reads it) that whole topic names must match; instead of or beside topics.",
                                minLength: 1)
                        ),
                        ("encodeMessageId", .boolean(title: "Encode message ids", description: "Message ids and cursors are base64.", default: true)),
                        (
                            "autoOffsetReset",
                            .string(
                                title: "Auto offset reset",
                                description: "Where a consumer group without a committed offset starts: earliest, latest, or none (the consumer gets an error).",
                                default: AutoOffsetReset.latest.rawValue, enum: AutoOffsetReset.allCases.map(\.rawValue))
                        ),
                    ],
                    defaultValue: [:])
            ),
        ])

    // MARK: Normalisation

    /// Rewrites the accepted alternative spellings into the schema's before validation:
    /// `security.protocol` in any case (`sasl_ssl`), `saslMechanism` in any case with `_` for `-`
    /// (`scram_sha_256`), `ssl.keystore`/`ssl.truststore` (any case) for `keyStore`/`trustStore`,
    /// and `producer.topics`/`consumer.topics` as one comma-separated string (`"a, b"`).
    public static func normalize(sharedConfiguration json: JSONValue) -> JSONValue {
        guard case .object(var object) = json else { return json }
        if case .object(var security)? = object["security"] {
            if let label = security["protocol"]?.stringValue,
                let canonical = JSONSchema.canonicalEnumValue(String(label.trimmingCharacters(in: .whitespaces)), in: SecurityProtocol.allCases.map(\.rawValue))
            {
                security["protocol"] = .string(canonical)
            }
            if case .object(var sasl)? = security["sasl"] {
                if let label = sasl["saslMechanism"]?.stringValue,
                    let canonical = JSONSchema.canonicalEnumValue(String(label.trimmingCharacters(in: .whitespaces)), in: SASLMechanism.allCases.map(\.rawValue))
                {
                    sasl["saslMechanism"] = .string(canonical)
                }
                security["sasl"] = .object(sasl)
            }
            if case .object(var ssl)? = security["ssl"] {
                renameCaseInsensitively(&ssl, to: "keyStore")
                renameCaseInsensitively(&ssl, to: "trustStore")
                security["ssl"] = .object(ssl)
            }
            object["security"] = .object(security)
        }
        for role in ["producer", "consumer"] {
            if case .object(var block)? = object[role], let list = block["topics"]?.stringValue {
                let topics = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                block["topics"] = .array(topics.map(JSONValue.string))
                object[role] = .object(block)
            }
        }
        return .object(object)
    }

    /// Moves the member whose name equals `name` but for case (`keystore`) to `name`, unless
    /// `name` is there already.
    private static func renameCaseInsensitively(_ object: inout JSONObject, to name: String) {
        guard object[name] == nil, let alias = object.keys.first(where: { $0.lowercased() == name.lowercased() }), let value = object[alias] else { return }
        object.removeValue(forKey: alias)
        object[name] = value
    }

    // MARK: Checks beyond the schema

    /// Checks of `configuration` beyond the schema: every bootstrap server is `host:port` with a
    /// port from 1 to 65535 (IPv6 addresses in brackets: `[::1]:9092`).
    public static func problems(configuration: JSONValue, at path: DocumentPath) -> [Problem] {
        guard let servers = configuration["bootstrapServers"]?.stringValue, !servers.isEmpty else { return [] }
        var problems: [Problem] = []
        for (index, entry) in servers.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let server = entry.trimmingCharacters(in: .whitespaces)
            if let reason = bootstrapServerProblem(server) {
                problems.append(Problem(path + "bootstrapServers", "server \(index + 1) ('\(server)') \(reason)"))
            }
        }
        return problems
    }

    /// Why `server` is not `host:port`, or nil when it is.
    static func bootstrapServerProblem(_ server: String) -> String? {
        guard !server.isEmpty else { return "is empty (a stray comma?)" }
        guard let colon = server.lastIndex(of: ":") else { return "needs a port: host:port" }
        let host = server[..<colon]
        let port = server[server.index(after: colon)...]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2, host.dropFirst().dropLast().allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return "has a malformed IPv6 address: write [address]:port"
            }
        } else {
            guard !host.isEmpty else { return "needs a host: host:port" }
            guard !host.contains(":") else { return "has an IPv6 address without brackets: write [address]:port" }
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
                return "has a host name with characters other than letters, digits, '.', '-' and '_'"
            }
        }
        guard let number = Int(port), (1...65_535).contains(number), port.allSatisfy(\.isASCII) else {
            return "needs a port from 1 to 65535 after the ':'"
        }
        return nil
    }

    /// Checks beyond the schema: a role must be enabled and complete, topic names and the pattern
    /// valid, SASL's JAAS line usable with its mechanism, TLS stores complete.
    public static func problems(sharedConfiguration shared: JSONValue, at path: DocumentPath) -> [Problem] {
        var problems: [Problem] = []
        let producer = shared["producer"]
        let consumer = shared["consumer"]
        let producerEnabled = producer?["enabled"]?.boolValue ?? false
        let consumerEnabled = consumer?["enabled"]?.boolValue ?? false
        if !producerEnabled, !consumerEnabled {
            problems.append(Problem(path, "enable the producer, the consumer or both"))
        }
        if producerEnabled, let topics = producer?["topics"]?.arrayValue {
            if topics.isEmpty { problems.append(Problem(path + "producer" + "topics", "must not be empty: name one or more topics")) }
            problems += topicNameProblems(topics, at: path + "producer" + "topics")
        }
        if consumerEnabled {
            let topics = consumer?["topics"]?.arrayValue ?? []
            let pattern = consumer?["topicPattern"]?.stringValue
            if topics.isEmpty, pattern == nil {
                problems.append(Problem(path + "consumer" + "topics", "name one or more topics, or give a topicPattern"))
            }
            problems += topicNameProblems(topics, at: path + "consumer" + "topics")
            if let pattern { problems += topicPatternProblems(pattern, at: path + "consumer" + "topicPattern") }
        }

        let security = shared["security"]
        let securityPath = path + "security"
        let securityProtocol = security?["protocol"]?.stringValue.flatMap(SecurityProtocol.init(rawValue:)) ?? .plaintext
        if securityProtocol.usesSASL {
            problems += saslProblems(security?["sasl"], at: securityPath + "sasl")
        } else if security?["sasl"]?["saslJaasConfig"] != nil || security?["sasl"]?["saslMechanism"] != nil {
            problems.append(
                Problem(securityPath + "sasl", "is ignored with protocol \(securityProtocol.rawValue); use SASL_PLAINTEXT or SASL_SSL to log in with it", severity: .warning))
        }
        let ssl = security?["ssl"]
        if securityProtocol.usesTLS {
            problems += TLSStores.problems(in: ssl, spelling: .kafka, at: securityPath + "ssl")
        } else {
            let stores = TLSStores.read(ssl: ssl, spelling: .kafka)
            if stores.trustStore != nil || stores.keyStore != nil {
                problems.append(
                    Problem(securityPath + "ssl", "is ignored with protocol \(securityProtocol.rawValue): the connection is not encrypted; use SSL or SASL_SSL", severity: .warning))
            }
        }
        return problems
    }

    private static func saslProblems(_ sasl: JSONValue?, at path: DocumentPath) -> [Problem] {
        // Absent members are reported by the schema.
        guard let line = sasl?["saslJaasConfig"]?.stringValue else { return [] }
        let jaas: KafkaJAAS
        do {
            jaas = try KafkaJAAS(parsing: line)
        } catch {
            return [Problem(path + "saslJaasConfig", error.description)]
        }
        var problems: [Problem] = []
        if let label = sasl?["saslMechanism"]?.stringValue, let mechanism = SASLMechanism(rawValue: label), !jaas.supports(mechanism) {
            let needed = KafkaJAAS.LoginModule.allCases.first { $0.mechanisms.contains(mechanism) }?.shortName ?? "matching login module"
            problems.append(
                Problem(
                    path + "saslMechanism",
                    "\(mechanism.rawValue) needs the \(needed) in saslJaasConfig, which has the \(jaas.loginModule.shortName) (for \(jaas.loginModule.mechanisms.map(\.rawValue).joined(separator: " or ")))"
                ))
        }
        if !jaas.ignoredOptions.isEmpty {
            problems.append(
                Problem(
                    path + "saslJaasConfig",
                    "librdkafka has no equivalent of the option\(jaas.ignoredOptions.count == 1 ? "" : "s") \(jaas.ignoredOptions.joined(separator: ", ")) of the \(jaas.loginModule.shortName); ignored",
                    severity: .warning))
        }
        return problems
    }

    /// A Kafka topic name: 1 to 249 of `a-z A-Z 0-9 . _ -`, and not `.` or `..`.
    static func isValidTopicName(_ name: String) -> Bool {
        (1...249).contains(name.count) && name != "." && name != ".."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }

    private static func topicNameProblems(_ topics: [JSONValue], at path: DocumentPath) -> [Problem] {
        topics.enumerated().compactMap { index, topic in
            guard let name = topic.stringValue, !name.isEmpty, !isValidTopicName(name) else { return nil }
            return Problem(path + index, "must be a Kafka topic name: 1 to 249 characters among a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..'")
        }
    }

    /// The pattern must compile. librdkafka reads it as a POSIX extended regular expression, so
    /// constructs only Perl-style engines know draw a warning.
    static func topicPatternProblems(_ pattern: String, at path: DocumentPath) -> [Problem] {
        guard (try? NSRegularExpression(pattern: pattern)) != nil else {
            return [Problem(path, "is not a valid regular expression")]
        }
        let perlOnly = ["(?", "\\d", "\\D", "*?", "+?", "??", "}?"].filter { pattern.contains($0) }
        guard perlOnly.isEmpty else {
            return [
                Problem(
                    path,
                    "uses \(perlOnly.joined(separator: ", ")), which librdkafka's POSIX extended regular expressions do not support (use [0-9] for \\d, plain groups)",
                    severity: .warning)
            ]
        }
        return []
    }

    // MARK: Reading

    /// Reads a configuration that passed the schemas and ``problems(sharedConfiguration:at:)``.
    public init(configuration: JSONValue, sharedConfiguration shared: JSONValue) {
        bootstrapServers = configuration["bootstrapServers"]?.stringValue ?? ""
        let security = shared["security"]
        securityProtocol = security?["protocol"]?.stringValue.flatMap(SecurityProtocol.init(rawValue:)) ?? .plaintext
        if securityProtocol.usesSASL {
            saslMechanism = security?["sasl"]?["saslMechanism"]?.stringValue.flatMap(SASLMechanism.init(rawValue:))
            jaas = security?["sasl"]?["saslJaasConfig"]?.stringValue.flatMap { try? KafkaJAAS(parsing: $0) }
        }
        if securityProtocol.usesTLS {
            tls = TLSStores.read(ssl: security?["ssl"], spelling: .kafka)
        }
        if let block = shared["producer"], block["enabled"]?.boolValue == true {
            producer = Producer(
                topics: Self.strings(block["topics"]),
                compression: block["compressionType"]?.stringValue.flatMap(Compression.init(rawValue:)) ?? Compression.none)
        }
        if let block = shared["consumer"], block["enabled"]?.boolValue == true {
            consumer = Consumer(
                topics: Self.strings(block["topics"]), topicPattern: block["topicPattern"]?.stringValue,
                encodeMessageId: block["encodeMessageId"]?.boolValue ?? true,
                autoOffsetReset: block["autoOffsetReset"]?.stringValue.flatMap(AutoOffsetReset.init(rawValue:)) ?? .latest)
        }
    }

    private static func strings(_ value: JSONValue?) -> [String] {
        value?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}
