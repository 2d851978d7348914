import NIOCore
import Testing

import AMQP091

/// Shared helpers and sample values for the AMQP 0-9-1 codec tests.
enum TestSupport {
    static func buffer(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        return buffer
    }

    static func bytes(_ buffer: ByteBuffer) -> [UInt8] {
        buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
    }

    static func encode(_ frame: AMQPFrame, maxFrameSize: UInt32 = 0) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer, maxFrameSize: maxFrameSize)
        return Self.bytes(buffer)
    }

    static func encode(_ method: AMQPMethod) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try method.encode(into: &buffer)
        return Self.bytes(buffer)
    }

    /// Builds a raw frame around `payload`.
    static func rawFrame(type: UInt8, channel: UInt16, payload: [UInt8], end: UInt8 = 0xCE) -> [UInt8] {
        var bytes: [UInt8] = [type, UInt8(channel >> 8), UInt8(channel & 0xFF)]
        let size = UInt32(payload.count)
        bytes += [UInt8(size >> 24), UInt8((size >> 16) & 0xFF), UInt8((size >> 8) & 0xFF), UInt8(size & 0xFF)]
        bytes += payload
        bytes.append(end)
        return bytes
    }

    /// A method frame payload: class id, method id, then `arguments`.
    static func methodPayload(classID: UInt16, methodID: UInt16, _ arguments: [UInt8] = []) -> [UInt8] {
        [UInt8(classID >> 8), UInt8(classID & 0xFF), UInt8(methodID >> 8), UInt8(methodID & 0xFF)] + arguments
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
    static func be64(_ v: UInt64) -> [UInt8] { be32(UInt32(v >> 32)) + be32(UInt32(v & 0xFFFF_FFFF)) }
    static func shortstr(_ s: String) -> [UInt8] { [UInt8(s.utf8.count)] + Array(s.utf8) }

    /// Decodes exactly one frame from `bytes`, requiring all bytes consumed.
    static func decodeOne(_ bytes: [UInt8], maxFrameSize: UInt32 = 0) throws -> AMQPFrame? {
        var buffer = Self.buffer(bytes)
        let frame = try AMQPFrameDecoder(maxFrameSize: maxFrameSize).decode(from: &buffer)
        if frame != nil {
            #expect(buffer.readableBytes == 0)
        }
        return frame
    }

    /// Runs `body` and returns the typed codec error it throws (or nil).
    static func codecError<T>(_ body: () throws(AMQPCodecError) -> T) -> AMQPCodecError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    // MARK: Sample values

    /// A table using every field value type, including nesting.
    static let everyTypeTable: AMQPFieldTable = [
        "bool": .bool(true),
        "int8": .int8(-8),
        "uint8": .uint8(200),
        "int16": .int16(-1616),
        "uint16": .uint16(61_616),
        "int32": .int32(-323_232),
        "uint32": .uint32(4_000_000_000),
        "int64": .int64(-6_464_646_464_646),
        "float": .float(3.25),
        "double": .double(-2.0e300),
        "decimal": .decimal(AMQPDecimal(scale: 2, value: 31_415)),
        "longstr": .longString("héllo wörld"),
        "bytes": .byteArray([0, 1, 2, 0xFF, 0xCE]),
        "array": .array([.int32(1), .longString("two"), .bool(false), .void, .array([]), .table([:])]),
        "timestamp": .timestamp(1_700_000_000),
        "table": .table(["inner": .longString("value"), "deeper": .table(["x": .int64(1)])]),
        "void": .void,
    ]

    static let rabbitServerProperties: AMQPFieldTable = [
        "capabilities": .table([
            "publisher_confirms": .bool(true),
            "exchange_exchange_bindings": .bool(true),
            "basic.nack": .bool(true),
            "consumer_cancel_notify": .bool(true),
            "connection.blocked": .bool(true),
            "consumer_priorities": .bool(true),
            "authentication_failure_close": .bool(true),
            "per_consumer_qos": .bool(true),
            "direct_reply_to": .bool(true),
        ]),
        "cluster_name": .longString("rabbit@sluice"),
        "copyright": .longString("Copyright (c) 2007-2024 Broadcom Inc"),
        "information": .longString("Licensed under the MPL 2.0"),
        "platform": .longString("Erlang/OTP 26.2"),
        "product": .longString("RabbitMQ"),
        "version": .longString("3.13.0"),
    ]

    static let arguments: AMQPFieldTable = [
        "x-message-ttl": .int32(60_000),
        "x-dead-letter-exchange": .longString("dlx"),
        "x-queue-type": .longString("quorum"),
    ]

    /// One instance of every method, with non-default arguments.
    static let allMethods: [AMQPMethod] = [
        // connection
        .connection(.start(.init(serverProperties: rabbitServerProperties, mechanisms: "AMQPLAIN PLAIN", locales: "en_US"))),
        .connection(
            .startOk(
                .init(
                    clientProperties: AMQPCapabilities.clientProperties(product: "Sluice", version: "1.0", connectionName: "gw"),
                    mechanism: "PLAIN",
                    response: .plainSASLResponse(username: "guest", password: "guest"),
                    locale: "en_US"
                )
            )
        ),
        .connection(.secure(.init(challenge: AMQPLongString(bytes: [0, 1, 2, 3])))),
        .connection(.secureOk(.init(response: "response"))),
        .connection(.tune(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 60))),
        .connection(.tuneOk(.init(channelMax: 1024, frameMax: 65_536, heartbeat: 30))),
        .connection(.open(.init(virtualHost: "/sluice", reserved1: "", reserved2: true))),
        .connection(.openOk(.init(reserved1: "known"))),
        .connection(.close(.init(replyCode: .accessRefused, replyText: "ACCESS_REFUSED - login refused", classID: 10, methodID: 11))),
        .connection(.closeOk),
        .connection(.blocked(.init(reason: "low on memory"))),
        .connection(.unblocked),
        .connection(.updateSecret(.init(newSecret: "eyJhbGciOiJSUzI1NiJ9.token", reason: "token refresh"))),
        .connection(.updateSecretOk),
        // channel
        .channel(.open(.init(reserved1: ""))),
        .channel(.openOk(.init(reserved1: "chan"))),
        .channel(.flow(.init(active: true))),
        .channel(.flowOk(.init(active: false))),
        .channel(.close(.init(replyCode: .notFound, replyText: "NOT_FOUND - no queue 'q'", classID: 50, methodID: 10))),
        .channel(.closeOk),
        // exchange
        .exchange(
            .declare(
                .init(
                    reserved1: 0,
                    exchange: "events",
                    type: "topic",
                    passive: false,
                    durable: true,
                    autoDelete: false,
                    internal: true,
                    noWait: true,
                    arguments: ["alternate-exchange": .longString("unrouted")]
                )
            )
        ),
        .exchange(.declareOk),
        .exchange(.delete(.init(exchange: "events", ifUnused: true, noWait: false))),
        .exchange(.deleteOk),
        .exchange(.bind(.init(destination: "dest", source: "src", routingKey: "a.*", noWait: true, arguments: ["k": .bool(true)]))),
        .exchange(.bindOk),
        .exchange(.unbind(.init(destination: "dest", source: "src", routingKey: "a.#", noWait: false, arguments: [:]))),
        .exchange(.unbindOk),
        // queue
        .queue(
            .declare(
                .init(queue: "jobs", passive: true, durable: false, exclusive: true, autoDelete: false, noWait: true, arguments: arguments)
            )
        ),
        .queue(.declareOk(.init(queue: "amq.gen-JzTY20BRgKO-HjmUJj0wLg", messageCount: 42, consumerCount: 7))),
        .queue(.bind(.init(queue: "jobs", exchange: "events", routingKey: "job.created", noWait: true, arguments: ["x-match": .longString("all")]))),
        .queue(.bindOk),
        .queue(.purge(.init(queue: "jobs", noWait: true))),
        .queue(.purgeOk(.init(messageCount: 1_000_000))),
        .queue(.delete(.init(queue: "jobs", ifUnused: false, ifEmpty: true, noWait: true))),
        .queue(.deleteOk(.init(messageCount: 3))),
        .queue(.unbind(.init(queue: "jobs", exchange: "events", routingKey: "job.created", arguments: ["a": .int8(1)]))),
        .queue(.unbindOk),
        // basic
        .basic(.qos(.init(prefetchSize: 0, prefetchCount: 250, global: true))),
        .basic(.qosOk),
        .basic(
            .consume(
                .init(queue: "jobs", consumerTag: "ctag-1", noLocal: true, noAck: false, exclusive: true, noWait: false, arguments: ["x-priority": .int32(10)])
            )
        ),
        .basic(.consumeOk(.init(consumerTag: "amq.ctag-abc"))),
        .basic(.cancel(.init(consumerTag: "ctag-1", noWait: true))),
        .basic(.cancelOk(.init(consumerTag: "ctag-1"))),
        .basic(.publish(.init(exchange: "events", routingKey: "user.created", mandatory: true, immediate: false))),
        .basic(.return(.init(replyCode: 312, replyText: "NO_ROUTE", exchange: "events", routingKey: "nowhere"))),
        .basic(.deliver(.init(consumerTag: "ctag-1", deliveryTag: 0x0102_0304_0506_0708, redelivered: true, exchange: "events", routingKey: "user.created"))),
        .basic(.get(.init(queue: "jobs", noAck: true))),
        .basic(.getOk(.init(deliveryTag: 99, redelivered: false, exchange: "", routingKey: "jobs", messageCount: 12))),
        .basic(.getEmpty(.init(reserved1: ""))),
        .basic(.ack(.init(deliveryTag: 17, multiple: true))),
        .basic(.reject(.init(deliveryTag: 18, requeue: false))),
        .basic(.recoverAsync(.init(requeue: true))),
        .basic(.recover(.init(requeue: true))),
        .basic(.recoverOk),
        .basic(.nack(.init(deliveryTag: UInt64.max, multiple: true, requeue: false))),
        // confirm
        .confirm(.select(.init(noWait: true))),
        .confirm(.selectOk),
        // tx
        .tx(.select),
        .tx(.selectOk),
        .tx(.commit),
        .tx(.commitOk),
        .tx(.rollback),
        .tx(.rollbackOk),
    ]

    /// Properties with every one of the 14 basic properties set.
    static let allProperties = AMQPBasicProperties(
        contentType: "application/json",
        contentEncoding: "gzip",
        headers: ["x-trace-id": .longString("abc123"), "attempt": .int32(2), "nested": .table(["ok": .bool(true)])],
        deliveryMode: AMQPBasicProperties.persistent,
        priority: 5,
        correlationID: "corr-1",
        replyTo: "amq.rabbitmq.reply-to",
        expiration: "60000",
        messageID: "msg-42",
        timestamp: 1_700_000_123,
        type: "user.created",
        userID: "guest",
        appID: "sluice",
        clusterID: "cluster-a"
    )

    /// Valid frames of every kind, used as fuzz seeds and in prefix tests.
    static func sampleFrames() -> [AMQPFrame] {
        var frames: [AMQPFrame] = [.heartbeat]
        for (index, method) in allMethods.enumerated() {
            let channel: UInt16 = method.classID == AMQPMethod.Connection.classID ? 0 : UInt16(index % 5 + 1)
            frames.append(.method(method, channel: channel))
        }
        frames.append(.header(AMQPContentHeader(bodySize: 12, properties: allProperties), channel: 1))
        frames.append(.header(AMQPContentHeader(bodySize: 0), channel: 2))
        frames.append(.header(AMQPContentHeader(bodySize: 5, properties: .init(contentType: "text/plain", deliveryMode: 2)), channel: 3))
        frames.append(.body(buffer(Array("hello, world".utf8)), channel: 1))
        frames.append(.body(buffer([]), channel: 4))
        frames.append(.method(.exchange(.declare(.init(exchange: "tbl", arguments: everyTypeTable))), channel: 9))
        return frames
    }
}

extension AMQPMethod: CustomTestStringConvertible {
    public var testDescription: String { self.name }
}
