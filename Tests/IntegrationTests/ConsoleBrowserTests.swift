import Foundation
import Testing
import TestProcesses

/// The web console in a real browser: headless Chromium driven by Selenium
/// (`Tests/Console/console_flow.py`) against the real `sluice` binary and a Mosquitto. The script
/// signs in, configures a Kafka endpoint (SASL_SSL, PKCS12 trust store) and an MQTT 5 endpoint
/// (reconnect attempts 11 refused in the form, then 5), deploys, and sees a message go through.
/// Screenshots of every step land in `.build/artefacts/console/`.
@Suite(.serialized) struct ConsoleBrowserTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theConsoleConfiguresAndDeploysApisInARealBrowser() async throws {
        let python = Self.root.appendingPathComponent(".venv/bin/python").path
        let script = Self.root.appendingPathComponent("Tests/Console/console_flow.py").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "no .venv: run scripts/setup.sh")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "no chromium: run scripts/setup.sh")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "no chromium-driver: run scripts/setup.sh")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "no sluice binary beside the tests at \(binary)")

        let broker = try await offThePool { try MosquittoServer(port: 18890) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-console-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let screenshots = Self.root.appendingPathComponent(".build/artefacts/console")
        try? FileManager.default.removeItem(at: screenshots)
        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)

        let password = "console-\(UUID().uuidString.prefix(8))"
        let log = directory.appendingPathComponent("sluice.log").path
        let pid = try TestProcesses.spawn(
            [
                binary, "serve", "--port", "18894", "--management-port", "18895", "--management-database",
                directory.appendingPathComponent("sluice.db").path,
            ], output: log, environment: ["SLUICE_ADMIN_PASSWORD": password])
        defer { TestProcesses.stop(pid, graceful: true) }
        try await withTimeout(.seconds(30), "the gateway to listen") {
            while !(TestProcesses.canConnect(port: 18894) && TestProcesses.canConnect(port: 18895)) {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let (status, output) = try await TestProcesses.runDetached(
            [python, script],
            environment: [
                "CONSOLE_URL": "http://127.0.0.1:18895/console/", "GATEWAY_URL": "http://127.0.0.1:18894", "ADMIN_PASSWORD": password,
                "MQTT_PORT": "\(broker.port)", "SCREENSHOT_DIR": screenshots.path,
            ])
        let gatewayLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "console_flow.py failed:\n\(output)\n--- sluice log:\n\(gatewayLog.suffix(4000))")
        #expect(!gatewayLog.contains(password), "the admin password reached the log")
        let pictures = (try? FileManager.default.contentsOfDirectory(atPath: screenshots.path))?.filter { $0.hasSuffix(".png") } ?? []
        #expect(pictures.count >= 5, "screenshots: \(pictures)")
        withExtendedLifetime(broker) {}
    }
}
