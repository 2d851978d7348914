import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore
import SluiceGateway

/// The management API's HTTP routes, under `/management`. Every body is JSON; definitions may
/// also be sent as YAML (`Content-Type: application/yaml`, or sniffed). Failures are
/// `{"message": ..., "problems": [{"path", "message", "severity"}]}` with their status.
public enum ManagementRoutes {
    public struct Options: Sendable {
        /// No authentication at all: only for a listener on loopback, started explicitly so.
        public var open: Bool
        public var maxBodySize: Int
        /// The folder of the web console's files, served under `/console/`; nil: no console.
        public var consoleFolder: String?

        public init(open: Bool = false, maxBodySize: Int = DefinitionFiles.maximumFileSize, consoleFolder: String? = ManagementRoutes.consoleFolder) {
            self.open = open
            self.maxBodySize = maxBodySize
            self.consoleFolder = consoleFolder
        }
    }

    /// The web console shipped with Sluice (the target's `Console` resources), if present.
    public static var consoleFolder: String? {
        guard let path = Bundle.module.resourceURL?.appendingPathComponent("Console").path,
            FileManager.default.fileExists(atPath: path + "/index.html")
        else { return nil }
        return path
    }

    public static func makeRouter(service: ManagementService, options: Options = Options()) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ManagementHeadersMiddleware())
        router.add(middleware: ManagementErrorMiddleware())
        router.add(middleware: ManagementAuthMiddleware(service: service, open: options.open))
        if let folder = options.consoleFolder {
            // Static files only: every call the console makes goes through the API with its token.
            router.add(
                middleware: FileMiddleware(
                    folder, urlBasePath: "/console", cacheControl: .init([(MediaType(type: .any), [.noCache])]), searchForIndexHtml: true))
            router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/console/"]) }
        }
        let limit = options.maxBodySize
        let catalog = service.catalog

        router.get("/management/openapi.json") { _, _ in
            json(.ok, ManagementOpenAPI.document)
        }
        router.post("/management/token") { request, _ in
            let body = try await readJSON(request, limit: limit)
            guard let user = body["username"]?.stringValue, let password = body["password"]?.stringValue else {
                throw ManagementFailure(400, "send {\"username\": ..., \"password\": ...}")
            }
            guard let token = try await service.login(user: user, password: password) else {
                throw ManagementFailure(401, "wrong user name or password")
            }
            return json(
                .ok, ["token": .string(token), "tokenType": "Bearer", "expiresIn": .integer(Int(service.tokenLifetime.components.seconds))])
        }
        router.get("/management/catalog") { _, _ in
            json(
                .ok,
                [
                    "endpoints": .array(catalog.endpoints.keys.sorted().compactMap { catalog.endpoints[$0]?.catalogueEntry }),
                    "entrypoints": .array(catalog.entrypoints.keys.sorted().compactMap { catalog.entrypoints[$0]?.catalogueEntry }),
                ])
        }

        // APIs
        router.get("/management/apis") { request, _ in
            let page = try queryInteger(request, "page", default: 1, range: 1...1_000_000)
            let perPage = try queryInteger(request, "perPage", default: 20, range: 1...100)
            let (apis, total) = try await service.list(page: page, perPage: perPage)
            return json(
                .ok,
                [
                    "data": .array(apis.map { summary($0, running: service.running(id: $0.id)) }),
                    "page": .integer(page), "perPage": .integer(perPage), "total": .integer(total),
                ])
        }
        router.post("/management/apis") { request, _ in
            let body = try await readDocument(request, limit: limit)
            let document = body["endpointType"] != nil ? try definition(fromFields: body) : body
            let api = try await service.create(document)
            return json(.created, resource(api, service: service), location: "/management/apis/\(api.id)")
        }
        router.get("/management/apis/{id}") { _, context in
            json(.ok, resource(try await service.api(id: try context.parameters.require("id")), service: service))
        }
        router.put("/management/apis/{id}") { request, context in
            let document = try await readDocument(request, limit: limit)
            return json(.ok, resource(try await service.update(id: try context.parameters.require("id"), document), service: service))
        }
        router.delete("/management/apis/{id}") { _, context in
            try await service.delete(id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.get("/management/apis/{id}/export") { _, context in
            let api = try await service.api(id: try context.parameters.require("id"))
            var response = json(.ok, catalog.maskingSecrets(in: api.document))
            response.headers[.contentDisposition] = "attachment; filename=\"\(api.id).json\""
            return response
        }
        router.post("/management/import") { request, _ in
            let documents = try await readDocuments(request, limit: limit)
            var results: [JSONValue] = []
            for (index, document) in documents.enumerated() {
                do {
                    let id = document["id"]?.stringValue
                    let existing: StoredApi? = if let id { try? await service.api(id: id) } else { nil }
                    let api: StoredApi
                    if let existing {
                        api = try await service.update(id: existing.id, document)
                    } else {
                        api = try await service.create(document)
                    }
                    results.append(["id": .string(api.id), "revision": .integer(api.revision), "outcome": existing == nil ? "created" : "updated"])
                } catch let failure as ManagementFailure {
                    throw ManagementFailure(
                        failure.status, "document \(index + 1) of \(documents.count): \(failure.message); the documents before it were imported",
                        problems: failure.problems)
                }
            }
            return json(.ok, ["imported": .array(results)])
        }

        // Deployment
        router.get("/management/apis/{id}/deployment") { _, context in
            let api = try await service.api(id: try context.parameters.require("id"))
            return json(.ok, deployment(api, service: service))
        }
        router.post("/management/apis/{id}/deploy") { _, context in
            let api = try await service.deploy(id: try context.parameters.require("id"))
            return json(.ok, deployment(api, service: service))
        }
        router.post("/management/apis/{id}/redeploy") { _, context in
            let id = try context.parameters.require("id")
            guard try await service.api(id: id).deployment != nil else { throw ManagementFailure(409, "API \(id) is not deployed: deploy it") }
            return json(.ok, deployment(try await service.deploy(id: id), service: service))
        }
        router.post("/management/apis/{id}/undeploy") { _, context in
            json(.ok, deployment(try await service.undeploy(id: try context.parameters.require("id")), service: service))
        }

        // Endpoint groups and endpoints
        router.get("/management/apis/{id}/endpoint-groups") { _, context in
            let api = try await service.api(id: try context.parameters.require("id"))
            return json(.ok, catalog.maskingSecrets(in: api.document)["endpointGroups"] ?? .array([]))
        }
        router.post("/management/apis/{id}/endpoint-groups") { request, context in
            let id = try context.parameters.require("id")
            let group = try await readDocument(request, limit: limit)
            guard let name = group["name"]?.stringValue else { throw ManagementFailure.invalid([Problem(.root + "name", "is required")]) }
            let api = try await service.modify(id: id) { (object: inout JSONObject) throws(ManagementFailure) in
                var groups = object["endpointGroups"]?.arrayValue ?? []
                if groups.contains(where: { $0["name"]?.stringValue == name }) {
                    throw ManagementFailure(409, "API \(id) has an endpoint group \(name)")
                }
                groups.append(group)
                object["endpointGroups"] = .array(groups)
            }
            return json(.created, try maskedGroup(api, name, catalog: catalog), location: "/management/apis/\(id)/endpoint-groups/\(name)")
        }
        router.get("/management/apis/{id}/endpoint-groups/{group}") { _, context in
            let api = try await service.api(id: try context.parameters.require("id"))
            return json(.ok, try maskedGroup(api, try context.parameters.require("group"), catalog: catalog))
        }
        router.put("/management/apis/{id}/endpoint-groups/{group}") { request, context in
            let (id, name) = (try context.parameters.require("id"), try context.parameters.require("group"))
            var group = try await readDocument(request, limit: limit)
            if group["name"] == nil, var object = group.objectValue {
                object["name"] = .string(name)
                group = .object(object)
            }
            let newName = group["name"]?.stringValue ?? name
            let api = try await service.modify(id: id) { (object: inout JSONObject) throws(ManagementFailure) in
                try changeGroup(&object, name, api: id) { $0 = group }
            }
            return json(.ok, try maskedGroup(api, newName, catalog: catalog))
        }
        router.delete("/management/apis/{id}/endpoint-groups/{group}") { _, context in
            let (id, name) = (try context.parameters.require("id"), try context.parameters.require("group"))
            _ = try await service.modify(id: id) { (object: inout JSONObject) throws(ManagementFailure) in
                var groups = object["endpointGroups"]?.arrayValue ?? []
                guard let index = groups.firstIndex(where: { $0["name"]?.stringValue == name }) else {
                    throw ManagementFailure(404, "API \(id) has no endpoint group \(name)")
                }
                groups.remove(at: index)
                object["endpointGroups"] = .array(groups)
            }
            return Response(status: .noContent)
        }
        router.post("/management/apis/{id}/endpoint-groups/{group}/endpoints") { request, context in
            let (id, groupName) = (try context.parameters.require("id"), try context.parameters.require("group"))
            let endpoint = try await readDocument(request, limit: limit)
            guard let name = endpoint["name"]?.stringValue else { throw ManagementFailure.invalid([Problem(.root + "name", "is required")]) }
            let api = try await service.modify(id: id) { (object: inout JSONObject) throws(ManagementFailure) in
                try changeGroup(&object, groupName, api: id) { (group: inout JSONValue) throws(ManagementFailure) in
                    var endpoints = group["endpoints"]?.arrayValue ?? []
                    if endpoints.contains(where: { $0["name"]?.stringValue == name }) {
                        throw ManagementFailure(409, "endpoint group \(groupName) has an endpoint \(name)")
                    }
                    endpoints.append(endpoint)
                    group = setting(group, "endpoints", .array(endpoints))
                }
            }
            return json(
                .created, try maskedEndpoint(api, groupName, name, catalog: catalog),
                location: "/management/apis/\(id)/endpoint-groups/\(groupName)/endpoints/\(name)")
        }
        router.get("/management/apis/{id}/endpoint-groups/{group}/endpoints/{endpoint}") { _, context in
            let api = try await service.api(id: try context.parameters.require("id"))
            return json(
                .ok, try maskedEndpoint(api, try context.parameters.require("group"), try context.parameters.require("endpoint"), catalog: catalog))
        }
        router.put("/management/apis/{id}/endpoint-groups/{group}/endpoints/{endpoint}") { request, context in
            let (id, groupName, name) = (
                try context.parameters.require("id"), try context.parameters.require("group"), try context.parameters.require("endpoint")
            )
            var endpoint = try await readDocument(request, limit: limit)
            if endpoint["name"] == nil { endpoint = setting(endpoint, "name", .string(name)) }
            let newName = endpoint["name"]?.stringValue ?? name
            let api = try await service.modify(id: id) { (object: inout JSONObject) throws(ManagementFailure) in
                try changeGroup(&object, groupName, api: id) { (group: inout JSONValue) throws(ManagementFailure) in
                    var endpoints = group["endpoints"]?.arrayValue ?? []
                    guard let index = endpoints.firstIndex(where: { $0["name"]?.stringValue == name }) else {
                        throw ManagementFailure(404, "endpoint group \(groupName) has no endpoint \(name)")
                    }
                    endpoints[index] = endpoint
                    group = setting(group, "endpoints", .array(endpoints))
                }
            }
            return json(.ok, try maskedEndpoint(api, groupName, newName, catalog: catalog))
        }
        router.delete("/management/apis/{id}/endpoint-groups/{group}/endpoints/{endpoint}") { _, context in
            let (id, groupName, name) = (
                try context.parameters.require("id"), try context.parameters.require("group"), try context.parameters.require("endpoint")
            )
            _ = try await service.modify(id: id) { (object: inout JSONObject) throws(ManagementFailure) in
                try changeGroup(&object, groupName, api: id) { (group: inout JSONValue) throws(ManagementFailure) in
                    var endpoints = group["endpoints"]?.arrayValue ?? []
                    guard let index = endpoints.firstIndex(where: { $0["name"]?.stringValue == name }) else {
                        throw ManagementFailure(404, "endpoint group \(groupName) has no endpoint \(name)")
                    }
                    endpoints.remove(at: index)
                    group = setting(group, "endpoints", .array(endpoints))
                }
            }
            return Response(status: .noContent)
        }
        return router
    }

    // MARK: Representations

    static func summary(_ api: StoredApi, running: DeployedApi?) -> JSONValue {
        let paths = (api.document["listeners"]?.arrayValue ?? []).flatMap { $0["paths"]?.arrayValue ?? [] }.compactMap { $0["path"] }
        return [
            "id": .string(api.id),
            "name": api.document["name"] ?? .null,
            "paths": .array(paths),
            "endpointType": api.document["endpointGroups"]?.arrayValue?.first?["type"] ?? .null,
            "revision": .integer(api.revision),
            "deployed": .bool(api.deployment != nil),
            "deployedRevision": api.deployment.map { .integer($0.revision) } ?? .null,
            "running": .bool(running?.origin == .management),
            "updatedAt": .string(timestamp(api.updatedAt)),
        ]
    }

    static func resource(_ api: StoredApi, service: ManagementService) -> JSONValue {
        [
            "id": .string(api.id),
            "revision": .integer(api.revision),
            "createdAt": .string(timestamp(api.createdAt)),
            "updatedAt": .string(timestamp(api.updatedAt)),
            "deployment": deployment(api, service: service),
            "definition": service.catalog.maskingSecrets(in: api.document),
        ]
    }

    static func deployment(_ api: StoredApi, service: ManagementService) -> JSONValue {
        let running = service.running(id: api.id)
        return [
            "deployed": .bool(api.deployment != nil),
            "revision": api.deployment.map { .integer($0.revision) } ?? .null,
            "deployedAt": api.deployment.map { .string(timestamp($0.at)) } ?? .null,
            "latestRevision": .integer(api.revision),
            "running": .bool(running != nil),
            "runningFrom": running.map { .string($0.origin == .management ? "management" : "file") } ?? .null,
        ]
    }

    static func maskedGroup(_ api: StoredApi, _ name: String, catalog: ConnectorCatalog) throws(ManagementFailure) -> JSONValue {
        let groups = catalog.maskingSecrets(in: api.document)["endpointGroups"]?.arrayValue ?? []
        guard let group = groups.first(where: { $0["name"]?.stringValue == name }) else {
            throw ManagementFailure(404, "API \(api.id) has no endpoint group \(name)")
        }
        return group
    }

    static func maskedEndpoint(_ api: StoredApi, _ groupName: String, _ name: String, catalog: ConnectorCatalog) throws(ManagementFailure)
        -> JSONValue
    {
        let group = try maskedGroup(api, groupName, catalog: catalog)
        guard let endpoint = group["endpoints"]?.arrayValue?.first(where: { $0["name"]?.stringValue == name }) else {
            throw ManagementFailure(404, "endpoint group \(groupName) has no endpoint \(name)")
        }
        return endpoint
    }

    static func changeGroup(
        _ object: inout JSONObject, _ name: String, api id: String, _ change: (inout JSONValue) throws(ManagementFailure) -> Void
    ) throws(ManagementFailure) {
        var groups = object["endpointGroups"]?.arrayValue ?? []
        guard let index = groups.firstIndex(where: { $0["name"]?.stringValue == name }) else {
            throw ManagementFailure(404, "API \(id) has no endpoint group \(name)")
        }
        try change(&groups[index])
        object["endpointGroups"] = .array(groups)
    }

    static func setting(_ value: JSONValue, _ key: String, _ member: JSONValue) -> JSONValue {
        guard var object = value.objectValue else { return value }
        object[key] = member
        return .object(object)
    }

    /// A whole v4 definition from a few fields: `name`, `path`, `endpointType`, optional `id`,
    /// `configuration` (the endpoint's), `sharedConfiguration` and `entrypoints` (types; by
    /// default HTTP POST, HTTP GET, SSE and WebSocket at QoS auto).
    static func definition(fromFields fields: JSONValue) throws(ManagementFailure) -> JSONValue {
        var problems: [Problem] = []
        let name = fields["name"]?.stringValue ?? ""
        let path = fields["path"]?.stringValue ?? ""
        let type = fields["endpointType"]?.stringValue ?? ""
        if name.isEmpty { problems.append(Problem(.root + "name", "is required")) }
        if path.isEmpty { problems.append(Problem(.root + "path", "is required")) }
        if type.isEmpty { problems.append(Problem(.root + "endpointType", "is required")) }
        guard problems.isEmpty else { throw ManagementFailure.invalid(problems) }
        let entrypointTypes = fields["entrypoints"]?.arrayValue?.compactMap(\.stringValue) ?? ["http-post", "http-get", "sse", "websocket"]
        var definition: JSONObject = [
            "name": .string(name), "apiVersion": "1.0", "definitionVersion": "4.0.0", "type": "message",
            "listeners": [
                [
                    "type": "http", "paths": [["path": .string(path)]],
                    "entrypoints": .array(entrypointTypes.map { ["type": .string($0), "qos": "auto"] }),
                ]
            ],
            "endpointGroups": [
                [
                    "name": "default", "type": .string(type), "sharedConfiguration": fields["sharedConfiguration"] ?? [:],
                    "endpoints": [
                        ["name": "default", "type": .string(type), "inheritConfiguration": true, "configuration": fields["configuration"] ?? [:]]
                    ],
                ]
            ],
            "plans": [["name": "open", "security": ["type": "key-less"], "status": "published"]],
        ]
        if let id = fields["id"] { definition["id"] = id }
        return .object(definition)
    }

    // MARK: HTTP helpers

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue, location: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let location { headers[.location] = location }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value, pretty: true))))
    }

    static func readText(_ request: Request, limit: Int) async throws -> String {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw ManagementFailure(413, "the body is larger than \(limit) bytes")
        }
        guard let text = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes) else {
            throw ManagementFailure(400, "the body is not UTF-8")
        }
        return text
    }

    static func syntax(of request: Request, text: String) -> DocumentReader.Syntax {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        if type.contains("yaml") { return .yaml }
        if type.contains("json") { return .json }
        return DocumentReader.syntax(forFileName: "", content: text)
    }

    /// Every document of the body (a definition file may hold several YAML documents).
    static func readDocuments(_ request: Request, limit: Int) async throws -> [JSONValue] {
        let text = try await readText(request, limit: limit)
        do {
            return try DocumentReader.read(text, syntax: syntax(of: request, text: text))
        } catch {
            throw ManagementFailure(400, "\(error)")
        }
    }

    /// One document (a definition, a group, an endpoint), JSON or YAML.
    static func readDocument(_ request: Request, limit: Int) async throws -> JSONValue {
        let documents = try await readDocuments(request, limit: limit)
        guard documents.count == 1, let document = documents.first, document.objectValue != nil else {
            throw ManagementFailure(400, "the body must be one JSON or YAML object")
        }
        return document
    }

    static func readJSON(_ request: Request, limit: Int) async throws -> JSONValue {
        let text = try await readText(request, limit: limit)
        do {
            return try JSONParser.parse(text)
        } catch {
            throw ManagementFailure(400, "malformed JSON: \(error.description)")
        }
    }

    static func queryInteger(_ request: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws(ManagementFailure) -> Int {
        guard let text = request.uri.queryParameters[name[...]] else { return value }
        guard let number = Int(String(text)), range.contains(number) else {
            throw ManagementFailure(400, "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// Headers on every answer of the management listener: the console may load only its own files
/// and may not be framed; API answers are never cached (they describe credentials' masks and
/// deployments that change).
struct ManagementHeadersMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if request.uri.path.hasPrefix("/management/") { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// Turns ``ManagementFailure`` (and Hummingbird's own errors) into JSON error responses.
struct ManagementErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let failure as ManagementFailure {
            var body: JSONObject = ["message": .string(failure.message)]
            if !failure.problems.isEmpty { body["problems"] = .array(failure.problems.map(\.json)) }
            var response = ManagementRoutes.json(HTTPResponse.Status(code: failure.status), .object(body))
            if failure.status == 401 { response.headers[.wwwAuthenticate] = "Bearer realm=\"sluice\"" }
            return response
        } catch let error as any HTTPResponseError {
            let message = error.status == .notFound ? "no such resource" : error.status.reasonPhrase
            return ManagementRoutes.json(error.status, ["message": .string(message)])
        }
    }
}

/// Refuses every call without a valid bearer token, but the token request and the OpenAPI
/// document; nothing when the listener was started open.
struct ManagementAuthMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let service: ManagementService
    let open: Bool

    static let anonymousPaths: Set<String> = ["/management/token", "/management/openapi.json"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if open || Self.anonymousPaths.contains(request.uri.path) || !request.uri.path.hasPrefix("/management/") {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer "),
            service.user(ofToken: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) != nil
        else {
            throw ManagementFailure(401, "a valid bearer token is required: POST /management/token")
        }
        return try await next(request, context)
    }
}
