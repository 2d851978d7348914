import Foundation
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import SluiceCore
import Synchronization
import TestProcesses
import Testing

@testable import SluiceEndpoints
@testable import SluiceGateway

/// The `kafka` endpoint through the gateway's entrypoints against a real Kafka-compatible broker
/// (Tansu; TLS by a socat front), with confluent-kafka as an independent client. Each test has its
/// own broker on its own ports (19120–19159).
@Suite(.timeLimit(.minutes(3))) struct KafkaGatewayTests {
    static let python = TansuBroker.repositoryRoot.appendingPathComponent(".venv/bin/python").path

    /// A broker for one test, stopped at the end.
    static func withBroker<R: Sendable>(port: Int, authentication: Bool = false, _ body: (TansuBroker) async throws -> R) async throws -> R {
        let broker = TansuBroker(port: port, authentication: authentication)
        try await broker.start()
        defer { broker.stop() }
        return try await body(broker)
    }

    @Test func liveSubscribersShareOneConsumer() async throws {
        try await Self.withBroker(port: 19150) { broker in
            let shared = "{producer: {enabled: true, topics: [ticks]}, consumer: {enabled: true, topics: [ticks], autoOffsetReset: latest}}"
            let definition = kafkaDefinition(id: "k-live", servers: broker.bootstrapServers, shared: shared, sseQoS: "none")
            try await withGateway([definition], fanOut: FanOutSettings()) { port, client, registry in
                let connector = try #require((registry.api(id: "k-live")?.endpoint as? FanOutConnector)?.base as? KafkaConnector)
                // The topic exists before the consumer subscribes (librdkafka would see it only at
                // its next metadata refresh); at latest this message is never delivered.
                #expect(try await client.post("/k-live", "before").status == 202)
                try await expectLiveFanOut(port: port, client: client, path: "/k-live", ordered: false, warmUp: true) {
                    connector.openConsumers
                }
            }
        }
    }

    @Test func postReachesSSEHTTPGetAndWebSocketWithHeadersKeyAndMetadata() async throws {
        try await Self.withBroker(port: 19120) { broker in
            let shared = "{producer: {enabled: true, topics: [orders]}, consumer: {enabled: true, topics: [orders], autoOffsetReset: earliest, encodeMessageId: false}}"
            try await withGateway([kafkaDefinition(id: "k-basic", servers: broker.bootstrapServers, shared: shared)]) { port, client in
                let sse = try await SSEClient.connect(port: port, path: "/k-basic", identifier: "sse")
                #expect(sse.status == 200)
                let post = try await client.post("/k-basic", "order 1", headers: [("X-Trace", "t-1"), ("X-Sluice-Kafka-Record-Key", "customer-7")])
                #expect(post.status == 202, "\(post.body)")
                let event = try await sse.nextMessage(timeout: .seconds(15))
                #expect(event.data == "order 1")
                #expect(event.comments["x-trace"] == "t-1", "\(event.comments)")
                #expect(event.comments["x-sluice-kafka-record-key"] == nil)
                #expect(event.comments["topic"] == "orders")
                #expect(event.comments["key"] == "customer-7")
                let partition = try #require(event.comments["partition"])
                #expect(event.comments["offset"] == "0")
                #expect(event.comments["sourceTimestamp"] != nil)
                #expect(event.id == "orders@\(partition)#0")
                await sse.close()

                let get = try await httpGet(port: port, path: "/k-basic", headers: [("Accept", "application/json"), ("X-Sluice-Client-Identifier", "getter")])
                #expect(get.status == 200)
                #expect(get.body.contains("\"content\":\"order 1\""), "\(get.body)")
                #expect(get.body.contains("\"nextCursor\":\"orders@\(partition)#0\""), "\(get.body)")

                let received = Mutex<[String]>([])
                let webSocket = Task {
                    var configuration = WebSocketClientConfiguration()
                    configuration.additionalHeaders[HTTPField.Name("X-Sluice-Client-Identifier")!] = "ws"
                    _ = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/k-basic", configuration: configuration, logger: Logger(label: "ws")) {
                        inbound, outbound, _ in
                        try await outbound.write(.text("from websocket"))
                        for try await frame in inbound.messages(maxSize: 1 << 20) {
                            guard case .binary(let buffer) = frame else { continue }
                            received.withLock { $0.append(String(buffer: buffer)) }
                            if received.withLock({ $0.count }) == 2 { return }
                        }
                    }
                }
                try await withTimeout(.seconds(20), "the WebSocket messages") {
                    while received.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(100)) }
                }
                webSocket.cancel()
                #expect(Set(received.withLock { $0 }) == ["order 1", "from websocket"])
            }
        }
    }

    @Test func lastEventIdAndCursorResumeWithoutGapOrDuplicate() async throws {
        try await Self.withBroker(port: 19121) { broker in
            let shared = "{producer: {enabled: true, topics: [resume]}, consumer: {enabled: true, topics: [resume], autoOffsetReset: earliest}}"
            try await withGateway([kafkaDefinition(id: "k-resume", servers: broker.bootstrapServers, shared: shared, sseQoS: "at-least-once", getQoS: "at-least-once")]) {
                port, client in
                let all = (0..<12).map { "m\($0)" }
                for (index, message) in all.enumerated() {
                    #expect(try await client.post("/k-resume", message, headers: [("X-Sluice-Kafka-Record-Key", "key-\(index)")]).status == 202)
                }
                let first = try await SSEClient.connect(port: port, path: "/k-resume", identifier: "reader")
                var seen: [String] = []
                var lastId = ""
                for _ in 0..<5 {
                    let event = try await first.nextMessage(timeout: .seconds(15))
                    seen.append(event.data)
                    lastId = try #require(event.id)
                }
                await first.close()
                // The id is base64 of the stream's positions (encodeMessageId defaults to true).
                let decoded = String(decoding: try #require(Data(base64Encoded: lastId)), as: UTF8.self)
                #expect(decoded.hasPrefix("resume@"), "\(decoded)")

                // Resumed after that id by a client of another group: exactly the rest.
                let resumed = try await SSEClient.connect(
                    port: port, path: "/k-resume", headers: [("Accept", "text/event-stream"), ("X-Sluice-Client-Identifier", "other"), ("Last-Event-ID", lastId)])
                var rest: [String] = []
                for _ in 0..<(all.count - seen.count) { rest.append(try await resumed.nextMessage(timeout: .seconds(15)).data) }
                #expect(await resumed.messages(within: .seconds(1)).isEmpty)
                await resumed.close()
                #expect(Set(seen).isDisjoint(with: rest))
                #expect(Set(seen + rest) == Set(all))
                #expect(seen.count + rest.count == all.count)

                // HTTP GET with that cursor: the next message after it.
                let get = try await httpGet(
                    port: port, path: "/k-resume?cursor=\(lastId.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)",
                    headers: [("Accept", "application/json"), ("X-Sluice-Client-Identifier", "poller")])
                #expect(get.status == 200)
                #expect(!seen.contains { get.body.contains("\"content\":\"\($0)\"") }, "\(get.body)")
                let bad = try await httpGet(port: port, path: "/k-resume?cursor=nonsense", headers: [("Accept", "application/json")])
                #expect(bad.status == 400, "\(bad.body)")
            }
        }
    }

    @Test func sameIdentifierSplitsPartitionsOthersGetEverything() async throws {
        try await Self.withBroker(port: 19122) { broker in
            let shared = "{producer: {enabled: true, topics: [jobs]}, consumer: {enabled: true, topics: [jobs], autoOffsetReset: earliest}}"
            try await withGateway([kafkaDefinition(id: "k-split", servers: broker.bootstrapServers, shared: shared)]) { port, client in
                let first = try await SSEClient.connect(port: port, path: "/k-split", identifier: "workers")
                let second = try await SSEClient.connect(port: port, path: "/k-split", identifier: "workers")
                let audit = try await SSEClient.connect(port: port, path: "/k-split", identifier: "audit")
                let firstSeen = Mutex<Set<String>>([])
                let secondSeen = Mutex<Set<String>>([])
                let readers = [
                    Task { for await event in first.events where event.event == "message" { firstSeen.withLock { _ = $0.insert(event.data) } } },
                    Task { for await event in second.events where event.event == "message" { secondSeen.withLock { _ = $0.insert(event.data) } } },
                ]
                // Both members are in the group once each has had a message; keep publishing
                // (keys spread the records over the partitions) until then.
                let count = try await withTimeout(.seconds(40), "both members of one group getting messages") {
                    var index = 0
                    while firstSeen.withLock({ $0.isEmpty }) || secondSeen.withLock({ $0.isEmpty }) {
                        let message = "job \(index)"
                        _ = try await client.post("/k-split", message, headers: [("X-Sluice-Kafka-Record-Key", "k\(index)")])
                        index += 1
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return index
                }
                let posted = (0..<count).map { "job \($0)" }
                var auditSeen: Set<String> = []
                while auditSeen.count < posted.count { auditSeen.insert(try await audit.nextMessage(timeout: .seconds(15)).data) }
                #expect(auditSeen == Set(posted))
                try await Task.sleep(for: .seconds(1))
                let union = firstSeen.withLock { $0 }.union(secondSeen.withLock { $0 })
                #expect(union == Set(posted))
                for reader in readers { reader.cancel() }
                for stream in [first, second, audit] { await stream.close() }
            }
        }
    }

    @Test func autoOffsetResetEarliestLatestAndNone() async throws {
        try await Self.withBroker(port: 19123) { broker in
            func definition(_ id: String, _ reset: String) -> String {
                kafkaDefinition(
                    id: id, servers: broker.bootstrapServers,
                    shared: "{producer: {enabled: true, topics: [reset]}, consumer: {enabled: true, topics: [reset], autoOffsetReset: \(reset)}}")
            }
            try await withGateway([definition("k-earliest", "earliest"), definition("k-latest", "latest"), definition("k-none", "none")]) { port, client in
                #expect(try await client.post("/k-earliest", "old").status == 202)
                let earliest = try await SSEClient.connect(port: port, path: "/k-earliest", identifier: "e")
                #expect(try await earliest.nextMessage(timeout: .seconds(15)).data == "old")
                await earliest.close()

                let latest = try await SSEClient.connect(port: port, path: "/k-latest", identifier: "l")
                let first = Mutex<String?>(nil)
                let reader = Task { first.withLock { $0 = nil }; let event = try await latest.nextMessage(timeout: .seconds(30)); first.withLock { $0 = event.data } }
                try await withTimeout(.seconds(30), "a message at latest") {
                    var index = 0
                    while first.withLock({ $0 == nil }) {
                        _ = try await client.post("/k-latest", "new \(index)")
                        index += 1
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                try await reader.value
                #expect(first.withLock { $0 }?.hasPrefix("new ") == true, "latest must not replay 'old'")
                await latest.close()

                // none, and this client never committed: a clear error, for SSE and HTTP GET.
                let none = try await SSEClient.connect(port: port, path: "/k-none", identifier: "n")
                let error = try await withTimeout(.seconds(20), "the error event") {
                    for await event in none.events where event.event == "error" { return event }
                    throw Failure("the stream ended without an error event")
                }
                #expect(error.data.contains("no committed offset"), "\(error.data)")
                await none.close()
                let get = try await httpGet(port: port, path: "/k-none", headers: [("Accept", "application/json"), ("X-Sluice-Client-Identifier", "n2")])
                #expect(get.body.contains("no committed offset"), "\(get.body)")
            }
        }
    }

    @Test func everyCompressionType() async throws {
        try await Self.withBroker(port: 19124) { broker in
            let types = ["none", "gzip", "snappy", "lz4", "zstd"]
            let definitions = types.map { type in
                kafkaDefinition(
                    id: "k-\(type)", servers: broker.bootstrapServers,
                    shared: "{producer: {enabled: true, topics: [c-\(type)], compressionType: \(type)}, consumer: {enabled: true, topics: [c-\(type)], autoOffsetReset: earliest}}")
            }
            try await withGateway(definitions) { port, client in
                let body = String(repeating: "compressible ", count: 200)
                for type in types {
                    #expect(try await client.post("/k-\(type)", "\(type): \(body)").status == 202, "\(type)")
                    let sse = try await SSEClient.connect(port: port, path: "/k-\(type)", identifier: "c-\(type)")
                    #expect(try await sse.nextMessage(timeout: .seconds(15)).data == "\(type): \(body)")
                    await sse.close()
                }
            }
        }
    }

    @Test func confluentKafkaSeesWhatSluiceProducesAndTheReverse() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python), "no .venv with confluent-kafka: run scripts/setup.sh")
        try await Self.withBroker(port: 19125) { broker in
            let shared = "{producer: {enabled: true, topics: [to-python]}, consumer: {enabled: true, topics: [from-python], autoOffsetReset: earliest}}"
            try await withGateway([kafkaDefinition(id: "k-python", servers: broker.bootstrapServers, shared: shared)]) { port, client in
                #expect(try await client.post("/k-python", "hello python", headers: [("X-Sluice-Kafka-Record-Key", "k-1"), ("X-Kind", "greeting")]).status == 202)
                let consumed = try await TestProcesses.runDetached([
                    Self.python, "-c",
                    """
                    import confluent_kafka, sys
                    c = confluent_kafka.Consumer({'bootstrap.servers': '\(broker.bootstrapServers)', 'group.id': 'py', 'auto.offset.reset': 'earliest', 'session.timeout.ms': 6000})
                    c.subscribe(['to-python'])
                    for _ in range(300):
                        m = c.poll(0.1)
                        if m is None or m.error(): continue
                        print(m.value().decode(), m.key().decode(), sorted((k, v.decode()) for k, v in (m.headers() or [])))
                        break
                    c.close()
                    p = confluent_kafka.Producer({'bootstrap.servers': '\(broker.bootstrapServers)', 'acks': 'all'})
                    p.produce('from-python', b'hello sluice', key=b'py-key', headers=[('x-origin', b'python')])
                    assert p.flush(10) == 0
                    """,
                ])
                #expect(consumed.status == 0, "\(consumed.output)")
                #expect(consumed.output.contains("hello python k-1 ["), "\(consumed.output)")
                #expect(consumed.output.lowercased().contains("('x-kind', 'greeting')"), "\(consumed.output)")
                let sse = try await SSEClient.connect(port: port, path: "/k-python", identifier: "py-reader")
                let event = try await sse.nextMessage(timeout: .seconds(15))
                #expect(event.data == "hello sluice")
                #expect(event.comments["key"] == "py-key")
                #expect(event.comments["x-origin"] == "python", "\(event.comments)")
                await sse.close()
            }
        }
    }

    @Test func brokerRestartMidStreamLosesNothingAcknowledged() async throws {
        try await Self.withBroker(port: 19126) { broker in
            let shared = "{producer: {enabled: true, topics: [restart]}, consumer: {enabled: true, topics: [restart], autoOffsetReset: earliest}}"
            try await withGateway([kafkaDefinition(id: "k-restart", servers: broker.bootstrapServers, shared: shared)]) { port, client in
                let sse = try await SSEClient.connect(port: port, path: "/k-restart", identifier: "survivor")
                let received = Mutex<Set<String>>([])
                let reader = Task { for await event in sse.events where event.event == "message" { received.withLock { _ = $0.insert(event.data) } } }
                var acknowledged: Set<String> = []
                for index in 0..<5 where try await client.post("/k-restart", "before \(index)").status == 202 { acknowledged.insert("before \(index)") }
                let before = acknowledged
                try await withTimeout(.seconds(20), "the messages before the restart") {
                    while !before.isSubset(of: received.withLock({ $0 })) { try await Task.sleep(for: .milliseconds(100)) }
                }
                broker.stop()
                // Published while the broker is down: each is either acknowledged after it returns or
                // refused, never acknowledged and lost.
                let during = Task { () -> Set<String> in
                    var accepted: Set<String> = []
                    for index in 0..<3 where (try? await client.post("/k-restart", "during \(index)").status) == 202 { accepted.insert("during \(index)") }
                    return accepted
                }
                try await Task.sleep(for: .seconds(1))
                try await broker.start()
                acknowledged.formUnion(await during.value)
                for index in 0..<5 where try await client.post("/k-restart", "after \(index)").status == 202 { acknowledged.insert("after \(index)") }
                #expect(acknowledged.contains("after 4"))
                let all = acknowledged
                try await withTimeout(.seconds(40), "every acknowledged message after the restart") {
                    while !all.isSubset(of: received.withLock({ $0 })) { try await Task.sleep(for: .milliseconds(100)) }
                }
                reader.cancel()
                await sse.close()
            }
        }
    }

    /// Debian's librdkafka 2.0.2 cannot talk to modern brokers: a gateway that loaded it refuses
    /// Kafka APIs with a message naming the version, the file and the way out.
    @Test func tooOldLibrdkafkaIsRefusedWithAClearMessage() async throws {
        let debian = "/usr/lib/x86_64-linux-gnu/librdkafka.so.1"
        try #require(FileManager.default.fileExists(atPath: debian), "librdkafka-dev is missing: run scripts/setup.sh")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "no sluice binary beside the tests at \(binary)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-old-librdkafka-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try kafkaDefinition(id: "k-old", servers: "127.0.0.1:19128", shared: "{producer: {enabled: true, topics: [t]}}")
            .write(to: directory.appendingPathComponent("api.yaml"), atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("sluice.log").path
        let pid = try TestProcesses.spawn(
            [binary, "serve", "--config", directory.path, "--port", "19129", "--no-management"], output: log, environment: ["LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu"])
        defer { TestProcesses.stop(pid, graceful: true) }
        try await withTimeout(.seconds(20), "the refusal in the log") {
            while !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("is too old") { try await Task.sleep(for: .milliseconds(100)) }
        }
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("librdkafka 2.0.2 (loaded from \(debian)) is too old"), "\(text)")
        #expect(text.contains("scripts/setup.sh") && text.contains("LD_LIBRARY_PATH"))
    }

    @Test func clientsLeavingAndUndeployCloseTheirConsumers() async throws {
        try await Self.withBroker(port: 19127) { broker in
            let settings = EndpointSettings(
                apiId: "k-leave", groupName: "kafka", name: "broker", type: "kafka",
                configuration: ["bootstrapServers": .string(broker.bootstrapServers)],
                sharedConfiguration: try JSONParser.parse("{\"consumer\": {\"enabled\": true, \"topics\": [\"leave\"]}, \"producer\": {\"enabled\": true, \"topics\": [\"leave\"]}}"))
            let connector = try #require(try KafkaEndpointFactory().makeConnector(settings) as? KafkaConnector)
            try await connector.start()
            try await connector.publish(Message(content: ByteBuffer(string: "x")))
            var subscription: MessageSubscription? = try await connector.subscribe(SubscribeRequest(clientIdentifier: "a", qos: .auto, entrypoint: "sse"))
            let kept = try await connector.subscribe(SubscribeRequest(clientIdentifier: "b", qos: .none, entrypoint: "sse"))
            #expect(subscription != nil)
            #expect(connector.openConsumers == 2)
            subscription = nil
            try await eventually { connector.openConsumers == 1 }
            let producerProperties = try KafkaProperties.producer(connector.configuration)
            #expect(KafkaProducerPool.shared.leases(producerProperties) == 1)
            await connector.close()
            #expect(connector.openConsumers == 0)
            #expect(KafkaProducerPool.shared.leases(producerProperties) == 0)
            // The subscription that outlived the undeploy ends.
            var iterator = kept.makeAsyncIterator()
            #expect(try await iterator.next() == nil)
        }
    }
}

/// Security: TLS trust and key stores of every type through a socat TLS front, and SASL against
/// Tansu with authentication (it offers SCRAM and has no users, so every login is refused).
@Suite(.timeLimit(.minutes(3))) struct KafkaGatewaySecurityTests {
    static func stores() throws -> (TestCertificates, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-kafka-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (try TestCertificates(directory: directory), directory)
    }

    /// The stores, made by openssl and keytool off the cooperative pool.
    struct Stores: Sendable {
        let certificates: TestCertificates
        let caJKS: String
        let trustPKCS12: String
        let clientPKCS12: String
        let clientJKS: String
        let combinedPEM: String
    }

    static func makeStores() async throws -> Stores {
        try await offThePool {
            let (certificates, directory) = try Self.stores()
            let caJKS = try certificates.caJKS(password: "trust-pass")
            let trustPKCS12 = directory.appendingPathComponent("ca-trust.p12").path
            _ = try run("keytool", [
                "-importcert", "-noprompt", "-alias", "ca", "-file", certificates.caCertificate, "-keystore", trustPKCS12, "-storetype", "PKCS12", "-storepass",
                "trust-pass",
            ])
            let clientPKCS12 = try certificates.clientPKCS12(password: "key-pass")
            let clientJKS = directory.appendingPathComponent("client.jks").path
            _ = try run("keytool", [
                "-importkeystore", "-noprompt", "-srckeystore", clientPKCS12, "-srcstoretype", "PKCS12", "-srcstorepass", "key-pass",
                "-destkeystore", clientJKS, "-deststoretype", "JKS", "-deststorepass", "key-pass", "-destkeypass", "key-pass",
            ])
            let combinedPEM = directory.appendingPathComponent("client-combined.pem").path
            try (String(contentsOfFile: certificates.clientCertificate, encoding: .utf8) + String(contentsOfFile: certificates.clientKey, encoding: .utf8))
                .write(toFile: combinedPEM, atomically: true, encoding: .utf8)
            return Stores(certificates: certificates, caJKS: caJKS, trustPKCS12: trustPKCS12, clientPKCS12: clientPKCS12, clientJKS: clientJKS, combinedPEM: combinedPEM)
        }
    }

    @Test func sslWithEveryTrustStoreTypeAndMutualTLSWithEveryKeyStoreType() async throws {
        let stores = try await Self.makeStores()
        let certificates = stores.certificates
        let broker = TansuBroker(port: 19130, advertisedPort: 19131)
        try await broker.start()
        defer { broker.stop() }
        let front = try TLSFront(port: 19131, target: 19130, certificate: certificates.serverCertificate, key: certificates.serverKey, clientCA: certificates.caCertificate)
        defer { front.stop() }
        try await front.waitUntilListening()

        let caPEM = try String(contentsOfFile: certificates.caCertificate, encoding: .utf8)
        let jks = stores.caJKS
        let p12TrustInline = try Data(contentsOf: URL(fileURLWithPath: stores.trustPKCS12)).base64EncodedString()
        let clientP12 = stores.clientPKCS12
        let clientJKS = stores.clientJKS
        let combinedPEM = stores.combinedPEM
        let clientCertificatePEM = try String(contentsOfFile: certificates.clientCertificate, encoding: .utf8)
        let clientKeyPEM = try String(contentsOfFile: certificates.clientKey, encoding: .utf8)

        let trustStores = [
            ("pem-file", "{type: PEM, location: \"\(certificates.caCertificate)\"}"),
            ("pem-inline", "{type: PEM, certificates: \(jsonString(caPEM))}"),
            ("jks-file", "{type: JKS, location: \"\(jks)\", password: trust-pass}"),
            ("p12-inline", "{type: PKCS12, certificates: \"\(p12TrustInline)\", password: trust-pass}"),
        ]
        let keyStores = [
            ("pem-file", "{type: PEM, location: \"\(combinedPEM)\"}"),
            ("pem-inline", "{type: PEM, certificateChain: \(jsonString(clientCertificatePEM)), key: \(jsonString(clientKeyPEM))}"),
            ("jks", "{type: JKS, location: \"\(clientJKS)\", password: key-pass}"),
            ("p12", "{type: PKCS12, location: \"\(clientP12)\", password: key-pass}"),
        ]
        var definitions: [String] = []
        for (index, trust) in trustStores.enumerated() {
            let key = keyStores[index]
            definitions.append(
                kafkaDefinition(
                    id: "tls-\(trust.0)-\(key.0)", servers: broker.bootstrapServers,
                    shared: "{security: {protocol: SSL, ssl: {trustStore: \(trust.1), keyStore: \(key.1)}}, producer: {enabled: true, topics: [tls]}, consumer: {enabled: true, topics: [tls], autoOffsetReset: earliest}}"
                ))
        }
        definitions.append(
            kafkaDefinition(
                id: "tls-no-key", servers: broker.bootstrapServers,
                shared: "{security: {protocol: SSL, ssl: {trustStore: {type: PEM, location: \"\(certificates.caCertificate)\"}}}, producer: {enabled: true, topics: [tls]}}"))
        definitions.append(
            kafkaDefinition(
                id: "tls-wrong-ca", servers: broker.bootstrapServers,
                shared: "{security: {protocol: SSL, ssl: {trustStore: {type: PEM, location: \"\(certificates.otherCACertificate)\"}, keyStore: \(keyStores[3].1)}}, producer: {enabled: true, topics: [tls]}}"))
        definitions.append(kafkaDefinition(id: "tls-plaintext", servers: broker.bootstrapServers, shared: "{producer: {enabled: true, topics: [tls]}}"))

        try await withGateway(definitions) { port, client in
            for (index, trust) in trustStores.enumerated() {
                let path = "/tls-\(trust.0)-\(keyStores[index].0)"
                let post = try await client.post(path, "over \(path)")
                #expect(post.status == 202, "\(path): \(post.body)")
                let sse = try await SSEClient.connect(port: port, path: path, identifier: "tls-\(index)")
                let received = try await withTimeout(.seconds(20), "a message over TLS") { () -> Set<String> in
                    var seen: Set<String> = []
                    while !seen.contains("over \(path)") { seen.insert(try await sse.nextMessage(timeout: .seconds(20)).data) }
                    return seen
                }
                #expect(received.contains("over \(path)"))
                await sse.close()
            }
            for path in ["/tls-no-key", "/tls-wrong-ca", "/tls-plaintext"] {
                let start = ContinuousClock.now
                let post = try await client.post(path, "refused")
                #expect(post.status == 500, "\(path): \(post.body)")
                #expect(post.body.contains("Endpoint connection failed"), "\(path): \(post.body)")
                #expect(ContinuousClock.now - start < .seconds(20), "\(path) took \(ContinuousClock.now - start)")
            }
        }
    }

    @Test(arguments: ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
    func saslRefusalReachesTheClientQuickly(_ mechanism: String) async throws {
        let port = 19140 + ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"].firstIndex(of: mechanism)! * 2
        let certificates = try await offThePool { try Self.stores().0 }
        let broker = TansuBroker(port: port, advertisedPort: port, authentication: true)
        try await broker.start()
        defer { broker.stop() }
        // SASL_SSL through a TLS front to a second Tansu that advertises it.
        let tlsBroker = TansuBroker(port: port + 1 + 10, advertisedPort: port + 1, authentication: true)
        try await tlsBroker.start()
        defer { tlsBroker.stop() }
        let front = try TLSFront(port: port + 1, target: port + 1 + 10, certificate: certificates.serverCertificate, key: certificates.serverKey)
        defer { front.stop() }
        try await front.waitUntilListening()
        let module = mechanism == "PLAIN" ? "org.apache.kafka.common.security.plain.PlainLoginModule" : "org.apache.kafka.common.security.scram.ScramLoginModule"
        let jaas = "\(module) required username=\\\"alice\\\" password=\\\"sasl-secret-1\\\";"
        let definitions = [
            kafkaDefinition(
                id: "sasl-plain", servers: broker.bootstrapServers,
                shared: "{security: {protocol: SASL_PLAINTEXT, sasl: {saslMechanism: \(mechanism), saslJaasConfig: \"\(jaas)\"}}, producer: {enabled: true, topics: [s]}, consumer: {enabled: true, topics: [s]}}"),
            kafkaDefinition(
                id: "sasl-ssl", servers: tlsBroker.bootstrapServers,
                shared: "{security: {protocol: SASL_SSL, sasl: {saslMechanism: \(mechanism), saslJaasConfig: \"\(jaas)\"}, ssl: {trustStore: {type: PEM, location: \"\(certificates.caCertificate)\"}}}, producer: {enabled: true, topics: [s]}, consumer: {enabled: true, topics: [s]}}"),
        ]
        try await withGateway(definitions) { port, client in
            for path in ["/sasl-plain", "/sasl-ssl"] {
                let start = ContinuousClock.now
                let post = try await client.post(path, "refused")
                #expect(post.status == 500, "\(path): \(post.body)")
                #expect(post.body.contains("Endpoint connection failed"), "\(path): \(post.body)")
                #expect(post.body.lowercased().contains("authentication"), "\(path): \(post.body)")
                #expect(!post.body.contains("sasl-secret-1"))
                #expect(ContinuousClock.now - start < .seconds(15), "\(path) took \(ContinuousClock.now - start)")
                let sse = try await SSEClient.connect(port: port, path: path, identifier: "sasl")
                let error = try await withTimeout(.seconds(20), "the error event") {
                    for await event in sse.events where event.event == "error" { return event }
                    throw Failure("the stream ended without an error event")
                }
                #expect(error.data.contains("Endpoint connection failed"), "\(error.data)")
                #expect(!error.data.contains("sasl-secret-1"))
                await sse.close()
            }
            #expect(!broker.output.isEmpty)
        }
    }
}

/// Runs blocking work (openssl, keytool) on a thread of its own: the cooperative pool has one
/// thread per core, and blocking it stalls every other test in the process.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}

func jsonString(_ text: String) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast().description
}

/// A Kafka API on `/id`: POST (request headers become message headers), SSE (headers and
/// metadata as comments), WebSocket and HTTP GET, in front of `servers`.
func kafkaDefinition(id: String, servers: String, shared: String, sseQoS: String = "auto", getQoS: String = "auto") -> String {
    // HTTP GET waits 8 s: a consumer's group join takes a few seconds.
    messageAPIDefinition(
        id: id, type: "kafka", configuration: "{bootstrapServers: \"\(servers)\"}", shared: shared, sseQoS: sseQoS, getQoS: getQoS, getDuration: 8000)
}
