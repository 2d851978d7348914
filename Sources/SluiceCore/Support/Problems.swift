import Foundation

/// A place in a document: `endpointGroups[0].endpoints[0].configuration.messageInterval`.
public struct DocumentPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public private(set) var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    public static let root = DocumentPath()

    public func appending(_ key: String) -> DocumentPath {
        var copy = self
        copy.components.append(.key(key))
        return copy
    }

    public func appending(index: Int) -> DocumentPath {
        var copy = self
        copy.components.append(.index(index))
        return copy
    }

    public static func + (path: DocumentPath, key: String) -> DocumentPath { path.appending(key) }
    public static func + (path: DocumentPath, index: Int) -> DocumentPath { path.appending(index: index) }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                if Self.isPlain(key) {
                    if !text.isEmpty { text += "." }
                    text += key
                } else {
                    text += "[\""
                    text += key.replacingOccurrences(of: "\"", with: "\\\"")
                    text += "\"]"
                }
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text.isEmpty ? "(root)" : text
    }

    private static func isPlain(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-" || scalar == "$"
        }
    }
}

/// One thing wrong (or worth a warning) in a document, with its place.
public struct Problem: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    public var path: DocumentPath
    public var message: String
    public var severity: Severity

    public init(_ path: DocumentPath, _ message: String, severity: Severity = .error) {
        self.path = path
        self.message = message
        self.severity = severity
    }

    public var description: String {
        severity == .error ? "\(path): \(message)" : "\(path): warning: \(message)"
    }

    /// The problem as a JSON object, for the management API and the console.
    public var json: JSONValue {
        ["path": .string(path.description), "message": .string(message), "severity": .string(severity.rawValue)]
    }
}

/// Collects problems while a document is read, so that every one is reported, not just the first.
public struct Problems: Sendable {
    public private(set) var all: [Problem] = []

    public init() {}

    public mutating func error(_ path: DocumentPath, _ message: String) {
        all.append(Problem(path, message))
    }

    public mutating func warning(_ path: DocumentPath, _ message: String) {
        all.append(Problem(path, message, severity: .warning))
    }

    public mutating func append(contentsOf problems: [Problem]) {
        all.append(contentsOf: problems)
    }

    public var errors: [Problem] { all.filter { $0.severity == .error } }
    public var warnings: [Problem] { all.filter { $0.severity == .warning } }
    public var hasErrors: Bool { all.contains { $0.severity == .error } }
}
