import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceCore
import SluiceGateway
import Testing

@testable import SluiceManagement

/// The management API's routes through Hummingbird's router, without sockets, on an SQLite store
/// and a real registry (Mock endpoints, so deploys run for real).
@Suite struct ManagementRoutesTests {
    static let password = "test-admin-password"

    static func mockDefinition(id: String, path: String? = nil, interval: Int = 1000) -> String {
        """
        id: \(id)
        name: \(id) events
        apiVersion: "1.0"
        definitionVersion: 4.0.0
        type: message
        listeners:
          - type: http
            paths: [{path: \(path ?? "/" + id)}]
            entrypoints:
              - {type: http-post, qos: auto}
              - {type: sse, qos: auto}
        endpointGroups:
          - name: mock-group
            type: mock
            endpoints:
              - {name: mock, type: mock, configuration: {messageInterval: \(interval), messageContent: hello}}
        plans: [{name: open, security: {type: key-less}, status: published}]
        """
    }

    static func mqttDefinition(id: String, password: String) -> String {
        """
        id: \(id)
        name: \(id)
        definitionVersion: 4.0.0
        type: message
        listeners:
          - type: http
            paths: [{path: /\(id)}]
            entrypoints: [{type: http-post, qos: auto}]
        endpointGroups:
          - name: mqtt
            type: mqtt5
            sharedConfiguration:
              security: {auth: {username: sluice, password: "\(password)"}}
              producer: {enabled: true, topic: t}
            endpoints:
              - {name: broker, type: mqtt5, inheritConfiguration: true, configuration: {serverHost: 127.0.0.1, serverPort: 1}}
        plans: [{name: open, security: {type: key-less}}]
        """
    }

    /// A management router over a fresh store (a file in a temporary directory), and the parts.
    struct Fixture {
        let service: ManagementService
        let registry: ApiRegistry
        let store: SQLiteManagementStore
        let databasePath: String
        let application: Application<RouterResponder<BasicRequestContext>>

        static func make(
            databasePath: String? = nil, open: Bool = false, signInLimit: ManagementService.SignInLimit = .init()
        ) async throws -> Fixture {
            let path = databasePath ?? FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mgmt-\(UUID().uuidString).db").path
            let logger = Logger(label: "test")
            let registry = ApiRegistry(catalog: GatewayCatalog.standard, logger: logger, drainTimeout: .milliseconds(200))
            let store = try await SQLiteManagementStore.open(path: path, logger: logger)
            let (service, generated) = try await ManagementService.start(
                store: store, registry: registry, adminPassword: ManagementRoutesTests.password, logger: logger, passwordRounds: 1000,
                signInLimit: signInLimit)
            #expect(generated == nil)
            let router = ManagementRoutes.makeRouter(service: service, options: .init(open: open, maxBodySize: 64 * 1024))
            return Fixture(service: service, registry: registry, store: store, databasePath: path, application: Application(router: router))
        }

        /// Runs `body` on a fresh fixture and closes it whatever happens.
        static func with(
            databasePath: String? = nil, open: Bool = false, signInLimit: ManagementService.SignInLimit = .init(),
            _ body: (Fixture) async throws -> Void
        ) async throws {
            let fixture = try await make(databasePath: databasePath, open: open, signInLimit: signInLimit)
            do {
                try await body(fixture)
            } catch {
                await fixture.close()
                throw error
            }
            await fixture.close()
        }

        func close() async {
            for api in registry.deployed { registry.undeploy(id: api.id) }
            await store.close()
        }
    }

    static func token(_ client: some TestClientProtocol) async throws -> String {
        let response = try await client.execute(
            uri: "/management/token", method: .post, headers: [.contentType: "application/json"],
            body: ByteBuffer(string: #"{"username":"admin","password":"\#(password)"}"#))
        #expect(response.status == .ok)
        return try #require(try JSONParser.parse(String(buffer: response.body))["token"]?.stringValue)
    }

    static func body(_ response: TestResponse) throws -> JSONValue {
        try JSONParser.parse(String(buffer: response.body))
    }

    @Test func anonymousCallsAndWrongPasswordsGet401AndNothingElse() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let anonymous = try await client.execute(uri: "/management/apis", method: .get)
                #expect(anonymous.status == .unauthorized)
                #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                let forged = try await client.execute(uri: "/management/apis", method: .get, headers: [.authorization: "Bearer abc.def.ghi"])
                #expect(forged.status == .unauthorized)
                for credentials in [#"{"username":"admin","password":"wrong"}"#, #"{"username":"root","password":"\#(Self.password)"}"#] {
                    let refused = try await client.execute(
                        uri: "/management/token", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: credentials))
                    #expect(refused.status == .unauthorized)
                    #expect(try Self.body(refused) == ["message": "wrong user name or password"])
                }
                let malformed = try await client.execute(uri: "/management/token", method: .post, body: ByteBuffer(string: "{nope"))
                #expect(malformed.status == .badRequest)
                let token = try await Self.token(client)
                let allowed = try await client.execute(uri: "/management/apis", method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(allowed.status == .ok)
                // The OpenAPI document is public.
                #expect(try await client.execute(uri: "/management/openapi.json", method: .get).status == .ok)
                // Every answer forbids framing and foreign content, API answers are not cached.
                #expect(anonymous.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(allowed.headers[.xContentTypeOptions] == "nosniff")
                #expect(allowed.headers[.cacheControl] == "no-store")
            }
        }
    }

    @Test func createReadListUpdateDelete() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/yaml"]
                for index in 1...3 {
                    let created = try await client.execute(
                        uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "api\(index)")))
                    #expect(created.status == .created)
                    #expect(created.headers[.location] == "/management/apis/api\(index)")
                    #expect(try Self.body(created)["revision"] == 1)
                }
                let duplicate = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "api1")))
                #expect(duplicate.status == .conflict)

                let page = try Self.body(try await client.execute(uri: "/management/apis?page=2&perPage=2", method: .get, headers: auth))
                #expect(page["total"] == 3)
                #expect(page["data"]?.arrayValue?.map { $0["id"] } == ["api3"])
                #expect(page["data"]?.arrayValue?.first?["endpointType"] == "mock")
                #expect(page["data"]?.arrayValue?.first?["paths"] == ["/api3"])
                #expect(try await client.execute(uri: "/management/apis?perPage=500", method: .get, headers: auth).status == .badRequest)

                let updated = try await client.execute(
                    uri: "/management/apis/api2", method: .put, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "api2", interval: 50))
                )
                #expect(updated.status == .ok)
                #expect(try Self.body(updated)["revision"] == 2)
                // The same definition again changes nothing.
                let same = try await client.execute(
                    uri: "/management/apis/api2", method: .put, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "api2", interval: 50))
                )
                #expect(try Self.body(same)["revision"] == 2)
                let renamed = try await client.execute(
                    uri: "/management/apis/api2", method: .put, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "other")))
                #expect(renamed.status == .unprocessableContent)

                #expect(try await client.execute(uri: "/management/apis/api1", method: .delete, headers: auth).status == .noContent)
                #expect(try await client.execute(uri: "/management/apis/api1", method: .get, headers: auth).status == .notFound)
                #expect(try await client.execute(uri: "/management/apis/api1", method: .delete, headers: auth).status == .notFound)
            }
        }
    }

    @Test func invalidDefinitionsAre422WithEveryProblemAndNothingIsStored() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/yaml"]
                let broken = Self.mockDefinition(id: "broken").replacingOccurrences(of: "messageInterval: 1000", with: "messageInterval: -5")
                    .replacingOccurrences(of: "qos: auto}\n      - {type: sse", with: "qos: sometimes}\n      - {type: sse")
                let refused = try await client.execute(uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: broken))
                #expect(refused.status == .unprocessableContent)
                let paths = try Self.body(refused)["problems"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
                #expect(paths.contains("endpointGroups[0].endpoints[0].configuration.messageInterval"))
                #expect(paths.contains("listeners[0].entrypoints[0].qos"))
                #expect(try await client.execute(uri: "/management/apis/broken", method: .get, headers: auth).status == .notFound)

                let malformed = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: "id: [unclosed"))
                #expect(malformed.status == .badRequest)
                let oversize = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(repeating: UInt8(ascii: " "), count: 70 * 1024))
                #expect(oversize.status == .contentTooLarge)
                let notAnObject = try await client.execute(uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: "[1, 2]"))
                #expect(notAnObject.status == .badRequest)
            }
        }
    }

    @Test func createFromAFewFields() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/json"]
                let created = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth,
                    body: ByteBuffer(
                        string: #"{"name": "Quick", "path": "/quick", "endpointType": "mock", "configuration": {"messageInterval": 100}}"#))
                #expect(created.status == .created)
                let definition = try Self.body(created)["definition"]
                #expect(definition?["id"] == "quick")
                #expect(definition?["endpointGroups"]?.arrayValue?.first?["type"] == "mock")
                let missing = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: #"{"endpointType": "kafka"}"#))
                #expect(missing.status == .unprocessableContent)
                #expect(try Self.body(missing)["problems"]?.arrayValue?.compactMap { $0["path"]?.stringValue } == ["name", "path"])
            }
        }
    }

    @Test func secretsAreStoredUsedAndNeverReturned() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/yaml"]
                let created = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth,
                    body: ByteBuffer(string: Self.mqttDefinition(id: "secret", password: "hunter2")))
                #expect(created.status == .created)
                #expect(!String(buffer: created.body).contains("hunter2"))
                #expect(String(buffer: created.body).contains(JSONSchema.secretMask))
                for uri in [
                    "/management/apis/secret", "/management/apis/secret/export", "/management/apis/secret/endpoint-groups",
                    "/management/apis/secret/endpoint-groups/mqtt", "/management/apis?page=1",
                ] {
                    let response = try await client.execute(uri: uri, method: .get, headers: auth)
                    #expect(response.status == .ok, "\(uri)")
                    #expect(!String(buffer: response.body).contains("hunter2"), "\(uri)")
                }
                // The mask sent back keeps the stored password; the store has it in clear for the gateway.
                let masked = String(buffer: try await client.execute(uri: "/management/apis/secret/export", method: .get, headers: auth).body)
                let changed = masked.replacingOccurrences(of: "\"topic\": \"t\"", with: "\"topic\": \"t2\"")
                #expect(changed != masked)
                let updated = try await client.execute(
                    uri: "/management/apis/secret", method: .put, headers: [.authorization: auth[.authorization]!, .contentType: "application/json"],
                    body: ByteBuffer(string: changed))
                #expect(updated.status == .ok)
                let stored = try #require(try await fixture.store.api(id: "secret"))
                #expect(stored.revision == 2)
                #expect(JSONWriter.string(stored.document).contains("hunter2"))
                #expect(JSONWriter.string(stored.document).contains("t2"))
                // A mask where nothing is stored is refused.
                let fresh = masked.replacingOccurrences(of: "\"id\": \"secret\"", with: "\"id\": \"copy\"")
                    .replacingOccurrences(of: "/secret", with: "/copy")
                let refused = try await client.execute(
                    uri: "/management/apis", method: .post, headers: [.authorization: auth[.authorization]!, .contentType: "application/json"],
                    body: ByteBuffer(string: fresh))
                #expect(refused.status == .unprocessableContent)
                #expect(
                    try Self.body(refused)["problems"]?.arrayValue?.first?["path"] == "endpointGroups[0].sharedConfiguration.security.auth.password")
            }
        }
    }

    @Test func endpointGroupsAndEndpointsAreAddedChangedAndRemovedWithValidation() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/json"]
                _ = try await client.execute(
                    uri: "/management/apis", method: .post, headers: [.authorization: auth[.authorization]!, .contentType: "application/yaml"],
                    body: ByteBuffer(string: Self.mockDefinition(id: "groups")))
                let base = "/management/apis/groups/endpoint-groups"
                let added = try await client.execute(
                    uri: base + "/mock-group/endpoints", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"name": "second", "type": "mock", "configuration": {"messageInterval": 200}}"#))
                #expect(added.status == .created)
                #expect(try Self.body(added)["name"] == "second")
                let clash = try await client.execute(
                    uri: base + "/mock-group/endpoints", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"name": "second", "type": "mock"}"#))
                #expect(clash.status == .conflict)
                let invalid = try await client.execute(
                    uri: base + "/mock-group/endpoints/second", method: .put, headers: auth,
                    body: ByteBuffer(string: #"{"type": "mock", "configuration": {"messageInterval": "often"}}"#))
                #expect(invalid.status == .unprocessableContent)
                #expect(
                    try Self.body(invalid)["problems"]?.arrayValue?.first?["path"] == "endpointGroups[0].endpoints[1].configuration.messageInterval")
                let changed = try await client.execute(
                    uri: base + "/mock-group/endpoints/second", method: .put, headers: auth,
                    body: ByteBuffer(string: #"{"type": "mock", "configuration": {"messageInterval": 300}}"#))
                #expect(changed.status == .ok)
                #expect(try Self.body(changed)["configuration"]?["messageInterval"] == 300)
                #expect(try await fixture.store.api(id: "groups")?.revision == 3)

                let group = try await client.execute(
                    uri: base, method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"name": "spare", "type": "mock", "endpoints": [{"name": "m", "type": "mock"}]}"#))
                #expect(group.status == .created)
                #expect(try Self.body(try await client.execute(uri: base, method: .get, headers: auth)).arrayValue?.count == 2)
                let replaced = try await client.execute(
                    uri: base + "/spare", method: .put, headers: auth,
                    body: ByteBuffer(
                        string: #"{"type": "mock", "endpoints": [{"name": "m2", "type": "mock", "configuration": {"messageInterval": 700}}]}"#))
                #expect(replaced.status == .ok)
                #expect(try Self.body(replaced)["name"] == "spare")
                let replacedEndpoint = try await client.execute(uri: base + "/spare/endpoints/m2", method: .get, headers: auth)
                #expect(replacedEndpoint.status == .ok)
                #expect(try Self.body(replacedEndpoint)["configuration"]?["messageInterval"] == 700)
                let badGroup = try await client.execute(
                    uri: base + "/spare", method: .put, headers: auth, body: ByteBuffer(string: #"{"type": "nosuch", "endpoints": []}"#))
                #expect(badGroup.status == .unprocessableContent)
                #expect(try await client.execute(uri: base + "/spare", method: .delete, headers: auth).status == .noContent)
                #expect(try await client.execute(uri: base + "/mock-group/endpoints/second", method: .delete, headers: auth).status == .noContent)
                #expect(try await client.execute(uri: base + "/mock-group/endpoints/second", method: .get, headers: auth).status == .notFound)
                // The last endpoint of the only group cannot go: the definition would be invalid.
                let last = try await client.execute(uri: base + "/mock-group/endpoints/mock", method: .delete, headers: auth)
                #expect(last.status == .unprocessableContent)
                #expect(try await client.execute(uri: base + "/nope", method: .get, headers: auth).status == .notFound)
            }
        }
    }

    @Test func deployUndeployAndRedeploySwapTheRunningApi() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/yaml"]
                _ = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "live")))
                let before = try Self.body(try await client.execute(uri: "/management/apis/live/deployment", method: .get, headers: auth))
                #expect(before["deployed"] == false)
                #expect(try await client.execute(uri: "/management/apis/live/redeploy", method: .post, headers: auth).status == .conflict)

                let deployed = try await client.execute(uri: "/management/apis/live/deploy", method: .post, headers: auth)
                #expect(deployed.status == .ok)
                #expect(try Self.body(deployed)["revision"] == 1)
                #expect(try Self.body(deployed)["running"] == true)
                let first = try #require(fixture.registry.api(id: "live"))
                #expect(first.origin == .management)

                // A change is stored but not served until the next deploy.
                _ = try await client.execute(
                    uri: "/management/apis/live", method: .put, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "live", interval: 20))
                )
                #expect(fixture.registry.api(id: "live") === first)
                let status = try Self.body(try await client.execute(uri: "/management/apis/live/deployment", method: .get, headers: auth))
                #expect(status["revision"] == 1)
                #expect(status["latestRevision"] == 2)
                let redeployed = try await client.execute(uri: "/management/apis/live/redeploy", method: .post, headers: auth)
                #expect(try Self.body(redeployed)["revision"] == 2)
                #expect(fixture.registry.api(id: "live") !== first)

                // Another API on the same path cannot be deployed beside it.
                _ = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "clash", path: "/live")))
                let clash = try await client.execute(uri: "/management/apis/clash/deploy", method: .post, headers: auth)
                #expect(clash.status == .conflict)
                #expect(try Self.body(clash)["problems"]?.arrayValue?.isEmpty == false)

                let undeployed = try await client.execute(uri: "/management/apis/live/undeploy", method: .post, headers: auth)
                #expect(try Self.body(undeployed)["deployed"] == false)
                #expect(fixture.registry.api(id: "live") == nil)
                _ = try await client.execute(uri: "/management/apis/live/deploy", method: .post, headers: auth)
                #expect(try await client.execute(uri: "/management/apis/live", method: .delete, headers: auth).status == .noContent)
                #expect(fixture.registry.api(id: "live") == nil)
            }
        }
    }

    @Test func definitionFilesWinOverTheManagementApi() async throws {
        try await Fixture.with { fixture in
            let validator = DefinitionValidator(catalog: GatewayCatalog.standard)
            let document = try #require(try DocumentReader.read(Self.mockDefinition(id: "filed"), syntax: .yaml).first)
            guard case .valid(let api) = validator.validate(document: document) else {
                Issue.record("invalid")
                return
            }
            try await fixture.registry.deploy(api, origin: .file("apis/filed.yaml"))
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/yaml"]
                let refused = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "filed")))
                #expect(refused.status == .conflict)
                #expect(try Self.body(refused)["message"]?.stringValue?.contains("apis/filed.yaml") == true)
            }
            // And the registry itself refuses the management API's replacement or removal.
            await #expect(throws: DeploymentError.self) { try await fixture.registry.deploy(api, origin: .management) }
            #expect(throws: DeploymentError.self) { try fixture.registry.undeploy(id: "filed", by: .management) }
            #expect(fixture.registry.api(id: "filed")?.origin == .file("apis/filed.yaml"))
        }
    }

    @Test func deploymentsSurviveARestart() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mgmt-\(UUID().uuidString).db").path
        try await Fixture.with(databasePath: path) { first in
            try await first.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/yaml"]
                _ = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "kept")))
                _ = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "idle")))
                #expect(try await client.execute(uri: "/management/apis/kept/deploy", method: .post, headers: auth).status == .ok)
            }
        }
        try await Fixture.with(databasePath: path) { second in
            #expect(second.registry.deployed.map(\.id) == ["kept"])
            try await second.application.test(.router) { client in
                // The token key is kept too: a new sign-in works, and so do the stored APIs.
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))"]
                let page = try Self.body(try await client.execute(uri: "/management/apis", method: .get, headers: auth))
                #expect(page["total"] == 2)
            }
        }
    }

    @Test func importCreatesOrUpdatesEveryDocument() async throws {
        try await Fixture.with { fixture in
            try await fixture.application.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(try await Self.token(client))", .contentType: "application/yaml"]
                _ = try await client.execute(
                    uri: "/management/apis", method: .post, headers: auth, body: ByteBuffer(string: Self.mockDefinition(id: "one")))
                let file = Self.mockDefinition(id: "one", interval: 10) + "\n---\n" + Self.mockDefinition(id: "two")
                let imported = try await client.execute(uri: "/management/import", method: .post, headers: auth, body: ByteBuffer(string: file))
                #expect(imported.status == .ok)
                #expect(
                    try Self.body(imported)["imported"]
                        == [["id": "one", "revision": 2, "outcome": "updated"], ["id": "two", "revision": 1, "outcome": "created"]])
                let bad = try await client.execute(
                    uri: "/management/import", method: .post, headers: auth,
                    body: ByteBuffer(string: Self.mockDefinition(id: "bad").replacingOccurrences(of: "type: mock", with: "type: nosuch")))
                #expect(bad.status == .unprocessableContent)
                #expect(try Self.body(bad)["message"]?.stringValue?.hasPrefix("document 1 of 1") == true)
            }
        }
    }

    @Test func catalogueListsEveryConnectorWithItsSchemas() async throws {
        try await Fixture.with(open: true) { fixture in
            try await fixture.application.test(.router) { client in
                // Open mode: no token needed.
                let catalogue = try Self.body(try await client.execute(uri: "/management/catalog", method: .get))
                let types = catalogue["endpoints"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
                #expect(Set(types).isSuperset(of: ["kafka", "mqtt5", "rabbitmq", "mock"]))
                let kafka = catalogue["endpoints"]?.arrayValue?.first { $0["type"] == "kafka" }
                #expect(kafka?["sharedConfigurationSchema"]?["properties"] != nil)
                #expect(catalogue["entrypoints"]?.arrayValue?.count == 4)
            }
        }
    }

    @Test func theOpenAPIDocumentDescribesExactlyTheRoutes() async throws {
        try await Fixture.with { fixture in
            let router = ManagementRoutes.makeRouter(service: fixture.service, options: .init(consoleFolder: nil))
            let routes = Set(router.routes.map { "\($0.method.rawValue.lowercased()) \($0.path.description)" })
            let document = ManagementOpenAPI.document
            var documented: Set<String> = []
            for (path, item) in document["paths"]?.objectValue ?? [:] {
                for method in item.objectValue?.keys ?? [] { documented.insert("\(method) \(path)") }
            }
            #expect(routes == documented)
            #expect(document["openapi"] == "3.1.0")
        }
    }

    @Test func repeatedFailedSignInsAreRefusedForAWhile() async throws {
        try await Fixture.with(signInLimit: .init(failures: 3, window: .seconds(1))) { fixture in
            try await fixture.application.test(.router) { client in
                func signIn(_ password: String) async throws -> TestResponse {
                    try await client.execute(
                        uri: "/management/token", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: #"{"username":"admin","password":"\#(password)"}"#))
                }
                for _ in 1...3 { #expect(try await signIn("guess").status == .unauthorized) }
                // Even the right password is refused until the window has passed.
                let refused = try await signIn(Self.password)
                #expect(refused.status == .tooManyRequests)
                #expect(try Self.body(refused)["message"]?.stringValue?.hasPrefix("too many failed sign-ins") == true)
                try await Task.sleep(for: .milliseconds(1100))
                #expect(try await signIn(Self.password).status == .ok)
            }
        }
    }
}
