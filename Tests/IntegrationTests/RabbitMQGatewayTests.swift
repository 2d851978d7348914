import Foundation
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import SluiceCore
import Synchronization
import Testing

/// The `rabbitmq` endpoint through the gateway's entrypoints against a real RabbitMQ node
/// (`RabbitMQServer`): every exchange type, routing keys with wildcards, queues per client
/// identifier, the broker's refusals, TLS with a client certificate, and pika as an independent
/// client.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RabbitMQGatewayTests {
    static let credentials = "security: {auth: {username: sluice, password: sluice-pass}}"

    static func shared(_ roles: String) -> String { "{\(credentials), \(roles)}" }

    @Test(arguments: ["direct", "fanout", "topic", "headers"])
    func postReachesSSESubscribersThroughEachExchangeType(_ type: String) async throws {
        _ = try await RabbitMQServer.shared()
        let exchange = "sluice.test.\(type)"
        let consumerKey = type == "topic" ? "orders.*" : "orders.new"
        let shared = Self.shared(
            "producer: {enabled: true, routingKey: orders.new, exchange: {name: \(exchange), type: \(type)}}, consumer: {enabled: true, routingKey: \"\(consumerKey)\", exchange: {name: \(exchange), type: \(type)}}")
        try await withGateway([rabbitDefinition(id: "x-\(type)", shared: shared)]) { port, client in
            let sse = try await SSEClient.connect(port: port, path: "/x-\(type)", identifier: "sse-\(type)")
            #expect(sse.status == 200)
            let post = try await client.post("/x-\(type)", "order via \(type)", headers: [("X-Trace", "t-\(type)")])
            #expect(post.status == 202, "\(post.body)")
            let event = try await sse.nextMessage()
            #expect(event.data == "order via \(type)")
            #expect(event.comments["x-trace"] == "t-\(type)", "\(event.comments)")
            #expect(event.comments["exchange"] == exchange)
            #expect(event.comments["routingKey"] == "orders.new")
            #expect(event.comments["deliveryTag"] != nil)
            await sse.close()
        }
    }

    @Test func liveSubscribersShareOneQueue() async throws {
        let server = try await RabbitMQServer.shared()
        let shared = Self.shared(
            "producer: {enabled: true, exchange: {name: sluice.test.ticks, type: fanout}}, consumer: {enabled: true, exchange: {name: sluice.test.ticks, type: fanout}}")
        try await withGateway([rabbitDefinition(id: "live-ticks", shared: shared, sseQoS: "none")]) { port, client in
            try await expectLiveFanOut(port: port, client: client, path: "/live-ticks") {
                try await server.control(["list_queues", "name"]).split(separator: "\n").filter { $0.hasPrefix("sluice/live-ticks/") }.count
            }
        }
    }

    @Test func sameIdentifierSharesAQueueOthersGetEveryMessage() async throws {
        _ = try await RabbitMQServer.shared()
        let shared = Self.shared(
            "producer: {enabled: true, exchange: {name: sluice.test.jobs, type: fanout}}, consumer: {enabled: true, exchange: {name: sluice.test.jobs, type: fanout}}")
        try await withGateway([rabbitDefinition(id: "jobs", shared: shared)]) { port, client in
            try await expectSameIdentifierSplitsOthersGetAll(port: port, client: client, path: "/jobs")
        }
    }

    @Test func webSocketAndHTTPGetSubscribersInAVirtualHost() async throws {
        let server = try await RabbitMQServer.shared()
        _ = server
        let shared = """
            {security: {auth: {username: \(RabbitMQServer.user), password: "\(RabbitMQServer.password)"}}, producer: {enabled: true, routingKey: a.b, exchange: {name: vh.events, type: topic, durable: true}}, consumer: {enabled: true, routingKey: "a.#", exchange: {name: vh.events, type: topic, durable: true}}}
            """
        try await withGateway([rabbitDefinition(id: "vh", virtualHost: RabbitMQServer.virtualHost, shared: shared)]) { port, client in
            let got = Mutex<String?>(nil)
            let get = Task {
                let body = try await httpGet(port: port, path: "/vh", headers: [("Accept", "application/json"), ("X-Sluice-Client-Identifier", "poller")]).body
                got.withLock { $0 = body }
            }
            try await withTimeout(.seconds(10), "the HTTP GET response") {
                while got.withLock({ $0 == nil }) {
                    _ = try await client.post("/vh", "for get")
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            try await get.value
            #expect(got.withLock { $0 }?.contains("for get") == true)

            let received = Mutex<[String]>([])
            let webSocket = Task {
                var configuration = WebSocketClientConfiguration()
                configuration.additionalHeaders[HTTPField.Name("X-Sluice-Client-Identifier")!] = "ws"
                _ = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/vh", configuration: configuration, logger: Logger(label: "ws")) {
                    inbound, outbound, _ in
                    for try await frame in inbound.messages(maxSize: 1 << 20) {
                        guard case .binary(let buffer) = frame else { continue }
                        received.withLock { $0.append(String(buffer: buffer)) }
                        if String(buffer: buffer) == "to the socket" { try await outbound.close(.normalClosure, reason: nil) }
                    }
                }
            }
            try await withTimeout(.seconds(10), "the WebSocket message") {
                while !received.withLock({ $0.contains("to the socket") }) {
                    _ = try await client.post("/vh", "to the socket")
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            try await webSocket.value
        }
    }

    @Test func refusalsAreClearErrors() async throws {
        _ = try await RabbitMQServer.shared()
        let producer = "producer: {enabled: true, routingKey: k, exchange: {name: sluice.test.refusals, type: direct}}"
        let wrongPassword = rabbitDefinition(id: "wrong-password", shared: "{security: {auth: {username: sluice, password: not-it}}, \(producer)}")
        let unknownVirtualHost = rabbitDefinition(id: "unknown-vh", virtualHost: "no-such-vhost", shared: Self.shared(producer))
        // The exchange exists as `direct`: declaring it as `fanout` clashes.
        let clash = rabbitDefinition(id: "clash", shared: Self.shared("producer: {enabled: true, routingKey: k, exchange: {name: sluice.test.refusals, type: fanout}}"))
        let unroutable = rabbitDefinition(id: "unroutable", shared: Self.shared("producer: {enabled: true, routingKey: nobody-listens, exchange: {name: sluice.test.refusals, type: direct}}"))
        try await withGateway([wrongPassword, unknownVirtualHost, clash, unroutable]) { port, client in
            // Creates the exchange as direct (and proves publishing works at all).
            let first = try await client.post("/unroutable", "nobody is bound")
            #expect(first.status == 500)
            #expect(first.body.contains("Endpoint unknown error") && first.body.contains("unroutable") && first.body.contains("NO_ROUTE"), "\(first.body)")

            let password = try await client.post("/wrong-password", "x")
            #expect(password.status == 500)
            #expect(password.body.contains("Endpoint connection failed") && password.body.contains("ACCESS_REFUSED"), "\(password.body)")
            #expect(!password.body.contains("not-it"))

            let vhost = try await client.post("/unknown-vh", "x")
            #expect(vhost.status == 500)
            #expect(vhost.body.contains("Endpoint connection failed") && vhost.body.contains("no-such-vhost"), "\(vhost.body)")

            let clashing = try await client.post("/clash", "x")
            #expect(clashing.status == 500)
            #expect(clashing.body.contains("Endpoint configuration invalid") && clashing.body.contains("PRECONDITION_FAILED"), "\(clashing.body)")
        }
    }

    @Test func tlsWithAClientCertificate() async throws {
        let server = try await RabbitMQServer.shared()
        let certificates = server.certificates
        let trust = "trustStore: {type: PEM, path: \"\(certificates.caCertificate)\"}"
        let keyStore = "keyStore: {type: PEM, certPath: \"\(certificates.clientCertificate)\", keyPath: \"\(certificates.clientKey)\"}"
        let roles = "producer: {enabled: true, routingKey: s, exchange: {name: sluice.test.tls, type: direct}}, consumer: {enabled: true, routingKey: s, exchange: {name: sluice.test.tls, type: direct}}"
        let good = rabbitDefinition(
            id: "tls", port: RabbitMQServer.tlsPort, shared: "{security: {auth: {username: sluice, password: sluice-pass}, ssl: {\(trust), \(keyStore)}}, \(roles)}")
        let noCertificate = rabbitDefinition(
            id: "tls-no-cert", port: RabbitMQServer.tlsPort, shared: "{security: {auth: {username: sluice, password: sluice-pass}, ssl: {\(trust)}}, \(roles)}")
        let wrongCA = rabbitDefinition(
            id: "tls-wrong-ca", port: RabbitMQServer.tlsPort,
            shared: "{security: {auth: {username: sluice, password: sluice-pass}, ssl: {trustStore: {type: PEM, path: \"\(certificates.otherCACertificate)\"}, \(keyStore)}}, \(roles)}")
        let plaintext = rabbitDefinition(id: "tls-plain", port: RabbitMQServer.tlsPort, shared: Self.shared(roles))
        try await withGateway([good, noCertificate, wrongCA, plaintext]) { port, client in
            let sse = try await SSEClient.connect(port: port, path: "/tls", identifier: "tls")
            #expect(sse.status == 200)
            #expect(try await client.post("/tls", "over TLS").status == 202)
            #expect(try await sse.nextMessage().data == "over TLS")
            for path in ["/tls-no-cert", "/tls-wrong-ca", "/tls-plain"] {
                let refused = try await withTimeout(.seconds(20), path) { try await client.post(path, "x") }
                #expect(refused.status == 500, "\(path): \(refused.body)")
                #expect(refused.body.contains("Endpoint connection failed"), "\(path): \(refused.body)")
            }
            await sse.close()
        }
    }

    /// The repository's virtual environment (scripts/setup.sh) has pika, the independent client.
    static var python: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".venv/bin/python").path
    }

    @Test func pikaSeesWhatSluicePublishesAndTheReverse() async throws {
        _ = try await RabbitMQServer.shared()
        try #require(FileManager.default.isExecutableFile(atPath: Self.python), "no .venv with pika: run scripts/setup.sh")
        let shared = Self.shared(
            "producer: {enabled: true, routingKey: to.pika, exchange: {name: sluice.test.pika, type: topic, durable: true}}, consumer: {enabled: true, routingKey: \"from.#\", exchange: {name: sluice.test.pika, type: topic, durable: true}}")
        try await withGateway([rabbitDefinition(id: "pika", shared: shared)]) { port, client in
            // pika consumes what Sluice publishes.
            let consumer = try Background(Self.python, ["-c", """
                import pika, sys
                connection = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', \(RabbitMQServer.port), '/', pika.PlainCredentials('sluice', 'sluice-pass')))
                channel = connection.channel()
                channel.exchange_declare('sluice.test.pika', 'topic', durable=True)
                queue = channel.queue_declare('', exclusive=True).method.queue
                channel.queue_bind(queue, 'sluice.test.pika', 'to.pika')
                print('ready', flush=True)
                for method, properties, body in channel.consume(queue, inactivity_timeout=15):
                    if method is None:
                        sys.exit('nothing arrived')
                    print(body.decode(), properties.headers.get('x-trace'), properties.delivery_mode, method.routing_key, sep='|')
                    break
                """])
            try await Task.sleep(for: .seconds(1))
            let post = try await client.post("/pika", "for pika", headers: [("X-Trace", "from-sluice")])
            #expect(post.status == 202, "\(post.body)")
            let line = consumer.output().split(separator: "\n").last.map(String.init) ?? ""
            #expect(line == "for pika|from-sluice|2|to.pika", "pika printed: \(line)")

            // Sluice's subscribers get what pika publishes, with headers and properties.
            let sse = try await SSEClient.connect(port: port, path: "/pika", identifier: "reader")
            try run(Self.python, ["-c", """
                import pika
                connection = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', \(RabbitMQServer.port), '/', pika.PlainCredentials('sluice', 'sluice-pass')))
                channel = connection.channel()
                channel.confirm_delivery()
                properties = pika.BasicProperties(headers={'origin': 'pika', 'attempt': 3}, app_id='pika-app', type='order', reply_to='replies',
                    priority=5, timestamp=1700000000, user_id='sluice', expiration='60000', delivery_mode=2)
                channel.basic_publish('sluice.test.pika', 'from.pika.orders', b'from pika', properties, mandatory=True)
                connection.close()
                """])
            let event = try await sse.nextMessage()
            #expect(event.data == "from pika")
            #expect(event.comments["origin"] == "pika")
            #expect(event.comments["attempt"] == "3")
            #expect(event.comments["appId"] == "pika-app")
            #expect(event.comments["type"] == "order")
            #expect(event.comments["replyTo"] == "replies")
            #expect(event.comments["priority"] == "5")
            #expect(event.comments["timestamp"] == "1700000000")
            #expect(event.comments["userId"] == "sluice")
            #expect(event.comments["expiration"] == "60000")
            #expect(event.comments["deliveryMode"] == "2")
            #expect(event.comments["routingKey"] == "from.pika.orders")
            await sse.close()
        }
    }

    /// The RabbitMQ application restarts (`rabbitmqctl stop_app` / `start_app`, which drops every
    /// connection) while a publisher POSTs and an SSE client (QoS auto: durable queue, ack after
    /// delivery) reads: the endpoint recovers, POSTs during the outage wait for it, and every
    /// message answered `202` reaches the subscriber.
    @Test func brokerRestartMidStreamLosesNothingConfirmed() async throws {
        let server = try await RabbitMQServer.shared()
        let shared = Self.shared(
            "producer: {enabled: true, routingKey: tick, exchange: {name: sluice.test.restart, type: direct, durable: true}}, consumer: {enabled: true, routingKey: tick, exchange: {name: sluice.test.restart, type: direct, durable: true}}")
        try await withGateway([rabbitDefinition(id: "restart", shared: shared)]) { port, client in
            let sse = try await SSEClient.connect(port: port, path: "/restart", identifier: "steady")
            #expect(sse.status == 200)
            let accepted = Mutex<[Int]>([])
            let publisher = Task {
                for index in 0..<60 {
                    if let response = try? await client.post("/restart", "tick \(index)"), response.status == 202 {
                        accepted.withLock { $0.append(index) }
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await Task.sleep(for: .milliseconds(800))
            _ = try await server.control(["stop_app"])
            try await Task.sleep(for: .seconds(1))
            _ = try await server.control(["start_app"])
            try await publisher.value
            let all = accepted.withLock { $0 }
            #expect(all.count >= 50, "POSTs during the outage wait for the recovery: \(all.count) of 60 accepted")
            let seen = try await withTimeout(.seconds(30), "every confirmed message on the SSE stream") {
                var seen = Set<Int>()
                while !Set(all).isSubset(of: seen) {
                    let data = try await sse.nextMessage(timeout: .seconds(30)).data
                    seen.insert(Int(data.dropFirst("tick ".count)) ?? -1)
                }
                return seen
            }
            #expect(Set(all).isSubset(of: seen))
            await sse.close()
        }
    }

    @Test func qosBeyondAutoIsRefused() async throws {
        _ = try await RabbitMQServer.shared()
        let shared = Self.shared("consumer: {enabled: true, exchange: {name: sluice.test.qos, type: fanout}}")
        try await withGateway([rabbitDefinition(id: "qos", shared: shared, sseQoS: "at-least-once")]) { _, client in
            let response = try await client.execute(uri: "/qos", method: .get, headers: [.accept: "text/event-stream"])
            #expect(response.status == .badRequest)
            #expect(String(buffer: response.body).contains("Incompatible Qos between entrypoint and endpoint"))
        }
    }
}
