import Testing
@testable import SluiceCore

/// A full v4 message API in the management (upper case) spelling, with members Sluice does not know.
private let fullJSON = #"""
    {
      "id": "orders-api",
      "crossId": "c-123",
      "name": "Orders",
      "apiVersion": "1.2",
      "definitionVersion": "V4",
      "type": "MESSAGE",
      "description": "Order events",
      "tags": ["public", "orders"],
      "properties": [{"key": "env", "value": "prod", "encrypted": false}],
      "listeners": [
        {
          "type": "HTTP",
          "paths": [{"host": "api.example.com", "path": "/orders/", "overrideAccess": false, "x-path-note": 1}],
          "servers": ["s1"],
          "entrypoints": [
            {"type": "http-get", "qos": "AT_LEAST_ONCE", "configuration": {"messagesLimitCount": 10}, "x-entry": {"a": 1}},
            {"type": "SSE", "qos": "at-most-once", "dlq": {"endpoint": "dead-letters"}, "configuration": {}}
          ]
        },
        {
          "type": "SUBSCRIPTION",
          "entrypoints": [{"type": "webhook", "qos": "AUTO", "configuration": {"http": {"connectTimeout": 3000}}}]
        }
      ],
      "endpointGroups": [
        {
          "name": "default",
          "type": "MOCK",
          "loadBalancer": {"type": "WEIGHTED_ROUND_ROBIN"},
          "sharedConfiguration": {"x": 1},
          "services": {"healthCheck": {"enabled": false}},
          "endpoints": [
            {
              "name": "mock-1",
              "type": "mock",
              "weight": 3,
              "inheritConfiguration": true,
              "secondary": false,
              "configuration": {"messageInterval": 100, "messageContent": "hi"},
              "x-endpoint": "kept"
            },
            {"name": "dead-letters", "type": "mock", "sharedConfigurationOverride": {"y": 2}}
          ]
        }
      ],
      "flowExecution": {"mode": "BEST_MATCH", "matchRequired": true},
      "flows": [
        {
          "name": "all",
          "enabled": true,
          "selectors": [
            {"type": "http", "path": "/", "pathOperator": "starts_with", "methods": ["get", "POST"]},
            {"type": "channel", "channel": "/c", "channelOperator": "EQUALS", "operations": ["SUBSCRIBE", "publish"], "entrypoints": ["sse"]},
            {"type": "condition", "condition": "{#request.headers['x'] != null}"}
          ],
          "request": [],
          "response": [],
          "publish": [{"name": "transform", "enabled": false, "policy": "json-to-json", "configuration": {"spec": "[]"}}],
          "subscribe": [{"policy": "message-filtering", "messageCondition": "{#message.content != null}"}]
        }
      ],
      "plans": [
        {
          "id": "plan-1",
          "name": "Keyless",
          "security": {"type": "KEY_LESS", "configuration": {}, "x-security": true},
          "mode": "STANDARD",
          "status": "PUBLISHED",
          "validation": "AUTO",
          "flows": []
        }
      ],
      "analytics": {"enabled": true},
      "failover": {"enabled": false},
      "services": {"dynamicProperty": null},
      "x-top": [1, 2, 3]
    }
    """#

/// The same definition in YAML, with the lowercase labels.
private let fullYAML = #"""
    id: orders-api
    crossId: c-123
    name: Orders
    apiVersion: "1.2"
    definitionVersion: v4
    type: message
    description: Order events
    tags: [public, orders]
    properties:
      - key: env
        value: prod
        encrypted: false
    listeners:
      - type: http
        paths:
          - host: api.example.com
            path: /orders/
            overrideAccess: false
            x-path-note: 1
        servers: [s1]
        entrypoints:
          - type: http-get
            qos: at-least-once
            configuration:
              messagesLimitCount: 10
            x-entry:
              a: 1
          - type: sse
            qos: AT_MOST_ONCE
            dlq:
              endpoint: dead-letters
            configuration: {}
      - type: subscription
        entrypoints:
          - type: webhook
            qos: auto
            configuration:
              http:
                connectTimeout: 3000
    endpointGroups:
      - name: default
        type: mock
        loadBalancer:
          type: weighted-round-robin
        sharedConfiguration:
          x: 1
        services:
          healthCheck:
            enabled: false
        endpoints:
          - name: mock-1
            type: mock
            weight: 3
            inheritConfiguration: true
            secondary: false
            configuration:
              messageInterval: 100
              messageContent: hi
            x-endpoint: kept
          - name: dead-letters
            type: mock
            sharedConfigurationOverride:
              y: 2
    flowExecution:
      mode: best-match
      matchRequired: true
    flows:
      - name: all
        enabled: true
        selectors:
          - type: http
            path: /
            pathOperator: STARTS_WITH
            methods: [GET, post]
          - type: channel
            channel: /c
            channelOperator: equals
            operations: [subscribe, PUBLISH]
            entrypoints: [sse]
          - type: condition
            condition: "{#request.headers['x'] != null}"
        request: []
        response: []
        publish:
          - name: transform
            enabled: false
            policy: json-to-json
            configuration:
              spec: "[]"
        subscribe:
          - policy: message-filtering
            messageCondition: "{#message.content != null}"
    plans:
      - id: plan-1
        name: Keyless
        security:
          type: key-less
          configuration: {}
          x-security: true
        mode: standard
        status: published
        validation: AUTO
        flows: []
    analytics:
      enabled: true
    failover:
      enabled: false
    services:
      dynamicProperty: null
    x-top: [1, 2, 3]
    """#

/// Reads a definition from a value, returning it with every problem found.
private func read(_ value: JSONValue) -> (definition: ApiDefinition?, problems: [Problem]) {
    var problems = Problems()
    let definition = ApiDefinition.read(value, problems: &problems)
    return (definition, problems.all)
}

private func read(json text: String) throws -> (definition: ApiDefinition?, problems: [Problem]) {
    read(try JSONParser.parse(text))
}

private func read(yaml text: String) throws -> (definition: ApiDefinition?, problems: [Problem]) {
    read(try #require(try DocumentReader.read(text, syntax: .yaml).first))
}

/// The smallest valid definition, with `changes` merged in at the top level.
private func minimal(_ changes: JSONObject = [:], removing removed: [String] = []) -> JSONValue {
    var object: JSONObject = [
        "name": "Minimal",
        "listeners": [["type": "http", "paths": [["path": "/m"]], "entrypoints": [["type": "http-get"]]]],
        "endpointGroups": [["name": "g", "type": "mock", "endpoints": [["name": "e", "type": "mock"]]]],
        "plans": [["name": "p", "security": ["type": "key-less"]]],
    ]
    for (key, value) in changes { object[key] = value }
    for key in removed { object.removeValue(forKey: key) }
    return .object(object)
}

@Suite("ApiDefinition")
struct ApiDefinitionTests {
    @Test func fullJSONDefinitionIsRead() throws {
        let (read, problems) = try read(json: fullJSON)
        #expect(problems == [])
        let definition = try #require(read)
        #expect(definition.id == "orders-api")
        #expect(definition.name == "Orders")
        #expect(definition.apiVersion == "1.2")
        #expect(definition.definitionVersion == "4.0.0")
        #expect(definition.type == .message)
        #expect(definition.description == "Order events")
        #expect(definition.tags == ["public", "orders"])
        #expect(definition.properties == [["key": "env", "value": "prod", "encrypted": false]])
        #expect(definition.unknown == ["crossId": "c-123", "x-top": [1, 2, 3]])
        #expect(definition.analytics == ["enabled": true])
        #expect(definition.failover == ["enabled": false])
        #expect(definition.services == ["dynamicProperty": nil])

        #expect(definition.listeners.count == 2)
        let http = definition.listeners[0]
        #expect(http.type == .http)
        #expect(http.unknown == ["servers": ["s1"]])
        #expect(http.paths.count == 1)
        #expect(http.paths[0].host == "api.example.com")
        #expect(http.paths[0].path == "/orders/")
        #expect(http.paths[0].normalizedPath == "/orders")
        #expect(http.paths[0].overrideAccess == false)
        #expect(http.paths[0].unknown == ["x-path-note": 1])
        #expect(http.entrypoints.count == 2)
        #expect(http.entrypoints[0].type == "http-get")
        #expect(http.entrypoints[0].qos == .atLeastOnce)
        #expect(http.entrypoints[0].configuration == ["messagesLimitCount": 10])
        #expect(http.entrypoints[0].unknown == ["x-entry": ["a": 1]])
        #expect(http.entrypoints[0].dlq == nil)
        #expect(http.entrypoints[1].type == "sse")
        #expect(http.entrypoints[1].qos == .atMostOnce)
        #expect(http.entrypoints[1].dlq == "dead-letters")

        let subscription = definition.listeners[1]
        #expect(subscription.type == .subscription)
        #expect(subscription.paths == [])
        #expect(subscription.entrypoints.map(\.type) == ["webhook"])
        #expect(subscription.entrypoints[0].qos == .auto)

        let group = try #require(definition.endpointGroups.first)
        #expect(definition.defaultEndpointGroup == group)
        #expect(group.name == "default")
        #expect(group.type == "mock")
        #expect(group.loadBalancer == .weightedRoundRobin)
        #expect(group.sharedConfiguration == ["x": 1])
        #expect(group.unknown == ["services": ["healthCheck": ["enabled": false]]])
        #expect(group.endpoints.count == 2)
        let first = group.endpoints[0]
        #expect(first.name == "mock-1")
        #expect(first.weight == 3)
        #expect(first.inheritConfiguration == true)
        #expect(first.secondary == false)
        #expect(first.configuration == ["messageInterval": 100, "messageContent": "hi"])
        #expect(first.sharedConfigurationOverride == nil)
        #expect(first.unknown == ["x-endpoint": "kept"])
        let second = group.endpoints[1]
        #expect(second.weight == 1)
        #expect(second.inheritConfiguration == false)
        #expect(second.configuration == [:])
        #expect(second.sharedConfigurationOverride == ["y": 2])

        #expect(definition.flowExecution?.mode == .bestMatch)
        #expect(definition.flowExecution?.matchRequired == true)
        let flow = try #require(definition.flows.first)
        #expect(flow.name == "all")
        #expect(flow.selectors.count == 3)
        #expect(flow.selectors[0] == .http(path: "/", pathOperator: .startsWith, methods: ["GET", "POST"], unknown: [:]))
        #expect(
            flow.selectors[1]
                == .channel(channel: "/c", channelOperator: .equals, operations: [.subscribe, .publish], entrypoints: ["sse"], unknown: [:]))
        #expect(flow.selectors[2] == .condition("{#request.headers['x'] != null}", unknown: [:]))
        #expect(flow.publish.map(\.policy) == ["json-to-json"])
        #expect(flow.publish[0].enabled == false)
        #expect(flow.publish[0].configuration == ["spec": "[]"])
        #expect(flow.subscribe[0].enabled == true)
        #expect(flow.subscribe[0].messageCondition == "{#message.content != null}")

        let plan = try #require(definition.plans.first)
        #expect(plan.id == "plan-1")
        #expect(plan.name == "Keyless")
        #expect(plan.securityType == .keyLess)
        #expect(plan.securityConfiguration == [:])
        #expect(plan.securityUnknown == ["x-security": true])
        #expect(plan.mode == .standard)
        #expect(plan.status == .published)
        #expect(plan.isActive)
        #expect(plan.unknown == ["validation": "AUTO"])
    }

    @Test func yamlAndJSONGiveEqualModels() throws {
        let (fromJSON, jsonProblems) = try read(json: fullJSON)
        let (fromYAML, yamlProblems) = try read(yaml: fullYAML)
        #expect(jsonProblems == [])
        #expect(yamlProblems == [])
        #expect(try #require(fromJSON) == (try #require(fromYAML)))
    }

    @Test(arguments: [
        ("AT_LEAST_ONCE", QoS.atLeastOnce), ("at-least-once", .atLeastOnce), ("At_Least-Once", .atLeastOnce),
        ("AT_MOST_ONCE", .atMostOnce), ("at-most-once", .atMostOnce), ("NONE", .none), ("none", .none),
        ("AUTO", .auto), ("auto", .auto),
    ])
    func qosSpellings(label: String, qos: QoS) throws {
        let entrypoint: JSONValue = ["type": "sse", "qos": .string(label)]
        let value = minimal(["listeners": [["type": "http", "paths": [["path": "/q"]], "entrypoints": [entrypoint]]]])
        let (definition, problems) = read(value)
        #expect(problems == [])
        #expect(definition?.listeners.first?.entrypoints.first?.qos == qos)
        #expect(definition?.json["listeners"]?.arrayValue?.first?["entrypoints"]?.arrayValue?.first?["qos"] == .string(qos.rawValue))
    }

    @Test(arguments: [
        ("KEY_LESS", PlanSecurityType.keyLess), ("key-less", .keyLess), ("API_KEY", .apiKey), ("api-key", .apiKey),
        ("JWT", .jwt), ("OAUTH2", .oauth2), ("mtls", .mtls),
    ])
    func securityTypeSpellings(label: String, type: PlanSecurityType) throws {
        let value = minimal(["plans": [["name": "p", "security": ["type": .string(label)]]]])
        let (definition, problems) = read(value)
        #expect(problems == [])
        #expect(definition?.plans.first?.securityType == type)
    }

    @Test func enumsAreWrittenInTheirCanonicalLowercaseLabels() throws {
        let definition = try #require(try read(json: fullJSON).definition)
        let json = definition.json
        #expect(json["type"] == "message")
        #expect(json["definitionVersion"] == "4.0.0")
        let listeners = try #require(json["listeners"]?.arrayValue)
        #expect(listeners.map { $0["type"] } == ["http", "subscription"])
        let entrypoints = try #require(listeners[0]["entrypoints"]?.arrayValue)
        #expect(entrypoints.map { $0["type"] } == ["http-get", "sse"])
        #expect(entrypoints.map { $0["qos"] } == ["at-least-once", "at-most-once"])
        #expect(listeners[1]["entrypoints"]?.arrayValue?.first?["qos"] == "auto")
        let group = try #require(json["endpointGroups"]?.arrayValue?.first)
        #expect(group["type"] == "mock")
        #expect(group["loadBalancer"] == ["type": "weighted-round-robin"])
        let plan = try #require(json["plans"]?.arrayValue?.first)
        #expect(plan["security"]?["type"] == "key-less")
        #expect(plan["mode"] == "standard")
        #expect(plan["status"] == "published")
        #expect(json["flowExecution"] == ["mode": "best-match", "matchRequired": true])
        let selectors = try #require(json["flows"]?.arrayValue?.first?["selectors"]?.arrayValue)
        #expect(selectors[0]["pathOperator"] == "STARTS_WITH")
        #expect(selectors[0]["methods"] == ["GET", "POST"])
        #expect(selectors[1]["channelOperator"] == "EQUALS")
        #expect(selectors[1]["operations"] == ["subscribe", "publish"])
    }

    @Test func unknownMembersAreWrittenBack() throws {
        let definition = try #require(try read(json: fullJSON).definition)
        let json = definition.json
        #expect(json["crossId"] == "c-123")
        #expect(json["x-top"] == [1, 2, 3])
        let listener = try #require(json["listeners"]?.arrayValue?.first)
        #expect(listener["servers"] == ["s1"])
        #expect(listener["paths"]?.arrayValue?.first?["x-path-note"] == 1)
        #expect(listener["entrypoints"]?.arrayValue?.first?["x-entry"] == ["a": 1])
        let group = try #require(json["endpointGroups"]?.arrayValue?.first)
        #expect(group["services"] == ["healthCheck": ["enabled": false]])
        #expect(group["endpoints"]?.arrayValue?.first?["x-endpoint"] == "kept")
        let plan = try #require(json["plans"]?.arrayValue?.first)
        #expect(plan["validation"] == "AUTO")
        #expect(plan["security"]?["x-security"] == true)
        #expect(json["properties"] == [["key": "env", "value": "prod", "encrypted": false]])
        #expect(json["analytics"] == ["enabled": true])
    }

    @Test func writtenJSONHasTheKnownMembersFirstThenTheUnknown() throws {
        let definition = try #require(try read(json: fullJSON).definition)
        let keys = Array(try #require(definition.json.objectValue).keys)
        #expect(
            keys == [
                "id", "name", "apiVersion", "definitionVersion", "type", "description", "tags", "properties", "listeners",
                "endpointGroups", "flowExecution", "flows", "plans", "analytics", "failover", "services", "crossId", "x-top",
            ])
        let endpoint = try #require(definition.json["endpointGroups"]?.arrayValue?.first?["endpoints"]?.arrayValue?.last)
        #expect(
            endpoint == [
                "name": "dead-letters", "type": "mock", "weight": 1, "inheritConfiguration": false, "secondary": false,
                "configuration": [:], "sharedConfigurationOverride": ["y": 2],
            ])
    }

    /// Unknown keys inside `dlq` and `loadBalancer` round-trip too (contract §1 "Unknown keys are kept").
    @Test func unknownMembersInsideDlqAndLoadBalancerAreKept() throws {
        let value = minimal([
            "listeners": [
                [
                    "type": "http", "paths": [["path": "/m"]],
                    "entrypoints": [["type": "http-get", "dlq": ["endpoint": "e", "x-dlq": 1]]],
                ]
            ],
            "endpointGroups": [
                [
                    "name": "g", "type": "mock", "loadBalancer": ["type": "RANDOM", "x-balancer": "kept"],
                    "endpoints": [["name": "e", "type": "mock"]],
                ]
            ],
        ])
        let (definition, problems) = read(value)
        #expect(problems == [])
        let json = try #require(definition?.json)
        #expect(json["listeners"]?.arrayValue?.first?["entrypoints"]?.arrayValue?.first?["dlq"] == ["endpoint": "e", "x-dlq": 1])
        #expect(json["endpointGroups"]?.arrayValue?.first?["loadBalancer"] == ["type": "random", "x-balancer": "kept"])
    }

    @Test func roundTripReadWriteRead() throws {
        let original = try #require(try read(json: fullJSON).definition)
        let (again, problems) = read(original.json)
        #expect(problems == [])
        #expect(again == original)
        // Through text too, and the text is stable.
        let text = JSONWriter.string(original.json, pretty: true)
        let (fromText, textProblems) = try read(json: text)
        #expect(textProblems == [])
        #expect(fromText == original)
        #expect(fromText.map { JSONWriter.string($0.json, pretty: true) } == text)
    }

    @Test func minimalRoundTrip() throws {
        let (definition, problems) = read(minimal())
        #expect(problems == [])
        let original = try #require(definition)
        #expect(original.id == "minimal")
        #expect(read(original.json).definition == original)
        let expected: JSONValue = [
            "id": "minimal", "name": "Minimal", "definitionVersion": "4.0.0", "type": "message",
            "listeners": [
                [
                    "type": "http", "paths": [["path": "/m"]],
                    "entrypoints": [["type": "http-get", "qos": "auto", "configuration": [:]]],
                ]
            ],
            "endpointGroups": [
                [
                    "name": "g", "type": "mock", "loadBalancer": ["type": "round-robin"],
                    "endpoints": [
                        [
                            "name": "e", "type": "mock", "weight": 1, "inheritConfiguration": false, "secondary": false,
                            "configuration": [:],
                        ]
                    ],
                ]
            ],
            "plans": [["name": "p", "security": ["type": "key-less"], "mode": "standard", "status": "published"]],
        ]
        #expect(original.json == expected)
    }

    @Test func missingRequiredMembersAreReportedWithTheirPaths() {
        let (definition, problems) = read(["description": "nothing else"])
        #expect(definition != nil)
        #expect(problems.map(\.description) == ["name: is required", "listeners: is required", "endpointGroups: is required"])
        #expect(problems.allSatisfy { $0.severity == .error })
    }

    @Test func emptyListsAndNamesAreReported() {
        let (_, problems) = read(minimal(["name": "", "id": "x", "listeners": [], "endpointGroups": []]))
        #expect(problems.map(\.description) == ["name: must not be empty", "listeners: must not be empty", "endpointGroups: must not be empty"])
    }

    @Test func nestedProblemsHaveTheirPaths() {
        let value = minimal([
            "listeners": [
                [
                    "type": "http", "paths": [["path": "orders"], ["path": "/a?b=1"]],
                    "entrypoints": [["qos": "exactly-once"], ["type": "sse", "configuration": "nope"]],
                ],
                ["type": "tcp", "entrypoints": [["type": "x"]]],
            ],
            "endpointGroups": [
                ["name": "g", "type": "mock", "loadBalancer": ["type": "fastest"], "endpoints": [["name": "e", "type": "mock", "weight": 0]]],
                ["name": "h", "endpoints": "none"],
            ],
            "plans": [["name": "p"], ["name": "q", "security": ["configuration": [:]], "status": "live"]],
            "tags": ["ok", 3],
        ])
        let (_, problems) = read(value)
        #expect(
            problems.map(\.description) == [
                "tags[1]: must be a string",
                "listeners[0].paths[0].path: must start with /",
                "listeners[0].paths[1].path: must be a plain path without query, fragment or spaces",
                "listeners[0].entrypoints[0].type: is required",
                "listeners[0].entrypoints[0].qos: must be one of none, auto, at-most-once, at-least-once",
                "listeners[0].entrypoints[1].configuration: must be an object",
                "listeners[1].type: must be one of http, subscription (tcp listeners are not supported)",
                "endpointGroups[0].loadBalancer.type: must be one of round-robin, random, weighted-round-robin, weighted-random",
                "endpointGroups[0].endpoints[0].weight: must be an integer >= 1",
                "endpointGroups[1].type: is required",
                "endpointGroups[1].endpoints: must be an array",
                "plans[0].security: is required",
                "plans[1].security.type: is required",
                "plans[1].status: must be one of staging, published, deprecated, closed",
            ])
    }

    @Test func wrongShapesAreReported() {
        let (definition, problems) = read(["name": 5, "listeners": ["type": "http"], "endpointGroups": "g", "plans": [:]])
        #expect(definition?.name == "5")
        #expect(
            problems.map(\.description) == [
                "listeners: must be an array", "endpointGroups: must be an array", "plans: must be an array",
            ])
    }

    @Test func notAnObjectIsRefused() {
        let (definition, problems) = read(["a", "b"])
        #expect(definition == nil)
        #expect(problems.map(\.description) == ["(root): an API definition must be an object"])
    }

    @Test func problemsAreReportedUnderTheGivenPath() {
        var problems = Problems()
        _ = ApiDefinition.read(minimal(removing: ["name"]), at: DocumentPath.root + 2, problems: &problems)
        #expect(problems.all.map(\.description) == ["[2].name: is required"])
    }

    @Test(arguments: ["proxy", "PROXY", "Proxy"])
    func proxyIsRefusedClearly(label: String) {
        let (definition, problems) = read(minimal(["type": .string(label)]))
        #expect(definition?.type == .proxy)
        #expect(
            problems.map(\.description) == ["type: proxy APIs are not supported: Sluice serves message APIs (type: message)"])
    }

    @Test func unknownDefinitionTypeIsRefused() {
        let (_, problems) = read(minimal(["type": "native"]))
        #expect(problems.map(\.description) == ["type: must be one of message, proxy"])
    }

    @Test(arguments: ["V4", "v4", "4.0.0", "4.0", "4"])
    func definitionVersionV4IsAccepted(version: String) {
        let (definition, problems) = read(minimal(["definitionVersion": .string(version)]))
        #expect(problems == [])
        #expect(definition?.definitionVersion == "4.0.0")
        #expect(definition?.json["definitionVersion"] == "4.0.0")
    }

    @Test func definitionVersionAbsentMeansV4() {
        let (definition, problems) = read(minimal())
        #expect(problems == [])
        #expect(definition?.definitionVersion == "4.0.0")
    }

    @Test(arguments: ["2.0.0", "V2", "1.0.0", "5.0.0"])
    func otherDefinitionVersionsAreRefused(version: String) {
        let (_, problems) = read(minimal(["definitionVersion": .string(version)]))
        #expect(problems.map(\.description) == ["definitionVersion: must be 4.0.0 (v4 definitions); \(version) is not supported"])
    }

    @Test func idIsDerivedFromTheNameWhenAbsent() {
        #expect(read(minimal(["name": "My Orders API v2!"])).definition?.id == "my-orders-api-v2")
        #expect(read(minimal(["name": "My Orders API v2!", "id": ""])).definition?.id == "my-orders-api-v2")
        #expect(read(minimal(["name": "x", "id": "given-id"])).definition?.id == "given-id")
        #expect(read(minimal(["name": "x", "id": 42])).definition?.id == "42")
    }

    @Test(arguments: [
        ("Orders", "orders"), ("  Orders  API  ", "orders-api"), ("a__b--c", "a-b-c"), ("Café Crème", "café-crème"),
        ("v4.0 / beta", "v4-0-beta"), ("!!!", ""), ("", ""),
    ])
    func identifierFromName(name: String, id: String) {
        #expect(ApiDefinition.identifier(fromName: name) == id)
    }

    @Test func subscriptionListenerHasNoPathsWritten() throws {
        let definition = try #require(try read(json: fullJSON).definition)
        let listener = try #require(definition.json["listeners"]?.arrayValue?.last)
        #expect(listener["paths"] == nil)
        #expect(listener["type"] == "subscription")
    }

    @Test func listenerPathDefaultsToRoot() throws {
        let value = minimal(["listeners": [["type": "http", "paths": [["host": ""]], "entrypoints": [["type": "http-get"]]]]])
        let (definition, problems) = read(value)
        #expect(problems == [])
        let path = try #require(definition?.listeners.first?.paths.first)
        #expect(path.path == "/")
        #expect(path.host == nil)
    }

    @Test(arguments: [
        ("/", "/"), ("", "/"), ("///", "/"), ("/orders/", "/orders"), ("//orders//v1///", "/orders/v1"), ("/a/b", "/a/b"),
        ("/a//b", "/a/b"), ("a", "a"), ("a/", "a"), ("/café/s", "/café/s"), ("/café//", "/café"),
    ])
    func pathNormalisation(path: String, normalized: String) {
        #expect(ListenerPath.normalize(path) == normalized)
        #expect(ListenerPath(path: path).normalizedPath == normalized)
        // A path already normal is recognised as such, and only then (it is returned as it is).
        #expect(ListenerPath.isNormal(path) == (path == normalized))
    }
}
