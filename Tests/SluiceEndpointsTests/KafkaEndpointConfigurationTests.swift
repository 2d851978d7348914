import SluiceCore
import Testing

@testable import SluiceEndpoints

@Suite struct KafkaEndpointConfigurationTests {
    static let password = "S3cr3t-pw"
    static let plainJAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"\(password)\";"

    /// Validates as the definition validator does: normalise, both schemas, then the checks beyond
    /// them. Returns the configuration when there is no error, and every problem (errors and
    /// warnings) as text.
    static func validate(_ configuration: JSONValue, _ shared: JSONValue) -> (KafkaEndpointConfiguration?, errors: [String], warnings: [String]) {
        var problems = Problems()
        let configurationPath = DocumentPath.root + "configuration"
        let sharedPath = DocumentPath.root + "sharedConfigurationOverride"
        let normalised = KafkaEndpointConfiguration.schema.validate(configuration, at: configurationPath, problems: &problems) ?? [:]
        let sharedNormalised =
            KafkaEndpointConfiguration.sharedSchema.validate(
                KafkaEndpointConfiguration.normalize(sharedConfiguration: shared), at: sharedPath, problems: &problems) ?? [:]
        problems.append(contentsOf: KafkaEndpointConfiguration.problems(configuration: normalised, at: configurationPath))
        problems.append(contentsOf: KafkaEndpointConfiguration.problems(sharedConfiguration: sharedNormalised, at: sharedPath))
        let errors = problems.errors.map(\.description)
        let value = errors.isEmpty ? KafkaEndpointConfiguration(configuration: normalised, sharedConfiguration: sharedNormalised) : nil
        return (value, errors, problems.warnings.map(\.description))
    }

    static let servers: JSONValue = ["bootstrapServers": "localhost:9092"]

    @Test func defaultsFollowTheContract() throws {
        let (configuration, errors, warnings) = Self.validate(Self.servers, ["consumer": ["enabled": true, "topics": ["orders"]]])
        #expect(errors.isEmpty)
        #expect(warnings.isEmpty)
        let value = try #require(configuration)
        #expect(value.bootstrapServers == "localhost:9092")
        #expect(value.securityProtocol == .plaintext)
        #expect(value.saslMechanism == nil)
        #expect(value.jaas == nil)
        #expect(value.tls == nil)
        #expect(value.producer == nil)
        #expect(value.consumer == .init(topics: ["orders"], topicPattern: nil, encodeMessageId: true, autoOffsetReset: .latest))
        #expect(value.consumer?.subscription == ["orders"])
    }

    @Test func theSchemaAppliesDefaults() {
        var problems = Problems()
        let shared = KafkaEndpointConfiguration.sharedSchema.validate([:], at: .root, problems: &problems)
        #expect(shared?["security"]?["protocol"] == "PLAINTEXT")
        #expect(shared?["producer"]?["enabled"] == false)
        #expect(shared?["producer"]?["compressionType"] == "none")
        #expect(shared?["consumer"]?["enabled"] == false)
        #expect(shared?["consumer"]?["encodeMessageId"] == true)
        #expect(shared?["consumer"]?["autoOffsetReset"] == "latest")
        #expect(!problems.hasErrors)
    }

    @Test func producerAndConsumerOptionsAreRead() throws {
        let (configuration, errors, _) = Self.validate(
            ["bootstrapServers": "k1:9092, k2:9093"],
            [
                "producer": ["enabled": true, "topics": ["a", "b"], "compressionType": "ZSTD"],
                "consumer": ["enabled": true, "topicPattern": "orders-.*", "encodeMessageId": false, "autoOffsetReset": "earliest"],
            ])
        #expect(errors.isEmpty)
        let value = try #require(configuration)
        #expect(value.producer == .init(topics: ["a", "b"], compression: .zstd))
        #expect(value.consumer?.topics == [])
        #expect(value.consumer?.topicPattern == "orders-.*")
        #expect(value.consumer?.encodeMessageId == false)
        #expect(value.consumer?.autoOffsetReset == .earliest)
        #expect(value.consumer?.subscription == ["^(orders-.*)$"], "whole topic names match, as with Kafka's Java client")
    }

    @Test func topicsMayBeACommaSeparatedString() throws {
        let (configuration, errors, _) = Self.validate(
            Self.servers, ["consumer": ["enabled": true, "topics": "a, b,,c"], "producer": ["enabled": true, "topics": "out"]])
        #expect(errors.isEmpty)
        #expect(configuration?.consumer?.topics == ["a", "b", "c"])
        #expect(configuration?.producer?.topics == ["out"])
    }

    @Test func normalizationAcceptsOtherSpellings() throws {
        let shared: JSONValue = [
            "security": [
                "protocol": "sasl_ssl",
                "sasl": ["saslMechanism": "scram_sha_512", "saslJaasConfig": "org.apache.kafka.common.security.scram.ScramLoginModule required username=u password=p;"],
                "ssl": ["truststore": ["type": "pem", "location": "/ca.pem"], "KeyStore": ["type": "PKCS12", "location": "/client.p12", "password": "x"]],
            ],
            "consumer": ["enabled": true, "topics": "t"],
        ]
        let normalised = KafkaEndpointConfiguration.normalize(sharedConfiguration: shared)
        #expect(normalised["security"]?["protocol"] == "SASL_SSL")
        #expect(normalised["security"]?["sasl"]?["saslMechanism"] == "SCRAM-SHA-512")
        #expect(normalised["security"]?["ssl"]?["trustStore"]?["location"] == "/ca.pem")
        #expect(normalised["security"]?["ssl"]?["keyStore"]?["location"] == "/client.p12")
        #expect(normalised["security"]?["ssl"]?["truststore"] == nil)
        #expect(normalised["consumer"]?["topics"] == ["t"])

        let (configuration, errors, _) = Self.validate(Self.servers, shared)
        #expect(errors.isEmpty)
        let value = try #require(configuration)
        #expect(value.securityProtocol == .saslSSL)
        #expect(value.saslMechanism == .scramSHA512)
        #expect(value.jaas?.loginModule == .scram)
        #expect(value.tls?.trustStore?.type == .pem)
        #expect(value.tls?.trustStore?.source == .file("/ca.pem"))
        #expect(value.tls?.trustStore?.password == nil)
        #expect(value.tls?.keyStore == .bundle(type: .pkcs12, source: .file("/client.p12"), password: "x", keyPassword: nil))
        #expect(value.tls?.hostnameVerification == true)
    }

    @Test func everyProblemIsReportedWithItsPath() {
        let (_, errors, _) = Self.validate(
            ["bootstrapServers": "good:9092,nohost,:9092,h:0,h:70000,,[::1:9092,::1:9092,bad host:1"],
            [
                "security": ["protocol": "SASL_SSL", "ssl": ["trustStore": ["type": "JKS"], "keyStore": ["type": "PEM", "certificateChain": "-----BEGIN"]]],
                "producer": ["enabled": true, "topics": ["ok", "bad topic", "..", .string(String(repeating: "x", count: 250))], "compressionType": "brotli"],
                "consumer": ["enabled": true, "topics": [], "autoOffsetReset": "smallest", "encodeMessageId": "yes"],
            ])
        let shared = "sharedConfigurationOverride"
        #expect(
            errors.sorted() == [
                "configuration.bootstrapServers: server 2 ('nohost') needs a port: host:port",
                "configuration.bootstrapServers: server 3 (':9092') needs a host: host:port",
                "configuration.bootstrapServers: server 4 ('h:0') needs a port from 1 to 65535 after the ':'",
                "configuration.bootstrapServers: server 5 ('h:70000') needs a port from 1 to 65535 after the ':'",
                "configuration.bootstrapServers: server 6 ('') is empty (a stray comma?)",
                "configuration.bootstrapServers: server 7 ('[::1:9092') has a malformed IPv6 address: write [address]:port",
                "configuration.bootstrapServers: server 8 ('::1:9092') has an IPv6 address without brackets: write [address]:port",
                "configuration.bootstrapServers: server 9 ('bad host:1') has a host name with characters other than letters, digits, '.', '-' and '_'",
                "\(shared).consumer.autoOffsetReset: must be one of earliest, latest, none",
                "\(shared).consumer.encodeMessageId: must be true or false",
                "\(shared).consumer.topics: name one or more topics, or give a topicPattern",
                "\(shared).producer.compressionType: must be one of none, gzip, snappy, lz4, zstd",
                "\(shared).producer.topics[1]: must be a Kafka topic name: 1 to 249 characters among a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..'",
                "\(shared).producer.topics[2]: must be a Kafka topic name: 1 to 249 characters among a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..'",
                "\(shared).producer.topics[3]: must be a Kafka topic name: 1 to 249 characters among a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..'",
                "\(shared).security.sasl: is required",
                "\(shared).security.ssl.keyStore: a PEM key store needs the private key (location or key)",
                "\(shared).security.ssl.trustStore.password: is required for a JKS trust store",
                "\(shared).security.ssl.trustStore: a JKS trust store needs location or certificates",
            ])
    }

    @Test func aRoleMustBeEnabledAndComplete() {
        #expect(Self.validate(Self.servers, [:]).errors == ["sharedConfigurationOverride: enable the producer, the consumer or both"])
        #expect(
            Self.validate(Self.servers, ["producer": ["enabled": true], "consumer": ["enabled": false]]).errors == [
                "sharedConfigurationOverride.producer.topics: is required"
            ])
        #expect(
            Self.validate(Self.servers, ["producer": ["enabled": true, "topics": []]]).errors == [
                "sharedConfigurationOverride.producer.topics: must not be empty: name one or more topics"
            ])
        #expect(
            Self.validate(Self.servers, ["consumer": ["enabled": true]]).errors == [
                "sharedConfigurationOverride.consumer.topics: name one or more topics, or give a topicPattern"
            ])
        // A disabled role may be incomplete.
        #expect(Self.validate(Self.servers, ["producer": ["enabled": true, "topics": ["t"]], "consumer": ["enabled": false, "topics": []]]).errors.isEmpty)
    }

    @Test func theBootstrapServersAreRequired() {
        #expect(
            Self.validate([:], ["producer": ["enabled": true, "topics": ["t"]]]).errors == ["configuration.bootstrapServers: is required"])
        #expect(Self.validate(["bootstrapServers": "[::1]:9092,broker-1.example.com:9093"], ["producer": ["enabled": true, "topics": ["t"]]]).errors.isEmpty)
    }

    @Test func theTopicPatternMustCompile() {
        let (_, errors, _) = Self.validate(Self.servers, ["consumer": ["enabled": true, "topicPattern": "orders-(["]])
        #expect(errors == ["sharedConfigurationOverride.consumer.topicPattern: is not a valid regular expression"])
        let (_, perlErrors, warnings) = Self.validate(Self.servers, ["consumer": ["enabled": true, "topicPattern": "orders-\\d+"]])
        #expect(perlErrors.isEmpty)
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix("sharedConfigurationOverride.consumer.topicPattern: warning: uses \\d") == true)
    }

    @Test(arguments: [("orders", true), ("a.b_c-D9", true), (String(repeating: "x", count: 249), true), ("", false), (".", false), ("..", false), ("a b", false), ("ä", false), ("a/b", false)])
    func topicNames(name: String, valid: Bool) {
        #expect(KafkaEndpointConfiguration.isValidTopicName(name) == valid)
    }

    @Test func saslNeedsAMechanismAndAJAASLine() {
        let (_, errors, _) = Self.validate(Self.servers, ["security": ["protocol": "SASL_PLAINTEXT", "sasl": [:]], "producer": ["enabled": true, "topics": ["t"]]])
        #expect(
            errors.sorted() == [
                "sharedConfigurationOverride.security.sasl.saslJaasConfig: is required",
                "sharedConfigurationOverride.security.sasl.saslMechanism: is required",
            ])
    }

    @Test func theJAASLineMustParseWithoutShowingItsValues() {
        let line = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"\(Self.password)"
        let (_, errors, _) = Self.validate(
            Self.servers,
            ["security": ["protocol": "SASL_SSL", "sasl": ["saslMechanism": "PLAIN", "saslJaasConfig": .string(line)]], "producer": ["enabled": true, "topics": ["t"]]])
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("sharedConfigurationOverride.security.sasl.saslJaasConfig: at character 88: the quoted value of option password is not closed") == true)
        #expect(errors.allSatisfy { !$0.contains(Self.password) })
    }

    @Test(arguments: [
        (KafkaEndpointConfiguration.SASLMechanism.plain, "org.apache.kafka.common.security.scram.ScramLoginModule", "PLAIN needs the PlainLoginModule in saslJaasConfig, which has the ScramLoginModule (for SCRAM-SHA-256 or SCRAM-SHA-512)"),
        (.scramSHA256, "org.apache.kafka.common.security.plain.PlainLoginModule", "SCRAM-SHA-256 needs the ScramLoginModule in saslJaasConfig, which has the PlainLoginModule (for PLAIN)"),
        (.oauthBearer, "org.apache.kafka.common.security.plain.PlainLoginModule", "OAUTHBEARER needs the OAuthBearerLoginModule in saslJaasConfig, which has the PlainLoginModule (for PLAIN)"),
        (.gssapi, "org.apache.kafka.common.security.scram.ScramLoginModule", "GSSAPI needs the Krb5LoginModule in saslJaasConfig, which has the ScramLoginModule (for SCRAM-SHA-256 or SCRAM-SHA-512)"),
    ])
    func theMechanismMustMatchTheLoginModule(mechanism: KafkaEndpointConfiguration.SASLMechanism, module: String, message: String) {
        let (_, errors, _) = Self.validate(
            Self.servers,
            [
                "security": [
                    "protocol": "SASL_PLAINTEXT",
                    "sasl": ["saslMechanism": .string(mechanism.rawValue), "saslJaasConfig": .string("\(module) required username=u password=\"\(Self.password)\";")],
                ],
                "producer": ["enabled": true, "topics": ["t"]],
            ])
        #expect(errors == ["sharedConfigurationOverride.security.sasl.saslMechanism: \(message)"])
    }

    @Test func ignoredSettingsDrawWarnings() throws {
        let (configuration, errors, warnings) = Self.validate(
            Self.servers,
            [
                "security": [
                    "protocol": "PLAINTEXT", "sasl": ["saslMechanism": "PLAIN", "saslJaasConfig": .string(Self.plainJAAS)],
                    "ssl": ["trustStore": ["type": "PEM", "location": "/ca.pem"]],
                ],
                "producer": ["enabled": true, "topics": ["t"]],
            ])
        #expect(errors.isEmpty)
        #expect(
            warnings.sorted() == [
                "sharedConfigurationOverride.security.sasl: warning: is ignored with protocol PLAINTEXT; use SASL_PLAINTEXT or SASL_SSL to log in with it",
                "sharedConfigurationOverride.security.ssl: warning: is ignored with protocol PLAINTEXT: the connection is not encrypted; use SSL or SASL_SSL",
            ])
        let value = try #require(configuration)
        #expect(value.jaas == nil)
        #expect(value.tls == nil)

        let (_, _, jaasWarnings) = Self.validate(
            Self.servers,
            [
                "security": [
                    "protocol": "SASL_PLAINTEXT",
                    "sasl": ["saslMechanism": "PLAIN", "saslJaasConfig": "org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=p debug=true;"],
                ],
                "producer": ["enabled": true, "topics": ["t"]],
            ])
        #expect(jaasWarnings == ["sharedConfigurationOverride.security.sasl.saslJaasConfig: warning: librdkafka has no equivalent of the option debug of the PlainLoginModule; ignored"])
    }

    @Test func sslWithoutStoresUsesTheSystemsCertificates() throws {
        let (configuration, errors, _) = Self.validate(
            Self.servers, ["security": ["protocol": "SSL", "ssl": ["hostnameVerifier": false]], "consumer": ["enabled": true, "topics": ["t"]]])
        #expect(errors.isEmpty)
        let tls = try #require(configuration?.tls)
        #expect(tls.trustStore == nil)
        #expect(tls.keyStore == nil)
        #expect(tls.hostnameVerification == false)
    }

    @Test func kafkaStoresAreReadInTheKafkaSpelling() throws {
        let read = { (ssl: JSONValue) in TLSStores.read(ssl: ssl, spelling: .kafka) }
        #expect(read(["trustStore": ["type": "PEM", "certificates": "PEM"]]).trustStore?.source == .inline("PEM"))
        let jks = read(["trustStore": ["type": "JKS", "location": "/t.jks", "password": "p"]]).trustStore
        #expect(jks?.type == .jks)
        #expect(jks?.source == .file("/t.jks"))
        #expect(jks?.password == "p")
        #expect(read(["trustStore": ["type": "NONE", "location": "/t"]]).trustStore == nil)
        #expect(
            read(["keyStore": ["type": "PEM", "location": "/both.pem", "keyPassword": "k"]]).keyStore
                == .pem(certificateChain: .file("/both.pem"), key: .file("/both.pem"), keyPassword: "k"))
        #expect(
            read(["keyStore": ["type": "PEM", "certificateChain": "CHAIN", "key": "KEY"]]).keyStore
                == .pem(certificateChain: .inline("CHAIN"), key: .inline("KEY"), keyPassword: nil))
        #expect(
            read(["keyStore": ["type": "PKCS12", "content": "AAAA", "password": "p"]]).keyStore
                == .bundle(type: .pkcs12, source: .inline("AAAA"), password: "p", keyPassword: nil))
        // The MQTT/RabbitMQ members mean nothing in the Kafka spelling.
        #expect(read(["trustStore": ["type": "PEM", "path": "/ca.pem"]]).trustStore == nil)
        #expect(
            TLSStores.problems(in: ["keyStore": ["type": "JKS"]], spelling: .kafka, at: .root + "ssl").map(\.description) == [
                "ssl.keyStore: a JKS key store needs location or content", "ssl.keyStore.password: is required for a JKS key store",
            ])
        #expect(
            TLSStores.problems(in: ["keyStore": ["type": "PEM"]], spelling: .kafka, at: .root + "ssl").map(\.description) == [
                "ssl.keyStore: a PEM key store needs the certificate chain (location or certificateChain)",
                "ssl.keyStore: a PEM key store needs the private key (location or key)",
            ])
    }

    @Test func secretsAreWriteOnlyInTheSchema() {
        let json = KafkaEndpointConfiguration.sharedSchema.json
        let security = json["properties"]?["security"]?["properties"]
        #expect(security?["sasl"]?["properties"]?["saslJaasConfig"]?["writeOnly"] == true)
        let ssl = security?["ssl"]?["properties"]
        #expect(ssl?["trustStore"]?["properties"]?["password"]?["writeOnly"] == true)
        for secret in ["key", "keyPassword", "password", "content"] {
            #expect(ssl?["keyStore"]?["properties"]?[secret]?["writeOnly"] == true, "\(secret)")
        }
        #expect(ssl?["keyStore"]?["properties"]?["certificateChain"]?["writeOnly"] == nil)
        #expect(json["properties"]?["consumer"]?["properties"]?["autoOffsetReset"]?["enum"] == ["earliest", "latest", "none"])
        #expect(KafkaEndpointConfiguration.schema.json["required"] == ["bootstrapServers"])
    }
}
