import SluiceCore
import Testing

@testable import SluiceEndpoints

@Suite struct MQTT5EndpointConfigurationTests {
    static func validate(_ configuration: JSONValue, _ shared: JSONValue) -> (MQTT5EndpointConfiguration?, [String]) {
        var problems = Problems()
        let configurationPath = DocumentPath.root + "configuration"
        let sharedPath = DocumentPath.root + "sharedConfigurationOverride"
        let normalised = MQTT5EndpointConfiguration.schema.validate(configuration, at: configurationPath, problems: &problems) ?? [:]
        let sharedNormalised =
            MQTT5EndpointConfiguration.sharedSchema.validate(
                MQTT5EndpointConfiguration.normalize(sharedConfiguration: shared), at: sharedPath, problems: &problems) ?? [:]
        problems.append(contentsOf: MQTT5EndpointConfiguration.problems(sharedConfiguration: sharedNormalised, at: sharedPath))
        let messages = problems.errors.map(\.description)
        return (messages.isEmpty ? MQTT5EndpointConfiguration(configuration: normalised, sharedConfiguration: sharedNormalised) : nil, messages)
    }

    @Test func defaultsFollowTheContract() throws {
        let (configuration, problems) = Self.validate(["serverHost": "localhost", "serverPort": "1883"], ["consumer": ["enabled": true, "topic": "sensors/#"]])
        #expect(problems.isEmpty)
        let value = try #require(configuration)
        #expect(value.serverPort == 1883)
        #expect(value.reconnectAttempts == 3)
        #expect(value.sessionExpiryInterval == 86_400)
        #expect(value.cleanStart == false)
        #expect(value.tls == nil)
        #expect(value.producer == nil)
        #expect(value.sharedSubscription(clientIdentifier: "abc") == "$share/abc/sensors/#")
    }

    @Test func producerOptionsAreRead() throws {
        let (configuration, _) = Self.validate(
            ["serverHost": "h", "serverPort": 1883],
            [
                "reconnectAttempt": 5, "sessionExpiryInterval": -1, "cleanStart": true,
                "security": ["auth": ["username": "u", "password": "p"]],
                "producer": ["enabled": true, "topic": "out", "retained": true, "messageExpiryInterval": 30, "responseTopic": "replies"],
            ])
        let value = try #require(configuration)
        #expect(value.reconnectAttempts == 5, "reconnectAttempt is accepted for reconnectAttempts")
        #expect(value.sessionExpiryInterval == nil)
        #expect(value.cleanStart)
        #expect(value.username == "u")
        #expect(value.producer == .init(topic: "out", retained: true, messageExpiryInterval: 30, responseTopic: "replies"))
    }

    @Test func everyProblemIsReportedWithItsPath() {
        let (_, problems) = Self.validate(
            ["serverPort": "eighty"],
            [
                "reconnectAttempts": 11, "consumer": ["enabled": true], "producer": ["enabled": true, "topic": "a/+/b"],
                "security": ["ssl": ["trustStore": ["type": "PEM"]]],
            ])
        #expect(
            problems.sorted() == [
                "configuration.serverHost: is required",
                "configuration.serverPort: must be an integer between 1 and 65535",
                "sharedConfigurationOverride.consumer.topic: is required",
                "sharedConfigurationOverride.producer.topic: must be a topic name, without the wildcards + and #",
                "sharedConfigurationOverride.reconnectAttempts: must be an integer between 0 and 10",
                "sharedConfigurationOverride.security.ssl.trustStore: a PEM trust store needs path or content",
            ])
    }

    @Test func aRoleMustBeEnabled() {
        let (_, problems) = Self.validate(["serverHost": "h", "serverPort": 1], [:])
        #expect(problems == ["sharedConfigurationOverride: enable the producer, the consumer or both"])
    }

    @Test(arguments: [("a/b", true), ("a/+/c", true), ("#", true), ("a/#", true), ("+", true), ("a/#/b", false), ("a+/b", false), ("a/b#", false), ("", false)])
    func topicFilters(filter: String, valid: Bool) {
        #expect(MQTT5EndpointConfiguration.isValidFilter(filter) == valid)
    }

    @Test func storesTurnTLSOn() throws {
        let (configuration, problems) = Self.validate(
            ["serverHost": "h", "serverPort": 8883],
            ["consumer": ["enabled": true, "topic": "t"], "security": ["ssl": ["hostnameVerifier": false, "trustStore": ["type": "PEM", "path": "/ca.pem"]]]])
        #expect(problems.isEmpty)
        let tls = try #require(configuration?.tls)
        #expect(tls.hostnameVerification == false)
        #expect(tls.trustStore?.source == .file("/ca.pem"))
    }

    @Test func secretsAreWriteOnlyInTheSchema() {
        let json = MQTT5EndpointConfiguration.sharedSchema.json
        #expect(json["properties"]?["security"]?["properties"]?["auth"]?["properties"]?["password"]?["writeOnly"] == true)
        #expect(json["properties"]?["reconnectAttempts"]?["maximum"] == 10)
    }
}
