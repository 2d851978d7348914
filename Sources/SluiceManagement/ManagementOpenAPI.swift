import SluiceCore

/// The OpenAPI 3.1 document of the management API, served at `/management/openapi.json`. A test
/// checks it against the router's real routes, both ways.
enum ManagementOpenAPI {
    struct Operation {
        let method: String
        let path: String
        let summary: String
        /// The request body's schema reference, if the operation takes one.
        let body: String?
        /// Success status and the schema reference of its body (nil: no body).
        let success: (status: String, schema: String?)
        /// Failure statuses besides 401 (every operation but the anonymous ones may answer 401).
        let failures: [String]
        var anonymous = false
    }

    static let operations: [Operation] = [
        Operation(
            method: "post", path: "/management/token", summary: "Sign in: a bearer token for the admin", body: "Credentials",
            success: ("200", "Token"), failures: ["400", "401", "429"], anonymous: true),
        Operation(
            method: "get", path: "/management/openapi.json", summary: "This document", body: nil, success: ("200", nil), failures: [],
            anonymous: true),
        Operation(
            method: "get", path: "/management/catalog", summary: "Every endpoint and entrypoint type with its JSON Schemas", body: nil,
            success: ("200", "Catalog"), failures: []),
        Operation(
            method: "get", path: "/management/apis", summary: "A page of APIs (query: page from 1, perPage 1-100)", body: nil,
            success: ("200", "ApiPage"), failures: ["400"]),
        Operation(
            method: "post", path: "/management/apis",
            summary: "Create an API from a v4 definition (JSON or YAML) or from a few fields (name, path, endpointType, configuration)",
            body: "Definition", success: ("201", "Api"), failures: ["400", "409", "413", "422"]),
        Operation(
            method: "get", path: "/management/apis/{id}", summary: "An API, secrets masked", body: nil, success: ("200", "Api"), failures: ["404"]),
        Operation(
            method: "put", path: "/management/apis/{id}", summary: "Replace an API's definition; masked secrets sent back keep their values",
            body: "Definition", success: ("200", "Api"), failures: ["400", "404", "409", "413", "422"]),
        Operation(
            method: "delete", path: "/management/apis/{id}", summary: "Undeploy and delete an API", body: nil, success: ("204", nil),
            failures: ["404", "409"]),
        Operation(
            method: "get", path: "/management/apis/{id}/export", summary: "The API's v4 definition, secrets masked", body: nil,
            success: ("200", "Definition"), failures: ["404"]),
        Operation(
            method: "post", path: "/management/import", summary: "Create or update every API of a definition file (JSON, or YAML documents)",
            body: "Definition", success: ("200", "ImportResult"), failures: ["400", "409", "413", "422"]),
        Operation(
            method: "get", path: "/management/apis/{id}/deployment", summary: "The deployed revision and its time", body: nil,
            success: ("200", "Deployment"), failures: ["404"]),
        Operation(
            method: "post", path: "/management/apis/{id}/deploy", summary: "Deploy the latest revision (swapped in without touching other APIs)",
            body: nil, success: ("200", "Deployment"), failures: ["404", "409", "422", "502"]),
        Operation(
            method: "post", path: "/management/apis/{id}/redeploy", summary: "Deploy the latest revision of a deployed API", body: nil,
            success: ("200", "Deployment"), failures: ["404", "409", "422", "502"]),
        Operation(
            method: "post", path: "/management/apis/{id}/undeploy", summary: "Stop serving an API (its definition stays)", body: nil,
            success: ("200", "Deployment"), failures: ["404", "409"]),
        Operation(
            method: "get", path: "/management/apis/{id}/endpoint-groups", summary: "The API's endpoint groups, secrets masked", body: nil,
            success: ("200", "EndpointGroups"), failures: ["404"]),
        Operation(
            method: "post", path: "/management/apis/{id}/endpoint-groups", summary: "Add an endpoint group", body: "EndpointGroup",
            success: ("201", "EndpointGroup"), failures: ["400", "404", "409", "422"]),
        Operation(
            method: "get", path: "/management/apis/{id}/endpoint-groups/{group}", summary: "An endpoint group", body: nil,
            success: ("200", "EndpointGroup"), failures: ["404"]),
        Operation(
            method: "put", path: "/management/apis/{id}/endpoint-groups/{group}", summary: "Replace an endpoint group", body: "EndpointGroup",
            success: ("200", "EndpointGroup"), failures: ["400", "404", "422"]),
        Operation(
            method: "delete", path: "/management/apis/{id}/endpoint-groups/{group}", summary: "Remove an endpoint group", body: nil,
            success: ("204", nil), failures: ["404", "422"]),
        Operation(
            method: "post", path: "/management/apis/{id}/endpoint-groups/{group}/endpoints", summary: "Add an endpoint to a group",
            body: "Endpoint", success: ("201", "Endpoint"), failures: ["400", "404", "409", "422"]),
        Operation(
            method: "get", path: "/management/apis/{id}/endpoint-groups/{group}/endpoints/{endpoint}", summary: "An endpoint", body: nil,
            success: ("200", "Endpoint"), failures: ["404"]),
        Operation(
            method: "put", path: "/management/apis/{id}/endpoint-groups/{group}/endpoints/{endpoint}", summary: "Replace an endpoint",
            body: "Endpoint", success: ("200", "Endpoint"), failures: ["400", "404", "422"]),
        Operation(
            method: "delete", path: "/management/apis/{id}/endpoint-groups/{group}/endpoints/{endpoint}", summary: "Remove an endpoint",
            body: nil, success: ("204", nil), failures: ["404", "422"]),
    ]

    static let document: JSONValue = {
        var paths = JSONObject()
        for operation in operations {
            var entry: JSONObject = ["summary": .string(operation.summary), "operationId": .string(operationId(operation))]
            let parameters = operation.path.split(separator: "/").filter { $0.hasPrefix("{") }.map { name -> JSONValue in
                ["name": .string(String(name.dropFirst().dropLast())), "in": "path", "required": true, "schema": ["type": "string"]]
            }
            if !parameters.isEmpty { entry["parameters"] = .array(parameters) }
            if let body = operation.body {
                entry["requestBody"] = [
                    "required": true,
                    "content": ["application/json": ["schema": reference(body)], "application/yaml": ["schema": reference(body)]],
                ]
            }
            var responses = JSONObject()
            if let schema = operation.success.schema {
                responses[operation.success.status] = ["description": "success", "content": ["application/json": ["schema": reference(schema)]]]
            } else {
                responses[operation.success.status] = ["description": "success"]
            }
            for status in operation.failures + (operation.anonymous ? [] : ["401"]) where responses[status] == nil {
                responses[status] = ["description": "failure", "content": ["application/json": ["schema": reference("Failure")]]]
            }
            entry["responses"] = .object(responses)
            if !operation.anonymous { entry["security"] = [["bearer": []]] }
            var item = paths[operation.path]?.objectValue ?? [:]
            item[operation.method] = .object(entry)
            paths[operation.path] = .object(item)
        }
        let object: JSONValue = ["type": "object"]
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Sluice management API", "version": "1.0.0",
                "description": .string(
                    "APIs as v4 definitions, their endpoint groups and endpoints, and their deployment. Secrets are masked as "
                        + "\"\(JSONSchema.secretMask)\" in every answer; sending the mask back keeps the stored secret."),
            ],
            "paths": .object(paths),
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
                "schemas": [
                    "Credentials": [
                        "type": "object", "required": ["username", "password"],
                        "properties": ["username": ["type": "string"], "password": ["type": "string", "writeOnly": true]],
                    ],
                    "Token": [
                        "type": "object",
                        "properties": ["token": ["type": "string"], "tokenType": ["const": "Bearer"], "expiresIn": ["type": "integer"]],
                    ],
                    "Catalog": object, "ApiPage": object, "Api": object, "Definition": object, "ImportResult": object, "Deployment": object,
                    "EndpointGroups": ["type": "array", "items": reference("EndpointGroup")], "EndpointGroup": object, "Endpoint": object,
                    "Failure": [
                        "type": "object", "required": ["message"],
                        "properties": [
                            "message": ["type": "string"],
                            "problems": [
                                "type": "array",
                                "items": [
                                    "type": "object",
                                    "properties": ["path": ["type": "string"], "message": ["type": "string"], "severity": ["type": "string"]],
                                ],
                            ],
                        ],
                    ],
                ],
            ],
        ]
    }()

    static func reference(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    static func operationId(_ operation: Operation) -> String {
        let words = operation.path.split(separator: "/").dropFirst().map {
            $0.hasPrefix("{") ? "By" + $0.dropFirst().dropLast().capitalized : $0.capitalized
        }
        return operation.method + words.joined().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ".", with: "")
    }
}
