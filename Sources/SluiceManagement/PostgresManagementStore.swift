import Foundation
import Logging
import NIOSSL
import PostgresNIO
import SluiceCore

/// The management store in PostgreSQL, shared by several gateway nodes (each picks up
/// deployments through ``ManagementSynchroniser``). Tables `sluice_apis` and `sluice_settings`
/// are created when missing.
public final class PostgresManagementStore: ManagementStore {
    private let client: PostgresClient
    private let running: Task<Void, Never>

    private init(client: PostgresClient) {
        self.client = client
        running = Task { await client.run() }
    }

    /// A connection URL: `postgres://user:password@host:port/database?sslmode=disable|require|verify-full`
    /// (`verify-full` and `require` both verify the server's certificate and name against the
    /// system's trust store: TLS is never a silent downgrade; `disable` is plain TCP, the default
    /// on loopback only).
    public struct Location: Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String
        public var tls: Bool

        public static func isPostgres(_ text: String) -> Bool {
            text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
        }

        public init(url text: String) throws(ManagementStoreError) {
            guard Self.isPostgres(text), let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
                throw ManagementStoreError("management.database: not a postgres:// URL with a host")
            }
            self.host = host
            port = components.port ?? 5432
            user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
            password = components.password.flatMap { $0.removingPercentEncoding }
            database = String(components.path.drop(while: { $0 == "/" }))
            if database.isEmpty { database = user }
            let mode = components.queryItems?.first { $0.name == "sslmode" }?.value
            switch mode {
            case nil:
                tls = !["127.0.0.1", "::1", "localhost"].contains(host)
            case "disable":
                tls = false
            case "require", "verify-full":
                tls = true
            case let other?:
                throw ManagementStoreError("management.database: sslmode \(other) is not one of disable, require, verify-full")
            }
        }

        /// The URL without its password.
        public var description: String {
            "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(tls ? "verify-full" : "disable")"
        }
    }

    public static func open(_ location: Location, logger: Logger) async throws -> PostgresManagementStore {
        // One direct connection first: it fails at once, with the server's reason, where the
        // pool would retry with back-off (a wrong password, an unknown database, refused TLS).
        let tlsContext: NIOSSLContext?
        do {
            tlsContext = location.tls ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil
        } catch {
            throw ManagementStoreError("cannot set up TLS for \(location): \(error)")
        }
        var direct = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: tlsContext.map { .require($0) } ?? .disable)
        direct.options.connectTimeout = .seconds(5)
        do {
            let connection = try await PostgresConnection.connect(configuration: direct, id: 0, logger: logger)
            do {
                try await prepareTables(connection, logger: logger)
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw ManagementStoreError("cannot use the PostgreSQL database \(location): \(Self.reason(error))")
        }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: location.tls ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = 4
        configuration.options.connectTimeout = .seconds(5)
        let store = PostgresManagementStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger))
        return store
    }

    /// Creates the tables when missing. Two nodes starting at once may race on CREATE TABLE IF
    /// NOT EXISTS: an advisory lock makes it one at a time.
    private static func prepareTables(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(7277106)", logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS sluice_apis (
                id TEXT PRIMARY KEY, document TEXT NOT NULL, revision BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
                deployed_revision BIGINT, deployed_document TEXT, deployed_at DOUBLE PRECISION)
            """, logger: logger)
        try await connection.query("CREATE TABLE IF NOT EXISTS sluice_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)", logger: logger)
        try await connection.query("SELECT pg_advisory_unlock(7277106)", logger: logger)
    }

    /// What went wrong, from PostgreSQL's own message when there is one (never the password).
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(error)"
    }

    private typealias Row = (String, String, Int, Double, Double, Int?, String?, Double?)

    public func list(offset: Int, limit: Int) async throws -> (apis: [StoredApi], total: Int) {
        let rows = try await client.query(
            "SELECT id, document, revision, created_at, updated_at, deployed_revision, deployed_document, deployed_at FROM sluice_apis ORDER BY id LIMIT \(limit) OFFSET \(offset)"
        )
        var apis: [StoredApi] = []
        for try await row in rows.decode(Row.self) { apis.append(try Self.api(row)) }
        var total = 0
        for try await count in try await client.query("SELECT COUNT(*) FROM sluice_apis").decode(Int.self) { total = count }
        return (apis, total)
    }

    public func api(id: String) async throws -> StoredApi? {
        let rows = try await client.query(
            "SELECT id, document, revision, created_at, updated_at, deployed_revision, deployed_document, deployed_at FROM sluice_apis WHERE id = \(id)"
        )
        for try await row in rows.decode(Row.self) { return try Self.api(row) }
        return nil
    }

    public func insert(_ api: StoredApi) async throws -> Bool {
        let document = JSONWriter.string(api.document)
        let deployed = api.deployment.map { JSONWriter.string($0.document) }
        let rows = try await client.query(
            """
            INSERT INTO sluice_apis (id, document, revision, created_at, updated_at, deployed_revision, deployed_document, deployed_at)
            VALUES (\(api.id), \(document), \(api.revision), \(api.createdAt.timeIntervalSince1970), \(api.updatedAt.timeIntervalSince1970),
            \(api.deployment?.revision), \(deployed), \(api.deployment?.at.timeIntervalSince1970))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """)
        for try await _ in rows { return true }
        return false
    }

    public func replace(_ api: StoredApi, expectedRevision: Int) async throws -> Bool {
        let document = JSONWriter.string(api.document)
        let deployed = api.deployment.map { JSONWriter.string($0.document) }
        let rows = try await client.query(
            """
            UPDATE sluice_apis SET document = \(document), revision = \(api.revision), created_at = \(api.createdAt.timeIntervalSince1970),
            updated_at = \(api.updatedAt.timeIntervalSince1970), deployed_revision = \(api.deployment?.revision),
            deployed_document = \(deployed), deployed_at = \(api.deployment?.at.timeIntervalSince1970)
            WHERE id = \(api.id) AND revision = \(expectedRevision) RETURNING id
            """)
        for try await _ in rows { return true }
        return false
    }

    public func delete(id: String) async throws -> Bool {
        for try await _ in try await client.query("DELETE FROM sluice_apis WHERE id = \(id) RETURNING id") { return true }
        return false
    }

    public func setting(_ name: String) async throws -> String? {
        for try await value in try await client.query("SELECT value FROM sluice_settings WHERE name = \(name)").decode(String.self) {
            return value
        }
        return nil
    }

    public func setSetting(_ name: String, _ value: String) async throws {
        try await client.query(
            "INSERT INTO sluice_settings (name, value) VALUES (\(name), \(value)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
    }

    public func settingIfMissing(_ name: String, _ value: String) async throws -> String {
        try await client.query("INSERT INTO sluice_settings (name, value) VALUES (\(name), \(value)) ON CONFLICT (name) DO NOTHING")
        return try await setting(name) ?? value
    }

    public func close() async {
        running.cancel()
        _ = await running.value
    }

    private static func api(_ row: Row) throws -> StoredApi {
        let (id, text, revision, created, updated, deployedRevision, deployedText, deployedAt) = row
        var deployment: StoredApi.Deployment?
        if let deployedRevision, let deployedText {
            deployment = StoredApi.Deployment(
                revision: deployedRevision, document: try document(deployedText, id: id), at: Date(timeIntervalSince1970: deployedAt ?? 0))
        }
        return StoredApi(
            id: id, document: try document(text, id: id), revision: revision, createdAt: Date(timeIntervalSince1970: created),
            updatedAt: Date(timeIntervalSince1970: updated), deployment: deployment)
    }

    private static func document(_ text: String, id: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(text)
        } catch {
            throw ManagementStoreError("the stored definition of API \(id) is not JSON: \(error)")
        }
    }
}
