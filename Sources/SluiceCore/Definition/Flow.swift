/// A flow of policies (contract §1). Flows are read, checked for shape and kept; running their
/// policies is not part of this version of Sluice.
public struct Flow: Sendable, Hashable {
    public var name: String?
    public var enabled: Bool
    public var selectors: [FlowSelector]
    public var request: [FlowStep]
    public var response: [FlowStep]
    public var publish: [FlowStep]
    public var subscribe: [FlowStep]
    public var unknown: JSONObject

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> Flow? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        guard value.objectValue != nil else { return nil }
        func steps(_ key: String, _ reader: inout ObjectReader, _ problems: inout Problems) -> [FlowStep] {
            reader.array(key, problems: &problems) { value, path, problems in FlowStep.read(value, at: path, problems: &problems) }
        }
        return Flow(
            name: reader.string("name", problems: &problems),
            enabled: reader.bool("enabled", default: true, problems: &problems),
            selectors: reader.array("selectors", problems: &problems) { value, path, problems in
                FlowSelector.read(value, at: path, problems: &problems)
            },
            request: steps("request", &reader, &problems),
            response: steps("response", &reader, &problems),
            publish: steps("publish", &reader, &problems),
            subscribe: steps("subscribe", &reader, &problems),
            unknown: reader.unknown)
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("name", name)
        writer.set("enabled", enabled)
        writer.set("selectors", array: selectors.map(\.json))
        writer.set("request", array: request.map(\.json))
        writer.set("response", array: response.map(\.json))
        writer.set("publish", array: publish.map(\.json))
        writer.set("subscribe", array: subscribe.map(\.json))
        return writer.finish(keeping: unknown)
    }
}

/// What a flow applies to.
public enum FlowSelector: Sendable, Hashable {
    case http(path: String, pathOperator: PathOperator, methods: [String], unknown: JSONObject)
    case channel(channel: String, channelOperator: PathOperator, operations: [ChannelOperation], entrypoints: [String], unknown: JSONObject)
    case condition(String, unknown: JSONObject)

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> FlowSelector? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        guard value.objectValue != nil else { return nil }
        let type = reader.string("type", problems: &problems, required: true)?.lowercased()
        func strings(_ key: String, _ reader: inout ObjectReader, _ problems: inout Problems) -> [String] {
            reader.array(key, problems: &problems) { value, path, problems in
                guard case .string(let string) = value else {
                    problems.error(path, "must be a string")
                    return nil
                }
                return string
            }
        }
        switch type {
        case "http":
            let selectorPath = reader.string("path", problems: &problems) ?? "/"
            let pathOperator = reader.label("pathOperator", as: PathOperator.self, default: .startsWith, problems: &problems) ?? .startsWith
            let methods = strings("methods", &reader, &problems).map { $0.uppercased() }
            return .http(path: selectorPath, pathOperator: pathOperator, methods: methods, unknown: reader.unknown)
        case "channel":
            let channel = reader.string("channel", problems: &problems) ?? "/"
            let channelOperator = reader.label("channelOperator", as: PathOperator.self, default: .startsWith, problems: &problems) ?? .startsWith
            let operations = reader.array("operations", problems: &problems) { value, path, problems -> ChannelOperation? in
                guard case .string(let label) = value, let operation = ChannelOperation(label: label) else {
                    problems.error(path, "must be one of \(ChannelOperation.labels)")
                    return nil
                }
                return operation
            }
            let entrypoints = strings("entrypoints", &reader, &problems)
            return .channel(channel: channel, channelOperator: channelOperator, operations: operations, entrypoints: entrypoints, unknown: reader.unknown)
        case "condition":
            let condition = reader.string("condition", problems: &problems, required: true) ?? ""
            return .condition(condition, unknown: reader.unknown)
        case nil:
            return nil
        case let other?:
            problems.error(path + "type", "must be one of http, channel, condition (not \(other))")
            return nil
        }
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        switch self {
        case .http(let path, let pathOperator, let methods, let unknown):
            writer.set("type", "http")
            writer.set("path", path)
            writer.set("pathOperator", pathOperator)
            writer.set("methods", array: methods.map(JSONValue.string))
            return writer.finish(keeping: unknown)
        case .channel(let channel, let channelOperator, let operations, let entrypoints, let unknown):
            writer.set("type", "channel")
            writer.set("channel", channel)
            writer.set("channelOperator", channelOperator)
            writer.set("operations", array: operations.map { .string($0.rawValue) })
            writer.set("entrypoints", array: entrypoints.map(JSONValue.string))
            return writer.finish(keeping: unknown)
        case .condition(let condition, let unknown):
            writer.set("type", "condition")
            writer.set("condition", condition)
            return writer.finish(keeping: unknown)
        }
    }
}

/// One policy step of a flow.
public struct FlowStep: Sendable, Hashable {
    public var name: String?
    public var enabled: Bool
    public var policy: String
    public var configuration: JSONValue?
    public var condition: String?
    public var messageCondition: String?
    public var unknown: JSONObject

    static func read(_ value: JSONValue, at path: DocumentPath, problems: inout Problems) -> FlowStep? {
        var reader = ObjectReader(value, at: path, problems: &problems)
        guard value.objectValue != nil else { return nil }
        return FlowStep(
            name: reader.string("name", problems: &problems),
            enabled: reader.bool("enabled", default: true, problems: &problems),
            policy: reader.string("policy", problems: &problems, required: true) ?? "",
            configuration: reader.value("configuration"),
            condition: reader.string("condition", problems: &problems),
            messageCondition: reader.string("messageCondition", problems: &problems),
            unknown: reader.unknown)
    }

    var json: JSONValue {
        var writer = ObjectWriter()
        writer.set("name", name)
        writer.set("enabled", enabled)
        writer.set("policy", policy)
        writer.set("configuration", configuration)
        writer.set("condition", condition)
        writer.set("messageCondition", messageCondition)
        return writer.finish(keeping: unknown)
    }
}
