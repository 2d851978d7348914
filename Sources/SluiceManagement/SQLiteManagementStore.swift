import Foundation
import Logging
import SQLiteNIO
import SluiceCore

/// The management store in an SQLite file (or in memory, for tests).
public final class SQLiteManagementStore: ManagementStore {
    private let connection: SQLiteConnection

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// Opens (creating it if needed) the database at `path`, or an in-memory one for `nil`.
    public static func open(path: String?, logger: Logger) async throws -> SQLiteManagementStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: path.map { .file(path: $0) } ?? .memory, logger: logger)
        } catch {
            throw ManagementStoreError("cannot open the SQLite database \(path ?? ":memory:"): \(error)")
        }
        let store = SQLiteManagementStore(connection: connection)
        do {
            try await store.execute("PRAGMA journal_mode = WAL")
            try await store.execute("PRAGMA busy_timeout = 5000")
            try await store.execute(
                """
                CREATE TABLE IF NOT EXISTS apis (
                    id TEXT PRIMARY KEY,
                    document TEXT NOT NULL,
                    revision INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    deployed_revision INTEGER,
                    deployed_document TEXT,
                    deployed_at REAL
                )
                """)
            try await store.execute("CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        } catch {
            try? await connection.close()
            throw ManagementStoreError("cannot prepare the SQLite database \(path ?? ":memory:"): \(error)")
        }
        return store
    }

    public func list(offset: Int, limit: Int) async throws -> (apis: [StoredApi], total: Int) {
        let rows = try await connection.query("SELECT * FROM apis ORDER BY id LIMIT ? OFFSET ?", [.integer(limit), .integer(offset)])
        let total = try await connection.query("SELECT COUNT(*) AS total FROM apis", []).first?.column("total")?.integer ?? 0
        return (try rows.map(Self.api(from:)), total)
    }

    public func api(id: String) async throws -> StoredApi? {
        try await connection.query("SELECT * FROM apis WHERE id = ?", [.text(id)]).first.map(Self.api(from:))
    }

    public func insert(_ api: StoredApi) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO apis (id, document, revision, created_at, updated_at, deployed_revision, deployed_document, deployed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id
            """, Self.values(api))
        return !rows.isEmpty
    }

    public func replace(_ api: StoredApi, expectedRevision: Int) async throws -> Bool {
        let values = Self.values(api)
        let rows = try await connection.query(
            """
            UPDATE apis SET document = ?, revision = ?, created_at = ?, updated_at = ?, deployed_revision = ?, deployed_document = ?,
            deployed_at = ? WHERE id = ? AND revision = ? RETURNING id
            """, Array(values.dropFirst()) + [values[0], .integer(expectedRevision)])
        return !rows.isEmpty
    }

    private static func values(_ api: StoredApi) -> [SQLiteData] {
        [
            .text(api.id), .text(JSONWriter.string(api.document)), .integer(api.revision),
            .float(api.createdAt.timeIntervalSince1970), .float(api.updatedAt.timeIntervalSince1970),
            api.deployment.map { .integer($0.revision) } ?? .null,
            api.deployment.map { .text(JSONWriter.string($0.document)) } ?? .null,
            api.deployment.map { .float($0.at.timeIntervalSince1970) } ?? .null,
        ]
    }

    public func delete(id: String) async throws -> Bool {
        let existed = try await api(id: id) != nil
        _ = try await connection.query("DELETE FROM apis WHERE id = ?", [.text(id)])
        return existed
    }

    public func setting(_ name: String) async throws -> String? {
        try await connection.query("SELECT value FROM settings WHERE name = ?", [.text(name)]).first?.column("value")?.string
    }

    public func setSetting(_ name: String, _ value: String) async throws {
        _ = try await connection.query("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", [.text(name), .text(value)])
    }

    public func settingIfMissing(_ name: String, _ value: String) async throws -> String {
        _ = try await connection.query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", [.text(name), .text(value)])
        return try await setting(name) ?? value
    }

    public func close() async {
        try? await connection.close()
    }

    private func execute(_ sql: String) async throws {
        _ = try await connection.query(sql, [])
    }

    private static func api(from row: SQLiteRow) throws -> StoredApi {
        guard let id = row.column("id")?.string, let text = row.column("document")?.string,
            let revision = row.column("revision")?.integer
        else { throw ManagementStoreError("a row of the apis table is incomplete") }
        var deployment: StoredApi.Deployment?
        if let deployedRevision = row.column("deployed_revision")?.integer, let deployedText = row.column("deployed_document")?.string {
            deployment = StoredApi.Deployment(
                revision: deployedRevision, document: try document(deployedText, id: id),
                at: Date(timeIntervalSince1970: row.column("deployed_at")?.double ?? 0))
        }
        return StoredApi(
            id: id, document: try document(text, id: id), revision: revision,
            createdAt: Date(timeIntervalSince1970: row.column("created_at")?.double ?? 0),
            updatedAt: Date(timeIntervalSince1970: row.column("updated_at")?.double ?? 0),
            deployment: deployment)
    }

    private static func document(_ text: String, id: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(text)
        } catch {
            throw ManagementStoreError("the stored definition of API \(id) is not JSON: \(error)")
        }
    }
}
