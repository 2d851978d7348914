/// Secrets in v4 API definition documents: every connector configuration (entrypoints, endpoint
/// groups' shared configuration, endpoints) masked or restored by its type's schema.
extension ConnectorCatalog {
    /// `document` with every secret of every connector configuration replaced by
    /// ``JSONSchema/secretMask``. Parts it cannot place (unknown types) are left as they are:
    /// they hold no secret the gateway would use.
    public func maskingSecrets(in document: JSONValue) -> JSONValue {
        transformConfigurations(in: document, stored: nil) { schema, value, _, _ in schema.maskingSecrets(value) }
    }

    /// `document` with every secret still equal to the mask replaced by the stored definition's
    /// secret at the same place (entrypoints matched by type, endpoint groups and endpoints by
    /// name, or by place when renamed). A mask with nothing stored behind it is a problem: the
    /// secret itself must be sent.
    public func restoringSecrets(in document: JSONValue, from stored: JSONValue?) -> (document: JSONValue, problems: [Problem]) {
        var unresolved: [DocumentPath] = []
        let restored = transformConfigurations(in: document, stored: stored) { schema, value, storedValue, path in
            schema.restoringSecrets(value, from: storedValue, at: path, unresolved: &unresolved)
        }
        return (restored, unresolved.map { Problem($0, "is the mask of a secret that is not stored: send the secret itself") })
    }

    private func transformConfigurations(
        in document: JSONValue, stored: JSONValue?,
        _ transform: (JSONSchema, JSONValue, JSONValue?, DocumentPath) -> JSONValue
    ) -> JSONValue {
        guard var root = document.objectValue else { return document }
        let storedEntrypoints: [JSONValue] = (stored?["listeners"]?.arrayValue ?? []).flatMap { $0["entrypoints"]?.arrayValue ?? [] }
        if let listeners = root["listeners"]?.arrayValue {
            root["listeners"] = .array(
                listeners.enumerated().map { listenerIndex, listener in
                    guard var listenerObject = listener.objectValue, let entrypoints = listener["entrypoints"]?.arrayValue else { return listener }
                    listenerObject["entrypoints"] = .array(
                        entrypoints.enumerated().map { index, entrypoint in
                            guard var object = entrypoint.objectValue, let type = entrypoint["type"]?.stringValue,
                                let schema = entrypointSchema(type), let configuration = object["configuration"]
                            else { return entrypoint }
                            let storedConfiguration = storedEntrypoints.first { $0["type"]?.stringValue == type }?["configuration"]
                            object["configuration"] = transform(
                                schema, configuration, storedConfiguration,
                                .root + "listeners" + listenerIndex + "entrypoints" + index + "configuration")
                            return .object(object)
                        })
                    return .object(listenerObject)
                })
        }
        let storedGroups = stored?["endpointGroups"]?.arrayValue ?? []
        if let groups = root["endpointGroups"]?.arrayValue {
            root["endpointGroups"] = .array(
                groups.enumerated().map { groupIndex, group in
                    guard var groupObject = group.objectValue, let groupType = group["type"]?.stringValue else { return group }
                    let groupPath = DocumentPath.root + "endpointGroups" + groupIndex
                    // Matched by name; a renamed group by its place.
                    let storedGroup = Self.counterpart(of: group, at: groupIndex, in: storedGroups)
                    if let factory = endpoints[groupType], let shared = groupObject["sharedConfiguration"] {
                        groupObject["sharedConfiguration"] = transform(
                            factory.sharedConfigurationSchema, shared, storedGroup?["sharedConfiguration"], groupPath + "sharedConfiguration")
                    }
                    if let members = group["endpoints"]?.arrayValue {
                        let storedMembers = storedGroup?["endpoints"]?.arrayValue ?? []
                        groupObject["endpoints"] = .array(
                            members.enumerated().map { index, endpoint in
                                guard var object = endpoint.objectValue, let factory = endpoints[endpoint["type"]?.stringValue ?? groupType]
                                else { return endpoint }
                                let storedEndpoint = Self.counterpart(of: endpoint, at: index, in: storedMembers)
                                let endpointPath = groupPath + "endpoints" + index
                                if let configuration = object["configuration"] {
                                    object["configuration"] = transform(
                                        factory.configurationSchema, configuration, storedEndpoint?["configuration"], endpointPath + "configuration")
                                }
                                // An endpoint's override of the group's shared configuration has the shared schema.
                                if let override = object["sharedConfigurationOverride"] {
                                    object["sharedConfigurationOverride"] = transform(
                                        factory.sharedConfigurationSchema, override, storedEndpoint?["sharedConfigurationOverride"],
                                        endpointPath + "sharedConfigurationOverride")
                                }
                                return .object(object)
                            })
                    }
                    return .object(groupObject)
                })
        }
        return .object(root)
    }

    /// The stored element with the same name, or else the one at the same place (a renamed one).
    private static func counterpart(of element: JSONValue, at index: Int, in stored: [JSONValue]) -> JSONValue? {
        if let named = stored.first(where: { $0["name"] == element["name"] }) { return named }
        return index < stored.count ? stored[index] : nil
    }

    private func entrypointSchema(_ type: String) -> JSONSchema? { entrypoints[type]?.configurationSchema }
}
