/// The JSON Schema of a connector's configuration: the single source of truth for what each field
/// means, its default and its limits. The same value validates definitions (``validate(_:at:problems:)``),
/// applies defaults, and is served as JSON (``json``) for the management API and the console.
///
/// Only the subset of JSON Schema (2020-12) that configuration needs is supported: `type`,
/// `properties`, `required`, `default`, `enum`, `minimum`/`maximum`, `minLength`/`maxLength`,
/// `items`/`minItems`, `allOf`, `if`/`then`/`else`, `writeOnly` (secrets), `title`, `description`.
public final class JSONSchema: Sendable {
    public enum Kind: String, Sendable {
        case object, array, string, integer, number, boolean
    }

    public let kind: Kind?
    public let title: String?
    public let description: String?
    public let defaultValue: JSONValue?
    public let enumValues: [String]?
    /// The instance must equal this value (used in `if` conditions).
    public let constValue: JSONValue?
    public let minimum: Int?
    public let maximum: Int?
    public let minLength: Int?
    public let maxLength: Int?
    public let properties: [(name: String, schema: JSONSchema)]
    public let required: [String]
    public let items: JSONSchema?
    public let minItems: Int?
    public let allOf: [JSONSchema]
    public let condition: JSONSchema?
    public let then: JSONSchema?
    public let otherwise: JSONSchema?
    /// A secret: never shown back (management reads mask it), drawn as a password field.
    public let writeOnly: Bool
    /// What a string holds when it is a document of its own (`application/x-pem-file`): drawn as
    /// a multi-line field that keeps its line breaks.
    public let contentMediaType: String?
    /// Integers written as numeric strings (`"1883"`) are accepted and normalised.
    public let acceptsNumericString: Bool

    public init(
        kind: Kind?,
        title: String? = nil,
        description: String? = nil,
        defaultValue: JSONValue? = nil,
        enumValues: [String]? = nil,
        constValue: JSONValue? = nil,
        minimum: Int? = nil,
        maximum: Int? = nil,
        minLength: Int? = nil,
        maxLength: Int? = nil,
        properties: [(name: String, schema: JSONSchema)] = [],
        required: [String] = [],
        items: JSONSchema? = nil,
        minItems: Int? = nil,
        allOf: [JSONSchema] = [],
        condition: JSONSchema? = nil,
        then: JSONSchema? = nil,
        otherwise: JSONSchema? = nil,
        writeOnly: Bool = false,
        contentMediaType: String? = nil,
        acceptsNumericString: Bool = false
    ) {
        self.kind = kind
        self.title = title
        self.description = description
        self.defaultValue = defaultValue
        self.enumValues = enumValues
        self.constValue = constValue
        self.minimum = minimum
        self.maximum = maximum
        self.minLength = minLength
        self.maxLength = maxLength
        self.properties = properties
        self.required = required
        self.items = items
        self.minItems = minItems
        self.allOf = allOf
        self.condition = condition
        self.then = then
        self.otherwise = otherwise
        self.writeOnly = writeOnly
        self.contentMediaType = contentMediaType
        self.acceptsNumericString = acceptsNumericString
    }

    public func property(_ name: String) -> JSONSchema? {
        properties.first { $0.name == name }?.schema
    }
}

// MARK: - Building schemas

extension JSONSchema {
    public static func object(
        title: String? = nil,
        description: String? = nil,
        _ properties: [(String, JSONSchema)],
        required: [String] = [],
        allOf: [JSONSchema] = [],
        defaultValue: JSONValue? = nil
    ) -> JSONSchema {
        JSONSchema(
            kind: .object, title: title, description: description, defaultValue: defaultValue,
            properties: properties.map { (name: $0.0, schema: $0.1) }, required: required, allOf: allOf)
    }

    public static func string(
        title: String? = nil, description: String? = nil, default defaultValue: String? = nil,
        enum values: [String]? = nil, minLength: Int? = nil, maxLength: Int? = nil, secret: Bool = false, contentMediaType: String? = nil
    ) -> JSONSchema {
        JSONSchema(
            kind: .string, title: title, description: description, defaultValue: defaultValue.map(JSONValue.string),
            enumValues: values, minLength: minLength, maxLength: maxLength, writeOnly: secret, contentMediaType: contentMediaType)
    }

    public static func integer(
        title: String? = nil, description: String? = nil, default defaultValue: Int? = nil,
        minimum: Int? = nil, maximum: Int? = nil, acceptsNumericString: Bool = false
    ) -> JSONSchema {
        JSONSchema(
            kind: .integer, title: title, description: description, defaultValue: defaultValue.map(JSONValue.integer),
            minimum: minimum, maximum: maximum, acceptsNumericString: acceptsNumericString)
    }

    public static func boolean(title: String? = nil, description: String? = nil, default defaultValue: Bool? = nil) -> JSONSchema {
        JSONSchema(kind: .boolean, title: title, description: description, defaultValue: defaultValue.map(JSONValue.bool))
    }

    public static func array(
        title: String? = nil, description: String? = nil, of items: JSONSchema, minItems: Int? = nil,
        default defaultValue: JSONValue? = nil
    ) -> JSONSchema {
        JSONSchema(kind: .array, title: title, description: description, defaultValue: defaultValue, items: items, minItems: minItems)
    }

    /// `if` the instance matches `condition` `then` it must match `then`.
    public static func when(_ condition: JSONSchema, then: JSONSchema, otherwise: JSONSchema? = nil) -> JSONSchema {
        JSONSchema(kind: nil, condition: condition, then: then, otherwise: otherwise)
    }

    /// A condition: the property `name` equals `value` (a JSON Schema `const`).
    public static func propertyEquals(_ name: String, _ value: JSONValue) -> JSONSchema {
        JSONSchema(
            kind: .object,
            properties: [(name: name, schema: JSONSchema(kind: nil, constValue: value))],
            required: [name])
    }

    /// An empty object schema for connectors without that part of the configuration.
    public static let emptyObject = JSONSchema.object([])
}

