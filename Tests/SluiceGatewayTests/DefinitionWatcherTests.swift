import Foundation
import Logging
import SluiceCore
import Testing

@testable import SluiceGateway

@Suite struct DefinitionWatcherTests {
    final class Folder: Sendable {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-watch-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: (path as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        func remove(_ name: String) throws {
            try FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(name))
        }
    }

    static func setUp() throws -> (Folder, ApiRegistry, DefinitionWatcher) {
        let folder = try Folder()
        var logger = Logger(label: "watch")
        logger.logLevel = .critical
        let registry = ApiRegistry(catalog: testCatalog, logger: logger, drainTimeout: .milliseconds(100))
        let watcher = DefinitionWatcher(path: folder.path, registry: registry, interval: .seconds(1), logger: logger)
        return (folder, registry, watcher)
    }

    static func content(_ registry: ApiRegistry, _ id: String) -> String? {
        registry.api(id: id)?.api.definition.endpointGroups.first?.endpoints.first?.configuration["messageContent"]?.stringValue
    }

    @Test func deploysRedeploysAndUndeploysAsFilesChange() async throws {
        let (folder, registry, watcher) = try Self.setUp()
        try folder.write("a.yaml", mockDefinition(id: "a", path: "/a", mockConfiguration: "{messageContent: one}"))
        await watcher.scan()
        #expect(Self.content(registry, "a") == "one")
        let first = try #require(registry.api(id: "a"))

        await watcher.scan()
        #expect(registry.api(id: "a") === first, "an unchanged file is not redeployed")

        try folder.write("a.yaml", mockDefinition(id: "a", path: "/a", mockConfiguration: "{messageContent: two}"))
        await watcher.scan()
        #expect(Self.content(registry, "a") == "two")
        #expect(first.stop.reason == .undeployed, "the replaced version's streams are told to go away")

        try folder.remove("a.yaml")
        await watcher.scan()
        #expect(registry.api(id: "a") == nil)
    }

    @Test func invalidChangesKeepThePreviousVersion() async throws {
        let (folder, registry, watcher) = try Self.setUp()
        try folder.write("a.yaml", mockDefinition(id: "a", path: "/a", mockConfiguration: "{messageContent: good}"))
        await watcher.scan()
        try folder.write("a.yaml", mockDefinition(id: "a", path: "/a", mockConfiguration: "{messageInterval: -1}"))
        await watcher.scan()
        #expect(Self.content(registry, "a") == "good")
        try folder.write("a.yaml", "id: a\nlisteners: [unclosed")
        await watcher.scan()
        #expect(Self.content(registry, "a") == "good")
    }

    @Test func aListFileDeploysEveryApiAndConflictsAreRefused() async throws {
        let (folder, registry, watcher) = try Self.setUp()
        let list = "- " + mockDefinition(id: "x", path: "/x").replacingOccurrences(of: "\n", with: "\n  ")
            + "\n- " + mockDefinition(id: "y", path: "/y").replacingOccurrences(of: "\n", with: "\n  ")
        try folder.write("list.yaml", list)
        try folder.write("z.json", #"{"id": "z", "name": "z", "listeners": [{"type": "http", "paths": [{"path": "/x"}], "entrypoints": [{"type": "http-post"}]}], "endpointGroups": [{"name": "g", "type": "mock", "endpoints": [{"name": "e", "type": "mock"}]}], "plans": [{"name": "p", "security": {"type": "KEY_LESS"}}]}"#)
        await watcher.scan()
        #expect(registry.api(id: "x") != nil)
        #expect(registry.api(id: "y") != nil)
        #expect(registry.api(id: "z") == nil, "z claims /x, which x serves")
        // Once x goes, z is deployed on the next change.
        try folder.write("list.yaml", "- " + mockDefinition(id: "y", path: "/y").replacingOccurrences(of: "\n", with: "\n  "))
        await watcher.scan()
        #expect(registry.api(id: "x") == nil)
        #expect(registry.api(id: "z") != nil)
    }

    @Test func validationReportListsEveryProblemAndEveryApi() throws {
        let folder = try Folder()
        try folder.write("good.yaml", mockDefinition(id: "good", path: "/good"))
        try folder.write(
            "bad.json",
            #"{"name": "bad", "type": "proxy", "listeners": [{"type": "http", "paths": [{"path": "/bad"}], "entrypoints": [{"type": "carrier-pigeon"}]}], "endpointGroups": [{"name": "g", "type": "mock", "endpoints": [{"name": "e", "type": "mock", "configuration": {"messageInterval": "fast"}}]}], "plans": [{"name": "p", "security": {"type": "api-key"}}]}"#
        )
        try folder.write("broken.yaml", "listeners: [")
        let report = ValidationReport.check(paths: [folder.path], validator: DefinitionValidator(catalog: testCatalog))
        let text = report.lines.joined(separator: "\n")
        #expect(report.errorCount == 5)
        #expect(text.contains("type: proxy APIs are not supported"))
        #expect(text.contains("listeners[0].entrypoints[0].type: unknown entrypoint type 'carrier-pigeon'"))
        #expect(text.contains("endpointGroups[0].endpoints[0].configuration.messageInterval: must be an integer >= 1"))
        #expect(text.contains("plans[0].security.type: api-key plans are not supported yet"))
        #expect(text.contains("broken.yaml: malformed YAML"))
        #expect(text.contains("OK good 'good api' at /good"))
        #expect(report.apis.map(\.id) == ["good"])
    }
}
