import NIOCore
import Testing

import AMQP091

@Suite("Command assembly")
struct CommandAssemblerTests {
    static let deliver = AMQPMethod.basic(.deliver(.init(consumerTag: "c", deliveryTag: 1, exchange: "x", routingKey: "k")))

    static func process(_ frames: [AMQPFrame], _ assembler: inout AMQPCommandAssembler) throws -> [AMQPCommand] {
        var commands: [AMQPCommand] = []
        for frame in frames {
            if let command = try assembler.process(frame) { commands.append(command) }
        }
        return commands
    }

    @Test("methods without content complete immediately; heartbeats produce nothing")
    func simpleMethods() throws {
        var assembler = AMQPCommandAssembler()
        #expect(try assembler.process(.heartbeat) == nil)
        let ack = try assembler.process(.method(.basic(.ack(.init(deliveryTag: 5))), channel: 3))
        #expect(ack == AMQPCommand(channel: 3, method: .basic(.ack(.init(deliveryTag: 5)))))
        let tune = try assembler.process(.method(.connection(.tune(.init())), channel: 0))
        #expect(tune?.method == .connection(.tune(.init())))
    }

    @Test("content split over several body frames is reassembled")
    func multiFrameBody() throws {
        let body = TestSupport.buffer((0..<1000).map { UInt8($0 % 256) })
        let frames = try AMQPFrame.contentFrames(
            channel: 2,
            method: Self.deliver,
            properties: .init(contentType: "application/json"),
            body: body,
            maxFrameSize: 108
        )
        #expect(frames.count == 2 + 10)
        var assembler = AMQPCommandAssembler()
        let commands = try Self.process(frames, &assembler)
        #expect(commands.count == 1)
        #expect(commands[0].method == Self.deliver)
        #expect(commands[0].content?.body == body)
        #expect(commands[0].content?.header.bodySize == 1000)
        #expect(!assembler.isAssemblingContent(on: 2))
    }

    @Test("zero-length content completes at the header")
    func emptyBody() throws {
        var assembler = AMQPCommandAssembler()
        #expect(try assembler.process(.method(Self.deliver, channel: 1)) == nil)
        #expect(assembler.isAssemblingContent(on: 1))
        let command = try assembler.process(.header(AMQPContentHeader(bodySize: 0), channel: 1))
        #expect(command?.content?.body.readableBytes == 0)
    }

    @Test("content on different channels interleaves")
    func interleaving() throws {
        var assembler = AMQPCommandAssembler()
        let frames: [AMQPFrame] = [
            .method(Self.deliver, channel: 1),
            .method(Self.deliver, channel: 2),
            .header(AMQPContentHeader(bodySize: 2), channel: 2),
            .header(AMQPContentHeader(bodySize: 2), channel: 1),
            .body(TestSupport.buffer([1]), channel: 1),
            .body(TestSupport.buffer([2, 2]), channel: 2),
            .body(TestSupport.buffer([1]), channel: 1),
        ]
        let commands = try Self.process(frames, &assembler)
        #expect(commands.map(\.channel) == [2, 1])
        #expect(commands.map { TestSupport.bytes($0.content!.body) } == [[2, 2], [1, 1]])
    }

    @Test("out-of-order frames are unexpected-frame (505)")
    func unexpectedFrames() throws {
        func expectUnexpected(_ frames: [AMQPFrame], _ code: AMQPCodecError.Code = .unexpectedFrame) {
            var assembler = AMQPCommandAssembler()
            let error = TestSupport.codecError { () throws(AMQPCodecError) in
                for frame in frames { _ = try assembler.process(frame) }
            }
            #expect(error?.code == code, "\(frames)")
            #expect(error?.replyCode == .unexpectedFrame)
        }
        // Header with no content method.
        expectUnexpected([.header(AMQPContentHeader(bodySize: 1), channel: 1)])
        // Body with no header.
        expectUnexpected([.body(TestSupport.buffer([1]), channel: 1)])
        expectUnexpected([.method(Self.deliver, channel: 1), .body(TestSupport.buffer([1]), channel: 1)])
        // Method while waiting for the header, or for body bytes.
        expectUnexpected([.method(Self.deliver, channel: 1), .method(.basic(.qosOk), channel: 1)])
        expectUnexpected([
            .method(Self.deliver, channel: 1), .header(AMQPContentHeader(bodySize: 2), channel: 1), .method(.basic(.qosOk), channel: 1),
        ])
        // Second header.
        expectUnexpected([
            .method(Self.deliver, channel: 1), .header(AMQPContentHeader(bodySize: 2), channel: 1),
            .header(AMQPContentHeader(bodySize: 2), channel: 1),
        ])
        // Body larger than declared.
        expectUnexpected(
            [.method(Self.deliver, channel: 1), .header(AMQPContentHeader(bodySize: 2), channel: 1), .body(TestSupport.buffer([1, 2, 3]), channel: 1)],
            .bodySizeMismatch
        )
    }

    @Test("methods on the wrong channel are channel errors (504)")
    func wrongChannel() {
        var assembler = AMQPCommandAssembler()
        let connectionOnOne = TestSupport.codecError { () throws(AMQPCodecError) in
            try assembler.process(.method(.connection(.closeOk), channel: 1))
        }
        #expect(connectionOnOne?.code == .invalidChannel)
        #expect(connectionOnOne?.replyCode == .channelError)
        let basicOnZero = TestSupport.codecError { () throws(AMQPCodecError) in
            try assembler.process(.method(.basic(.qosOk), channel: 0))
        }
        #expect(basicOnZero?.code == .invalidChannel)
    }

    @Test("declared body sizes above the limit are refused at the header")
    func maxBodySize() throws {
        var assembler = AMQPCommandAssembler(maxBodySize: 1024)
        _ = try assembler.process(.method(Self.deliver, channel: 1))
        let error = TestSupport.codecError { () throws(AMQPCodecError) in
            try assembler.process(.header(AMQPContentHeader(bodySize: .max), channel: 1))
        }
        #expect(error?.code == .contentTooLarge)
        #expect(error?.replyCode == .preconditionFailed)
        assembler.reset(channel: 1)
        #expect(!assembler.isAssemblingContent(on: 1))
        _ = try assembler.process(.method(Self.deliver, channel: 1))
        assembler.resetAll()
        #expect(try assembler.process(.method(.basic(.qosOk), channel: 1)) != nil)
    }
}
