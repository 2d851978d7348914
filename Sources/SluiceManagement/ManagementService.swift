import Foundation
import Logging
import SluiceCore
import SluiceGateway

/// A refused management request: the HTTP status, a message and, for invalid definitions, every
/// problem with its path. Never holds a secret.
public struct ManagementFailure: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public let problems: [Problem]

    public init(_ status: Int, _ message: String, problems: [Problem] = []) {
        self.status = status
        self.message = message
        self.problems = problems
    }

    public var description: String { "\(status) \(message)" }

    static func notFound(_ id: String) -> ManagementFailure { ManagementFailure(404, "no API \(id)") }

    static func invalid(_ problems: [Problem]) -> ManagementFailure {
        ManagementFailure(422, "the definition is invalid", problems: problems)
    }
}

/// What the management API does, without HTTP: APIs kept in a ``ManagementStore``, validated
/// with the same schemas as `sluice validate`, deployed into the gateway's ``ApiRegistry``.
/// Writes are serialised by the actor, so two updates never lose one another.
public actor ManagementService {
    public let store: any ManagementStore
    public let registry: ApiRegistry
    let validator: DefinitionValidator
    let logger: Logger
    let tokens: BearerTokens
    let adminUser: String
    /// The deployment (by its time) this node last applied, per API.
    private var applied: [String: Date] = [:]

    static let signingKeySetting = "tokens.signing-key"
    static let adminHashSetting = "admin.password-hash"

    /// Failed sign-ins allowed within a window; past that every sign-in is refused with `429`
    /// until the window has passed (a brute-force attempt then costs the attacker the window).
    public struct SignInLimit: Sendable {
        public var failures: Int
        public var window: Duration

        public init(failures: Int = 10, window: Duration = .seconds(60)) {
            self.failures = failures
            self.window = window
        }
    }

    let signInLimit: SignInLimit
    private var failedSignIns: [ContinuousClock.Instant] = []

    init(store: any ManagementStore, registry: ApiRegistry, tokens: BearerTokens, adminUser: String, signInLimit: SignInLimit, logger: Logger) {
        self.signInLimit = signInLimit
        self.store = store
        self.registry = registry
        self.validator = DefinitionValidator(catalog: registry.catalog)
        self.tokens = tokens
        self.adminUser = adminUser
        self.logger = logger
    }

    /// Opens the management service on `store`: makes the token key and the admin's password hash
    /// on first start (from `adminPassword`, or a generated one returned in `generatedPassword` to
    /// be shown once), then deploys every API the store says is deployed.
    public static func start(
        store: any ManagementStore, registry: ApiRegistry, adminPassword: String?, logger: Logger,
        passwordRounds: Int = PasswordHash.defaultRounds, signInLimit: SignInLimit = SignInLimit()
    ) async throws -> (service: ManagementService, generatedPassword: String?) {
        guard let key = Data(base64Encoded: try await store.settingIfMissing(signingKeySetting, BearerTokens.makeKey().base64EncodedString())),
            key.count >= 32
        else { throw ManagementStoreError("the stored token signing key is damaged: delete the setting \(signingKeySetting) to make a new one") }
        var generated: String?
        if let password = adminPassword, !password.isEmpty {
            // The environment's password is authoritative: it replaces a stored one that differs.
            if let stored = try await store.setting(adminHashSetting), PasswordHash.verify(password, against: stored) {
            } else {
                try await store.setSetting(adminHashSetting, try PasswordHash.make(password, rounds: passwordRounds))
            }
        } else if try await store.setting(adminHashSetting) == nil {
            let password = PasswordHash.randomPassword()
            let hash = try PasswordHash.make(password, rounds: passwordRounds)
            // Shown only by the node whose password was kept.
            if try await store.settingIfMissing(adminHashSetting, hash) == hash { generated = password }
        }
        let service = ManagementService(
            store: store, registry: registry, tokens: BearerTokens(key: key), adminUser: "admin", signInLimit: signInLimit, logger: logger)
        await service.synchronise()
        return (service, generated)
    }

    // MARK: Authentication

    /// A bearer token for the admin, or nil for wrong credentials. Throws `429` after too many
    /// failures (``SignInLimit``), whatever the credentials.
    public func login(user: String, password: String) async throws -> String? {
        let now = ContinuousClock.now
        failedSignIns.removeAll { now - $0 >= signInLimit.window }
        if failedSignIns.count >= signInLimit.failures, let oldest = failedSignIns.first {
            let wait = Int(((signInLimit.window - (now - oldest)) / .seconds(1)).rounded(.up))
            throw ManagementFailure(429, "too many failed sign-ins: try again in \(max(1, wait)) s")
        }
        guard user == adminUser, let hash = try await store.setting(Self.adminHashSetting), PasswordHash.verify(password, against: hash) else {
            failedSignIns.append(now)
            if failedSignIns.count == signInLimit.failures {
                logger.warning("management: sign-ins refused for a while after repeated failures", metadata: ["failures": "\(failedSignIns.count)"])
            }
            return nil
        }
        return tokens.issue(subject: user)
    }

    /// The user a bearer token was issued to, if it is valid.
    public nonisolated func user(ofToken token: String) -> String? {
        tokens.subject(of: token)
    }

    public nonisolated var tokenLifetime: Duration { tokens.lifetime }

    // MARK: Reads

    public func list(page: Int, perPage: Int) async throws -> (apis: [StoredApi], total: Int) {
        try await store.list(offset: (page - 1) * perPage, limit: perPage)
    }

    public func api(id: String) async throws -> StoredApi {
        guard let api = try await store.api(id: id) else { throw ManagementFailure.notFound(id) }
        return api
    }

    /// Whether a version of the API runs in this gateway, and from where.
    public nonisolated func running(id: String) -> DeployedApi? { registry.api(id: id) }

    public nonisolated var catalog: ConnectorCatalog { registry.catalog }

    // MARK: Writes

    /// Creates an API from a v4 definition document. 409 when the id is taken.
    public func create(_ document: JSONValue) async throws -> StoredApi {
        let (id, checked) = try validated(document, storedAs: nil)
        if try await store.api(id: id) != nil { throw ManagementFailure(409, "an API with id \(id) exists: update it instead") }
        let now = Date()
        let api = StoredApi(id: id, document: checked, revision: 1, createdAt: now, updatedAt: now)
        guard try await store.insert(api) else { throw ManagementFailure(409, "an API with id \(id) exists: update it instead") }
        logger.info("management: API created", metadata: ["api": "\(id)"])
        return api
    }

    /// Replaces the definition of API `id`. Masked secrets sent back keep their stored values.
    public func update(id: String, _ document: JSONValue) async throws -> StoredApi {
        var api = try await self.api(id: id)
        let (checkedId, checked) = try validated(document, storedAs: api)
        guard checkedId == id else {
            throw ManagementFailure.invalid([Problem(.root + "id", "is \(checkedId), but this is API \(id): the id of an API cannot change")])
        }
        guard checked != api.document else { return api }
        let read = api.revision
        api.document = checked
        api.revision += 1
        api.updatedAt = Date()
        try await save(api, expectedRevision: read)
        logger.info("management: API updated", metadata: ["api": "\(id)", "revision": "\(api.revision)"])
        return api
    }

    /// Changes the stored definition of API `id` with `change` (on the secrets-in-clear document),
    /// then validates and saves it as ``update(id:_:)`` does.
    public func modify(id: String, _ change: (inout JSONObject) throws(ManagementFailure) -> Void) async throws -> StoredApi {
        let api = try await self.api(id: id)
        guard var object = api.document.objectValue else { throw ManagementFailure(500, "the stored definition of \(id) is not an object") }
        try change(&object)
        return try await update(id: id, .object(object))
    }

    /// Deletes API `id`, undeploying it first.
    public func delete(id: String) async throws {
        _ = try await self.api(id: id)
        try undeployRunning(id: id)
        _ = try await store.delete(id: id)
        applied[id] = nil
        logger.info("management: API deleted", metadata: ["api": "\(id)"])
    }

    /// Deploys the latest revision of API `id`; the running version, if any, is swapped at once
    /// (other APIs are not touched).
    public func deploy(id: String) async throws -> StoredApi {
        var api = try await self.api(id: id)
        guard case .valid(let deployable) = validator.validate(document: api.document) else {
            throw ManagementFailure.invalid(invalidProblems(api.document))
        }
        do {
            try await registry.deploy(deployable, origin: .management)
        } catch let error as DeploymentError {
            throw ManagementFailure(409, "API \(id) cannot be deployed", problems: error.problems)
        } catch {
            throw ManagementFailure(502, "API \(id) cannot be deployed: \(error)")
        }
        api.deployment = StoredApi.Deployment(revision: api.revision, document: api.document, at: Date())
        try await save(api, expectedRevision: api.revision)
        applied[id] = api.deployment?.at
        logger.info("management: API deployed", metadata: ["api": "\(id)", "revision": "\(api.revision)"])
        return api
    }

    /// Stops serving API `id`; its definition stays.
    public func undeploy(id: String) async throws -> StoredApi {
        var api = try await self.api(id: id)
        try undeployRunning(id: id)
        api.deployment = nil
        try await save(api, expectedRevision: api.revision)
        applied[id] = nil
        return api
    }

    private func save(_ api: StoredApi, expectedRevision: Int) async throws {
        guard try await store.replace(api, expectedRevision: expectedRevision) else {
            throw ManagementFailure(409, "API \(api.id) was changed meanwhile (by another node or client): read it again and retry")
        }
    }

    private func undeployRunning(id: String) throws {
        do {
            try registry.undeploy(id: id, by: .management)
        } catch {
            throw ManagementFailure(409, "API \(id) cannot be undeployed", problems: error.problems)
        }
    }

    /// Validates `document` as the new definition of an API (`stored`: the current one, whose
    /// secrets masks stand for): the id it resolves to and the document to store (secrets in
    /// clear, `id` filled in).
    private func validated(_ document: JSONValue, storedAs stored: StoredApi?) throws(ManagementFailure) -> (String, JSONValue) {
        guard document.objectValue != nil else {
            throw ManagementFailure.invalid([Problem(.root, "an API definition is a JSON object")])
        }
        let (restored, unresolved) = registry.catalog.restoringSecrets(in: document, from: stored?.document)
        switch validator.validate(document: restored) {
        case .invalid(let problems):
            throw ManagementFailure.invalid(problems.filter { $0.severity == .error } + unresolved)
        case .valid(let api):
            guard unresolved.isEmpty else { throw ManagementFailure.invalid(unresolved) }
            if let running = registry.api(id: api.id), case .file(let path) = running.origin {
                throw ManagementFailure(
                    409, "API \(api.id) is declared in the definition file \(path), which wins over the management API: change it there")
            }
            var object = restored.objectValue ?? [:]
            if object["id"]?.stringValue != api.id { object["id"] = .string(api.id) }
            return (api.id, .object(object))
        }
    }

    private func invalidProblems(_ document: JSONValue) -> [Problem] {
        if case .invalid(let problems) = validator.validate(document: document) { return problems.filter { $0.severity == .error } }
        return []
    }

    /// Makes this gateway serve what the store says is deployed: at start, and every few seconds
    /// when several nodes share the store (``ManagementSynchroniser``). A deployment that changed
    /// (another node deployed, redeployed or undeployed) is applied; one that cannot run is logged
    /// once per deployment. A store that cannot be read changes nothing.
    public func synchronise() async {
        var deployments: [String: StoredApi.Deployment] = [:]
        var offset = 0
        while true {
            let page: (apis: [StoredApi], total: Int)
            do {
                page = try await store.list(offset: offset, limit: 100)
            } catch {
                logger.warning("management: the store cannot be read; deployments left as they are", metadata: ["reason": "\(error)"])
                return
            }
            for api in page.apis { if let deployment = api.deployment { deployments[api.id] = deployment } }
            offset += page.apis.count
            if page.apis.isEmpty || offset >= page.total { break }
        }
        for (id, deployment) in deployments.sorted(by: { $0.key < $1.key }) where applied[id] != deployment.at {
            applied[id] = deployment.at
            switch validator.validate(document: deployment.document) {
            case .invalid(let problems):
                logger.error(
                    "management: a stored deployment is not valid here; not served",
                    metadata: ["api": "\(id)", "problems": "\(problems.filter { $0.severity == .error }.map(\.description))"])
            case .valid(let deployable):
                do {
                    try await registry.deploy(deployable, origin: .management)
                    logger.info("management: deployment applied", metadata: ["api": "\(id)", "revision": "\(deployment.revision)"])
                } catch {
                    logger.error("management: a stored deployment failed to start", metadata: ["api": "\(id)", "reason": "\(error)"])
                }
            }
        }
        for running in registry.deployed where running.origin == .management && deployments[running.id] == nil {
            try? registry.undeploy(id: running.id, by: .management)
            applied[running.id] = nil
        }
    }
}
