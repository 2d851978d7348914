import NIOCore
import Testing

import AMQP091

@Suite("Method round trips")
struct MethodRoundTripTests {
    /// The method table of AMQP 0-9-1 with RabbitMQ's extensions, written
    /// independently of the codec: (class id, method id, name, has content).
    static let specTable: [(UInt16, UInt16, String, Bool)] = [
        (10, 10, "connection.start", false), (10, 11, "connection.start-ok", false),
        (10, 20, "connection.secure", false), (10, 21, "connection.secure-ok", false),
        (10, 30, "connection.tune", false), (10, 31, "connection.tune-ok", false),
        (10, 40, "connection.open", false), (10, 41, "connection.open-ok", false),
        (10, 50, "connection.close", false), (10, 51, "connection.close-ok", false),
        (10, 60, "connection.blocked", false), (10, 61, "connection.unblocked", false),
        (10, 70, "connection.update-secret", false), (10, 71, "connection.update-secret-ok", false),
        (20, 10, "channel.open", false), (20, 11, "channel.open-ok", false),
        (20, 20, "channel.flow", false), (20, 21, "channel.flow-ok", false),
        (20, 40, "channel.close", false), (20, 41, "channel.close-ok", false),
        (40, 10, "exchange.declare", false), (40, 11, "exchange.declare-ok", false),
        (40, 20, "exchange.delete", false), (40, 21, "exchange.delete-ok", false),
        (40, 30, "exchange.bind", false), (40, 31, "exchange.bind-ok", false),
        (40, 40, "exchange.unbind", false), (40, 51, "exchange.unbind-ok", false),
        (50, 10, "queue.declare", false), (50, 11, "queue.declare-ok", false),
        (50, 20, "queue.bind", false), (50, 21, "queue.bind-ok", false),
        (50, 30, "queue.purge", false), (50, 31, "queue.purge-ok", false),
        (50, 40, "queue.delete", false), (50, 41, "queue.delete-ok", false),
        (50, 50, "queue.unbind", false), (50, 51, "queue.unbind-ok", false),
        (60, 10, "basic.qos", false), (60, 11, "basic.qos-ok", false),
        (60, 20, "basic.consume", false), (60, 21, "basic.consume-ok", false),
        (60, 30, "basic.cancel", false), (60, 31, "basic.cancel-ok", false),
        (60, 40, "basic.publish", true), (60, 50, "basic.return", true),
        (60, 60, "basic.deliver", true), (60, 70, "basic.get", false),
        (60, 71, "basic.get-ok", true), (60, 72, "basic.get-empty", false),
        (60, 80, "basic.ack", false), (60, 90, "basic.reject", false),
        (60, 100, "basic.recover-async", false), (60, 110, "basic.recover", false),
        (60, 111, "basic.recover-ok", false), (60, 120, "basic.nack", false),
        (85, 10, "confirm.select", false), (85, 11, "confirm.select-ok", false),
        (90, 10, "tx.select", false), (90, 11, "tx.select-ok", false),
        (90, 20, "tx.commit", false), (90, 21, "tx.commit-ok", false),
        (90, 30, "tx.rollback", false), (90, 31, "tx.rollback-ok", false),
    ]

    @Test("the sample list covers every method of the spec table exactly once, with matching ids")
    func coversEveryMethod() {
        #expect(TestSupport.allMethods.count == 64)
        #expect(Self.specTable.count == 64)
        let sample = TestSupport.allMethods.map { "\($0.classID).\($0.methodID) \($0.name) \($0.hasContent)" }
        let spec = Self.specTable.map { "\($0.0).\($0.1) \($0.2) \($0.3)" }
        #expect(sample == spec)
        #expect(Set(sample).count == 64)
    }

    @Test("every method round trips", arguments: TestSupport.allMethods)
    func roundTrip(method: AMQPMethod) throws {
        let bytes = try TestSupport.encode(method)
        #expect(Array(bytes.prefix(4)) == TestSupport.be16(method.classID) + TestSupport.be16(method.methodID))
        let decoded = try AMQPMethod.decode(payload: TestSupport.buffer(bytes))
        #expect(decoded == method)
        // Re-encoding is byte exact.
        #expect(try TestSupport.encode(decoded) == bytes)
    }

    @Test("every method round trips inside a frame", arguments: TestSupport.allMethods)
    func frameRoundTrip(method: AMQPMethod) throws {
        let frame = AMQPFrame.method(method, channel: method.classID == 10 ? 0 : 42)
        #expect(try TestSupport.decodeOne(try TestSupport.encode(frame), maxFrameSize: 131_072) == frame)
    }

    @Test("every method with default/empty arguments round trips")
    func defaultsRoundTrip() throws {
        let defaults: [AMQPMethod] = [
            .connection(.start(.init())),
            .connection(.startOk(.init(response: ""))),
            .connection(.tune(.init())),
            .connection(.tuneOk(.init())),
            .connection(.open(.init())),
            .connection(.openOk(.init())),
            .connection(.close(.init(replyCode: 200))),
            .connection(.blocked(.init())),
            .connection(.updateSecret(.init(newSecret: ""))),
            .channel(.open(.init())),
            .channel(.openOk(.init())),
            .channel(.close(.init(replyCode: .replySuccess))),
            .exchange(.declare(.init(exchange: ""))),
            .exchange(.delete(.init(exchange: ""))),
            .exchange(.bind(.init(destination: "", source: ""))),
            .exchange(.unbind(.init(destination: "", source: ""))),
            .queue(.declare(.init())),
            .queue(.declareOk(.init(queue: ""))),
            .queue(.bind(.init(queue: "", exchange: ""))),
            .queue(.purge(.init(queue: ""))),
            .queue(.delete(.init(queue: ""))),
            .queue(.unbind(.init(queue: "", exchange: ""))),
            .basic(.qos(.init(prefetchCount: 0))),
            .basic(.consume(.init(queue: ""))),
            .basic(.publish(.init())),
            .basic(.get(.init(queue: ""))),
            .basic(.getEmpty(.init())),
            .basic(.reject(.init(deliveryTag: 0))),
            .basic(.nack(.init(deliveryTag: 0))),
            .confirm(.select(.init())),
        ]
        for method in defaults {
            let decoded = try AMQPMethod.decode(payload: TestSupport.buffer(try TestSupport.encode(method)))
            #expect(decoded == method)
        }
    }

    @Test("consecutive bits share one octet, least significant bit first")
    func bitPacking() throws {
        // exchange.declare: passive, durable, auto-delete, internal, no-wait = bits 0..4
        let declare = AMQPMethod.exchange(
            .declare(.init(exchange: "e", type: "t", passive: true, durable: false, autoDelete: true, internal: false, noWait: true))
        )
        let bytes = try TestSupport.encode(declare)
        // class, method, ticket, "e", "t", bits, empty table
        let expected: [UInt8] = [0, 40, 0, 10, 0, 0, 1, 0x65, 1, 0x74, 0b0001_0101, 0, 0, 0, 0]
        #expect(bytes == expected)

        // queue.declare: passive, durable, exclusive, auto-delete, no-wait
        let queue = AMQPMethod.queue(.declare(.init(queue: "", durable: true, autoDelete: true)))
        #expect(try TestSupport.encode(queue) == [0, 50, 0, 10, 0, 0, 0, 0b0000_1010, 0, 0, 0, 0])

        // basic.nack: delivery-tag, multiple, requeue
        let nack = AMQPMethod.basic(.nack(.init(deliveryTag: 1, multiple: false, requeue: true)))
        #expect(try TestSupport.encode(nack) == [0, 60, 0, 120] + TestSupport.be64(1) + [0b10])

        // basic.deliver: bit between long-long and shortstrs takes its own octet.
        let deliver = AMQPMethod.basic(.deliver(.init(consumerTag: "c", deliveryTag: 2, redelivered: true, exchange: "", routingKey: "r")))
        #expect(try TestSupport.encode(deliver) == [0, 60, 0, 60, 1, 0x63] + TestSupport.be64(2) + [1, 0, 1, 0x72])

        // queue.delete: if-unused, if-empty, no-wait
        let delete = AMQPMethod.queue(.delete(.init(queue: "q", ifUnused: false, ifEmpty: true, noWait: false)))
        #expect(try TestSupport.encode(delete) == [0, 50, 0, 40, 0, 0, 1, 0x71, 0b010])
    }

    @Test("unused high bits of a bit octet are ignored when decoding")
    func ignoresUnusedBits() throws {
        let payload = TestSupport.methodPayload(classID: 85, methodID: 10, [0xFE])  // noWait = bit 0 = 0
        #expect(try AMQPMethod.decode(payload: TestSupport.buffer(payload)) == .confirm(.select(.init(noWait: false))))
        let flow = TestSupport.methodPayload(classID: 20, methodID: 20, [0xFF])
        #expect(try AMQPMethod.decode(payload: TestSupport.buffer(flow)) == .channel(.flow(.init(active: true))))
    }

    @Test("short strings are bytes, exposed as String when valid UTF-8")
    func lenientShortStrings() throws {
        let payload = TestSupport.methodPayload(classID: 60, methodID: 21, [2, 0xC3, 0x28])
        let method = try AMQPMethod.decode(payload: TestSupport.buffer(payload))
        guard case .basic(.consumeOk(let ok)) = method else {
            Issue.record("unexpected \(method)")
            return
        }
        #expect(ok.consumerTag.bytes == [0xC3, 0x28])
        #expect(ok.consumerTag.string == nil)
        #expect(ok.consumerTag.description == "\u{FFFD}(")
        #expect(try TestSupport.encode(method) == payload)
        let text: AMQPShortString = "tag-\(7)"
        #expect(text.string == "tag-7")
    }

    @Test("a 255-byte short string encodes, 256 bytes does not")
    func shortStringLimit() throws {
        let ok = AMQPMethod.basic(.consumeOk(.init(consumerTag: AMQPShortString(String(repeating: "x", count: 255)))))
        #expect(try AMQPMethod.decode(payload: TestSupport.buffer(try TestSupport.encode(ok))) == ok)
        let tooLong = AMQPMethod.basic(.consumeOk(.init(consumerTag: AMQPShortString(String(repeating: "x", count: 256)))))
        let error = TestSupport.codecError { () throws(AMQPCodecError) in
            var buffer = ByteBuffer()
            try tooLong.encode(into: &buffer)
        }
        #expect(error?.code == .valueTooLarge)
        #expect(AMQPShortString(String(repeating: "x", count: 256)).isEncodable == false)
    }

    @Test("method metadata")
    func metadata() {
        #expect(AMQPMethod.basic(.return(.init(replyCode: 312, exchange: "", routingKey: ""))).name == "basic.return")
        #expect(AMQPMethod.exchange(.unbindOk).methodID == 51)
        #expect(AMQPMethod.confirm(.selectOk).classID == 85)
        #expect(AMQPReplyCode.frameError.rawValue == 501)
        #expect(AMQPReplyCode.unexpectedFrame.isHardError)
        #expect(!AMQPReplyCode.notFound.isHardError)
        #expect(AMQPReplyCode(999).description == "999")
        #expect(AMQPReplyCode.syntaxError.description == "502 SYNTAX_ERROR")
    }
}
