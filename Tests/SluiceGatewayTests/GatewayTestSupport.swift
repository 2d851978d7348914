import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import SluiceCore
import SluiceEndpoints
import SluiceEntrypoints
import Synchronization
import Testing

@testable import SluiceGateway

/// A Mock API definition in YAML, with the entrypoints and mock settings given.
func mockDefinition(
    id: String = "demo", path: String = "/demo", host: String? = nil, entrypoints: String = defaultEntrypoints,
    endpointType: String = "mock", mockConfiguration: String = "{messageInterval: 20}"
) -> String {
    """
    id: \(id)
    name: \(id) api
    definitionVersion: 4.0.0
    type: message
    listeners:
      - type: http
        paths:
          - path: \(path)
    \(host.map { "        host: \($0)" } ?? "")
        entrypoints:
    \(entrypoints)
    endpointGroups:
      - name: group
        type: \(endpointType)
        endpoints:
          - name: endpoint
            type: \(endpointType)
            configuration: \(mockConfiguration)
    plans:
      - name: open
        security:
          type: key-less
    """
}

let defaultEntrypoints = """
          - type: http-get
            configuration:
              messagesLimitCount: 3
              messagesLimitDurationMs: 2000
          - type: http-post
          - type: sse
            configuration:
              heartbeatIntervalInMs: 2000
          - type: websocket
    """

func entrypoints(_ lines: String...) -> String {
    lines.map { "      - \($0)" }.joined(separator: "\n")
}

/// Validates a definition with the test catalog, failing the test on problems.
func deployable(_ yaml: String, catalog: ConnectorCatalog = testCatalog) throws -> DeployableApi {
    let entries = try DefinitionSource.entries(fromText: yaml, fileName: "test.yaml")
    let entry = try #require(entries.first)
    switch DefinitionValidator(catalog: catalog).validate(document: entry.document) {
    case .valid(let api): return api
    case .invalid(let problems):
        Issue.record("definition is invalid: \(problems)")
        throw DeploymentError(apiId: "?", problems: problems)
    }
}

/// The standard connectors plus test doubles: a recording endpoint, a failing one, and endpoints
/// with reduced QoS or capabilities.
let testCatalog = ConnectorCatalog(
    endpoints: EndpointTypes.all + [
        RecordingEndpointFactory(), FailingEndpointFactory(),
        RestrictedEndpointFactory(type: "no-recover", qos: Set(QoS.allCases), capabilities: [.autoAck]),
        RestrictedEndpointFactory(type: "auto-only", qos: [.none, .auto], capabilities: [.autoAck, .recover]),
    ],
    entrypoints: EntrypointTypes.all)

func makeRegistry(_ definitions: String..., catalog: ConnectorCatalog = testCatalog) async throws -> ApiRegistry {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let registry = ApiRegistry(catalog: catalog, logger: logger, drainTimeout: .seconds(3))
    for definition in definitions {
        try await registry.deploy(try deployable(definition, catalog: catalog), origin: .management)
    }
    return registry
}

func makeApp(
    _ registry: ApiRegistry, settings: GatewaySettings = testSettings(), withGatewayService: Bool = true,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    return try GatewayServer.makeApplication(
        settings: settings, registry: registry, logger: logger,
        services: withGatewayService ? [GatewayService(registry: registry)] : [], onServerRunning: onServerRunning)
}

func testSettings(maxBodySize: Int = 1 << 20) -> GatewaySettings {
    var settings = GatewaySettings()
    settings.port = 0
    settings.maxBodySize = maxBodySize
    settings.drainTimeout = .seconds(3)
    return settings
}

/// Messages published to recording endpoints, by API id.
let recorded = Mutex<[String: [Message]]>([:])

struct RecordingEndpointFactory: EndpointConnectorFactory {
    var type: String { "recording" }
    var title: String { "Recording" }
    var configurationSchema: JSONSchema { MockConfiguration.schema }
    var sharedConfigurationSchema: JSONSchema { .emptyObject }
    var supportedQoS: Set<QoS> { Set(QoS.allCases) }
    var capabilities: ConnectorCapabilities { [.autoAck, .manualAck, .recover] }
    func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes { [.publish, .subscribe] }
    func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector {
        RecordingConnector(apiId: settings.apiId, mock: MockConnector(configuration: MockConfiguration(settings.configuration)))
    }
}

struct RecordingConnector: EndpointConnector {
    let apiId: String
    let mock: MockConnector
    func start() async throws {}
    func publish(_ message: Message) async throws {
        recorded.withLock { $0[apiId, default: []].append(message) }
    }
    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription { try await mock.subscribe(request) }
    func close() async {}
}

struct FailingEndpointFactory: EndpointConnectorFactory {
    var type: String { "failing" }
    var title: String { "Failing" }
    var configurationSchema: JSONSchema { MockConfiguration.schema }
    var sharedConfigurationSchema: JSONSchema { .emptyObject }
    var supportedQoS: Set<QoS> { Set(QoS.allCases) }
    var capabilities: ConnectorCapabilities { [.autoAck, .manualAck, .recover] }
    func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes { [.publish, .subscribe] }
    func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector { FailingConnector() }
}

struct FailingConnector: EndpointConnector {
    func start() async throws {}
    func publish(_ message: Message) async throws {
        throw GatewayError.connectionFailed(detail: "broker refused: not authorized")
    }
    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        throw GatewayError.connectionFailed(detail: "broker unreachable")
    }
    func close() async {}
}

struct RestrictedEndpointFactory: EndpointConnectorFactory {
    let type: String
    let qos: Set<QoS>
    let capabilities: ConnectorCapabilities
    var title: String { type }
    var configurationSchema: JSONSchema { MockConfiguration.schema }
    var sharedConfigurationSchema: JSONSchema { .emptyObject }
    var supportedQoS: Set<QoS> { qos }
    func modes(configuration: JSONValue, sharedConfiguration: JSONValue) -> ConnectorModes { [.publish, .subscribe] }
    func makeConnector(_ settings: EndpointSettings) throws -> any EndpointConnector {
        MockConnector(configuration: MockConfiguration(settings.configuration))
    }
}

extension ByteBuffer {
    var text: String { String(buffer: self) }
}

/// Parses a JSON response body.
func json(_ buffer: ByteBuffer) throws -> JSONValue {
    try JSONParser.parse(Array(buffer.readableBytesView))
}
