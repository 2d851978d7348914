import Yams

/// Reads configuration documents (JSON or YAML with the same structure) into ``JSONValue``s.
public enum DocumentReader {
    public enum Syntax: String, Sendable {
        case json
        case yaml
    }

    /// A document that could not be read, with the place and reason.
    public struct ReadError: Error, CustomStringConvertible, Sendable {
        public let syntax: Syntax
        public let reason: String
        public var description: String { "malformed \(syntax == .json ? "JSON" : "YAML"): \(reason)" }
    }

    /// The most nodes a YAML document may expand to (aliases can multiply a small text).
    static let maximumYAMLNodes = 1_000_000

    /// Picks the syntax from a file name: `.json` is JSON, `.yaml`/`.yml` is YAML, and anything
    /// else is sniffed from the first non-blank character.
    public static func syntax(forFileName name: String, content: String) -> Syntax {
        let lower = name.lowercased()
        if lower.hasSuffix(".json") { return .json }
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return .yaml }
        let first = content.unicodeScalars.first { !$0.properties.isWhitespace }
        return first == "{" || first == "[" ? .json : .yaml
    }

    /// Reads every document in `text`. JSON holds one document; YAML may hold several separated
    /// by `---`.
    public static func read(_ text: String, syntax: Syntax) throws(ReadError) -> [JSONValue] {
        switch syntax {
        case .json:
            do {
                return [try JSONParser.parse(text)]
            } catch {
                throw ReadError(syntax: .json, reason: error.description)
            }
        case .yaml:
            do {
                var documents: [JSONValue] = []
                var budget = maximumYAMLNodes
                var sequence = try Yams.compose_all(yaml: text)
                while let node = sequence.next() {
                    documents.append(try convert(node, depth: 0, budget: &budget))
                }
                // The sequence stops at a syntax error and keeps it aside.
                if let error = sequence.error { throw ReadError(syntax: .yaml, reason: Self.describe(error)) }
                return documents
            } catch let error as ReadError {
                throw error
            } catch {
                throw ReadError(syntax: .yaml, reason: Self.describe(error))
            }
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let yamlError = error as? YamlError else { return String(describing: error) }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let during = context.map { " (\($0.text))" } ?? ""
            return "line \(mark.line), column \(mark.column): \(problem)\(during)"
        default:
            return String(describing: yamlError).split(separator: "\n").first.map(String.init) ?? "\(yamlError)"
        }
    }

    private static func convert(_ node: Node, depth: Int, budget: inout Int) throws -> JSONValue {
        budget -= 1
        guard budget > 0 else { throw ReadError(syntax: .yaml, reason: "document expands to more than \(maximumYAMLNodes) nodes") }
        guard depth < JSONParser.maximumDepth else {
            throw ReadError(syntax: .yaml, reason: "nesting deeper than \(JSONParser.maximumDepth) levels")
        }
        switch node {
        case .scalar(let scalar):
            return scalarValue(scalar, node: node)
        case .sequence(let sequence):
            var array: [JSONValue] = []
            array.reserveCapacity(sequence.count)
            for element in sequence {
                array.append(try convert(element, depth: depth + 1, budget: &budget))
            }
            return .array(array)
        case .mapping(let mapping):
            var object = JSONObject()
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    throw ReadError(syntax: .yaml, reason: "\(position(keyNode))mapping keys must be scalars")
                }
                let key = keyScalar.string
                if object[key] != nil {
                    throw ReadError(syntax: .yaml, reason: "\(position(keyNode))duplicate key \"\(key)\"")
                }
                object[key] = try convert(valueNode, depth: depth + 1, budget: &budget)
            }
            return .object(object)
        case .alias:
            throw ReadError(syntax: .yaml, reason: "\(position(node))unresolved alias")
        }
    }

    private static func position(_ node: Node) -> String {
        guard let mark = node.mark else { return "" }
        return "line \(mark.line), column \(mark.column): "
    }

    private static func scalarValue(_ scalar: Node.Scalar, node: Node) -> JSONValue {
        switch Tag.Name(rawValue: node.tag.rawValue) {
        case .null: return .null
        case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
        case .int: return node.int.map(JSONValue.integer) ?? node.float.map(JSONValue.number) ?? .string(scalar.string)
        case .float:
            if let value = node.float, value.isFinite { return .number(value) }
            return .string(scalar.string)
        default: return .string(scalar.string)
        }
    }
}
