/// An enum read from a definition: case-insensitive, `_` and `-` taken as equal, so that the
/// lowercase labels (`at-least-once`) and the management-style constants (`AT_LEAST_ONCE`) are
/// both accepted. The raw value is the spelling that is written back.
public protocol DefinitionEnum: RawRepresentable<String>, CaseIterable, Sendable, Hashable {}

extension DefinitionEnum {
    public init?(label: String) {
        let folded = JSONSchema.fold(label)
        guard let match = Self.allCases.first(where: { JSONSchema.fold($0.rawValue) == folded }) else { return nil }
        self = match
    }

    public static var labels: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Reads the members of one JSON object of a definition, recording a problem for each member that
/// is missing or of the wrong shape, and keeping the members it does not know.
struct ObjectReader {
    let object: JSONObject
    let path: DocumentPath
    private var seen: Set<String> = []

    init(_ value: JSONValue?, at path: DocumentPath, problems: inout Problems, required: Bool = true) {
        self.path = path
        switch value {
        case .object(let object)?:
            self.object = object
        case nil:
            if required { problems.error(path, "is required") }
            self.object = [:]
        case .some(let other):
            problems.error(path, "must be an object, not \(other.typeName == "array" ? "an array" : "a \(other.typeName)")")
            self.object = [:]
        }
    }

    mutating func value(_ key: String) -> JSONValue? {
        seen.insert(key)
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    mutating func string(_ key: String, problems: inout Problems, required: Bool = false) -> String? {
        switch value(key) {
        case .string(let string)?:
            if required, string.isEmpty { problems.error(path + key, "must not be empty") }
            return string
        case nil:
            if required { problems.error(path + key, "is required") }
            return nil
        case .integer(let number)?:
            return String(number)
        case .number(let number)?:
            // YAML reads `apiVersion: 1.0` as a number; the text is what was meant.
            return "\(number)"
        case .some:
            problems.error(path + key, "must be a string")
            return nil
        }
    }

    mutating func bool(_ key: String, default defaultValue: Bool, problems: inout Problems) -> Bool {
        switch value(key) {
        case .bool(let bool)?: return bool
        case nil: return defaultValue
        case .some:
            problems.error(path + key, "must be true or false")
            return defaultValue
        }
    }

    mutating func optionalBool(_ key: String, problems: inout Problems) -> Bool? {
        switch value(key) {
        case .bool(let bool)?: return bool
        case nil: return nil
        case .some:
            problems.error(path + key, "must be true or false")
            return nil
        }
    }

    mutating func integer(_ key: String, default defaultValue: Int, minimum: Int? = nil, problems: inout Problems) -> Int {
        switch value(key) {
        case let value? where value.integerValue != nil:
            let integer = value.integerValue!
            if let minimum, integer < minimum {
                problems.error(path + key, "must be an integer >= \(minimum)")
            }
            return integer
        case nil: return defaultValue
        case .some:
            problems.error(path + key, minimum.map { "must be an integer >= \($0)" } ?? "must be an integer")
            return defaultValue
        }
    }

    mutating func label<E: DefinitionEnum>(_ key: String, as type: E.Type, default defaultValue: E?, problems: inout Problems)
        -> E?
    {
        switch value(key) {
        case .string(let label)?:
            guard let value = E(label: label) else {
                problems.error(path + key, "must be one of \(E.labels)")
                return defaultValue
            }
            return value
        case nil:
            return defaultValue
        case .some:
            problems.error(path + key, "must be one of \(E.labels)")
            return defaultValue
        }
    }

    /// A member that must be an array; `element` reads each element at its own path.
    mutating func array<T>(
        _ key: String, problems: inout Problems, required: Bool = false,
        element: (JSONValue, DocumentPath, inout Problems) -> T?
    ) -> [T] {
        switch value(key) {
        case .array(let array)?:
            if required, array.isEmpty { problems.error(path + key, "must not be empty") }
            return array.enumerated().compactMap { offset, value in element(value, path + key + offset, &problems) }
        case nil:
            if required { problems.error(path + key, "is required") }
            return []
        case .some:
            problems.error(path + key, "must be an array")
            return []
        }
    }

    /// A member that must be an object, kept as JSON (connector configuration, policy settings).
    mutating func jsonObject(_ key: String, problems: inout Problems) -> JSONValue? {
        switch value(key) {
        case .object(let object)?: return .object(object)
        case nil: return nil
        case .some:
            problems.error(path + key, "must be an object")
            return nil
        }
    }

    /// The members that were not read: kept so that the definition round-trips.
    var unknown: JSONObject {
        object.filter { !seen.contains($0.key) }
    }
}

/// Builds the JSON object of a definition part: known members first, in order, then the
/// unknown members that were kept.
struct ObjectWriter {
    var object = JSONObject()

    mutating func set(_ key: String, _ value: JSONValue?) {
        if let value { object[key] = value }
    }

    mutating func set(_ key: String, _ value: String?) {
        if let value { object[key] = .string(value) }
    }

    mutating func set(_ key: String, _ value: Bool?) {
        if let value { object[key] = .bool(value) }
    }

    mutating func set(_ key: String, _ value: Int?) {
        if let value { object[key] = .integer(value) }
    }

    mutating func set<E: DefinitionEnum>(_ key: String, _ value: E?) {
        if let value { object[key] = .string(value.rawValue) }
    }

    mutating func set(_ key: String, array: [JSONValue]) {
        object[key] = .array(array)
    }

    func finish(keeping unknown: JSONObject) -> JSONValue {
        var result = object
        for (key, value) in unknown where result[key] == nil { result[key] = value }
        return .object(result)
    }
}
