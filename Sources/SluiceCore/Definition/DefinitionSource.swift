/// Splits a configuration file into API definition documents: one definition, a list of them, a
/// YAML stream of them, or a Gravitee export (`{"api": {...}, "plans": [...]}`).
public enum DefinitionSource {
    public struct Entry: Sendable {
        /// The definition document.
        public var document: JSONValue
        /// Where it sits in the file (root, or `[2]` in a list).
        public var path: DocumentPath
    }

    public static func entries(fromText text: String, fileName: String) throws(DocumentReader.ReadError) -> [Entry] {
        let syntax = DocumentReader.syntax(forFileName: fileName, content: text)
        let documents = try DocumentReader.read(text, syntax: syntax)
        var entries: [Entry] = []
        for (documentIndex, document) in documents.enumerated() {
            let documentPath: DocumentPath = documents.count > 1 ? DocumentPath.root + documentIndex : .root
            switch document {
            case .array(let elements):
                for (index, element) in elements.enumerated() {
                    entries.append(Entry(document: unwrapExport(element), path: documentPath + index))
                }
            case .null:
                continue  // an empty YAML document
            default:
                entries.append(Entry(document: unwrapExport(document), path: documentPath))
            }
        }
        return entries
    }

    /// A Gravitee export keeps the definition under `api` and the plans beside it; bring them together.
    static func unwrapExport(_ document: JSONValue) -> JSONValue {
        guard case .object(let object) = document, object["listeners"] == nil,
            case .object(var api)? = object["api"], api["listeners"] != nil
        else { return document }
        if api["plans"] == nil, let plans = object["plans"] { api["plans"] = plans }
        return .object(api)
    }
}

/// Checks a set of APIs that would be served together: ids are unique and no two APIs claim the
/// same host and path.
public enum RouteConflicts {
    public static func problems(adding api: DeployableApi, to others: [DeployableApi]) -> [Problem] {
        var problems: [Problem] = []
        for other in others where other.id != api.id {
            let taken = Set(other.paths.map(key))
            for (listenerIndex, listener) in api.definition.listeners.enumerated() {
                for (pathIndex, path) in listener.paths.enumerated() where taken.contains(key(path)) {
                    problems.append(
                        Problem(
                            DocumentPath.root + "listeners" + listenerIndex + "paths" + pathIndex,
                            "path \(path.host ?? "")\(path.normalizedPath) is already used by API '\(other.id)'"))
                }
            }
        }
        return problems
    }

    static func key(_ path: ListenerPath) -> String {
        "\(path.host?.lowercased() ?? "")\(path.normalizedPath)"
    }
}
