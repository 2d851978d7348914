import Crypto

/// An entrypoint of a validated API, its configuration normalised by its schema.
public struct EntrypointSettings: Sendable, Hashable {
    public var type: String
    public var qos: QoS
    public var configuration: JSONValue
    public var dlq: String?
}

/// An endpoint group of a validated API.
public struct EndpointGroupSettings: Sendable, Hashable {
    public var name: String
    public var type: String
    public var loadBalancer: LoadBalancerType
    public var endpoints: [EndpointSettings]
}

/// An API definition that passed validation: every connector configuration checked against its
/// schema with defaults applied. This is what the gateway deploys.
public struct DeployableApi: Sendable, Hashable {
    public let definition: ApiDefinition
    public let paths: [ListenerPath]
    public let entrypoints: [EntrypointSettings]
    public let endpointGroups: [EndpointGroupSettings]
    /// A digest of the definition: equal revisions need no redeploy.
    public let revision: String
    /// Warnings found while validating (the API deploys anyway).
    public let warnings: [Problem]

    public var id: String { definition.id }
    public var name: String { definition.name }

    /// The group the API targets: the first one.
    public var defaultEndpointGroup: EndpointGroupSettings { endpointGroups[0] }
}

/// Checks API definitions against the connectors' schemas and the contract's rules, reporting
/// every problem with its path.
public struct DefinitionValidator: Sendable {
    public let catalog: ConnectorCatalog

    public init(catalog: ConnectorCatalog) { self.catalog = catalog }

    /// The outcome for one definition: a deployable API, or the problems that prevent it.
    public enum Outcome: Sendable {
        case valid(DeployableApi)
        case invalid([Problem])
    }

    /// Reads and validates one definition document.
    public func validate(document: JSONValue, at path: DocumentPath = .root) -> Outcome {
        var problems = Problems()
        guard let definition = ApiDefinition.read(document, at: path, problems: &problems) else {
            return .invalid(problems.all)
        }
        return validate(definition, at: path, problems: problems)
    }

    public func validate(_ definition: ApiDefinition, at path: DocumentPath = .root, problems initial: Problems = Problems()) -> Outcome {
        var problems = initial
        if definition.id.isEmpty, !definition.name.isEmpty {
            problems.error(path + "id", "cannot be derived from the name; give the API an id")
        }
        let (paths, entrypoints) = checkListeners(definition, at: path, problems: &problems)
        let groups = checkEndpointGroups(definition, at: path, problems: &problems)
        checkPlans(definition, at: path, problems: &problems)
        checkEntrypointTargets(entrypoints, groups: groups, definition: definition, at: path, problems: &problems)

        guard !problems.hasErrors, !groups.isEmpty else {
            return .invalid(problems.all)
        }
        return .valid(
            DeployableApi(
                definition: definition, paths: paths, entrypoints: entrypoints, endpointGroups: groups,
                revision: Self.revision(of: definition), warnings: problems.warnings))
    }

    /// A short stable digest of a definition's canonical JSON.
    public static func revision(of definition: ApiDefinition) -> String {
        Hex.string(SHA256.hash(data: JSONWriter.bytes(definition.json)).prefix(8))
    }

    private func checkListeners(
        _ definition: ApiDefinition, at path: DocumentPath, problems: inout Problems
    ) -> ([ListenerPath], [EntrypointSettings]) {
        var paths: [ListenerPath] = []
        var entrypoints: [EntrypointSettings] = []
        var seenListenerTypes: Set<ListenerType> = []
        var seenEntrypointTypes: Set<String> = []
        var seenPaths: Set<String> = []
        for (listenerIndex, listener) in definition.listeners.enumerated() {
            let listenerPath = path + "listeners" + listenerIndex
            if !seenListenerTypes.insert(listener.type).inserted {
                problems.error(listenerPath + "type", "an API has at most one \(listener.type.rawValue) listener")
            }
            for (pathIndex, listenerPathValue) in listener.paths.enumerated() {
                let key = "\(listenerPathValue.host?.lowercased() ?? "")\(listenerPathValue.normalizedPath)"
                if !seenPaths.insert(key).inserted {
                    problems.error(listenerPath + "paths" + pathIndex, "path \(listenerPathValue.path) is listed twice")
                }
                paths.append(listenerPathValue)
            }
            for (entrypointIndex, entrypoint) in listener.entrypoints.enumerated() {
                let entrypointPath = listenerPath + "entrypoints" + entrypointIndex
                guard !entrypoint.type.isEmpty else { continue }
                guard let descriptor = catalog.entrypoints[entrypoint.type] else {
                    let known = catalog.entrypoints.keys.sorted().joined(separator: ", ")
                    problems.error(entrypointPath + "type", "unknown entrypoint type '\(entrypoint.type)' (known: \(known))")
                    continue
                }
                if descriptor.listenerType != listener.type {
                    problems.error(
                        entrypointPath + "type",
                        "\(entrypoint.type) belongs on a \(descriptor.listenerType.rawValue) listener, not a \(listener.type.rawValue) one")
                }
                if !seenEntrypointTypes.insert(entrypoint.type).inserted {
                    problems.error(entrypointPath + "type", "the API already has a \(entrypoint.type) entrypoint")
                }
                if !descriptor.supportedQoS.contains(entrypoint.qos) {
                    let offered = QoS.allCases.filter(descriptor.supportedQoS.contains).map(\.rawValue).joined(separator: ", ")
                    problems.error(entrypointPath + "qos", "\(entrypoint.type) offers qos \(offered), not \(entrypoint.qos.rawValue)")
                }
                let configuration =
                    descriptor.configurationSchema.validate(
                        entrypoint.configuration, at: entrypointPath + "configuration", problems: &problems) ?? [:]
                entrypoints.append(EntrypointSettings(type: entrypoint.type, qos: entrypoint.qos, configuration: configuration, dlq: entrypoint.dlq))
            }
        }
        return (paths, entrypoints)
    }

    private func checkEndpointGroups(
        _ definition: ApiDefinition, at path: DocumentPath, problems: inout Problems
    ) -> [EndpointGroupSettings] {
        var groups: [EndpointGroupSettings] = []
        var groupNames: Set<String> = []
        var endpointNames: Set<String> = []
        for (groupIndex, group) in definition.endpointGroups.enumerated() {
            let groupPath = path + "endpointGroups" + groupIndex
            if !group.name.isEmpty, !groupNames.insert(group.name).inserted {
                problems.error(groupPath + "name", "another endpoint group is named '\(group.name)'")
            }
            guard !group.type.isEmpty else { continue }
            guard let factory = catalog.endpoints[group.type] else {
                let known = catalog.endpoints.keys.sorted().joined(separator: ", ")
                problems.error(groupPath + "type", "unknown endpoint type '\(group.type)' (known: \(known))")
                continue
            }
            var endpoints: [EndpointSettings] = []
            for (endpointIndex, endpoint) in group.endpoints.enumerated() {
                let endpointPath = groupPath + "endpoints" + endpointIndex
                if !endpoint.name.isEmpty, !endpointNames.insert(endpoint.name).inserted {
                    problems.error(endpointPath + "name", "another endpoint is named '\(endpoint.name)'")
                }
                if !endpoint.type.isEmpty, endpoint.type != group.type {
                    problems.error(endpointPath + "type", "must match its group's type '\(group.type)', not '\(endpoint.type)'")
                    continue
                }
                let configurationPath = endpointPath + "configuration"
                let configuration =
                    factory.configurationSchema.validate(endpoint.configuration, at: configurationPath, problems: &problems) ?? [:]
                let sharedPath: DocumentPath
                let sharedSource: JSONValue?
                if endpoint.inheritConfiguration {
                    sharedPath = groupPath + "sharedConfiguration"
                    sharedSource = group.sharedConfiguration
                } else {
                    sharedPath = endpointPath + "sharedConfigurationOverride"
                    sharedSource = endpoint.sharedConfigurationOverride
                }
                // The group's shared configuration is checked once, for its first inheriting endpoint.
                var sharedProblems = Problems()
                let shared =
                    factory.sharedConfigurationSchema.validate(
                        factory.normalize(sharedConfiguration: sharedSource ?? [:]), at: sharedPath, problems: &sharedProblems) ?? [:]
                let alreadyReported = endpoint.inheritConfiguration && group.endpoints[..<endpointIndex].contains(where: \.inheritConfiguration)
                if !alreadyReported { problems.append(contentsOf: sharedProblems.all) }
                factory.check(
                    configuration: configuration, at: configurationPath, sharedConfiguration: shared, at: sharedPath, problems: &problems)
                endpoints.append(
                    EndpointSettings(
                        apiId: definition.id, groupName: group.name, name: endpoint.name, type: group.type,
                        configuration: configuration, sharedConfiguration: shared))
            }
            groups.append(EndpointGroupSettings(name: group.name, type: group.type, loadBalancer: group.loadBalancer, endpoints: endpoints))
        }
        return groups
    }

    private func checkPlans(_ definition: ApiDefinition, at path: DocumentPath, problems: inout Problems) {
        for (index, plan) in definition.plans.enumerated() where plan.securityType != .keyLess {
            problems.error(
                path + "plans" + index + "security" + "type",
                "\(plan.securityType.rawValue) plans are not supported yet; only key-less plans can be deployed")
        }
        if !definition.plans.isEmpty, !definition.plans.contains(where: \.isActive) {
            problems.error(path + "plans", "no plan is published or deprecated, so no request could be let through")
        } else if definition.plans.isEmpty {
            problems.error(path + "plans", "must contain at least one plan (a key-less plan opens the API to every caller)")
        }
    }

    private func checkEntrypointTargets(
        _ entrypoints: [EntrypointSettings], groups: [EndpointGroupSettings], definition: ApiDefinition,
        at path: DocumentPath, problems: inout Problems
    ) {
        let endpointNames = Set(groups.flatMap { $0.endpoints.map(\.name) } + groups.map(\.name))
        for (listenerIndex, listener) in definition.listeners.enumerated() {
            for (entrypointIndex, entrypoint) in listener.entrypoints.enumerated() {
                let entrypointPath = path + "listeners" + listenerIndex + "entrypoints" + entrypointIndex
                if let dlq = entrypoint.dlq, !endpointNames.contains(dlq) {
                    problems.error(entrypointPath + "dlq" + "endpoint", "names no endpoint or endpoint group of this API ('\(dlq)')")
                }
            }
        }
        guard let group = groups.first, let endpoint = group.endpoints.first, let factory = catalog.endpoints[group.type] else { return }
        let endpointModes = factory.modes(configuration: endpoint.configuration, sharedConfiguration: endpoint.sharedConfiguration)
        for entrypoint in entrypoints {
            guard let descriptor = catalog.entrypoints[entrypoint.type] else { continue }
            let needed = descriptor.modes(entrypoint.configuration)
            if needed.contains(.subscribe), !endpointModes.contains(.subscribe), !needed.contains(.publish) {
                problems.warning(path + "listeners", "\(entrypoint.type) subscribes, but the \(group.type) endpoint has no consumer")
            }
            if needed.contains(.publish), !endpointModes.contains(.publish), !needed.contains(.subscribe) {
                problems.warning(path + "listeners", "\(entrypoint.type) publishes, but the \(group.type) endpoint has no producer")
            }
            if !factory.supportedQoS.contains(entrypoint.qos) {
                problems.warning(
                    path + "listeners",
                    "\(entrypoint.type) runs at qos \(entrypoint.qos.rawValue), which the \(group.type) endpoint does not offer: its requests will be refused with 400")
            } else if !factory.capabilities.isSuperset(of: descriptor.requirements(entrypoint.qos)) {
                problems.warning(
                    path + "listeners",
                    "\(entrypoint.type) at qos \(entrypoint.qos.rawValue) needs \(descriptor.requirements(entrypoint.qos)), which the \(group.type) endpoint does not offer: its requests will be refused with 400")
            }
        }
    }
}
