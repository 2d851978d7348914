import Crypto
import Foundation
import SluiceCore

/// Reads API definitions from files: one file, or every `.json`, `.yaml` and `.yml` file of a
/// directory (and its subdirectories).
public enum DefinitionFiles {
    public static let extensions: Set<String> = ["json", "yaml", "yml"]
    /// Definition files larger than this are refused rather than read.
    public static let maximumFileSize = 16 << 20

    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// One definition found in a file and what validation made of it.
    public struct Entry: Sendable {
        public let file: String
        public let path: DocumentPath
        public let outcome: DefinitionValidator.Outcome

        /// The API id, when the definition got far enough to have one.
        public var apiId: String? {
            if case .valid(let api) = outcome { return api.id }
            return nil
        }
    }

    public struct LoadedFile: Sendable {
        public let path: String
        public let digest: String
        public let result: Result<[Entry], LoadError>
    }

    /// The definition files under `path`, sorted.
    public static func list(_ path: String) throws(LoadError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoadError(path: path, reason: "no such file or directory")
        }
        guard isDirectory.boolValue else { return [path] }
        // A directory that cannot be read (out of file descriptors, say) is an error, never an
        // empty directory: that would undeploy every API it declares.
        let entries: [String]
        do {
            entries = try FileManager.default.subpathsOfDirectory(atPath: path)
        } catch {
            throw LoadError(path: path, reason: "cannot read the directory (\((error as NSError).localizedDescription))")
        }
        var files: [String] = []
        for relative in entries {
            let name = (relative as NSString).lastPathComponent
            guard !name.hasPrefix("."), extensions.contains((name as NSString).pathExtension.lowercased()) else { continue }
            files.append((path as NSString).appendingPathComponent(relative))
        }
        return files.sorted()
    }

    /// Reads the file's bytes (bounded) and a digest of them.
    public static func read(_ path: String) -> Result<(text: String, digest: String), LoadError> {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return .failure(LoadError(path: path, reason: "cannot be read"))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            return .failure(LoadError(path: path, reason: "cannot be read"))
        }
        if data.count > maximumFileSize {
            return .failure(LoadError(path: path, reason: "is larger than \(maximumFileSize) bytes"))
        }
        let digest = Hex.string(SHA256.hash(data: data))
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(LoadError(path: path, reason: "is not UTF-8 text"))
        }
        return .success((text, digest))
    }

    /// Reads and validates every definition in one file.
    public static func load(_ path: String, validator: DefinitionValidator) -> LoadedFile {
        switch read(path) {
        case .failure(let error):
            return LoadedFile(path: path, digest: "", result: .failure(error))
        case .success(let (text, digest)):
            return LoadedFile(path: path, digest: digest, result: parse(text, file: path, validator: validator))
        }
    }

    static func parse(_ text: String, file: String, validator: DefinitionValidator) -> Result<[Entry], LoadError> {
        do {
            let entries = try DefinitionSource.entries(fromText: text, fileName: file)
            if entries.isEmpty { return .failure(LoadError(path: file, reason: "holds no API definition")) }
            return .success(entries.map { Entry(file: file, path: $0.path, outcome: validator.validate(document: $0.document, at: $0.path)) })
        } catch {
            return .failure(LoadError(path: file, reason: error.description))
        }
    }
}

/// The result of checking a set of files together, as `sluice validate` reports it.
public struct ValidationReport: Sendable {
    public var lines: [String] = []
    public var errorCount = 0
    public var apis: [DeployableApi] = []

    /// Validates every file under `paths`, including conflicts between APIs of different files.
    public static func check(paths: [String], validator: DefinitionValidator) -> ValidationReport {
        var report = ValidationReport()
        var files: [String] = []
        for path in paths {
            do {
                files += try DefinitionFiles.list(path)
            } catch {
                report.fail("\(error)")
            }
        }
        var seenIds: [String: String] = [:]
        for file in files {
            switch DefinitionFiles.load(file, validator: validator).result {
            case .failure(let error):
                report.fail("\(error)")
            case .success(let entries):
                for entry in entries {
                    switch entry.outcome {
                    case .invalid(let problems):
                        for problem in problems {
                            if problem.severity == .error { report.fail("\(file): \(problem)") } else { report.lines.append("\(file): \(problem)") }
                        }
                    case .valid(let api):
                        for warning in api.warnings { report.lines.append("\(file): \(warning)") }
                        if let other = seenIds[api.id] {
                            report.fail("\(file): \(entry.path.appending("id")): API id '\(api.id)' is also used in \(other)")
                            continue
                        }
                        let conflicts = RouteConflicts.problems(adding: api, to: report.apis)
                        for conflict in conflicts { report.fail("\(file): \(conflict)") }
                        guard conflicts.isEmpty else { continue }
                        seenIds[api.id] = file
                        report.apis.append(api)
                        let paths = api.paths.map { ($0.host ?? "") + $0.path }.joined(separator: ", ")
                        let entrypoints = api.entrypoints.map(\.type).joined(separator: ", ")
                        report.lines.append(
                            "\(file): OK \(api.id) '\(api.name)' at \(paths) [\(entrypoints)] → \(api.defaultEndpointGroup.type)")
                    }
                }
            }
        }
        return report
    }

    mutating func fail(_ line: String) {
        lines.append(line)
        errorCount += 1
    }
}
