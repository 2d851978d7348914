import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceCore
import SluiceGateway
import SluiceManagement
import Testing

/// Two gateway nodes sharing their APIs in a real PostgreSQL (Debian's package, started here on
/// 127.0.0.1:15432): a deployment made through either node is served by both within seconds.
@Suite(.serialized) struct ManagementPostgresTests {
    static let adminPassword = "two-nodes-admin"

    static func mockDefinition(id: String, interval: Int) -> String {
        """
        id: \(id)
        name: \(id)
        definitionVersion: 4.0.0
        type: message
        listeners:
          - type: http
            paths: [{path: /\(id)}]
            entrypoints: [{type: http-post, qos: auto}, {type: sse, qos: auto}]
        endpointGroups:
          - name: mock
            type: mock
            endpoints: [{name: mock, type: mock, configuration: {messageInterval: \(interval), messageContent: hi}}]
        plans: [{name: open, security: {type: key-less}}]
        """
    }

    /// One gateway node: its registry, its management service on the shared store, its router,
    /// and its synchroniser (every 300 ms here; 2 s by default).
    struct Node {
        let registry: ApiRegistry
        let store: PostgresManagementStore
        let service: ManagementService
        let application: Application<RouterResponder<BasicRequestContext>>
        let synchroniser: Task<Void, Never>

        static func start(url: String) async throws -> Node {
            let logger = Logger(label: "node")
            let registry = ApiRegistry(catalog: GatewayCatalog.standard, logger: logger, drainTimeout: .milliseconds(200))
            let store = try await PostgresManagementStore.open(try PostgresManagementStore.Location(url: url), logger: logger)
            let (service, _) = try await ManagementService.start(
                store: store, registry: registry, adminPassword: ManagementPostgresTests.adminPassword, logger: logger, passwordRounds: 1000)
            let synchroniser = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(300))
                    await service.synchronise()
                }
            }
            let router = ManagementRoutes.makeRouter(service: service, options: .init(consoleFolder: nil))
            return Node(registry: registry, store: store, service: service, application: Application(router: router), synchroniser: synchroniser)
        }

        func stop() async {
            synchroniser.cancel()
            _ = await synchroniser.value
            for api in registry.deployed { registry.undeploy(id: api.id) }
            await store.close()
        }
    }

    static func token(_ client: some TestClientProtocol) async throws -> String {
        let response = try await client.execute(
            uri: "/management/token", method: .post, headers: [.contentType: "application/json"],
            body: ByteBuffer(string: #"{"username":"admin","password":"\#(adminPassword)"}"#))
        #expect(response.status == .ok)
        return try #require(try JSONParser.parse(String(buffer: response.body))["token"]?.stringValue)
    }

    /// Waits until `condition` holds; the time it took.
    static func within(_ limit: Duration, _ condition: () -> Bool) async throws -> Duration {
        let start = ContinuousClock.now
        while !condition() {
            guard ContinuousClock.now - start < limit else { throw Failure("not within \(limit)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return ContinuousClock.now - start
    }

    @Test func aDeploymentThroughEitherNodeIsServedByBoth() async throws {
        let server = try await offThePool { try PostgresServer(port: 15432) }
        let first = try await Node.start(url: server.url)
        let second = try await Node.start(url: server.url)
        do {
            try await first.application.test(.router) { firstClient in
                try await second.application.test(.router) { secondClient in
                    // One token key for the cluster: a token from one node works on the other.
                    let token = try await Self.token(firstClient)
                    let auth: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/yaml"]

                    let created = try await firstClient.execute(
                        uri: "/management/apis", method: .post, headers: auth,
                        body: ByteBuffer(string: Self.mockDefinition(id: "shared", interval: 100)))
                    #expect(created.status == .created)
                    let seen = try await secondClient.execute(uri: "/management/apis/shared", method: .get, headers: auth)
                    #expect(seen.status == .ok)

                    #expect(try await firstClient.execute(uri: "/management/apis/shared/deploy", method: .post, headers: auth).status == .ok)
                    #expect(first.registry.api(id: "shared") != nil)
                    let pickedUp = try await Self.within(.seconds(5)) { second.registry.api(id: "shared")?.origin == .management }
                    print("second node served the deployment after \(pickedUp)")

                    // A change deployed through the second node reaches the first.
                    let updated = try await secondClient.execute(
                        uri: "/management/apis/shared", method: .put, headers: auth,
                        body: ByteBuffer(string: Self.mockDefinition(id: "shared", interval: 30)))
                    #expect(updated.status == .ok)
                    #expect(try await secondClient.execute(uri: "/management/apis/shared/redeploy", method: .post, headers: auth).status == .ok)
                    let revision = try #require(second.registry.api(id: "shared")?.api.revision)
                    _ = try await Self.within(.seconds(5)) { first.registry.api(id: "shared")?.api.revision == revision }

                    // A write based on a stale read is refused, never lost.
                    let stale = try #require(try await first.store.api(id: "shared"))
                    var change = stale
                    change.revision += 1
                    #expect(try await second.store.replace(change, expectedRevision: stale.revision))
                    #expect(try await first.store.replace(change, expectedRevision: stale.revision) == false)

                    // Undeployed through the first node: the second stops serving it too.
                    #expect(try await firstClient.execute(uri: "/management/apis/shared/undeploy", method: .post, headers: auth).status == .ok)
                    _ = try await Self.within(.seconds(5)) { second.registry.api(id: "shared") == nil }
                    #expect(try await secondClient.execute(uri: "/management/apis/shared", method: .delete, headers: auth).status == .noContent)
                }
            }
        } catch {
            await first.stop()
            await second.stop()
            throw error
        }
        await first.stop()
        await second.stop()
        // A third node started later gets the same APIs and password.
        server.stop()
    }

    @Test func aWrongDatabasePasswordIsAClearErrorWithoutThePassword() async throws {
        let server = try await offThePool { try PostgresServer(port: 15433) }
        let url = server.url.replacingOccurrences(of: server.password, with: "not-the-password")
        do {
            _ = try await PostgresManagementStore.open(try PostgresManagementStore.Location(url: url), logger: Logger(label: "test"))
            Issue.record("a wrong password was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("password authentication failed"), "\(text)")
            #expect(!text.contains("not-the-password"))
            #expect(text.contains("postgres://sluice@127.0.0.1:15433/sluice"))
            #expect(text.hasPrefix("cannot use the PostgreSQL database"))
        }
        server.stop()
    }

    @Test func connectionURLsAreCheckedAndNeverShowThePassword() throws {
        let location = try PostgresManagementStore.Location(url: "postgres://gw:s%40cret@db.example:6432/apis?sslmode=require")
        #expect(location.host == "db.example")
        #expect(location.port == 6432)
        #expect(location.password == "s@cret")
        #expect(location.database == "apis")
        #expect(location.tls)
        #expect(!location.description.contains("cret"))
        // Remote hosts default to TLS; loopback to plain.
        #expect(try PostgresManagementStore.Location(url: "postgresql://gw@db.example/apis").tls)
        #expect(try PostgresManagementStore.Location(url: "postgres://gw@127.0.0.1/apis").tls == false)
        #expect(throws: ManagementStoreError.self) { try PostgresManagementStore.Location(url: "postgres://db.example/apis?sslmode=allow") }
        #expect(throws: ManagementStoreError.self) { try PostgresManagementStore.Location(url: "mysql://db.example/apis") }
    }
}
