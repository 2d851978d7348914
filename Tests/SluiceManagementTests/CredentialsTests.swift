import Foundation
import SluiceCore
import SluiceGateway
import Testing

@testable import SluiceManagement

@Suite struct CredentialsTests {
    @Test func passwordHashVerifiesOnlyTheRightPassword() throws {
        let hash = try PasswordHash.make("correct horse", rounds: 1000)
        #expect(hash.hasPrefix("pbkdf2-sha256$1000$"))
        #expect(!hash.contains("correct horse"))
        #expect(PasswordHash.verify("correct horse", against: hash))
        #expect(!PasswordHash.verify("correct horsf", against: hash))
        #expect(!PasswordHash.verify("", against: hash))
        // Two hashes of one password differ (random salt).
        #expect(try PasswordHash.make("correct horse", rounds: 1000) != hash)
    }

    @Test(arguments: ["", "plain", "pbkdf2-sha256$10$c2FsdA==$aGFzaA==", "pbkdf2-sha256$1000$!!$aGFzaA==", "md5$1000$c2FsdA==$aGFzaA=="])
    func malformedHashesMatchNothing(_ stored: String) {
        #expect(!PasswordHash.verify("anything", against: stored))
    }

    @Test func generatedPasswordsAreLongAndDiffer() {
        let first = PasswordHash.randomPassword()
        #expect(first.count == 24)
        #expect(first != PasswordHash.randomPassword())
    }

    @Test func tokensCarryTheirSubjectUntilTheyExpire() {
        let tokens = BearerTokens(key: BearerTokens.makeKey(), lifetime: .seconds(60))
        let now = Date()
        let token = tokens.issue(subject: "admin", now: now)
        #expect(token.split(separator: ".").count == 3)
        #expect(tokens.subject(of: token, now: now) == "admin")
        #expect(tokens.subject(of: token, now: now.addingTimeInterval(59)) == "admin")
        #expect(tokens.subject(of: token, now: now.addingTimeInterval(61)) == nil)
    }

    @Test func forgedTokensAreRefused() {
        let tokens = BearerTokens(key: BearerTokens.makeKey())
        let token = tokens.issue(subject: "admin")
        let parts = token.split(separator: ".").map(String.init)
        // Another key.
        #expect(BearerTokens(key: BearerTokens.makeKey()).subject(of: token) == nil)
        // A changed payload with the old signature.
        let claims = BearerTokens.base64URL(Data(#"{"sub":"root","iat":0,"exp":99999999999}"#.utf8))
        #expect(tokens.subject(of: "\(parts[0]).\(claims).\(parts[2])") == nil)
        // alg none, no signature.
        let none = BearerTokens.base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8))
        #expect(tokens.subject(of: "\(none).\(parts[1]).") == nil)
        // Garbage.
        for text in ["", "a.b", "a.b.c", "...", token + "x"] { #expect(tokens.subject(of: text) == nil) }
    }
}

@Suite struct DefinitionSecretsTests {
    let catalog = GatewayCatalog.standard

    static let kafka: JSONValue = [
        "id": "orders", "name": "orders",
        "listeners": [["type": "http", "paths": [["path": "/orders"]], "entrypoints": [["type": "http-post", "qos": "auto"]]]],
        "endpointGroups": [
            [
                "name": "kafka", "type": "kafka",
                "sharedConfiguration": [
                    "security": [
                        "protocol": "SASL_SSL",
                        "sasl": [
                            "saslMechanism": "PLAIN",
                            "saslJaasConfig": "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"s3cret\";",
                        ],
                        "ssl": ["trustStore": ["type": "PKCS12", "certificates": "AAAA", "password": "trust-pass"]],
                    ],
                    "producer": ["enabled": true, "topics": ["orders"]],
                ],
                "endpoints": [["name": "broker", "type": "kafka", "configuration": ["bootstrapServers": "127.0.0.1:9092"]]],
            ]
        ],
    ]

    @Test func everySecretIsMaskedAndNothingElse() {
        let masked = catalog.maskingSecrets(in: Self.kafka)
        let security = masked["endpointGroups"]?.arrayValue?.first?["sharedConfiguration"]?["security"]
        #expect(security?["sasl"]?["saslJaasConfig"] == .string(JSONSchema.secretMask))
        #expect(security?["ssl"]?["trustStore"]?["password"] == .string(JSONSchema.secretMask))
        #expect(security?["ssl"]?["trustStore"]?["type"] == "PKCS12")
        #expect(security?["sasl"]?["saslMechanism"] == "PLAIN")
        #expect(
            masked["endpointGroups"]?.arrayValue?.first?["endpoints"]?.arrayValue?.first?["configuration"]?["bootstrapServers"] == "127.0.0.1:9092")
        let text = JSONWriter.string(masked)
        #expect(!text.contains("s3cret"))
        #expect(!text.contains("trust-pass"))
    }

    @Test func masksSentBackKeepTheStoredSecrets() {
        let masked = catalog.maskingSecrets(in: Self.kafka)
        let (restored, problems) = catalog.restoringSecrets(in: masked, from: Self.kafka)
        #expect(problems.isEmpty)
        #expect(restored == Self.kafka)
    }

    @Test func aNewSecretReplacesTheStoredOne() throws {
        var text = JSONWriter.string(catalog.maskingSecrets(in: Self.kafka))
        text = text.replacingOccurrences(of: "\"password\":\"\(JSONSchema.secretMask)\"", with: "\"password\":\"new-pass\"")
        let (restored, problems) = catalog.restoringSecrets(in: try JSONParser.parse(text), from: Self.kafka)
        #expect(problems.isEmpty)
        let security = restored["endpointGroups"]?.arrayValue?.first?["sharedConfiguration"]?["security"]
        #expect(security?["ssl"]?["trustStore"]?["password"] == "new-pass")
        #expect(security?["sasl"]?["saslJaasConfig"]?.stringValue?.contains("s3cret") == true)
    }

    @Test func aMaskWithNothingStoredIsAProblem() {
        let (_, problems) = catalog.restoringSecrets(in: catalog.maskingSecrets(in: Self.kafka), from: nil)
        #expect(
            problems.map(\.path.description).sorted() == [
                "endpointGroups[0].sharedConfiguration.security.sasl.saslJaasConfig",
                "endpointGroups[0].sharedConfiguration.security.ssl.trustStore.password",
            ])
    }
}

extension DefinitionSecretsTests {
    /// An endpoint's `sharedConfigurationOverride` has the group's shared schema: its secrets are
    /// masked and restored too; a renamed group or endpoint keeps its secrets by place.
    @Test func overridesAndRenamedPartsKeepTheirSecrets() throws {
        var text = JSONWriter.string(Self.kafka)
        text = text.replacingOccurrences(
            of: #""configuration":{"bootstrapServers":"127.0.0.1:9092"}"#,
            with: #""configuration":{"bootstrapServers":"127.0.0.1:9092"},"sharedConfigurationOverride":{"security":{"ssl":{"keyStore":{"type":"PEM","key":"PRIVATE-KEY"}}}}"#)
        let stored = try JSONParser.parse(text)
        let masked = catalog.maskingSecrets(in: stored)
        #expect(!JSONWriter.string(masked).contains("PRIVATE-KEY"))
        let renamed = try JSONParser.parse(
            JSONWriter.string(masked).replacingOccurrences(of: #""name":"kafka""#, with: #""name":"kafka-2""#)
                .replacingOccurrences(of: #""name":"broker""#, with: #""name":"broker-2""#))
        let (restored, problems) = catalog.restoringSecrets(in: renamed, from: stored)
        #expect(problems.isEmpty)
        #expect(JSONWriter.string(restored).contains("PRIVATE-KEY"))
        #expect(JSONWriter.string(restored).contains("s3cret"))
    }
}
