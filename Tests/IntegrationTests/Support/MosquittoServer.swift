#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestProcesses

/// A real Mosquitto for one test, on four loopback listeners (contract tests, issue 4):
/// `port` anonymous, `port + 1` username/password, `port + 2` TLS with username/password,
/// `port + 3` mutual TLS (the client certificate's CN is the user name). Certificates come from
/// `TestCertificates`; sessions persist across ``restart()`` (graceful stop writes them).
final class MosquittoServer: @unchecked Sendable {
    // Mutable state (`pid`) is only touched by the test that owns the server, sequentially.
    static let user = "sluice"
    static let password = "mqtt-secret-\(UUID().uuidString.prefix(6))"

    let port: Int
    var passwordPort: Int { port + 1 }
    var tlsPort: Int { port + 2 }
    var mutualTLSPort: Int { port + 3 }
    let directory: URL
    let certificates: TestCertificates
    private var pid: pid_t = 0

    init(port: Int) throws {
        self.port = port
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mosquitto-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certificates = try TestCertificates(directory: directory)
        let passwordFile = directory.appendingPathComponent("passwords").path
        guard FileManager.default.createFile(atPath: passwordFile, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw Failure("cannot create \(passwordFile)")
        }
        try run("mosquitto_passwd", ["-b", passwordFile, Self.user, Self.password])
        // On the password listener the user may use `p`, only read `readonly/#` and only write
        // `writeonly/#` (Mosquitto grants every SUBSCRIBE and checks reading at delivery).
        let aclFile = directory.appendingPathComponent("acl").path
        try """
            user \(Self.user)
            topic readwrite p
            topic read readonly/#
            topic write writeonly/#
            """.write(toFile: aclFile, atomically: true, encoding: .utf8)
        let tls = """
            cafile \(certificates.caCertificate)
            certfile \(certificates.serverCertificate)
            keyfile \(certificates.serverKey)
            """
        let config = """
            per_listener_settings true
            \(getuid() == 0 ? "user root" : "")
            persistence true
            persistence_location \(directory.path)/
            autosave_interval 1
            log_dest stderr
            log_type error
            log_type warning
            log_type all
            max_queued_messages 10000

            listener \(port) 127.0.0.1
            allow_anonymous true

            listener \(port + 1) 127.0.0.1
            allow_anonymous false
            password_file \(passwordFile)
            acl_file \(aclFile)

            listener \(port + 2) 127.0.0.1
            allow_anonymous false
            password_file \(passwordFile)
            \(tls)

            listener \(port + 3) 127.0.0.1
            \(tls)
            require_certificate true
            use_identity_as_username true
            allow_anonymous false
            """
        try config.write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        try start()
    }

    /// Starts the broker and waits until every listener accepts connections.
    func start() throws {
        try TestProcesses.requireFree(ports: [port, port + 1, port + 2, port + 3])
        pid = try TestProcesses.spawn([try Self.which("mosquitto"), "-c", directory.appendingPathComponent("mosquitto.conf").path], output: logFile)
        let deadline = Date().addingTimeInterval(10)
        while ![port, port + 1, port + 2, port + 3].allSatisfy(TestProcesses.canConnect) {
            guard !TestProcesses.hasExited(pid), Date() < deadline else {
                stop(kill: true)
                throw Failure("mosquitto did not start on 127.0.0.1:\(port)-\(port + 3): \(log)")
            }
            usleep(20_000)
        }
    }

    /// Stops the broker: SIGTERM saves its sessions, SIGKILL loses what was not saved.
    func stop(kill: Bool = false) {
        TestProcesses.stop(pid, graceful: !kill)
        pid = 0
    }

    func restart() throws {
        stop()
        try start()
    }

    deinit {
        stop(kill: true)
        try? FileManager.default.removeItem(at: directory)
    }

    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    var logFile: String { directory.appendingPathComponent("mosquitto.log").path }

    static func which(_ tool: String) throws -> String {
        if tool.hasPrefix("/"), FileManager.default.isExecutableFile(atPath: tool) { return tool }
        for directory in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/opt/swift/usr/bin"] {
            let path = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Failure("\(tool) is not installed: run scripts/setup.sh (Debian packages mosquitto, mosquitto-clients)")
    }
}

/// Runs a tool to completion; throws with its output when it fails.
@discardableResult
func run(_ tool: String, _ arguments: [String], input: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try MosquittoServer.which(tool))
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw Failure("\(tool) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
    }
    return text
}

/// Starts a tool and returns at once; the caller reads `output` after `waitUntilExit`.
final class Background: @unchecked Sendable {
    // Only the owning test touches it.
    let process = Process()
    private let pipe = Pipe()

    init(_ tool: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: try MosquittoServer.which(tool))
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
    }

    /// Waits for the tool to end and returns what it printed.
    func output() -> String {
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A CA, a server certificate for 127.0.0.1/localhost, a client certificate (CN `sluice`), and an
/// unrelated CA, all made with openssl for one test.
struct TestCertificates: Sendable {
    let directory: URL
    let caCertificate: String
    let serverCertificate: String
    let serverKey: String
    let clientCertificate: String
    let clientKey: String
    let otherCACertificate: String

    init(directory: URL) throws {
        self.directory = directory
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        caCertificate = path("ca.crt")
        serverCertificate = path("server.crt")
        serverKey = path("server.key")
        clientCertificate = path("client.crt")
        clientKey = path("client.key")
        otherCACertificate = path("other-ca.crt")
        for ca in ["ca", "other-ca"] {
            try run("openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=Sluice test \(ca)", "-keyout", path("\(ca).key"), "-out", path("\(ca).crt"),
            ])
        }
        let extensions = path("server.ext")
        try "subjectAltName = IP:127.0.0.1, DNS:localhost\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        for (name, subject, ext) in [("server", "/CN=localhost", extensions), ("client", "/CN=sluice", nil)] {
            try run("openssl", [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
                "-keyout", path("\(name).key"), "-out", path("\(name).csr"),
            ])
            try run("openssl", [
                "x509", "-req", "-in", path("\(name).csr"), "-CA", caCertificate, "-CAkey", path("ca.key"), "-CAcreateserial",
                "-days", "2", "-out", path("\(name).crt"),
            ] + (ext.map { ["-extfile", $0] } ?? []))
        }
    }

    /// The client certificate and key as a PKCS12 store (openssl's defaults: AES-256, PBKDF2).
    func clientPKCS12(password: String) throws -> String {
        let path = directory.appendingPathComponent("client.p12").path
        try run("openssl", ["pkcs12", "-export", "-in", clientCertificate, "-inkey", clientKey, "-passout", "pass:\(password)", "-out", path])
        return path
    }

    /// The CA certificate as a JKS trust store, made by keytool.
    func caJKS(password: String) throws -> String {
        let path = directory.appendingPathComponent("ca.jks").path
        try? FileManager.default.removeItem(atPath: path)
        try run("keytool", ["-importcert", "-noprompt", "-alias", "ca", "-file", caCertificate, "-keystore", path, "-storetype", "JKS", "-storepass", password])
        return path
    }
}
