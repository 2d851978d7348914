import SluiceCore
import Testing
@testable import SluiceEntrypoints

// SluiceEntrypointsTests does not depend on SluiceEndpoints, so the Mock endpoint is stood in for by
// a fake with the same type, schema (contract §2 Mock), QoS and capabilities as `MockEndpointFactory`.

private struct FakeConnector: EndpointConnector {
    func start() async throws {}
    func publish(_ message: Message) async throws {}
    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        MessageSubscription(AsyncStream<Message> { $0.finish() })
    }
    func close() async {}
}

/// The Mock endpoint as contract §2 describes it.
private struct FakeMockFactory: EndpointConnectorFactory {
    static let nameValue = JSONSchema.object(
        [("name", .string(title: "Name", minLength: 1)), ("value", .string(title: "Value", default: ""))], required: ["name"])

    var type: String { "mock" }
    var title: String { "Mock" }
    var configurationSchema: JSONSchema {
        .object([
            ("messageInterval", .integer(default: 1000, minimum: 1)),
            ("messageContent", .string(default: "mock message")),
            ("messageCount", .integer(minimum: 0)),
            ("headers", .array(of: Self.nameValue)),
            ("metadata", .array(of: Self.nameValue)),
        ])
    }
    var sharedConfigurationSchema: JSONSchema { .emptyObject }
    var supportedQoS: Set<QoS> { Set(QoS.allCases) }
    var capabilities: ConnectorCapabilities { [.autoAck, .manualAck, .recover] }
    func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes { [.publish, .subscribe] }
    func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector { FakeConnector() }
}

/// A broker-like endpoint with a shared configuration, producer only, without `recover`.
private struct FakeBrokerFactory: EndpointConnectorFactory {
    var type: String { "fake-broker" }
    var title: String { "Fake broker" }
    var configurationSchema: JSONSchema { .object([("serverHost", .string(minLength: 1))], required: ["serverHost"]) }
    var sharedConfigurationSchema: JSONSchema {
        .object([
            ("reconnectAttempts", .integer(default: 3, minimum: 0, maximum: 10)),
            ("producer", .object([("enabled", .boolean(default: false))], defaultValue: [:])),
        ])
    }
    var supportedQoS: Set<QoS> { [.none, .auto, .atLeastOnce] }
    var capabilities: ConnectorCapabilities { [.autoAck] }
    func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes { .publish }
    func check(
        configuration: JSONValue, at configurationPath: DocumentPath, sharedConfiguration: JSONValue, at sharedPath: DocumentPath,
        problems: inout Problems
    ) {
        if configuration["serverHost"] == "forbidden" { problems.error(configurationPath + "serverHost", "is forbidden") }
    }
    func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector { FakeConnector() }
}

private let validator = DefinitionValidator(
    catalog: ConnectorCatalog(endpoints: [FakeMockFactory(), FakeBrokerFactory()], entrypoints: EntrypointTypes.all))

/// A valid definition; `changes` replace top-level members.
private func definition(_ changes: JSONObject = [:]) -> JSONValue {
    var object: JSONObject = [
        "name": "Orders",
        "listeners": [
            [
                "type": "http", "paths": [["path": "/orders"]],
                "entrypoints": [["type": "http-get"], ["type": "sse", "qos": "AT_LEAST_ONCE"], ["type": "http-post", "qos": "none"]],
            ]
        ],
        "endpointGroups": [["name": "default", "type": "mock", "endpoints": [["name": "mock-1", "type": "mock", "configuration": [:]]]]],
        "plans": [["name": "Keyless", "security": ["type": "KEY_LESS"]]],
    ]
    for (key, value) in changes { object[key] = value }
    return .object(object)
}

private func listeners(_ entrypoints: [JSONValue], paths: [JSONValue] = [["path": "/orders"]]) -> JSONValue {
    [["type": "http", "paths": .array(paths), "entrypoints": .array(entrypoints)]]
}

private func groups(type: String = "mock", _ endpoints: [JSONValue], shared: JSONValue? = nil) -> JSONValue {
    var group: JSONObject = ["name": "default", "type": .string(type)]
    if let shared { group["sharedConfiguration"] = shared }
    group["endpoints"] = .array(endpoints)
    return [.object(group)]
}

/// The error descriptions of an invalid outcome (empty when valid).
private func errors(_ document: JSONValue) -> [String] {
    switch validator.validate(document: document) {
    case .valid: return []
    case .invalid(let problems): return problems.filter { $0.severity == .error }.map(\.description)
    }
}

private struct NotValid: Error {}

private func deployable(_ document: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) throws -> DeployableApi {
    switch validator.validate(document: document) {
    case .valid(let api): return api
    case .invalid(let problems):
        Issue.record("expected a valid definition, got \(problems.map(\.description))", sourceLocation: sourceLocation)
        throw NotValid()
    }
}

@Suite("DefinitionValidator")
struct DefinitionValidatorTests {
    @Test func validDefinitionGetsDefaults() throws {
        let api = try deployable(definition())
        #expect(api.id == "orders")
        #expect(api.name == "Orders")
        #expect(api.warnings == [])
        #expect(api.paths.map(\.path) == ["/orders"])
        #expect(api.entrypoints.map(\.type) == ["http-get", "sse", "http-post"])
        #expect(api.entrypoints.map(\.qos) == [.auto, .atLeastOnce, .none])
        #expect(
            api.entrypoints[0].configuration
                == ["messagesLimitCount": 500, "messagesLimitDurationMs": 5000, "headersInPayload": false, "metadataInPayload": false])
        #expect(api.entrypoints[1].configuration == ["heartbeatIntervalInMs": 5000, "metadataAsComment": false, "headersAsComment": false])
        #expect(api.entrypoints[2].configuration == ["requestHeadersToMessage": false])
        #expect(api.endpointGroups.count == 1)
        let group = api.defaultEndpointGroup
        #expect(group.name == "default")
        #expect(group.type == "mock")
        #expect(group.loadBalancer == .roundRobin)
        #expect(group.endpoints.count == 1)
        let endpoint = try #require(group.endpoints.first)
        #expect(endpoint.apiId == "orders")
        #expect(endpoint.groupName == "default")
        #expect(endpoint.name == "mock-1")
        #expect(endpoint.type == "mock")
        #expect(endpoint.configuration == ["messageInterval": 1000, "messageContent": "mock message"])
        #expect(endpoint.sharedConfiguration == [:])
    }

    @Test func givenValuesAreKeptAndNormalised() throws {
        let document = definition([
            "listeners": listeners([
                ["type": "http-get", "configuration": ["messagesLimitCount": 10, "headersInPayload": true]],
                ["type": "websocket", "configuration": ["publisher": ["enabled": false]]],
            ]),
            "endpointGroups": groups([
                ["name": "m", "type": "mock", "configuration": ["messageInterval": 5.0, "messageCount": 3, "headers": [["name": "h"]]]]
            ]),
        ])
        let api = try deployable(document)
        #expect(
            api.entrypoints[0].configuration
                == ["messagesLimitCount": 10, "messagesLimitDurationMs": 5000, "headersInPayload": true, "metadataInPayload": false])
        #expect(api.entrypoints[1].configuration == ["publisher": ["enabled": false], "subscriber": ["enabled": true]])
        #expect(
            api.defaultEndpointGroup.endpoints.first?.configuration
                == ["messageInterval": 5, "messageContent": "mock message", "messageCount": 3, "headers": [["name": "h", "value": ""]]])
    }

    @Test func everyProblemIsReportedWithItsPath() {
        let document = definition([
            "listeners": listeners([
                ["type": "http-get", "configuration": ["messagesLimitCount": "abc"]],
                ["type": "sse", "configuration": ["heartbeatIntervalInMs": 1000]],
                ["type": "http-post", "qos": "at-least-once"],
            ]),
            "endpointGroups": groups([
                ["name": "mock-1", "type": "mock", "configuration": ["messageInterval": 0, "messageContent": 5, "messageCount": -1]]
            ]),
            "plans": [["name": "Keys", "security": ["type": "API_KEY"]]],
        ])
        #expect(
            errors(document) == [
                "listeners[0].entrypoints[0].configuration.messagesLimitCount: must be an integer >= 1",
                "listeners[0].entrypoints[1].configuration.heartbeatIntervalInMs: must be an integer >= 2000",
                "listeners[0].entrypoints[2].qos: http-post offers qos none, auto, not at-least-once",
                "endpointGroups[0].endpoints[0].configuration.messageInterval: must be an integer >= 1",
                "endpointGroups[0].endpoints[0].configuration.messageContent: must be a string",
                "endpointGroups[0].endpoints[0].configuration.messageCount: must be an integer >= 0",
                "plans[0].security.type: api-key plans are not supported yet; only key-less plans can be deployed",
            ])
    }

    @Test func readingAndValidationProblemsAreReportedTogether() {
        var document = definition(["definitionVersion": "2.0.0"]).objectValue ?? [:]
        document["endpointGroups"] = groups([["name": "m", "type": "mock", "weight": 0, "configuration": ["messageInterval": 0]]])
        #expect(
            errors(.object(document)) == [
                "definitionVersion: must be 4.0.0 (v4 definitions); 2.0.0 is not supported",
                "endpointGroups[0].endpoints[0].weight: must be an integer >= 1",
                "endpointGroups[0].endpoints[0].configuration.messageInterval: must be an integer >= 1",
            ])
    }

    @Test func unknownEntrypointType() {
        let document = definition(["listeners": listeners([["type": "kafka-get"], ["type": "http-get"]])])
        #expect(errors(document) == ["listeners[0].entrypoints[0].type: unknown entrypoint type 'kafka-get' (known: http-get, http-post, sse, websocket)"])
    }

    @Test func unknownEndpointType() {
        let document = definition(["endpointGroups": groups(type: "kafka", [["name": "k", "type": "kafka"]])])
        #expect(errors(document) == ["endpointGroups[0].type: unknown endpoint type 'kafka' (known: fake-broker, mock)"])
    }

    @Test func endpointTypeMustMatchItsGroup() {
        let document = definition(["endpointGroups": groups([["name": "a", "type": "mock"], ["name": "b", "type": "fake-broker"]])])
        #expect(errors(document) == ["endpointGroups[0].endpoints[1].type: must match its group's type 'mock', not 'fake-broker'"])
    }

    @Test(arguments: [
        ("http-get", "none", "listeners[0].entrypoints[0].qos: http-get offers qos auto, at-most-once, at-least-once, not none"),
        ("http-post", "AT_MOST_ONCE", "listeners[0].entrypoints[0].qos: http-post offers qos none, auto, not at-most-once"),
        ("websocket", "at-least-once", "listeners[0].entrypoints[0].qos: websocket offers qos none, auto, not at-least-once"),
    ])
    func qosNotOfferedByTheEntrypointType(type: String, qos: String, message: String) {
        let document = definition(["listeners": listeners([["type": .string(type), "qos": .string(qos)]])])
        #expect(errors(document) == [message])
    }

    @Test(arguments: ["none", "auto", "at-most-once", "at-least-once"])
    func sseOffersEveryQoS(qos: String) throws {
        let api = try deployable(definition(["listeners": listeners([["type": "sse", "qos": .string(qos)]])]))
        #expect(api.entrypoints.first?.qos.rawValue == qos)
    }

    @Test func duplicateEndpointNames() {
        let document = definition([
            "endpointGroups": [
                ["name": "default", "type": "mock", "endpoints": [["name": "e1", "type": "mock"], ["name": "e1", "type": "mock"]]],
                ["name": "default", "type": "mock", "endpoints": [["name": "e2", "type": "mock"], ["name": "e1", "type": "mock"]]],
            ]
        ])
        #expect(
            errors(document) == [
                "endpointGroups[0].endpoints[1].name: another endpoint is named 'e1'",
                "endpointGroups[1].name: another endpoint group is named 'default'",
                "endpointGroups[1].endpoints[1].name: another endpoint is named 'e1'",
            ])
    }

    @Test func duplicateListenersEntrypointsAndPaths() {
        let document = definition([
            "listeners": [
                ["type": "http", "paths": [["path": "/orders"], ["path": "/orders/"]], "entrypoints": [["type": "sse"], ["type": "sse"]]],
                ["type": "http", "paths": [["path": "/other"]], "entrypoints": [["type": "http-get"]]],
            ]
        ])
        #expect(
            errors(document) == [
                "listeners[0].paths[1]: path /orders/ is listed twice",
                "listeners[0].entrypoints[1].type: the API already has a sse entrypoint",
                "listeners[1].type: an API has at most one http listener",
            ])
    }

    @Test func entrypointOnTheWrongListener() {
        let document = definition([
            "listeners": [
                ["type": "http", "paths": [["path": "/orders"]], "entrypoints": [["type": "http-get"]]],
                ["type": "subscription", "entrypoints": [["type": "sse"]]],
            ]
        ])
        #expect(errors(document) == ["listeners[1].entrypoints[0].type: sse belongs on a http listener, not a subscription one"])
    }

    @Test func apiKeyPlanIsNotSupportedYet() {
        let document = definition([
            "plans": [["name": "Keyless", "security": ["type": "key-less"]], ["name": "Keys", "security": ["type": "api-key"]], ["name": "JWT", "security": ["type": "JWT"]]]
        ])
        #expect(
            errors(document) == [
                "plans[1].security.type: api-key plans are not supported yet; only key-less plans can be deployed",
                "plans[2].security.type: jwt plans are not supported yet; only key-less plans can be deployed",
            ])
    }

    @Test func noPlansIsRefused() {
        let message = "plans: must contain at least one plan (a key-less plan opens the API to every caller)"
        #expect(errors(definition(["plans": []])) == [message])
        var document = definition().objectValue ?? [:]
        document.removeValue(forKey: "plans")
        #expect(errors(.object(document)) == [message])
    }

    @Test func noActivePlanIsRefused() {
        let document = definition(["plans": [["name": "a", "security": ["type": "key-less"], "status": "STAGING"], ["name": "b", "security": ["type": "key-less"], "status": "closed"]]])
        #expect(errors(document) == ["plans: no plan is published or deprecated, so no request could be let through"])
        let deprecated = definition(["plans": [["name": "a", "security": ["type": "key-less"], "status": "deprecated"]]])
        #expect(errors(deprecated) == [])
    }

    @Test func inheritConfigurationUsesTheGroupsSharedConfigurationPath() {
        let document = definition([
            "listeners": listeners([["type": "http-post"]]),
            "endpointGroups": groups(
                type: "fake-broker",
                [
                    ["name": "a", "type": "fake-broker", "inheritConfiguration": true, "configuration": ["serverHost": "h"]],
                    ["name": "b", "type": "fake-broker", "inheritConfiguration": true, "configuration": ["serverHost": "h"]],
                    [
                        "name": "c", "type": "fake-broker", "configuration": ["serverHost": "h"],
                        "sharedConfigurationOverride": ["reconnectAttempts": -1],
                    ],
                ], shared: ["reconnectAttempts": 11]),
        ])
        #expect(
            errors(document) == [
                "endpointGroups[0].sharedConfiguration.reconnectAttempts: must be an integer between 0 and 10",
                "endpointGroups[0].endpoints[2].sharedConfigurationOverride.reconnectAttempts: must be an integer between 0 and 10",
            ])
    }

    @Test func inheritedAndOverriddenSharedConfigurations() throws {
        let document = definition([
            "listeners": listeners([["type": "http-post"]]),
            "endpointGroups": groups(
                type: "fake-broker",
                [
                    ["name": "a", "type": "fake-broker", "inheritConfiguration": true, "configuration": ["serverHost": "h"]],
                    ["name": "b", "type": "fake-broker", "configuration": ["serverHost": "h"], "sharedConfigurationOverride": ["reconnectAttempts": 1]],
                    ["name": "c", "type": "fake-broker", "configuration": ["serverHost": "h"]],
                ], shared: ["reconnectAttempts": 7, "producer": ["enabled": true]]),
        ])
        let api = try deployable(document)
        let endpoints = api.defaultEndpointGroup.endpoints
        #expect(endpoints.map(\.sharedConfiguration) == [
            ["reconnectAttempts": 7, "producer": ["enabled": true]],
            ["reconnectAttempts": 1, "producer": ["enabled": false]],
            ["reconnectAttempts": 3, "producer": ["enabled": false]],
        ])
    }

    @Test func factoryChecksAreReported() {
        let document = definition([
            "listeners": listeners([["type": "http-post"]]),
            "endpointGroups": groups(type: "fake-broker", [["name": "a", "type": "fake-broker", "configuration": ["serverHost": "forbidden"]], ["name": "b", "type": "fake-broker"]]),
        ])
        #expect(
            errors(document) == [
                "endpointGroups[0].endpoints[0].configuration.serverHost: is forbidden",
                "endpointGroups[0].endpoints[1].configuration.serverHost: is required",
            ])
    }

    @Test func dlqNamingAnUnknownEndpoint() {
        let document = definition(["listeners": listeners([["type": "http-get", "dlq": ["endpoint": "nowhere"]]])])
        #expect(errors(document) == ["listeners[0].entrypoints[0].dlq.endpoint: names no endpoint or endpoint group of this API ('nowhere')"])
    }

    @Test func dlqNamingAnEndpointOrAGroup() throws {
        let byEndpoint = try deployable(definition(["listeners": listeners([["type": "http-get", "dlq": ["endpoint": "mock-1"]]])]))
        #expect(byEndpoint.entrypoints.first?.dlq == "mock-1")
        let byGroup = try deployable(definition(["listeners": listeners([["type": "http-get", "dlq": ["endpoint": "default"]]])]))
        #expect(byGroup.entrypoints.first?.dlq == "default")
    }

    @Test func unknownConfigurationKeysAreWarningsNotErrors() throws {
        let document = definition([
            "listeners": listeners([["type": "http-get", "configuration": ["messagesLimit": 5]]]),
            "endpointGroups": groups([["name": "m", "type": "mock", "sharedConfigurationOverride": ["foo": 1]]]),
        ])
        let api = try deployable(document)
        #expect(
            api.warnings.map(\.description) == [
                "listeners[0].entrypoints[0].configuration.messagesLimit: warning: is not a known option; it is kept but ignored",
                "endpointGroups[0].endpoints[0].sharedConfigurationOverride.foo: warning: is not a known option; it is kept but ignored",
            ])
        #expect(api.entrypoints.first?.configuration["messagesLimit"] == 5)
    }

    @Test func capabilityAndModeWarnings() throws {
        let document = definition([
            "listeners": listeners([["type": "http-get", "qos": "at-least-once"], ["type": "sse", "qos": "at-most-once"], ["type": "websocket"]]),
            "endpointGroups": groups(type: "fake-broker", [["name": "a", "type": "fake-broker", "configuration": ["serverHost": "h"]]]),
        ])
        let api = try deployable(document)
        #expect(
            api.warnings.map(\.description) == [
                "listeners: warning: http-get subscribes, but the fake-broker endpoint has no consumer",
                "listeners: warning: http-get at qos at-least-once needs recover, which the fake-broker endpoint does not offer: its requests will be refused with 400",
                "listeners: warning: sse subscribes, but the fake-broker endpoint has no consumer",
                "listeners: warning: sse runs at qos at-most-once, which the fake-broker endpoint does not offer: its requests will be refused with 400",
            ])
    }

    @Test func idThatCannotBeDerived() {
        #expect(errors(definition(["name": "!!!"])) == ["id: cannot be derived from the name; give the API an id"])
        #expect(errors(definition(["name": "!!!", "id": "bangs"])) == [])
    }

    @Test func proxyAndMissingMembersAreRefused() {
        #expect(errors(definition(["type": "PROXY"])) == ["type: proxy APIs are not supported: Sluice serves message APIs (type: message)"])
        #expect(
            errors(["plans": [["name": "p", "security": ["type": "key-less"]]]])
                == ["name: is required", "listeners: is required", "endpointGroups: is required"])
        #expect(errors("not a definition") == ["(root): an API definition must be an object"])
    }

    @Test func problemsUnderADocumentPath() {
        var document = definition().objectValue ?? [:]
        document.removeValue(forKey: "name")
        document["id"] = "x"
        guard case .invalid(let problems) = validator.validate(document: .object(document), at: DocumentPath.root + 1) else {
            Issue.record("expected invalid")
            return
        }
        #expect(problems.map(\.description) == ["[1].name: is required"])
    }

    @Test func revisionIsStableForEqualDefinitions() throws {
        let first = try deployable(definition())
        let second = try deployable(definition())
        #expect(first.revision == second.revision)
        #expect(first.revision.count == 16)
        #expect(first.revision.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        // Another spelling of the same definition is the same definition.
        var spelled = definition().objectValue ?? [:]
        spelled["plans"] = [["name": "Keyless", "security": ["type": "key-less"]]]
        spelled["definitionVersion"] = "V4"
        #expect(try deployable(.object(spelled)).revision == first.revision)
    }

    @Test func revisionChangesWithTheDefinition() throws {
        let base = try deployable(definition()).revision
        #expect(try deployable(definition(["name": "Orders 2", "id": "orders"])).revision != base)
        #expect(try deployable(definition(["description": "now described"])).revision != base)
        #expect(
            try deployable(
                definition(["endpointGroups": groups([["name": "mock-1", "type": "mock", "configuration": ["messageInterval": 10]]])])
            ).revision != base)
        #expect(try deployable(definition(["x-unknown": true])).revision != base)
    }

    @Test func revisionOfTheModel() throws {
        var problems = Problems()
        let model = try #require(ApiDefinition.read(definition(), problems: &problems))
        #expect(try deployable(definition()).revision == DefinitionValidator.revision(of: model))
        var changed = model
        changed.tags = ["t"]
        #expect(DefinitionValidator.revision(of: changed) != DefinitionValidator.revision(of: model))
    }
}
