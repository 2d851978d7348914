/// A v4 message API definition (contract §1), in the shape of Gravitee's v4 message APIs.
///
/// Reading a definition records every structural problem with its path; members Sluice does not
/// know are kept, so that a definition read and written again round-trips. Connector
/// configurations are kept as JSON here and checked against their connector's schema by
/// ``DefinitionValidator``.
public struct ApiDefinition: Sendable, Hashable {
    public var id: String
    public var name: String
    public var apiVersion: String?
    public var definitionVersion: String
    public var type: DefinitionType
    public var description: String?
    public var tags: [String]
    public var properties: [JSONValue]
    public var listeners: [Listener]
    public var endpointGroups: [EndpointGroup]
    public var flowExecution: FlowExecution?
    public var flows: [Flow]
    public var plans: [Plan]
    public var analytics: JSONValue?
    public var failover: JSONValue?
    public var services: JSONValue?
    public var unknown: JSONObject

    public static let supportedDefinitionVersion = "4.0.0"

    public init(
        id: String, name: String, apiVersion: String? = nil, description: String? = nil, tags: [String] = [],
        listeners: [Listener], endpointGroups: [EndpointGroup], flows: [Flow] = [], plans: [Plan]
    ) {
        self.id = id
        self.name = name
        self.apiVersion = apiVersion
        self.definitionVersion = Self.supportedDefinitionVersion
        self.type = .message
        self.description = description
        self.tags = tags
        self.properties = []
        self.listeners = listeners
        self.endpointGroups = endpointGroups
        self.flowExecution = nil
        self.flows = flows
        self.plans = plans
        self.analytics = nil
        self.failover = nil
        self.services = nil
        self.unknown = [:]
    }

    /// Reads a definition, recording every structural problem. Returns nil only when the value
    /// is not an object at all.
    public static func read(_ value: JSONValue, at path: DocumentPath = .root, problems: inout Problems) -> ApiDefinition? {
        guard case .object = value else {
            problems.error(path, "an API definition must be an object")
            return nil
        }
        var reader = ObjectReader(value, at: path, problems: &problems)
        let name = reader.string("name", problems: &problems, required: true) ?? ""
        var id = reader.string("id", problems: &problems) ?? ""
        if id.isEmpty { id = Self.identifier(fromName: name) }
        let apiVersion = reader.string("apiVersion", problems: &problems)
        var definitionVersion = reader.string("definitionVersion", problems: &problems) ?? supportedDefinitionVersion
        if ["v4", "4", "4.0", "4.0.0"].contains(definitionVersion.lowercased()) {
            definitionVersion = supportedDefinitionVersion
        } else {
            problems.error(path + "definitionVersion", "must be 4.0.0 (v4 definitions); \(definitionVersion) is not supported")
        }
        let type = reader.label("type", as: DefinitionType.self, default: .message, problems: &problems) ?? .message
        if type == .proxy {
            problems.error(path + "type", "proxy APIs are not supported: Sluice serves message APIs (type: message)")
        }
        let description = reader.string("description", problems: &problems)
        let tags = reader.array("tags", problems: &problems) { value, path, problems -> String? in
            guard case .string(let tag) = value else {
                problems.error(path, "must be a string")
                return nil
            }
            return tag
        }
        let properties = reader.array("properties", problems: &problems) { value, _, _ in value }
        let listeners = reader.array("listeners", problems: &problems, required: true) { value, path, problems in
            Listener.read(value, at: path, problems: &problems)
        }
        let groups = reader.array("endpointGroups", problems: &problems, required: true) { value, path, problems in
            EndpointGroup.read(value, at: path, problems: &problems)
        }
        let flowExecution = reader.value("flowExecution").map { FlowExecution.read($0, at: path + "flowExecution", problems: &problems) }
        let flows = reader.array("flows", problems: &problems) { value, path, problems in
            Flow.read(value, at: path, problems: &problems)
        }
        let plans = reader.array("plans", problems: &problems) { value, path, problems in
            Plan.read(value, at: path, problems: &problems)
        }
        var definition = ApiDefinition(
            id: id, name: name, apiVersion: apiVersion, description: description, tags: tags,
            listeners: listeners, endpointGroups: groups, flows: flows, plans: plans)
        definition.definitionVersion = definitionVersion
        definition.type = type
        definition.properties = properties
        definition.flowExecution = flowExecution
        definition.analytics = reader.value("analytics")
        definition.failover = reader.value("failover")
        definition.services = reader.value("services")
        definition.unknown = reader.unknown
        return definition
    }

    /// The definition as JSON, with enum values in their canonical spelling and unknown members kept.
    public var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("id", id)
        writer.set("name", name)
        writer.set("apiVersion", apiVersion)
        writer.set("definitionVersion", definitionVersion)
        writer.set("type", type)
        writer.set("description", description)
        if !tags.isEmpty { writer.set("tags", array: tags.map(JSONValue.string)) }
        if !properties.isEmpty { writer.set("properties", array: properties) }
        writer.set("listeners", array: listeners.map(\.json))
        writer.set("endpointGroups", array: endpointGroups.map(\.json))
        writer.set("flowExecution", flowExecution?.json)
        if !flows.isEmpty { writer.set("flows", array: flows.map(\.json)) }
        writer.set("plans", array: plans.map(\.json))
        writer.set("analytics", analytics)
        writer.set("failover", failover)
        writer.set("services", services)
        return writer.finish(keeping: unknown)
    }

    /// An id made from a name when a definition has none: lowercase letters, digits and dashes.
    public static func identifier(fromName name: String) -> String {
        var id = ""
        for character in name.lowercased() {
            if character.isLetter || character.isNumber {
                id.append(character)
            } else if !id.isEmpty, id.last != "-" {
                id.append("-")
            }
        }
        while id.last == "-" { id.removeLast() }
        return id
    }

    /// The endpoint group the API targets by default: the first one.
    public var defaultEndpointGroup: EndpointGroup? { endpointGroups.first }
}

public struct Listener: Sendable, Hashable {
    public var type: ListenerType
    public var paths: [ListenerPath]
    public var entrypoints: [Entrypoint]
    public var unknown: JSONObject

    public init(type: ListenerType, paths: [ListenerPath] = [], entrypoints: [Entrypoint]) {
        self.type = type
        self.paths = paths
        self.entrypoints = entrypoints
        self.unknown = [:]
    }

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> Listener? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        guard value.objectValue != nil else { return nil }
        let typeLabel = reader.string("type", problems: &problems, required: true)
        let type = typeLabel.flatMap { ListenerType(label: $0) }
        if let typeLabel, type == nil {
            problems.error(path + "type", "must be one of \(ListenerType.labels) (\(typeLabel) listeners are not supported)")
        }
        var paths: [ListenerPath] = []
        if type == .http {
            paths = reader.array("paths", problems: &problems, required: true) { value, path, problems in
                ListenerPath.read(value, at: path, problems: &problems)
            }
        }
        let entrypoints = reader.array("entrypoints", problems: &problems, required: true) { value, path, problems in
            Entrypoint.read(value, at: path, problems: &problems)
        }
        var listener = Listener(type: type ?? .http, paths: paths, entrypoints: entrypoints)
        listener.unknown = reader.unknown
        return listener
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("type", type)
        if type == .http { writer.set("paths", array: paths.map(\.json)) }
        writer.set("entrypoints", array: entrypoints.map(\.json))
        return writer.finish(keeping: unknown)
    }
}

public struct ListenerPath: Sendable, Hashable {
    public var host: String?
    public var path: String
    public var overrideAccess: Bool?
    public var unknown: JSONObject

    public init(host: String? = nil, path: String) {
        self.host = host
        self.path = path
        self.overrideAccess = nil
        self.unknown = [:]
    }

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> ListenerPath? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        let host = reader.string("host", problems: &problems).flatMap { $0.isEmpty ? nil : $0 }
        let rawPath = reader.string("path", problems: &problems) ?? "/"
        if !rawPath.hasPrefix("/") {
            problems.error(path + "path", "must start with /")
        }
        if rawPath.contains("?") || rawPath.contains("#") || rawPath.contains(" ") {
            problems.error(path + "path", "must be a plain path without query, fragment or spaces")
        }
        var listenerPath = ListenerPath(host: host, path: rawPath)
        listenerPath.overrideAccess = reader.optionalBool("overrideAccess", problems: &problems)
        listenerPath.unknown = reader.unknown
        return listenerPath
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("host", host)
        writer.set("path", path)
        writer.set("overrideAccess", overrideAccess)
        return writer.finish(keeping: unknown)
    }

    /// The path as it is matched: no trailing slash (except the root), runs of slashes folded.
    public var normalizedPath: String { Self.normalize(path) }

    public static func normalize(_ path: String) -> String {
        if isNormal(path) { return path }
        var result = ""
        for character in path {
            if character == "/", result.last == "/" { continue }
            result.append(character)
        }
        if result.isEmpty { return "/" }
        while result.count > 1, result.last == "/" { result.removeLast() }
        return result
    }

    /// Already what ``normalize(_:)`` makes of it: not empty, no two slashes in a row, and no
    /// trailing slash unless it is `/`. (Most request paths are: they are returned as they are.)
    static func isNormal(_ path: String) -> Bool {
        let slash = UInt8(ascii: "/")
        let bytes = path.utf8
        guard let last = bytes.last else { return false }
        if last == slash { return bytes.count == 1 }
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == slash, previous == slash { return false }
            previous = byte
        }
        return true
    }
}

public struct Entrypoint: Sendable, Hashable {
    public var type: String
    public var qos: QoS
    public var dlq: String?
    public var configuration: JSONValue
    public var unknown: JSONObject
    /// Members of `dlq` other than `endpoint`, kept for the round trip.
    public var dlqUnknown: JSONObject = [:]

    public init(type: String, qos: QoS = .auto, configuration: JSONValue = [:]) {
        self.type = type
        self.qos = qos
        self.dlq = nil
        self.configuration = configuration
        self.unknown = [:]
    }

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> Entrypoint? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        let type = reader.string("type", problems: &problems, required: true) ?? ""
        let qos = reader.label("qos", as: QoS.self, default: .auto, problems: &problems) ?? .auto
        var entrypoint = Entrypoint(type: type.lowercased(), qos: qos, configuration: reader.jsonObject("configuration", problems: &problems) ?? [:])
        if let dlq = reader.value("dlq") {
            var dlqReader = ObjectReader(dlq, at: path + "dlq", problems: &problems)
            entrypoint.dlq = dlqReader.string("endpoint", problems: &problems)
            entrypoint.dlqUnknown = dlqReader.unknown
        }
        entrypoint.unknown = reader.unknown
        return entrypoint
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("type", type)
        writer.set("qos", qos)
        if dlq != nil || !dlqUnknown.isEmpty {
            var dlqWriter = ObjectWriter()
            dlqWriter.set("endpoint", dlq)
            writer.set("dlq", dlqWriter.finish(keeping: dlqUnknown))
        }
        writer.set("configuration", configuration)
        return writer.finish(keeping: unknown)
    }
}

public struct EndpointGroup: Sendable, Hashable {
    public var name: String
    public var type: String
    public var loadBalancer: LoadBalancerType
    public var sharedConfiguration: JSONValue?
    public var endpoints: [Endpoint]
    public var unknown: JSONObject
    /// Members of `loadBalancer` other than `type`, kept for the round trip.
    public var loadBalancerUnknown: JSONObject = [:]

    public init(name: String, type: String, sharedConfiguration: JSONValue? = nil, endpoints: [Endpoint]) {
        self.name = name
        self.type = type
        self.loadBalancer = .roundRobin
        self.sharedConfiguration = sharedConfiguration
        self.endpoints = endpoints
        self.unknown = [:]
    }

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> EndpointGroup? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        let name = reader.string("name", problems: &problems, required: true) ?? ""
        let type = reader.string("type", problems: &problems, required: true) ?? ""
        var loadBalancer = LoadBalancerType.roundRobin
        var loadBalancerUnknown: JSONObject = [:]
        if let balancer = reader.value("loadBalancer") {
            var balancerReader = ObjectReader(balancer, at: path + "loadBalancer", problems: &problems)
            loadBalancer = balancerReader.label("type", as: LoadBalancerType.self, default: .roundRobin, problems: &problems) ?? .roundRobin
            loadBalancerUnknown = balancerReader.unknown
        }
        let shared = reader.jsonObject("sharedConfiguration", problems: &problems)
        let endpoints = reader.array("endpoints", problems: &problems, required: true) { value, path, problems in
            Endpoint.read(value, at: path, problems: &problems)
        }
        var group = EndpointGroup(name: name, type: type.lowercased(), sharedConfiguration: shared, endpoints: endpoints)
        group.loadBalancer = loadBalancer
        group.loadBalancerUnknown = loadBalancerUnknown
        group.unknown = reader.unknown
        return group
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("name", name)
        writer.set("type", type)
        var balancer = ObjectWriter()
        balancer.set("type", loadBalancer)
        writer.set("loadBalancer", balancer.finish(keeping: loadBalancerUnknown))
        writer.set("sharedConfiguration", sharedConfiguration)
        writer.set("endpoints", array: endpoints.map(\.json))
        return writer.finish(keeping: unknown)
    }
}

public struct Endpoint: Sendable, Hashable {
    public var name: String
    public var type: String
    public var weight: Int
    public var inheritConfiguration: Bool
    public var secondary: Bool
    public var configuration: JSONValue
    public var sharedConfigurationOverride: JSONValue?
    public var unknown: JSONObject

    public init(
        name: String, type: String, weight: Int = 1, inheritConfiguration: Bool = false,
        configuration: JSONValue = [:], sharedConfigurationOverride: JSONValue? = nil
    ) {
        self.name = name
        self.type = type
        self.weight = weight
        self.inheritConfiguration = inheritConfiguration
        self.secondary = false
        self.configuration = configuration
        self.sharedConfigurationOverride = sharedConfigurationOverride
        self.unknown = [:]
    }

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> Endpoint? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        let name = reader.string("name", problems: &problems, required: true) ?? ""
        let type = reader.string("type", problems: &problems, required: true) ?? ""
        var endpoint = Endpoint(
            name: name, type: type.lowercased(),
            weight: reader.integer("weight", default: 1, minimum: 1, problems: &problems),
            inheritConfiguration: reader.bool("inheritConfiguration", default: false, problems: &problems),
            configuration: reader.jsonObject("configuration", problems: &problems) ?? [:],
            sharedConfigurationOverride: reader.jsonObject("sharedConfigurationOverride", problems: &problems))
        endpoint.secondary = reader.bool("secondary", default: false, problems: &problems)
        endpoint.unknown = reader.unknown
        return endpoint
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("name", name)
        writer.set("type", type)
        writer.set("weight", weight)
        writer.set("inheritConfiguration", inheritConfiguration)
        writer.set("secondary", secondary)
        writer.set("configuration", configuration)
        writer.set("sharedConfigurationOverride", sharedConfigurationOverride)
        return writer.finish(keeping: unknown)
    }
}

public struct Plan: Sendable, Hashable {
    public var id: String?
    public var name: String
    public var securityType: PlanSecurityType
    public var securityConfiguration: JSONValue?
    public var mode: PlanMode
    public var status: PlanStatus
    public var flows: [Flow]
    public var unknown: JSONObject
    /// Members of `security` other than `type` and `configuration`, kept for the round trip.
    public var securityUnknown: JSONObject

    public init(id: String? = nil, name: String, securityType: PlanSecurityType = .keyLess, status: PlanStatus = .published) {
        self.id = id
        self.name = name
        self.securityType = securityType
        self.securityConfiguration = nil
        self.mode = .standard
        self.status = status
        self.flows = []
        self.unknown = [:]
        self.securityUnknown = [:]
    }

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> Plan? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        let id = reader.string("id", problems: &problems)
        let name = reader.string("name", problems: &problems, required: true) ?? ""
        var securityType = PlanSecurityType.keyLess
        var securityConfiguration: JSONValue?
        var securityUnknown: JSONObject = [:]
        if let security = reader.value("security") {
            var securityReader = ObjectReader(security, at: path + "security", problems: &problems)
            securityType = securityReader.label("type", as: PlanSecurityType.self, default: nil, problems: &problems) ?? .keyLess
            if securityReader.object["type"] == nil { problems.error(path + "security" + "type", "is required") }
            securityConfiguration = securityReader.value("configuration")
            securityUnknown = securityReader.unknown
        } else {
            problems.error(path + "security", "is required")
        }
        var plan = Plan(id: id, name: name, securityType: securityType)
        plan.securityConfiguration = securityConfiguration
        plan.mode = reader.label("mode", as: PlanMode.self, default: .standard, problems: &problems) ?? .standard
        plan.status = reader.label("status", as: PlanStatus.self, default: .published, problems: &problems) ?? .published
        plan.flows = reader.array("flows", problems: &problems) { value, path, problems in
            Flow.read(value, at: path, problems: &problems)
        }
        plan.unknown = reader.unknown
        plan.securityUnknown = securityUnknown
        return plan
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("id", id)
        writer.set("name", name)
        var security = ObjectWriter()
        security.set("type", securityType)
        security.set("configuration", securityConfiguration)
        writer.set("security", security.finish(keeping: securityUnknown))
        writer.set("mode", mode)
        writer.set("status", status)
        if !flows.isEmpty { writer.set("flows", array: flows.map(\.json)) }
        return writer.finish(keeping: unknown)
    }

    /// Whether the plan lets traffic through (published or deprecated).
    public var isActive: Bool { status == .published || status == .deprecated }
}

public struct FlowExecution: Sendable, Hashable {
    public var mode: FlowExecutionMode
    public var matchRequired: Bool
    public var unknown: JSONObject

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> FlowExecution {
        var reader = ObjectReader(value, at: path, problems: &problems)
        let mode = reader.label("mode", as: FlowExecutionMode.self, default: .default, problems: &problems) ?? .default
        let matchRequired = reader.bool("matchRequired", default: false, problems: &problems)
        return FlowExecution(mode: mode, matchRequired: matchRequired, unknown: reader.unknown)
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("mode", mode)
        writer.set("matchRequired", matchRequired)
        return writer.finish(keeping: unknown)
    }
}
