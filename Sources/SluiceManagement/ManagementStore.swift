import Foundation
import SluiceCore

/// An API as the management API keeps it: the v4 definition document as last written (secrets
/// in clear: the store is the gateway's own), and the version that is deployed, if any.
public struct StoredApi: Sendable, Hashable {
    public var id: String
    public var document: JSONValue
    /// 1 when created, one more at every change.
    public var revision: Int
    public var createdAt: Date
    public var updatedAt: Date
    /// The deployed version: its revision, document and time. A change after a deploy is not
    /// served until the next deploy.
    public var deployment: Deployment?

    public struct Deployment: Sendable, Hashable {
        public var revision: Int
        public var document: JSONValue
        public var at: Date

        public init(revision: Int, document: JSONValue, at: Date) {
            self.revision = revision
            self.document = document
            self.at = at
        }
    }

    public init(id: String, document: JSONValue, revision: Int, createdAt: Date, updatedAt: Date, deployment: Deployment? = nil) {
        self.id = id
        self.document = document
        self.revision = revision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deployment = deployment
    }
}

/// Where the management API keeps APIs and its own settings (the admin's password hash, the key
/// that signs tokens). SQLite by default; PostgreSQL when several gateway nodes share their APIs.
/// Writes are conditional on the revision read, so concurrent writers never lose an update.
public protocol ManagementStore: Sendable {
    /// A page of APIs ordered by id, and how many there are in all.
    func list(offset: Int, limit: Int) async throws -> (apis: [StoredApi], total: Int)
    func api(id: String) async throws -> StoredApi?
    /// Inserts a new API; false when one with its id exists.
    func insert(_ api: StoredApi) async throws -> Bool
    /// Replaces the API if its stored revision is still `expectedRevision`; false when another
    /// writer (another gateway node) changed or deleted it meanwhile.
    func replace(_ api: StoredApi, expectedRevision: Int) async throws -> Bool
    /// Whether there was such an API.
    func delete(id: String) async throws -> Bool
    func setting(_ name: String) async throws -> String?
    func setSetting(_ name: String, _ value: String) async throws
    /// Stores `value` unless the setting exists, and answers what is stored: the first of several
    /// nodes starting at once wins.
    func settingIfMissing(_ name: String, _ value: String) async throws -> String
    func close() async
}

/// A store that failed: the message names what, never a secret.
public struct ManagementStoreError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
