/// Secrets (`writeOnly` fields) in configurations: masked when shown, kept when the mask comes back.
///
/// A property is secret when any branch of the schema that can describe it (`properties`, `allOf`,
/// `then`, `else`) marks it `writeOnly`: masking must not depend on which branch applies to a value
/// that may be invalid.
extension JSONSchema {
    /// What a secret is shown as. An update that sends it back keeps the stored secret.
    public static let secretMask = "********"

    /// `value` with every non-empty secret string replaced by ``secretMask``.
    public func maskingSecrets(_ value: JSONValue) -> JSONValue {
        if writeOnly {
            if case .string(let text) = value, text.isEmpty { return value }
            return value.isNull ? value : .string(Self.secretMask)
        }
        switch value {
        case .object(let object):
            var masked = object
            for (key, member) in object {
                for schema in propertySchemas(key) { masked[key] = schema.maskingSecrets(masked[key] ?? member) }
            }
            return .object(masked)
        case .array(let elements):
            guard let items = itemSchema else { return value }
            return .array(elements.map(items.maskingSecrets))
        default:
            return value
        }
    }

    /// `value` with every secret that is still ``secretMask`` replaced by the secret at the same
    /// place in `stored`. Masks with nothing stored behind them are reported in `unresolved`.
    public func restoringSecrets(_ value: JSONValue, from stored: JSONValue?, at path: DocumentPath, unresolved: inout [DocumentPath]) -> JSONValue {
        if writeOnly {
            guard case .string(Self.secretMask) = value else { return value }
            if let stored, !stored.isNull, stored != .string(Self.secretMask) { return stored }
            if !unresolved.contains(path) { unresolved.append(path) }
            return value
        }
        switch value {
        case .object(let object):
            var restored = object
            for (key, member) in object {
                for schema in propertySchemas(key) {
                    restored[key] = schema.restoringSecrets(restored[key] ?? member, from: stored?[key], at: path + key, unresolved: &unresolved)
                }
            }
            return .object(restored)
        case .array(let elements):
            guard let items = itemSchema else { return value }
            let storedElements = stored?.arrayValue ?? []
            return .array(
                elements.enumerated().map { index, element in
                    items.restoringSecrets(
                        element, from: index < storedElements.count ? storedElements[index] : nil, at: path + index, unresolved: &unresolved)
                })
        default:
            return value
        }
    }

    /// Whether this schema holds a secret anywhere.
    public var containsSecrets: Bool {
        if writeOnly { return true }
        return branches.contains { schema in
            schema.properties.contains { $0.schema.containsSecrets } || (schema.items?.containsSecrets ?? false)
        }
    }

    /// This schema and every subschema that applies to the same value.
    private var branches: [JSONSchema] {
        var result: [JSONSchema] = [self]
        for schema in allOf + [then, otherwise].compactMap({ $0 }) { result += schema.branches }
        return result
    }

    /// The schemas of property `name` in every branch that has secrets there: each is applied in
    /// turn (masking and restoring are idempotent).
    private func propertySchemas(_ name: String) -> [JSONSchema] {
        branches.compactMap { branch in branch.properties.first { $0.name == name }?.schema }.filter(\.containsSecrets)
    }

    private var itemSchema: JSONSchema? {
        branches.compactMap(\.items).first { $0.containsSecrets }
    }
}
