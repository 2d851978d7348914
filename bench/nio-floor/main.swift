import Foundation
import KafkaClient
import MQTT5
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceCore

// nio-floor PORT [--kafka BROKERS | --mqtt HOST:PORT] [--topic TOPIC] [--set KEY=VALUE ...]
//
// A bare SwiftNIO HTTP/1 server: one channel handler after NIO's HTTP/1 server pipeline, no
// Hummingbird, no HTTP types, no gateway.
//
// - Alone, every request is read to its end and answered `202 Accepted` with nothing published:
//   no gateway built on SwiftNIO's HTTP/1 server can cost less per request, which makes it the
//   bench's ceiling for the publish path (bench/run's "SwiftNIO 202" rows, bench/floor/run).
// - With `--kafka` or `--mqtt`, each request's body is published with Sluice's own broker client
//   from a task on the connection's event loop, as Sluice does, and answered `202` once the broker
//   acknowledged it (`500` if it failed): librdkafka with the producer settings Sluice fixes
//   (`--set` overrides one), or MQTT 5 at QoS 1 on a connection per event loop, each request on
//   its own loop's. That is the ceiling of a gateway on SwiftNIO that publishes with these
//   clients (the "SwiftNIO → broker" rows).
//
// One request at a time per connection, as the bench's load tool sends them (no pipelining).

enum Publisher: Sendable {
    case none
    case kafka(KafkaProducer, topic: String)
    /// A client per event loop, by the loop's identity.
    case mqtt([ObjectIdentifier: MQTTClient], topic: String)

    func publish(_ body: ByteBuffer, from loop: any EventLoop) async throws {
        switch self {
        case .none: return
        case .kafka(let producer, let topic): try await producer.send(KafkaProducerRecord(topic: topic, value: body))
        case .mqtt(let clients, let topic):
            try await clients[ObjectIdentifier(loop)]!.publish(topic: topic, payload: body, qos: .atLeastOnce)
        }
    }

    var publishes: Bool {
        if case .none = self { return false }
        return true
    }
}

final class Accept202: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let publisher: Publisher
    private var body: ByteBuffer?
    private var executor: EventLoopTaskExecutor?

    init(publisher: Publisher) {
        self.publisher = publisher
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            body = nil
        case .body(var chunk):
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard publisher.publishes else {
                respond(.accepted, context: context)
                return
            }
            let body = self.body ?? ByteBuffer()
            self.body = nil
            if executor == nil { executor = EventLoopTaskExecutor(context.eventLoop) }
            let publisher = self.publisher
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            Task(executorPreference: executor) {
                let status: HTTPResponseStatus
                do {
                    try await publisher.publish(body, from: loopBound.eventLoop)
                    status = .accepted
                } catch {
                    status = .internalServerError
                }
                // The task runs on the connection's loop, so this is normally a direct call.
                @Sendable func answer() {
                    let (handler, context) = loopBound.value
                    handler.respond(status, context: context)
                    context.flush()
                }
                if loopBound.eventLoop.inEventLoop { answer() } else { loopBound.eventLoop.execute(answer) }
            }
        }
    }

    private func respond(_ status: HTTPResponseStatus, context: ChannelHandlerContext) {
        var head = HTTPResponseHead(version: .http1_1, status: status)
        head.headers.add(name: "content-length", value: "0")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}

var arguments = CommandLine.arguments.dropFirst()
let port = arguments.first.flatMap { Int($0) } ?? 18996
var publisher = Publisher.none
var kafkaBrokers: String?
var mqttServer: String?
var topic = "bench"
var overrides: [String: String] = [:]
while let argument = arguments.popFirst() {
    switch argument {
    case "--kafka": kafkaBrokers = arguments.popFirst()
    case "--mqtt": mqttServer = arguments.popFirst()
    case "--topic": topic = arguments.popFirst() ?? topic
    case "--set":
        // A librdkafka property other than Sluice's, to find what bounds the ceiling.
        if let pair = arguments.popFirst()?.split(separator: "=", maxSplits: 1), pair.count == 2 {
            overrides[String(pair[0])] = String(pair[1])
        }
    default: continue
    }
}
if let kafkaBrokers {
    // The producer settings Sluice's Kafka endpoint fixes (SluiceEndpoints/Kafka/KafkaProperties).
    var properties = [
        "bootstrap.servers": kafkaBrokers, "acks": "all", "enable.idempotence": "false",
        "max.in.flight.requests.per.connection": "5", "linger.ms": "1", "compression.type": "none",
        "message.timeout.ms": "30000",
    ]
    properties.merge(overrides) { $1 }
    publisher = .kafka(try KafkaProducer(properties: properties), topic: topic)
    FileHandle.standardError.write(Data(("publishing to Kafka at \(kafkaBrokers), topic \(topic): " + properties.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n").utf8))
} else if let mqttServer {
    let parts = mqttServer.split(separator: ":")
    let host = parts.first.map(String.init) ?? "127.0.0.1"
    let mqttPort = parts.count > 1 ? Int(parts[1]) ?? 1883 : 1883
    var clients: [ObjectIdentifier: MQTTClient] = [:]
    for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
        clients[ObjectIdentifier(loop)] = try await MQTTClient.connect(
            configuration: MQTTClientConfiguration(host: host, port: mqttPort), eventLoopGroup: loop)
    }
    publisher = .mqtt(clients, topic: topic)
    FileHandle.standardError.write(Data(("publishing to MQTT 5 at \(host):\(mqttPort), topic \(topic), QoS 1, \(clients.count) connections\n").utf8))
}
let serving = publisher
let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(Accept202(publisher: serving))
        }
    }
    .bind(host: "127.0.0.1", port: port).get()
try await channel.closeFuture.get()
