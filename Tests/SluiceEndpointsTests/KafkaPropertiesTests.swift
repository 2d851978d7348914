import Foundation
import SluiceCore
import Testing

@testable import SluiceEndpoints

/// The librdkafka properties of every security protocol, SASL mechanism, store type and store
/// source, against real stores made by openssl and keytool (``KeyStoreFixtures``).
@Suite struct KafkaPropertiesTests {
    static let storePassword = "secret"  // default.p12, trust.p12 (KeyStoreFixtures)
    static let jksPassword = "changeit"  // keytool.jks, trust.jks (KeyStoreFixtures)
    static let keyPassword = "key-s3cret"
    static let saslPassword = "S3cr3t-pw"
    static let wrongPassword = "not-the-Pa55word"

    /// The fixtures plus PEM files in the Kafka layout: the key and its chain in one file.
    struct Material: Sendable {
        let fixtures: KeyStoreFixtures

        private static let creation = Task {
            let fixtures = try await KeyStoreFixtures.get()
            return try await KeyStoreFixtures.onThread {
                _ = try fixtures.shell("cat leaf.key leaf.pem ca.pem > kafka-client.pem")
                _ = try fixtures.shell(
                    "openssl pkey -in leaf.key -aes256 -passout pass:\(keyPassword) -out kafka-leaf-encrypted.key && cat kafka-leaf-encrypted.key leaf.pem ca.pem > kafka-client-encrypted.pem"
                )
                _ = try fixtures.shell("head -c 200 default.p12 > kafka-truncated.p12 && echo 'no certificate here' > kafka-empty.pem")
                return Material(fixtures: fixtures)
            }
        }

        static func get() async throws -> Material { try await creation.value }

        func path(_ name: String) -> JSONValue { .string(fixtures.directory + "/" + name) }
        func text(_ name: String) throws -> String { String(decoding: try fixtures.bytes(name), as: UTF8.self) }
        func base64(_ name: String) throws -> JSONValue { .string(Data(try fixtures.bytes(name)).base64EncodedString()) }
    }

    /// A configuration that passed validation, with a consumer of topic `t`.
    static func configuration(_ security: JSONValue) throws -> KafkaEndpointConfiguration {
        let (configuration, errors, _) = KafkaEndpointConfigurationTests.validate(
            ["bootstrapServers": "k1:9092,k2:9092"],
            ["security": security, "consumer": ["enabled": true, "topics": ["t"]], "producer": ["enabled": true, "topics": ["t"], "compressionType": "lz4"]])
        #expect(errors.isEmpty)
        return try #require(configuration)
    }

    static func common(_ security: JSONValue) throws -> [String: String] {
        let properties = try KafkaProperties.common(try configuration(security))
        expectSecretsAreNamed(properties)
        return properties
    }

    /// Refused with `configurationInvalid`; returns the detail.
    static func failure(_ security: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let configuration = try configuration(security)
        do {
            _ = try KafkaProperties.common(configuration)
            Issue.record("expected configurationInvalid", sourceLocation: sourceLocation)
            return ""
        } catch {
            #expect(error.code == .endpointConfigurationInvalid, sourceLocation: sourceLocation)
            for secret in [storePassword, jksPassword, keyPassword, saslPassword, wrongPassword] {
                #expect(!error.description.contains(secret), "no secret in \(error.description)", sourceLocation: sourceLocation)
            }
            return error.detail ?? ""
        }
    }

    /// Every property holding one of the test secrets is in `secretNames`.
    static func expectSecretsAreNamed(_ properties: [String: String], sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, value) in properties where [storePassword, jksPassword, keyPassword, saslPassword].contains(where: value.contains) || value.contains("PRIVATE KEY") {
            #expect(KafkaProperties.secretNames.contains(name), "\(name) holds a secret", sourceLocation: sourceLocation)
        }
        for (name, value) in KafkaProperties.redacted(properties) where KafkaProperties.secretNames.contains(name) {
            #expect(value == "<redacted>", sourceLocation: sourceLocation)
        }
    }

    static func certificateCount(_ pem: String?) -> Int {
        (pem ?? "").components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
    }

    // MARK: Protocols and mechanisms

    @Test func plaintextIsServersAndProtocolOnly() throws {
        #expect(try Self.common([:]) == ["bootstrap.servers": "k1:9092,k2:9092", "security.protocol": "plaintext", "statistics.interval.ms": "15000"])
    }

    static let mechanisms: [(mechanism: String, jaas: String, expected: [String: String])] = [
        (
            "PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"\(saslPassword)\";",
            ["sasl.username": "u", "sasl.password": saslPassword]
        ),
        (
            "SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"\(saslPassword)\";",
            ["sasl.username": "u", "sasl.password": saslPassword]
        ),
        (
            "SCRAM-SHA-512", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"\(saslPassword)\";",
            ["sasl.username": "u", "sasl.password": saslPassword]
        ),
        (
            "OAUTHBEARER", "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";",
            ["enable.sasl.oauthbearer.unsecure.jwt": "true", "sasl.oauthbearer.config": "principal=alice"]
        ),
        (
            "OAUTHBEARER",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=c clientSecret=\"\(saslPassword)\" tokenEndpointUrl=\"https://idp/token\";",
            [
                "sasl.oauthbearer.method": "oidc", "sasl.oauthbearer.client.id": "c", "sasl.oauthbearer.client.secret": saslPassword,
                "sasl.oauthbearer.token.endpoint.url": "https://idp/token",
            ]
        ),
        (
            "GSSAPI", "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k.keytab\" principal=\"s@R\";",
            ["sasl.kerberos.principal": "s@R", "sasl.kerberos.keytab": "/k.keytab", "sasl.kerberos.service.name": "kafka"]
        ),
    ]

    @Test(arguments: mechanisms)
    func saslPlaintextMapsEveryMechanism(mechanism: String, jaas: String, expected: [String: String]) throws {
        let properties = try Self.common(["protocol": "SASL_PLAINTEXT", "sasl": ["saslMechanism": .string(mechanism), "saslJaasConfig": .string(jaas)]])
        var all = expected
        all["bootstrap.servers"] = "k1:9092,k2:9092"
        all["security.protocol"] = "sasl_plaintext"
        all["sasl.mechanisms"] = mechanism
        all["statistics.interval.ms"] = "15000"
        #expect(properties == all)
    }

    @Test func sslWithoutStoresTrustsTheSystemAndVerifiesHostnames() throws {
        let properties = try Self.common(["protocol": "SSL"])
        #expect(properties == ["bootstrap.servers": "k1:9092,k2:9092", "security.protocol": "ssl", "statistics.interval.ms": "15000", "ssl.endpoint.identification.algorithm": "https"])
        #expect(try Self.common(["protocol": "SSL", "ssl": ["hostnameVerifier": false]])["ssl.endpoint.identification.algorithm"] == "none")
    }

    @Test func saslSSLHasBoth() async throws {
        let material = try await Material.get()
        let properties = try Self.common([
            "protocol": "SASL_SSL",
            "sasl": ["saslMechanism": "SCRAM-SHA-512", "saslJaasConfig": .string(Self.mechanisms[2].jaas)],
            "ssl": ["trustStore": ["type": "PEM", "location": material.path("ca.pem")]],
        ])
        #expect(properties["security.protocol"] == "sasl_ssl")
        #expect(properties["sasl.mechanisms"] == "SCRAM-SHA-512")
        #expect(properties["sasl.password"] == Self.saslPassword)
        #expect(properties["ssl.ca.location"] == material.path("ca.pem").stringValue)
        #expect(properties["ssl.endpoint.identification.algorithm"] == "https")
    }

    // MARK: Trust stores

    @Test func pemTrustStoreByLocationAndInline() async throws {
        let material = try await Material.get()
        let byLocation = try Self.common(["protocol": "SSL", "ssl": ["trustStore": ["type": "PEM", "location": material.path("ca.pem")]]])
        #expect(byLocation["ssl.ca.location"] == material.path("ca.pem").stringValue)
        #expect(byLocation["ssl.ca.pem"] == nil)
        let pem = try material.text("ca.pem")
        let inline = try Self.common(["protocol": "SSL", "ssl": ["trustStore": ["type": "PEM", "certificates": .string(pem)]]])
        #expect(inline["ssl.ca.pem"] == pem)
        #expect(inline["ssl.ca.location"] == nil)
    }

    @Test(arguments: [("JKS", "trust.jks", jksPassword, 2), ("PKCS12", "trust.p12", storePassword, 1), ("PKCS12", "keytool-trust.p12", jksPassword, 2)])
    func jksAndPKCS12TrustStoresBecomePEM(type: String, file: String, password: String, certificates: Int) async throws {
        let material = try await Material.get()
        let byLocation = try Self.common(
            ["protocol": "SSL", "ssl": ["trustStore": ["type": .string(type), "location": material.path(file), "password": .string(password)]]])
        #expect(Self.certificateCount(byLocation["ssl.ca.pem"]) == certificates)
        #expect(byLocation["ssl.ca.location"] == nil)
        let inline = try Self.common(
            ["protocol": "SSL", "ssl": ["trustStore": ["type": .string(type), "certificates": try material.base64(file), "password": .string(password)]]])
        #expect(inline["ssl.ca.pem"] == byLocation["ssl.ca.pem"])
    }

    // MARK: Key stores

    @Test func pemKeyStoreByLocationIsOneFileForKeyAndChain() async throws {
        let material = try await Material.get()
        let plain = try Self.common(["protocol": "SSL", "ssl": ["keyStore": ["type": "PEM", "location": material.path("kafka-client.pem")]]])
        #expect(plain["ssl.certificate.location"] == material.path("kafka-client.pem").stringValue)
        #expect(plain["ssl.key.location"] == material.path("kafka-client.pem").stringValue)
        #expect(plain["ssl.key.password"] == nil)

        let encrypted = try Self.common(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": "PEM", "location": material.path("kafka-client-encrypted.pem"), "keyPassword": .string(Self.keyPassword)]]])
        #expect(encrypted["ssl.key.location"] == material.path("kafka-client-encrypted.pem").stringValue)
        #expect(encrypted["ssl.key.password"] == Self.keyPassword)
    }

    @Test func pemKeyStoreInline() async throws {
        let material = try await Material.get()
        let chain = try material.text("leaf.pem") + material.text("ca.pem")
        let key = try material.text("kafka-leaf-encrypted.key")
        let properties = try Self.common([
            "protocol": "SSL",
            "ssl": ["keyStore": ["type": "PEM", "certificateChain": .string(chain), "key": .string(key), "keyPassword": .string(Self.keyPassword)]],
        ])
        #expect(properties["ssl.certificate.pem"] == chain)
        #expect(properties["ssl.key.pem"] == key)
        #expect(properties["ssl.key.password"] == Self.keyPassword)
        #expect(properties["ssl.certificate.location"] == nil)
        // The chain inline, the key from the location file.
        let mixed = try Self.common([
            "protocol": "SSL", "ssl": ["keyStore": ["type": "PEM", "certificateChain": .string(chain), "location": material.path("kafka-client.pem")]],
        ])
        #expect(mixed["ssl.certificate.pem"] == chain)
        #expect(mixed["ssl.key.location"] == material.path("kafka-client.pem").stringValue)
    }

    @Test(arguments: [("JKS", "keytool.jks", jksPassword, 1), ("JKS", "imported.jks", jksPassword, 2), ("PKCS12", "default.p12", storePassword, 2)])
    func jksAndPKCS12KeyStoresBecomePEM(type: String, file: String, password: String, chainLength: Int) async throws {
        let material = try await Material.get()
        let byLocation = try Self.common(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": .string(type), "location": material.path(file), "password": .string(password)]]])
        #expect(Self.certificateCount(byLocation["ssl.certificate.pem"]) == chainLength)
        #expect(byLocation["ssl.key.pem"]?.hasPrefix("-----BEGIN PRIVATE KEY-----\n") == true)
        #expect(byLocation["ssl.key.location"] == nil)
        #expect(byLocation["ssl.keystore.location"] == nil, "librdkafka never reads the store itself")
        let inline = try Self.common(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": .string(type), "content": try material.base64(file), "password": .string(password)]]])
        #expect(inline["ssl.certificate.pem"] == byLocation["ssl.certificate.pem"])
        #expect(inline["ssl.key.pem"] == byLocation["ssl.key.pem"])
    }

    @Test func pkcs12KeyMatchesTheOpenSSLKey() async throws {
        let material = try await Material.get()
        let properties = try Self.common(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": "PKCS12", "location": material.path("default.p12"), "password": .string(Self.storePassword)]]])
        let der = try material.fixtures.bytes("leaf.key.der")
        #expect(properties["ssl.key.pem"] == KeyStorePEM.encode(der, label: "PRIVATE KEY"))
        #expect(properties["ssl.certificate.pem"]?.hasPrefix(try material.text("leaf.pem")) == true, "leaf first")
    }

    // MARK: Store errors

    @Test func wrongStorePasswordsAreClearErrors() async throws {
        let material = try await Material.get()
        let keyStore = try Self.failure(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": "PKCS12", "location": material.path("default.p12"), "password": .string(Self.wrongPassword)]]])
        #expect(keyStore.hasPrefix("security.ssl.keyStore: the PKCS12 key store \(material.fixtures.directory)/default.p12 cannot be read: key store password is incorrect"))
        let trustStore = try Self.failure(
            ["protocol": "SSL", "ssl": ["trustStore": ["type": "JKS", "certificates": try material.base64("trust.jks"), "password": .string(Self.wrongPassword)]]])
        #expect(trustStore.hasPrefix("security.ssl.trustStore: the JKS trust store (inline) cannot be read: key store password is incorrect"))
        let pemKey = try Self.failure(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": "PEM", "location": material.path("kafka-client-encrypted.pem"), "keyPassword": .string(Self.wrongPassword)]]])
        #expect(pemKey.contains("security.ssl.keyStore: the PEM private key"))
        #expect(pemKey.contains("wrong key password"))
    }

    @Test func corruptStoresAreClearErrors() async throws {
        let material = try await Material.get()
        let truncated = try Self.failure(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": "PKCS12", "location": material.path("kafka-truncated.p12"), "password": .string(Self.storePassword)]]])
        #expect(truncated.hasPrefix("security.ssl.keyStore: the PKCS12 key store"))
        #expect(truncated.contains("malformed key store"))
        let notBase64 = try Self.failure(["protocol": "SSL", "ssl": ["trustStore": ["type": "PKCS12", "certificates": "%%%", "password": "x"]]])
        #expect(notBase64.contains("security.ssl.trustStore"))
        let noCertificate = try Self.failure(["protocol": "SSL", "ssl": ["trustStore": ["type": "PEM", "location": material.path("kafka-empty.pem")]]])
        #expect(noCertificate.hasPrefix("security.ssl.trustStore: the PEM trust store"))
        #expect(noCertificate.hasSuffix("holds no certificate"))
        let noKey = try Self.failure(
            ["protocol": "SSL", "ssl": ["keyStore": ["type": "PKCS12", "location": material.path("trust.p12"), "password": .string(Self.storePassword)]]])
        #expect(noKey.hasSuffix("holds no private key with its certificate"))
    }

    @Test func missingFilesAreClearErrors() throws {
        let missing: JSONValue = "/nonexistent/sluice/store"
        for ssl: JSONValue in [
            ["trustStore": ["type": "PEM", "location": missing]],
            ["trustStore": ["type": "JKS", "location": missing, "password": .string(Self.jksPassword)]],
            ["keyStore": ["type": "PEM", "location": missing]],
            ["keyStore": ["type": "PKCS12", "location": missing, "password": .string(Self.storePassword)]],
        ] {
            let detail = try Self.failure(["protocol": "SASL_SSL", "sasl": ["saslMechanism": "PLAIN", "saslJaasConfig": .string(Self.mechanisms[0].jaas)], "ssl": ssl])
            #expect(detail.hasPrefix("security.ssl.\(ssl.objectValue?.keys.first ?? "")"), "\(detail)")
            // NIOSSLStores says "cannot be read" for files, and for a PEM chain that it holds no certificate.
            #expect(detail.contains("/nonexistent/sluice/store cannot be read") || detail.contains("/nonexistent/sluice/store holds no certificate"), "\(detail)")
        }
    }

    // MARK: Producer and consumer

    @Test func producerSettings() throws {
        let properties = try KafkaProperties.producer(try Self.configuration([:]))
        #expect(
            properties == [
                "bootstrap.servers": "k1:9092,k2:9092", "security.protocol": "plaintext", "statistics.interval.ms": "15000",
                "acks": "all", "enable.idempotence": "false", "max.in.flight.requests.per.connection": "5", "linger.ms": "1", "compression.type": "lz4", "message.timeout.ms": "30000",
            ])
    }

    @Test func consumerSettings() throws {
        let properties = try KafkaProperties.consumer(try Self.configuration([:]), groupId: "client-1", autoCommit: true)
        #expect(
            properties == [
                "bootstrap.servers": "k1:9092,k2:9092", "security.protocol": "plaintext", "statistics.interval.ms": "15000",
                "group.id": "client-1", "auto.offset.reset": "latest", "enable.auto.commit": "true", "auto.commit.interval.ms": "1000",
                "enable.auto.offset.store": "false", "session.timeout.ms": "6000", "heartbeat.interval.ms": "1500",
                "enable.partition.eof": "false", "queued.min.messages": "1000", "queued.max.messages.kbytes": "4096",
            ])
    }

    @Test(arguments: [("earliest", "earliest", false), ("latest", "latest", true), ("none", "error", false)])
    func autoOffsetResetAndCommit(configured: String, librdkafka: String, autoCommit: Bool) throws {
        let (configuration, errors, _) = KafkaEndpointConfigurationTests.validate(
            ["bootstrapServers": "k:9092"], ["consumer": ["enabled": true, "topics": ["t"], "autoOffsetReset": .string(configured)]])
        #expect(errors.isEmpty)
        let properties = try KafkaProperties.consumer(try #require(configuration), groupId: "g", autoCommit: autoCommit)
        #expect(properties["auto.offset.reset"] == librdkafka)
        #expect(properties["enable.auto.commit"] == (autoCommit ? "true" : "false"))
    }

    @Test func secretsAreRedacted() throws {
        let properties = try Self.common(["protocol": "SASL_PLAINTEXT", "sasl": ["saslMechanism": "PLAIN", "saslJaasConfig": .string(Self.mechanisms[0].jaas)]])
        let redacted = KafkaProperties.redacted(properties)
        #expect(redacted["sasl.password"] == "<redacted>")
        #expect(redacted["sasl.username"] == "u")
        #expect(!redacted.values.contains { $0.contains(Self.saslPassword) })
    }
}
