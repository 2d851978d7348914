import Foundation
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import SluiceCore
import SluiceGateway
import Synchronization
import Testing

/// The `mqtt5` endpoint through the gateway's entrypoints against a real Mosquitto with four
/// listeners (anonymous, password, TLS + password, mutual TLS). Each test owns its broker and
/// ports (18850-18899).
@Suite(.timeLimit(.minutes(2))) struct MQTT5GatewayTests {
    /// The effective identifier of a loopback client that sent `sent` (contract §4).
    static func identifier(_ sent: String) -> String {
        ClientIdentifier.effective(sent: sent, computed: ClientIdentifier.computed(remoteAddress: "127.0.0.1"))
    }

    @Test func postReachesSSEWebSocketAndGetSubscribers() async throws {
        let broker = try MosquittoServer(port: 18850)
        let shared = "{producer: {enabled: true, topic: sensors/kitchen}, consumer: {enabled: true, topic: sensors/+}}"
        try await withGateway([mqttDefinition(id: "fanout", port: broker.port, shared: shared)]) { port, client in
            let sse = try await SSEClient.connect(port: port, path: "/fanout", identifier: "sse")
            #expect(sse.status == 200)

            // A WebSocket subscriber (it subscribes after the upgrade: wait for a first message).
            let received = Mutex<[String]>([])
            let webSocket = Task {
                var configuration = WebSocketClientConfiguration()
                configuration.additionalHeaders[HTTPField.Name("X-Sluice-Client-Identifier")!] = "ws"
                _ = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/fanout", configuration: configuration, logger: Logger(label: "ws")) {
                    inbound, outbound, _ in
                    for try await frame in inbound.messages(maxSize: 1 << 20) {
                        guard case .binary(let buffer) = frame else { continue }
                        let text = String(buffer: buffer)
                        received.withLock { $0.append(text) }
                        if text == "hello mqtt" { try await outbound.close(.normalClosure, reason: nil) }
                    }
                }
            }
            try await withTimeout(.seconds(10), "the WebSocket subscription") {
                while received.withLock({ $0.isEmpty }) {
                    _ = try await client.post("/fanout", "warm-up")
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let post = try await client.post("/fanout", "hello mqtt", headers: [("X-Trace", "t-1")])
            #expect(post.status == 202)

            var event = try await sse.nextMessage()
            while event.data == "warm-up" { event = try await sse.nextMessage() }
            #expect(event.data == "hello mqtt")
            #expect(event.id == nil)  // MQTT messages have no id
            #expect(event.comments["X-Trace"] == "t-1" || event.comments["x-trace"] == "t-1")
            #expect(event.comments["topic"] == "sensors/kitchen")
            #expect(event.comments["qos"] == "1")
            #expect(event.comments["retain"] == "false")
            try await withTimeout(.seconds(10), "the WebSocket message") { try await webSocket.value }
            #expect(received.withLock { $0.last } == "hello mqtt")

            // HTTP GET: waits for the next message (limit 1); POST until it has one.
            let got = Mutex<String?>(nil)
            let get = Task {
                let body = try await httpGet(port: port, path: "/fanout", headers: [("Accept", "application/json"), ("X-Sluice-Client-Identifier", "get")]).body
                got.withLock { $0 = body }
            }
            try await withTimeout(.seconds(10), "the HTTP GET response") {
                while got.withLock({ $0 == nil }) {
                    _ = try await client.post("/fanout", "for get")
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            try await get.value
            let body = got.withLock { $0 } ?? ""
            #expect(body.contains("for get"))
            await sse.close()
        }
    }

    @Test func independentClientsSeeWhatSluicePublishesAndTheReverse() async throws {
        let broker = try MosquittoServer(port: 18854)
        let shared = """
            {producer: {enabled: true, topic: orders/new, responseTopic: orders/replies, messageExpiryInterval: 120}, consumer: {enabled: true, topic: "orders/#"}}
            """
        try await withGateway([mqttDefinition(id: "orders", port: broker.port, shared: shared)]) { port, client in
            let mosquittoSub = try Background("mosquitto_sub", [
                "-V", "mqttv5", "-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "orders/new", "-q", "1", "-C", "1", "-W", "10",
                "-F", "%p|%P|%R|%E|%q",
            ])
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await client.post("/orders", "order 42", headers: [("X-Trace", "abc")]).status == 202)
            let line = mosquittoSub.output().trimmingCharacters(in: .whitespacesAndNewlines)
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            #expect(fields.count == 5, "mosquitto_sub printed: \(line)")
            if fields.count == 5 {
                #expect(fields[0] == "order 42")
                #expect(fields[1].lowercased().contains("x-trace:abc"))
                #expect(fields[2] == "orders/replies")
                #expect((Int(fields[3]) ?? 0) > 100 && (Int(fields[3]) ?? 0) <= 120)
                #expect(fields[4] == "1")
            }

            let sse = try await SSEClient.connect(port: port, path: "/orders", identifier: "reader")
            try run("mosquitto_pub", [
                "-V", "mqttv5", "-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "orders/external", "-m", "from mosquitto_pub", "-q", "1",
                "-D", "publish", "user-property", "origin", "cli", "-D", "publish", "content-type", "text/plain",
                "-D", "publish", "response-topic", "back/here", "-D", "publish", "message-expiry-interval", "300",
            ])
            let event = try await sse.nextMessage()
            #expect(event.data == "from mosquitto_pub")
            #expect(event.comments["origin"] == "cli")
            #expect(event.comments["contentType"] == "text/plain")
            #expect(event.comments["responseTopic"] == "back/here")
            #expect(event.comments["topic"] == "orders/external")
            #expect((Int(event.comments["messageExpiryInterval"] ?? "") ?? 0) > 290)
            await sse.close()
        }
    }

    @Test func retainedMessageReachesLateSubscribersUntilItExpires() async throws {
        let broker = try MosquittoServer(port: 18858)
        let shared = "{producer: {enabled: true, topic: state/door, retained: true, messageExpiryInterval: 2}, consumer: {enabled: true, topic: state/door}}"
        try await withGateway([mqttDefinition(id: "state", port: broker.port, shared: shared)]) { port, client in
            #expect(try await client.post("/state", "door open").status == 202)
            let late = try await SSEClient.connect(port: port, path: "/state", identifier: "late")
            let event = try await late.nextMessage()
            #expect(event.data == "door open")
            #expect(event.comments["retain"] == "true")
            #expect((Int(event.comments["messageExpiryInterval"] ?? "") ?? 99) <= 2)
            await late.close()

            try await Task.sleep(for: .seconds(3))
            let later = try await SSEClient.connect(port: port, path: "/state", identifier: "later")
            #expect(await later.messages(within: .seconds(1)).isEmpty, "an expired retained message must not be delivered")
            await later.close()
        }
    }

    @Test func sameIdentifierSplitsMessagesOthersGetEveryOne() async throws {
        let broker = try MosquittoServer(port: 18862)
        let shared = "{sessionExpiryInterval: 0, producer: {enabled: true, topic: jobs}, consumer: {enabled: true, topic: jobs}}"
        try await withGateway([mqttDefinition(id: "jobs", port: broker.port, shared: shared)]) { port, client in
            try await expectSameIdentifierSplitsOthersGetAll(port: port, client: client, path: "/jobs")
        }
    }

    @Test func liveSubscribersShareOneBrokerSubscription() async throws {
        let broker = try MosquittoServer(port: 18920)
        let shared = "{sessionExpiryInterval: 0, producer: {enabled: true, topic: ticks}, consumer: {enabled: true, topic: ticks}}"
        try await withGateway([mqttDefinition(id: "ticks", port: broker.port, shared: shared, sseQoS: "none")]) { port, client in
            try await expectLiveFanOut(port: port, client: client, path: "/ticks") {
                // Mosquitto logs every SUBSCRIBE with its filters (log_type all).
                broker.log.components(separatedBy: "\t$share/").count - 1
            }
            #expect(broker.log.contains("$share/sluice-fanout-"), "\(broker.log.suffix(2000))")
        }
    }

    @Test func aLiveStreamHasHeartbeatsAndEndsWithGoawayWhenUndeployed() async throws {
        let broker = try MosquittoServer(port: 18928)
        let shared = "{sessionExpiryInterval: 0, producer: {enabled: true, topic: beat}, consumer: {enabled: true, topic: beat}}"
        try await withGateway([mqttDefinition(id: "beat", port: broker.port, shared: shared, sseQoS: "none")], fanOut: FanOutSettings()) { port, client, registry in
            let sse = try await SSEClient.connect(port: port, path: "/beat", identifier: "b")
            let events = sse.events
            // `retry:` first, then a heartbeat after 2 s (heartbeatIntervalInMs) of silence.
            let started = ContinuousClock.now
            try await withTimeout(.seconds(6), "a heartbeat") {
                var blank = 0
                for await event in events where event.event == nil && event.data.isEmpty {
                    blank += 1
                    if blank == 2 { return }
                }
                throw Failure("the stream ended")
            }
            #expect(ContinuousClock.now - started >= .milliseconds(1900))
            #expect(try await client.post("/beat", "after the beat").status == 202)
            #expect(try await sse.nextMessage().data == "after the beat")
            registry.undeploy(id: "beat")
            let goaway = try await withTimeout(.seconds(5), "goaway") {
                for await event in events where event.event == "goaway" { return event }
                throw Failure("the stream ended without goaway")
            }
            #expect(goaway.data.contains("redeployed or undeployed"))
        }
    }

    /// A live client that reads nothing while messages keep coming: its buffer fills, and once
    /// it has stayed full past the timeout Sluice closes its connection (its writes are stuck, so
    /// the reason can only go to the log). The gateway serves other clients meanwhile and after.
    @Test func aLiveClientThatReadsNothingIsDisconnected() async throws {
        let broker = try MosquittoServer(port: 18924)
        let shared = "{sessionExpiryInterval: 0, producer: {enabled: true, topic: flood}, consumer: {enabled: true, topic: flood}}"
        let fanOut = FanOutSettings(subscriberBufferSize: 64, slowSubscriberTimeout: .milliseconds(300))
        try await withGateway([mqttDefinition(id: "flood", port: broker.port, shared: shared, sseQoS: "none")], fanOut: fanOut) { port, client, _ in
            let stalled = try StalledClient(
                port: port, request: "GET /flood HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nX-Sluice-Client-Identifier: stalled\r\n\r\n")
            try await Task.sleep(for: .milliseconds(300))
            // 12 000 messages of 1 KiB, far more than the stalled client's socket buffers hold, in
            // batches that Mosquitto's queue for Sluice (1000 messages) never overflows.
            let batch = String(repeating: String(repeating: "x", count: 1024) + "\n", count: 1000)
            for _ in 0..<12 {
                _ = try run("mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "flood", "-q", "1", "-l"], input: batch)
                try await Task.sleep(for: .milliseconds(200))
            }
            // The timeout, then a second for a stream stuck writing: then its connection is closed.
            try await Task.sleep(for: .seconds(2))
            #expect(try await stalled.drainsToEndOfStream(within: .seconds(10)), "the stalled client should have been disconnected")
            let later = try await SSEClient.connect(port: port, path: "/flood", identifier: "later")
            #expect(try await client.post("/flood", "still serving").status == 202)
            #expect(try await later.nextMessage().data == "still serving")
            await later.close()
        }
    }

    @Test func aReturningClientResumesItsSessionAndGetsWhatWasQueued() async throws {
        let broker = try MosquittoServer(port: 18886)
        let shared = "{sessionExpiryInterval: 300, producer: {enabled: true, topic: news}, consumer: {enabled: true, topic: news}}"
        try await withGateway([mqttDefinition(id: "news", port: broker.port, shared: shared)]) { port, client in
            let first = try await SSEClient.connect(port: port, path: "/news", identifier: "reader")
            #expect(try await client.post("/news", "while connected").status == 202)
            #expect(try await first.nextMessage().data == "while connected")
            await first.close()
            // The gateway sees the client gone at its next heartbeat writes and ends the
            // subscriber's MQTT connection; its session stays on the broker.
            let gone = try await withTimeout(.seconds(12), "the subscriber's disconnect") {
                while !broker.log.contains("Received DISCONNECT from sluice-") { try await Task.sleep(for: .milliseconds(50)) }
                return true
            }
            #expect(gone)
            #expect(try await client.post("/news", "while away").status == 202)
            let back = try await SSEClient.connect(port: port, path: "/news", identifier: "reader")
            #expect(try await back.nextMessage().data == "while away")
            await back.close()
        }
    }

    @Test func passwordListenerRefusesTheWrongPasswordWithTheReason() async throws {
        let broker = try MosquittoServer(port: 18866)
        func shared(_ password: String) -> String {
            "{reconnectAttempts: 0, security: {auth: {username: \(MosquittoServer.user), password: \"\(password)\"}}, producer: {enabled: true, topic: p}, consumer: {enabled: true, topic: p}}"
        }
        let good = mqttDefinition(id: "good", port: broker.passwordPort, shared: shared(MosquittoServer.password))
        let bad = mqttDefinition(id: "bad", port: broker.passwordPort, shared: shared("not-the-password"))
        let anonymous = mqttDefinition(id: "anonymous", port: broker.passwordPort, shared: "{reconnectAttempts: 0, producer: {enabled: true, topic: p}}")
        let readOnly = mqttDefinition(
            id: "read-only", port: broker.passwordPort,
            shared: shared(MosquittoServer.password).replacingOccurrences(of: "topic: p}, consumer: {enabled: true, topic: p}", with: "topic: readonly/x}"))
        try await withGateway([good, bad, anonymous, readOnly]) { port, client in
            #expect(try await client.post("/good", "with the right password").status == 202)

            // The broker refuses the message (PUBACK 0x87): never a 202.
            let refusedMessage = try await client.post("/read-only", "not allowed here")
            #expect(refusedMessage.status == 500)
            #expect(refusedMessage.body.contains("Endpoint unknown error") && refusedMessage.body.contains("Not authorized (0x87)"), "\(refusedMessage.body)")

            let refused = try await client.post("/bad", "with a wrong password")
            #expect(refused.status == 500)
            let body = try JSONParser.parse(Array(refused.body.utf8))
            #expect(body["message"]?.stringValue == "Endpoint connection failed")
            // Mosquitto answers a wrong password with CONNACK 0x87.
            #expect(body["detail"]?.stringValue?.contains("Not authorized (0x87)") == true, "\(refused.body)")
            #expect(!refused.body.contains("not-the-password"))

            let anonymousRefused = try await client.post("/anonymous", "without credentials")
            #expect(anonymousRefused.status == 500)
            #expect(anonymousRefused.body.contains("Not authorized") || anonymousRefused.body.contains("Bad User Name"), "\(anonymousRefused.body)")

            let sse = try await SSEClient.connect(port: port, path: "/bad", identifier: "x")
            #expect(sse.status == 500)
        }
    }

    @Test func tlsWithPasswordTrustsOnlyTheConfiguredCA() async throws {
        let broker = try MosquittoServer(port: 18870)
        let certificates = broker.certificates
        func shared(ca: String?) -> String {
            let ssl = ca.map { ", ssl: {trustStore: {type: PEM, path: \"\($0)\"}}" } ?? ""
            return "{reconnectAttempts: 0, security: {auth: {username: \(MosquittoServer.user), password: \"\(MosquittoServer.password)\"}\(ssl)}, producer: {enabled: true, topic: secure}, consumer: {enabled: true, topic: secure}}"
        }
        let trusted = mqttDefinition(id: "trusted", port: broker.tlsPort, shared: shared(ca: certificates.caCertificate))
        let wrongCA = mqttDefinition(id: "wrong-ca", port: broker.tlsPort, shared: shared(ca: certificates.otherCACertificate))
        let plaintext = mqttDefinition(id: "plaintext", port: broker.tlsPort, shared: shared(ca: nil))
        let inlineCA = try String(contentsOfFile: certificates.caCertificate, encoding: .utf8)
        let inline = mqttDefinition(
            id: "inline", port: broker.tlsPort,
            shared: shared(ca: nil).replacingOccurrences(
                of: "}}, producer",
                with: "}, ssl: {trustStore: {type: PEM, content: \(String(decoding: JSONWriter.bytes(.string(inlineCA)), as: UTF8.self))}}}, producer"))
        try await withGateway([trusted, wrongCA, plaintext, inline]) { port, client in
            let sse = try await SSEClient.connect(port: port, path: "/trusted", identifier: "tls")
            #expect(sse.status == 200)
            #expect(try await client.post("/trusted", "over TLS").status == 202)
            #expect(try await sse.nextMessage().data == "over TLS")
            #expect(try await client.post("/inline", "inline CA").status == 202)

            let refused = try await client.post("/wrong-ca", "untrusted server")
            #expect(refused.status == 500)
            #expect(refused.body.contains("Endpoint connection failed"))
            #expect(refused.body.lowercased().contains("certificate") || refused.body.lowercased().contains("tls"), "\(refused.body)")

            let plain = try await withTimeout(.seconds(15), "plaintext against TLS") { try await client.post("/plaintext", "no TLS") }
            #expect(plain.status == 500)
            #expect(plain.body.contains("Endpoint connection failed"))
            await sse.close()
        }
    }

    @Test func mutualTLSNeedsTheClientCertificate() async throws {
        let broker = try MosquittoServer(port: 18874)
        let certificates = broker.certificates
        let trust = "trustStore: {type: PEM, path: \"\(certificates.caCertificate)\"}"
        let keyStore = "keyStore: {type: PEM, certPath: \"\(certificates.clientCertificate)\", keyPath: \"\(certificates.clientKey)\"}"
        let withCertificate = mqttDefinition(
            id: "mtls", port: broker.mutualTLSPort,
            shared: "{reconnectAttempts: 0, security: {ssl: {\(trust), \(keyStore)}}, producer: {enabled: true, topic: m}, consumer: {enabled: true, topic: m}}")
        let withoutCertificate = mqttDefinition(
            id: "no-cert", port: broker.mutualTLSPort,
            shared: "{reconnectAttempts: 0, security: {ssl: {\(trust)}}, producer: {enabled: true, topic: m}}")
        // The same with a PKCS12 key store and a JKS trust store (read by Sluice, not NIOSSL).
        let pkcs12 = try certificates.clientPKCS12(password: "p12-secret")
        let jks = try certificates.caJKS(password: "jks-secret")
        let withStores = mqttDefinition(
            id: "mtls-stores", port: broker.mutualTLSPort,
            shared: "{reconnectAttempts: 0, security: {ssl: {trustStore: {type: JKS, path: \"\(jks)\", password: jks-secret}, keyStore: {type: PKCS12, path: \"\(pkcs12)\", password: p12-secret}}}, producer: {enabled: true, topic: m}}")
        try await withGateway([withCertificate, withoutCertificate, withStores]) { port, client in
            let sse = try await SSEClient.connect(port: port, path: "/mtls", identifier: "m")
            #expect(sse.status == 200)
            #expect(try await client.post("/mtls", "mutual").status == 202)
            #expect(try await sse.nextMessage().data == "mutual")
            #expect(try await client.post("/mtls-stores", "from PKCS12 and JKS stores").status == 202)
            #expect(try await sse.nextMessage().data == "from PKCS12 and JKS stores")
            let refused = try await client.post("/no-cert", "no certificate")
            #expect(refused.status == 500)
            #expect(refused.body.contains("Endpoint connection failed"))
            await sse.close()
        }
    }

    @Test func entrypointsThatNeedRecoverAreRefused() async throws {
        let broker = try MosquittoServer(port: 18878)
        let shared = "{consumer: {enabled: true, topic: q}}"
        let definition = mqttDefinition(id: "qos", port: broker.port, shared: shared, sseQoS: "at-least-once", getQoS: "at-most-once")
        try await withGateway([definition, mqttDefinition(id: "cursor", port: broker.port, shared: shared)]) { port, client in
            let sse = try await client.execute(uri: "/qos", method: .get, headers: [.accept: "text/event-stream"])
            #expect(sse.status == .badRequest)
            #expect(String(buffer: sse.body).contains("Incompatible Qos capabilities between entrypoint requirements and endpoint supports"))
            let get = try await client.execute(uri: "/qos", method: .get, headers: [.accept: "application/json"])
            #expect(get.status == .badRequest)
            let cursor = try await client.execute(uri: "/cursor?cursor=12", method: .get, headers: [.accept: "application/json"])
            #expect(cursor.status == .badRequest)
            #expect(String(buffer: cursor.body).contains("no position"))
        }
    }

    /// A graceful broker restart while a publisher POSTs every 50 ms and an SSE client reads:
    /// both connections come back within their attempts (POSTs made during the outage wait for
    /// the producer to reconnect), every message acknowledged before the stop arrives (in-flight
    /// ones are redelivered on the resumed session), and so does every message after the
    /// subscriber's first one on the new broker run.
    ///
    /// Mosquitto 2.0.11 restores a persisted session without its *shared* subscriptions (seen
    /// with mosquitto_sub alone: a plain subscription gets what was published while it was
    /// offline, `$share/...` does not), so the endpoint subscribes again on resume; what the broker
    /// routed between its start and that SUBSCRIBE went to no subscriber, and is not counted.
    @Test func brokerRestartMidStreamLosesNoAcknowledgedMessage() async throws {
        let broker = try MosquittoServer(port: 18882)
        let shared = "{reconnectAttempts: 10, sessionExpiryInterval: 300, producer: {enabled: true, topic: ticks}, consumer: {enabled: true, topic: ticks}}"
        try await withGateway([mqttDefinition(id: "ticks", port: broker.port, shared: shared)]) { port, client in
            let sse = try await SSEClient.connect(port: port, path: "/ticks", identifier: "steady")
            let accepted = Mutex<[Int]>([])
            let publisher = Task {
                for index in 0..<60 {
                    if let response = try? await client.post("/ticks", "tick \(index)"), response.status == 202 {
                        accepted.withLock { $0.append(index) }
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await Task.sleep(for: .milliseconds(800))
            let beforeStop = accepted.withLock { $0 }
            broker.stop()  // graceful: Mosquitto saves the subscriber's session and its in-flight messages
            try await Task.sleep(for: .seconds(1.5))
            try broker.start()
            try await publisher.value
            let all = accepted.withLock { $0 }
            #expect(all.count >= 55, "POSTs during the outage wait for the reconnect: \(all.count) of 60 accepted")
            #expect(beforeStop.count >= 5)

            // Read until the last accepted message arrived.
            let seen = try await withTimeout(.seconds(20), "the last acknowledged message on the SSE stream") {
                var seen: [Int] = []
                while seen.last != all.last {
                    let data = try await sse.nextMessage(timeout: .seconds(20)).data
                    seen.append(Int(data.dropFirst("tick ".count)) ?? -1)
                }
                return seen
            }
            let missingBeforeStop = Set(beforeStop).subtracting(seen)
            #expect(missingBeforeStop.isEmpty, "acknowledged before the stop but never delivered: \(missingBeforeStop.sorted())")
            // The POST that was waiting when the broker stopped; the first message after it that the
            // subscriber got is the first routed to its new subscription.
            let waiting = (beforeStop.last ?? -1) + 1
            let firstAfterRestart = seen.first { $0 > waiting } ?? Int.max
            let missingAfterResume = Set(all.filter { $0 >= firstAfterRestart }).subtracting(seen)
            #expect(missingAfterResume.isEmpty, "delivered out of the resumed stream: \(missingAfterResume.sorted()); seen \(seen)")
            let window = Set(all.filter { $0 > waiting && $0 < firstAfterRestart }).subtracting(seen)
            #expect(window.count <= 10, "the broker's restore window should be short: \(window.sorted())")
            #expect(broker.log.contains("Saving in-memory database"), "the broker really stopped")
            await sse.close()
        }
    }
}
