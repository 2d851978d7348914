import SluiceCore
import Testing
@testable import SluiceEntrypoints

private func validated(_ schema: JSONSchema, _ value: JSONValue) -> (value: JSONValue?, problems: [String]) {
    var problems = Problems()
    let result = schema.validate(value, at: DocumentPath.root + "configuration", problems: &problems)
    return (result, problems.all.map(\.description))
}

@Suite("EntrypointTypes")
struct EntrypointTypesTests {
    @Test func allTypes() {
        #expect(EntrypointTypes.all.map(\.type) == ["http-get", "http-post", "sse", "websocket"])
        #expect(EntrypointTypes.all.allSatisfy { $0.listenerType == .http })
        #expect(EntrypointTypes.httpGet.title == "HTTP GET")
        #expect(EntrypointTypes.sse.title == "Server-Sent Events")
    }

    @Test func supportedQoSPerContract() {
        #expect(EntrypointTypes.httpGet.supportedQoS == [.auto, .atMostOnce, .atLeastOnce])
        #expect(EntrypointTypes.httpPost.supportedQoS == [.none, .auto])
        #expect(EntrypointTypes.sse.supportedQoS == [.none, .auto, .atMostOnce, .atLeastOnce])
        #expect(EntrypointTypes.webSocket.supportedQoS == [.none, .auto])
    }

    @Test(arguments: [EntrypointTypes.httpGet, EntrypointTypes.sse])
    func getAndSSENeedRecoverForAtMostAndAtLeastOnce(descriptor: EntrypointDescriptor) {
        #expect(descriptor.requirements(.none) == [])
        #expect(descriptor.requirements(.auto) == [])
        #expect(descriptor.requirements(.atMostOnce) == .recover)
        #expect(descriptor.requirements(.atLeastOnce) == .recover)
    }

    @Test(arguments: [EntrypointTypes.httpPost, EntrypointTypes.webSocket])
    func postAndWebSocketNeedNothing(descriptor: EntrypointDescriptor) {
        for qos in QoS.allCases {
            #expect(descriptor.requirements(qos) == [])
        }
    }

    @Test func capabilitiesDescription() {
        #expect(ConnectorCapabilities.recover.description == "recover")
        #expect(ConnectorCapabilities([.autoAck, .manualAck, .recover]).description == "auto-ack, manual-ack, recover")
        #expect(ConnectorCapabilities([]).description == "")
    }

    @Test func modes() {
        #expect(EntrypointTypes.httpGet.modes([:]) == .subscribe)
        #expect(EntrypointTypes.httpPost.modes([:]) == .publish)
        #expect(EntrypointTypes.sse.modes([:]) == .subscribe)
    }

    @Test func webSocketModesFollowThePublisherAndSubscriberSwitches() {
        let modes = EntrypointTypes.webSocket.modes
        #expect(modes([:]) == [.publish, .subscribe])
        #expect(modes(["publisher": ["enabled": true], "subscriber": ["enabled": true]]) == [.publish, .subscribe])
        #expect(modes(["publisher": ["enabled": false]]) == .subscribe)
        #expect(modes(["subscriber": ["enabled": false]]) == .publish)
        #expect(modes(["publisher": ["enabled": false], "subscriber": ["enabled": false]]) == [])
    }

    @Test func webSocketModesFromTheValidatedDefaults() {
        let (configuration, problems) = validated(EntrypointTypes.webSocket.configurationSchema, ["subscriber": ["enabled": false]])
        #expect(problems == [])
        #expect(configuration == ["publisher": ["enabled": true], "subscriber": ["enabled": false]])
        #expect(EntrypointTypes.webSocket.modes(configuration ?? [:]) == .publish)
    }

    // MARK: Schemas and their defaults

    @Test func httpGetDefaults() {
        let (value, problems) = validated(HTTPGetConfiguration.schema, [:])
        #expect(problems == [])
        #expect(value == ["messagesLimitCount": 500, "messagesLimitDurationMs": 5000, "headersInPayload": false, "metadataInPayload": false])
        let configuration = HTTPGetConfiguration(value ?? [:])
        #expect(configuration.messagesLimitCount == 500)
        #expect(configuration.messagesLimitDuration == .milliseconds(5000))
        #expect(configuration.headersInPayload == false)
        #expect(configuration.metadataInPayload == false)
        #expect(EntrypointTypes.httpGet.configurationSchema.json == HTTPGetConfiguration.schema.json)
    }

    @Test func httpGetLimits() {
        let (_, problems) = validated(HTTPGetConfiguration.schema, ["messagesLimitCount": 0, "messagesLimitDurationMs": "soon", "headersInPayload": "yes"])
        #expect(
            problems == [
                "configuration.messagesLimitCount: must be an integer >= 1",
                "configuration.messagesLimitDurationMs: must be an integer >= 1",
                "configuration.headersInPayload: must be true or false",
            ])
        let configuration = HTTPGetConfiguration(["messagesLimitCount": 10, "messagesLimitDurationMs": 250, "headersInPayload": true])
        #expect(configuration.messagesLimitCount == 10)
        #expect(configuration.messagesLimitDuration == .milliseconds(250))
        #expect(configuration.headersInPayload)
        #expect(!configuration.metadataInPayload)
    }

    @Test func httpPostDefaults() {
        let (value, problems) = validated(HTTPPostConfiguration.schema, [:])
        #expect(problems == [])
        #expect(value == ["requestHeadersToMessage": false])
        #expect(HTTPPostConfiguration(value ?? [:]).requestHeadersToMessage == false)
        #expect(HTTPPostConfiguration(["requestHeadersToMessage": true]).requestHeadersToMessage)
    }

    @Test func sseDefaultsAndMinimum() {
        let (value, problems) = validated(SSEConfiguration.schema, [:])
        #expect(problems == [])
        #expect(value == ["heartbeatIntervalInMs": 5000, "metadataAsComment": false, "headersAsComment": false])
        let configuration = SSEConfiguration(value ?? [:])
        #expect(configuration.heartbeatIntervalMilliseconds == 5000)
        #expect(configuration.heartbeatInterval == .milliseconds(5000))
        #expect(!configuration.metadataAsComment)
        #expect(!configuration.headersAsComment)
        #expect(validated(SSEConfiguration.schema, ["heartbeatIntervalInMs": 1999]).problems == ["configuration.heartbeatIntervalInMs: must be an integer >= 2000"])
        #expect(validated(SSEConfiguration.schema, ["heartbeatIntervalInMs": 2000]).problems == [])
    }

    @Test func webSocketDefaults() {
        let (value, problems) = validated(WebSocketConfiguration.schema, [:])
        #expect(problems == [])
        #expect(value == ["publisher": ["enabled": true], "subscriber": ["enabled": true]])
        let configuration = WebSocketConfiguration(value ?? [:])
        #expect(configuration.publisherEnabled)
        #expect(configuration.subscriberEnabled)
    }

    @Test func unknownConfigurationMembersAreWarnings() {
        var problems = Problems()
        _ = HTTPGetConfiguration.schema.validate(["messagesLimit": 3], at: DocumentPath.root + "configuration", problems: &problems)
        #expect(!problems.hasErrors)
        #expect(problems.warnings.map(\.description) == ["configuration.messagesLimit: warning: is not a known option; it is kept but ignored"])
    }

    @Test func schemaJSONCarriesDefaultsAndMinimums() {
        let json = HTTPGetConfiguration.schema.json
        #expect(json["type"] == "object")
        #expect(json["properties"]?["messagesLimitCount"]?["type"] == "integer")
        #expect(json["properties"]?["messagesLimitCount"]?["default"] == 500)
        #expect(json["properties"]?["messagesLimitCount"]?["minimum"] == 1)
        #expect(json["properties"]?["messagesLimitDurationMs"]?["default"] == 5000)
        #expect(json["properties"]?["headersInPayload"]?["default"] == false)
        #expect(SSEConfiguration.schema.json["properties"]?["heartbeatIntervalInMs"]?["minimum"] == 2000)
        #expect(WebSocketConfiguration.schema.json["properties"]?["publisher"]?["properties"]?["enabled"]?["default"] == true)
    }

    @Test func catalogueEntry() {
        let entry = EntrypointTypes.httpGet.catalogueEntry
        #expect(entry["type"] == "http-get")
        #expect(entry["kind"] == "entrypoint")
        #expect(entry["listenerType"] == "http")
        #expect(entry["qos"] == ["auto", "at-most-once", "at-least-once"])
        #expect(EntrypointTypes.sse.catalogueEntry["qos"] == ["none", "auto", "at-most-once", "at-least-once"])
        #expect(entry["configurationSchema"] == HTTPGetConfiguration.schema.json)
    }
}
