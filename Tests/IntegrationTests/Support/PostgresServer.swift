import Foundation
import TestProcesses

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL server for one test (Debian's `postgresql` package), on loopback with
/// SCRAM password authentication. As root, initdb and postgres run as the `postgres` user
/// (`setpriv` execs in place, so the PID is the server's own).
final class PostgresServer: @unchecked Sendable {
    static let user = "sluice"
    let password = "pg-secret-\(UUID().uuidString.prefix(8))"
    let port: Int
    let directory: URL
    private var pid: pid_t = 0

    var url: String { "postgres://\(Self.user):\(password)@127.0.0.1:\(port)/sluice?sslmode=disable" }

    init(port: Int) throws {
        self.port = port
        directory = URL(fileURLWithPath: "/tmp/sluice-postgres-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binaries = try Self.binaries()
        let passwordFile = directory.appendingPathComponent("password").path
        try password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        if getuid() == 0 { try run("/bin/chown", ["-R", "postgres:postgres", directory.path]) }
        try run(
            "/usr/bin/env",
            Self.asPostgres + [
                "\(binaries)/initdb", "-D", dataDirectory, "--username", Self.user, "--auth", "scram-sha-256", "--pwfile", passwordFile,
                "--encoding", "UTF8", "--no-instructions",
            ])
        pid = try TestProcesses.spawn(
            Self.asPostgres + [
                "\(binaries)/postgres", "-D", dataDirectory, "-p", "\(port)", "-k", directory.path, "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off",
            ], output: directory.appendingPathComponent("postgres.log").path)
        let deadline = Date().addingTimeInterval(20)
        while !TestProcesses.canConnect(port: port) {
            guard !TestProcesses.hasExited(pid), Date() < deadline else {
                stop()
                throw Failure("postgres did not start on 127.0.0.1:\(port): \(log)")
            }
            usleep(50_000)
        }
        try run(
            "/usr/bin/env",
            Self.asPostgres + ["\(binaries)/createdb", "-h", "127.0.0.1", "-p", "\(port)", "-U", Self.user, "sluice"],
            environment: ["PGPASSWORD": password])
    }

    var dataDirectory: String { directory.appendingPathComponent("data").path }

    var log: String { (try? String(contentsOfFile: directory.appendingPathComponent("postgres.log").path, encoding: .utf8)) ?? "" }

    func stop() {
        if pid != 0 { TestProcesses.stop(pid, graceful: true) }
        pid = 0
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private static var asPostgres: [String] {
        getuid() == 0 ? ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] : []
    }

    /// The server's programs: `/usr/lib/postgresql/<version>/bin`.
    static func binaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root))?.compactMap(Int.init).sorted() ?? []
        guard let version = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/postgres") else {
            throw Failure("PostgreSQL is not installed: run scripts/setup.sh (Debian package postgresql)")
        }
        return "\(root)/\(version)/bin"
    }

    @discardableResult
    private func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let (status, output) = try TestProcesses.run([tool] + arguments, environment: environment)
        guard status == 0 else { throw Failure("\(tool) \(arguments.joined(separator: " ")) failed (\(status)): \(output)") }
        return output
    }
}
