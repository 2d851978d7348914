import Foundation
import Synchronization
import TestProcesses
import Testing

/// What needs a RabbitMQ node of its own (TLS options are node-wide, and a full restart would
/// disturb the other tests): a TLS listener that asks for no client certificate, with a server
/// certificate for `localhost` only (no IP address), so that host name verification is seen
/// working and switched off end to end; and a full node restart (the Erlang VM stops, durable
/// queues and persistent messages come back from disk). Node `sluicesecond@localhost`, AMQP
/// 15683, TLS 15684, distribution 25683.
@Suite(.serialized, .timeLimit(.minutes(5))) struct RabbitMQSecondNodeTests {
    static let port = 15683
    static let tlsPort = 15684
    static let environment = ["RABBITMQ_TEST_NODENAME": "sluicesecond@localhost", "RABBITMQ_TEST_DIST_PORT": "25683"]

    struct Node: Sendable {
        let directory: URL
        let certificates: TestCertificates
        /// A server certificate signed by the test CA for DNS:localhost only.
        let nameOnlyCertificate: String
        let nameOnlyKey: String

        init() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-rabbitmq-second-\(getpid())-\(UUID().uuidString.prefix(6))")
            self.directory = directory
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let certificates = try TestCertificates(directory: directory)
            self.certificates = certificates
            let path = { (name: String) in directory.appendingPathComponent(name).path }
            let nameOnlyCertificate = path("name-only.crt")
            let nameOnlyKey = path("name-only.key")
            self.nameOnlyCertificate = nameOnlyCertificate
            self.nameOnlyKey = nameOnlyKey
            try "subjectAltName = DNS:localhost\n".write(toFile: path("name-only.ext"), atomically: true, encoding: .utf8)
            _ = try run("openssl", [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                "-keyout", nameOnlyKey, "-out", path("name-only.csr"),
            ])
            _ = try run("openssl", [
                "x509", "-req", "-in", path("name-only.csr"), "-CA", certificates.caCertificate, "-CAkey", path("ca.key"), "-CAcreateserial",
                "-days", "2", "-out", nameOnlyCertificate, "-extfile", path("name-only.ext"),
            ])
            try """
                listeners.ssl.1 = 127.0.0.1:\(RabbitMQSecondNodeTests.tlsPort)
                ssl_options.cacertfile = \(certificates.caCertificate)
                ssl_options.certfile = \(nameOnlyCertificate)
                ssl_options.keyfile = \(nameOnlyKey)
                ssl_options.verify = verify_none
                ssl_options.fail_if_no_peer_cert = false

                """.write(to: directory.appendingPathComponent("extra.conf"), atomically: true, encoding: .utf8)
        }

        func start() async throws {
            let (status, output) = try await TestProcesses.runDetached(
                ["/bin/bash", RabbitMQServer.script, "start", directory.path, String(RabbitMQSecondNodeTests.port)],
                environment: RabbitMQSecondNodeTests.environment)
            guard status == 0 else { throw Failure("the second RabbitMQ node did not start (exit \(status)): \(output)") }
        }

        func stop() async {
            _ = try? await TestProcesses.runDetached(["/bin/bash", RabbitMQServer.script, "stop", directory.path], environment: RabbitMQSecondNodeTests.environment)
        }
    }

    static let credentials = "auth: {username: sluice, password: sluice-pass}"
    static let roles =
        "producer: {enabled: true, routingKey: r, exchange: {name: second.x, type: direct, durable: true}}, consumer: {enabled: true, routingKey: r, exchange: {name: second.x, type: direct, durable: true}}"

    @Test func tlsWithoutClientCertificatesHostnameVerificationAndAFullNodeRestart() async throws {
        let node = try await offThePool { try Node() }
        try await node.start()
        let trust = "trustStore: {type: PEM, path: \"\(node.certificates.caCertificate)\"}"
        let definitions = [
            // TLS without a client certificate, verifying the name the certificate has.
            rabbitDefinition(id: "second-by-name", host: "localhost", port: Self.tlsPort, shared: "{security: {\(Self.credentials), ssl: {\(trust)}}, \(Self.roles)}"),
            // By IP address: the certificate does not name 127.0.0.1, so verification refuses it...
            rabbitDefinition(id: "second-by-ip", port: Self.tlsPort, shared: "{security: {\(Self.credentials), ssl: {\(trust)}}, \(Self.roles)}"),
            // ...unless it is switched off (the chain is still checked: a wrong CA is refused).
            rabbitDefinition(
                id: "second-no-verify", port: Self.tlsPort, shared: "{security: {\(Self.credentials), ssl: {hostnameVerifier: false, \(trust)}}, \(Self.roles)}"),
            rabbitDefinition(
                id: "second-no-verify-wrong-ca", port: Self.tlsPort,
                shared: "{security: {\(Self.credentials), ssl: {hostnameVerifier: false, trustStore: {type: PEM, path: \"\(node.certificates.otherCACertificate)\"}}}, \(Self.roles)}"),
            rabbitDefinition(id: "second-plain", port: Self.port, shared: "{security: {\(Self.credentials)}, \(Self.roles)}"),
        ]
        do {
            try await withGateway(definitions) { port, client in
                for path in ["/second-by-name", "/second-no-verify"] {
                    let sse = try await SSEClient.connect(port: port, path: path, identifier: "tls-reader")
                    #expect(sse.status == 200)
                    let post = try await client.post(path, "over \(path)")
                    #expect(post.status == 202, "\(path): \(post.body)")
                    #expect(try await sse.nextMessage().data == "over \(path)")
                    await sse.close()
                }
                for path in ["/second-by-ip", "/second-no-verify-wrong-ca"] {
                    let post = try await client.post(path, "refused")
                    #expect(post.status == 500, "\(path): \(post.body)")
                    #expect(post.body.contains("Endpoint connection failed"), "\(path): \(post.body)")
                }

                // A full node restart (about 20 s: longer than the endpoint's recovery attempts).
                let sse = try await SSEClient.connect(port: port, path: "/second-plain", identifier: "durable-reader")
                var acknowledged: [String] = []
                for index in 0..<5 where try await client.post("/second-plain", "before \(index)").status == 202 { acknowledged.append("before \(index)") }
                var seen: Set<String> = []
                while seen.count < acknowledged.count { seen.insert(try await sse.nextMessage().data) }
                await node.stop()
                // While the node is down a POST is refused with a clear error, never a 202.
                let down = try await client.post("/second-plain", "while down")
                #expect(down.status == 500, "\(down.body)")
                #expect(down.body.contains("Endpoint connection failed"), "\(down.body)")
                await sse.close()
                try await node.start()
                for index in 0..<5 where try await client.post("/second-plain", "after \(index)").status == 202 { acknowledged.append("after \(index)") }
                #expect(acknowledged.count == 10, "POSTs after the restart open a new connection: \(acknowledged)")
                // The same identifier's durable queue kept what came while no client was reading.
                let resumed = try await SSEClient.connect(port: port, path: "/second-plain", identifier: "durable-reader")
                let expected = Set(acknowledged)
                let before = seen
                try await withTimeout(.seconds(30), "every acknowledged message after the restart") {
                    var all = before
                    while !expected.isSubset(of: all) { all.insert(try await resumed.nextMessage(timeout: .seconds(30)).data) }
                    return ()
                }
                await resumed.close()
            }
        } catch {
            await node.stop()
            throw error
        }
        await node.stop()
        try? FileManager.default.removeItem(at: node.directory)
    }
}
