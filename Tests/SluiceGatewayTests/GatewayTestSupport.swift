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

/// A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files in a new
/// directory (``remove()`` when done).
struct TestCertificate {
    let directory: URL
    let certificate: String
    let key: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certificate = directory.appendingPathComponent("cert.pem").path
        key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", certificate,
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
    }

    /// The test settings with a TLS listener on this certificate.
    var settings: GatewaySettings {
        var settings = testSettings()
        settings.tlsCertificatePath = certificate
        settings.tlsKeyPath = key
        return settings
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// One HTTP/1.1 response with a chunked body, decoded strictly (RFC 9112 §7.1): every chunk's
/// size line, its bytes and its CRLF checked.
struct ChunkedResponse {
    var head: String
    var body: String
    var chunks: Int
    /// Whether the last chunk (and the end of the trailer section) came.
    var ended: Bool
    /// What follows the response.
    var rest: String

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// Decodes the response at the start of `raw`; a response cut short is malformed unless
    /// `complete` is false.
    init(_ raw: String, complete: Bool = true) throws {
        let bytes = Array(raw.utf8)
        let crlf: [UInt8] = [13, 10]
        guard let headEnd = bytes.firstRange(of: crlf + crlf) else { throw Malformed(description: "no end of head") }
        head = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self)
        var index = headEnd.upperBound
        var body: [UInt8] = []
        chunks = 0
        ended = false
        while index < bytes.endIndex {
            guard let lineEnd = bytes[index...].firstRange(of: crlf) else {
                if complete { throw Malformed(description: "a chunk size line cut short at \(index)") }
                break
            }
            let sizeLine = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeLine, radix: 16), size >= 0 else { throw Malformed(description: "chunk size \(sizeLine.debugDescription)") }
            let start = lineEnd.upperBound
            guard bytes.count >= start + size + 2 else {
                if complete { throw Malformed(description: "a chunk of \(size) bytes cut short") }
                break
            }
            guard Array(bytes[(start + size)..<(start + size + 2)]) == crlf else {
                throw Malformed(description: "no CRLF after a chunk of \(size) bytes: \(String(decoding: bytes[start..<(start + size + 2)], as: UTF8.self).debugDescription)")
            }
            index = start + size + 2
            if size == 0 {
                ended = true
                break
            }
            body += bytes[start..<(start + size)]
            chunks += 1
        }
        if complete, !ended { throw Malformed(description: "no last chunk") }
        self.body = String(decoding: body, as: UTF8.self)
        rest = String(decoding: bytes[index...], as: UTF8.self)
    }
}
