extension JSONSchema {
    /// Validates `value` (nil when the member is absent) and returns it normalised: defaults
    /// applied, enum spellings made canonical, numeric strings turned into integers where allowed.
    /// Every problem is recorded with its path; nothing stops at the first.
    public func validate(_ value: JSONValue?, at path: DocumentPath, problems: inout Problems) -> JSONValue? {
        validate(value, at: path, problems: &problems, reportUnknown: true)
    }

    private func validate(_ value: JSONValue?, at path: DocumentPath, problems: inout Problems, reportUnknown: Bool) -> JSONValue? {
        guard let value else { return defaultValue.map { applyDefaults(to: $0, at: path, problems: &problems) } }
        var result = value
        switch kind {
        case .object:
            guard case .object(let object) = value else {
                problems.error(path, "must be an object")
                return value
            }
            result = .object(validateObject(object, at: path, problems: &problems, reportUnknown: reportUnknown))
        case .array:
            guard case .array(let array) = value else {
                problems.error(path, "must be an array")
                return value
            }
            if let minItems, array.count < minItems {
                problems.error(path, minItems == 1 ? "must not be empty" : "must have at least \(minItems) items")
            }
            if let items {
                result = .array(array.enumerated().map { offset, element in
                    items.validate(element, at: path + offset, problems: &problems) ?? element
                })
            }
        case .string:
            guard case .string(let string) = value else {
                problems.error(path, enumValues.map { "must be one of \($0.joined(separator: ", "))" } ?? "must be a string")
                return value
            }
            if let enumValues {
                if let canonical = Self.canonicalEnumValue(string, in: enumValues) {
                    result = .string(canonical)
                } else {
                    problems.error(path, "must be one of \(enumValues.joined(separator: ", "))")
                }
            }
            if let minLength, string.count < minLength {
                problems.error(path, minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters long")
            }
            if let maxLength, string.count > maxLength {
                problems.error(path, "must be at most \(maxLength) characters long")
            }
        case .integer:
            var integer = value.integerValue
            if integer == nil, acceptsNumericString, case .string(let string) = value {
                integer = Int(string.trimmingSpaces)
            }
            guard let integer else {
                problems.error(path, "must be \(integerRangeDescription)")
                return value
            }
            if let minimum, integer < minimum { problems.error(path, "must be \(integerRangeDescription)") }
            else if let maximum, integer > maximum { problems.error(path, "must be \(integerRangeDescription)") }
            result = .integer(integer)
        case .number:
            guard value.doubleValue != nil else {
                problems.error(path, "must be a number")
                return value
            }
        case .boolean:
            guard case .bool = value else {
                problems.error(path, "must be true or false")
                return value
            }
        case nil:
            break
        }
        if let constValue, result != constValue {
            problems.error(path, "must be \(constValue)")
        }
        for schema in allOf {
            result = schema.validate(result, at: path, problems: &problems, reportUnknown: false) ?? result
        }
        if let condition, let branch = condition.matches(result) ? then : otherwise {
            result = branch.validate(result, at: path, problems: &problems, reportUnknown: false) ?? result
        }
        return result
    }

    /// Whether `value` satisfies the schema (used for `if`), without reporting anything.
    public func matches(_ value: JSONValue?) -> Bool {
        var scratch = Problems()
        _ = validate(value, at: .root, problems: &scratch)
        return !scratch.hasErrors
    }

    private var integerRangeDescription: String {
        switch (minimum, maximum) {
        case (let low?, let high?): return "an integer between \(low) and \(high)"
        case (let low?, nil): return "an integer >= \(low)"
        case (nil, let high?): return "an integer <= \(high)"
        case (nil, nil): return "an integer"
        }
    }

    private func validateObject(
        _ object: JSONObject, at path: DocumentPath, problems: inout Problems, reportUnknown: Bool
    ) -> JSONObject {
        var result = JSONObject()
        for (name, schema) in properties {
            let member = object[name]
            if member == nil, required.contains(name) {
                problems.error(path + name, "is required")
                continue
            }
            if let normalised = schema.validate(member, at: path + name, problems: &problems) {
                result[name] = normalised
            }
        }
        for (name, member) in object where result[name] == nil {
            if reportUnknown, !knowsProperty(name) {
                problems.warning(path + name, "is not a known option; it is kept but ignored")
            }
            result[name] = member
        }
        for name in required where property(name) == nil && object[name] == nil {
            problems.error(path + name, "is required")
        }
        return result
    }

    /// Whether `name` is a property of this schema or of any schema it combines.
    func knowsProperty(_ name: String) -> Bool {
        property(name) != nil || required.contains(name) || allOf.contains { $0.knowsProperty(name) }
            || (then?.knowsProperty(name) ?? false) || (otherwise?.knowsProperty(name) ?? false)
    }

    private func applyDefaults(to value: JSONValue, at path: DocumentPath, problems: inout Problems) -> JSONValue {
        // A default object still gets its members' defaults.
        guard kind == .object, case .object = value else { return value }
        return validate(value, at: path, problems: &problems) ?? value
    }

    /// The canonical spelling of an enum value: exact, else case-insensitive with `_` and `-`
    /// taken as equal (`scram_sha_256` → `SCRAM-SHA-256`).
    public static func canonicalEnumValue(_ value: String, in allowed: [String]) -> String? {
        if allowed.contains(value) { return value }
        let folded = fold(value)
        return allowed.first { fold($0) == folded }
    }

    static func fold(_ value: String) -> String {
        String(value.lowercased().map { $0 == "_" ? "-" : $0 })
    }
}

extension String {
    var trimmingSpaces: Substring {
        var slice = self[...]
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return slice
    }
}

// MARK: - The schema as a JSON Schema document

extension JSONSchema {
    /// The schema as a JSON Schema (2020-12) document, for the management API and the console.
    public var json: JSONValue {
        var object = JSONObject()
        if let kind { object["type"] = .string(kind.rawValue) }
        if let title { object["title"] = .string(title) }
        if let description { object["description"] = .string(description) }
        if let defaultValue { object["default"] = defaultValue }
        if let enumValues { object["enum"] = .array(enumValues.map(JSONValue.string)) }
        if let constValue { object["const"] = constValue }
        if let minimum { object["minimum"] = .integer(minimum) }
        if let maximum { object["maximum"] = .integer(maximum) }
        if let minLength { object["minLength"] = .integer(minLength) }
        if let maxLength { object["maxLength"] = .integer(maxLength) }
        if !properties.isEmpty {
            var members = JSONObject()
            for (name, schema) in properties { members[name] = schema.json }
            object["properties"] = .object(members)
        }
        if !required.isEmpty { object["required"] = .array(required.map(JSONValue.string)) }
        if let items { object["items"] = items.json }
        if let minItems { object["minItems"] = .integer(minItems) }
        if !allOf.isEmpty { object["allOf"] = .array(allOf.map(\.json)) }
        if let condition { object["if"] = condition.json }
        if let then { object["then"] = then.json }
        if let otherwise { object["else"] = otherwise.json }
        if writeOnly { object["writeOnly"] = true }
        if let contentMediaType { object["contentMediaType"] = .string(contentMediaType) }
        if acceptsNumericString { object["x-accepts-numeric-string"] = true }
        return .object(object)
    }
}
