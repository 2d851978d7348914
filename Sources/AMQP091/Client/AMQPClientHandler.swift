//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: the NIO channel handler. It decodes frames,
// feeds the state machines and carries out their actions; it makes no
// protocol decisions of its own.
//===----------------------------------------------------------------------===//

import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// What the async API asks the handler to do (written into the pipeline).
enum AMQPClientRequest: Sendable {
    case openChannel(EventLoopPromise<UInt16>)
    case rpc(channel: UInt16, AMQPMethod, EventLoopPromise<AMQPMethod>)
    case consume(
        channel: UInt16,
        AMQPMethod.Basic.Consume,
        AsyncThrowingStream<AMQPDelivery, any Error>.Continuation,
        EventLoopPromise<AMQPMethod>
    )
    case asyncMethod(channel: UInt16, AMQPMethod, EventLoopPromise<Void>)
    case publish(channel: UInt16, AMQPMethod.Basic.Publish, AMQPBasicProperties, ByteBuffer, EventLoopPromise<Void>)
    case closeChannel(channel: UInt16, EventLoopPromise<Void>)
    case closeConnection(EventLoopPromise<Void>)

    func fail(_ error: AMQPClientError) {
        switch self {
        case .openChannel(let p): p.fail(error)
        case .rpc(_, _, let p): p.fail(error)
        case .consume(_, _, let continuation, let p):
            continuation.finish(throwing: error)
            p.fail(error)
        case .asyncMethod(_, _, let p): p.fail(error)
        case .publish(_, _, _, _, let p): p.fail(error)
        case .closeChannel(_, let p): p.fail(error)
        case .closeConnection(let p): p.succeed(())
        }
    }
}

/// State shared with other threads: whether the broker blocked publishing.
struct AMQPConnectionSharedState: Sendable {
    var isBlocked = false
    var blockedReason: String?
    var failure: AMQPClientError?
    /// Why the broker closed a channel (`channel.close`), by channel id,
    /// until the id is opened again.
    var channelErrors: [UInt16: AMQPClientError] = [:]
}

final class AMQPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = AMQPClientRequest
    typealias OutboundOut = ByteBuffer
    typealias ChannelMachine = AMQPChannelStateMachine<EventLoopPromise<AMQPMethod>, EventLoopPromise<Void>>

    private var connection: AMQPConnectionStateMachine
    private var decoder = AMQPFrameDecoder(maxFrameSize: AMQPFrameDecoder.defaultMaxFrameSize)
    private var assembler = AMQPCommandAssembler()
    private var inbound: ByteBuffer?
    private var channels: [UInt16: ChannelMachine] = [:]
    private var consumers: [UInt16: [String: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation]] = [:]
    private var connectPromise: EventLoopPromise<AMQPNegotiatedParameters>?
    private var closePromises: [EventLoopPromise<Void>] = []
    private var failure: AMQPClientError?
    private var transportError: (any Error)?
    private var negotiated: AMQPNegotiatedParameters?
    private var heartbeatTask: RepeatedTask?
    /// A flush is queued on the event loop (``queueFlush(context:)``).
    private var flushQueued = false
    private var handshakeTimeout: Scheduled<Void>?
    private let handshakeTimeoutAmount: TimeAmount
    private let maxInFlightPublishes: Int
    private let shared: NIOLockedValueBox<AMQPConnectionSharedState>
    private var nextChannelHint: UInt16 = 1

    init(
        configuration: AMQPConnectionStateMachine.Configuration,
        connectPromise: EventLoopPromise<AMQPNegotiatedParameters>,
        handshakeTimeout: TimeAmount,
        maxInFlightPublishes: Int,
        shared: NIOLockedValueBox<AMQPConnectionSharedState>
    ) {
        self.connection = AMQPConnectionStateMachine(configuration: configuration)
        self.connectPromise = connectPromise
        self.handshakeTimeoutAmount = handshakeTimeout
        self.maxInFlightPublishes = maxInFlightPublishes
        self.shared = shared
    }

    // MARK: Channel events

    func channelActive(context: ChannelHandlerContext) {
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.handshakeTimeout = context.eventLoop.scheduleTask(in: self.handshakeTimeoutAmount) {
            loopBoundSelf.value.handshakeTimedOut(context: loopBoundContext.value)
        }
        self.run(self.connection.transportConnected(now: .now()), context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.run(self.connection.transportClosed(error: self.transportError), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.transportError == nil {
            self.transportError = error
        }
        if error is NIOSSLError || error is BoringSSLError {
            self.run(.failAndClose(
                AMQPClientError(code: .tlsFailure, message: "TLS failed: \(error)"),
                send: []
            ), context: context)
            return
        }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if self.inbound == nil || self.inbound!.readableBytes == 0 {
            self.inbound = bytes
        } else {
            self.inbound!.writeBuffer(&bytes)
        }
        self.connection.frameReceived(now: .now())
        while self.failure == nil, var buffer = self.inbound {
            self.inbound = nil  // keep the buffer uniquely referenced while decoding
            let frame: AMQPFrame?
            do {
                frame = try self.decoder.decode(from: &buffer)
            } catch {
                self.inbound = buffer
                self.run(self.connection.protocolViolation(error.message, replyCode: error.replyCode ?? .frameError), context: context)
                return
            }
            self.inbound = buffer
            guard let frame else { break }
            let command: AMQPCommand?
            do {
                command = try self.assembler.process(frame)
            } catch {
                self.run(self.connection.protocolViolation(error.message, replyCode: error.replyCode ?? .unexpectedFrame), context: context)
                return
            }
            if let command {
                self.commandReceived(command, context: context)
            }
        }
        if let buffer = self.inbound, buffer.readableBytes == 0 {
            self.inbound = nil
        } else {
            self.inbound?.discardReadBytes()
        }
    }

    private func commandReceived(_ command: AMQPCommand, context: ChannelHandlerContext) {
        if command.channel == 0 {
            guard case .connection(let method) = command.method else {
                self.run(self.connection.protocolViolation("\(command.method.name) on channel 0"), context: context)
                return
            }
            self.run(self.connection.methodReceived(method), context: context)
            return
        }
        guard var machine = self.channels[command.channel] else {
            self.run(self.connection.protocolViolation("\(command.method.name) on unknown channel \(command.channel)", replyCode: .channelError), context: context)
            return
        }
        let action = machine.commandReceived(command)
        self.channels[command.channel] = machine
        self.run(action, channel: command.channel, context: context)
    }

    // MARK: Requests

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The request's own promise reports the outcome; the write itself
        // always succeeds once the handler has the request.
        promise?.succeed(())
        let request = self.unwrapOutboundIn(data)
        if let failure = self.failure {
            request.fail(failure)
            return
        }
        guard self.connection.state == .open else {
            if case .closeConnection(let p) = request {
                self.closePromises.append(p)
                self.run(self.connection.closeRequested(), context: context)
                return
            }
            request.fail(AMQPClientError(code: .invalidState, message: "the connection is \(self.connection.state)"))
            return
        }
        switch request {
        case .openChannel(let promise):
            guard let id = self.freeChannelID() else {
                promise.fail(AMQPClientError(code: .noFreeChannel, message: "all \(self.negotiated?.channelMax ?? 0) channels are in use"))
                return
            }
            var machine = ChannelMachine(channelID: id, frameMax: self.negotiated?.frameMax ?? AMQPFrameDecoder.defaultMaxFrameSize, maxInFlight: self.maxInFlightPublishes)
            let opened = context.eventLoop.makePromise(of: AMQPMethod.self)
            opened.futureResult.map { _ in id }.cascade(to: promise)
            self.shared.withLockedValue { _ = $0.channelErrors.removeValue(forKey: id) }
            let action = machine.openRequested(opened)
            self.channels[id] = machine
            self.assembler.reset(channel: id)
            self.run(action, channel: id, context: context)
        case .rpc(let id, let method, let promise):
            self.withChannel(id, context: context, orFail: { promise.fail($0) }) { $0.rpcRequested(method, token: promise) }
        case .consume(let id, let consume, let continuation, let promise):
            guard self.channels[id] != nil else {
                request.fail(AMQPClientError(code: .invalidState, message: "channel \(id) is not open"))
                return
            }
            let tag = consume.consumerTag.string ?? consume.consumerTag.description
            self.consumers[id, default: [:]][tag] = continuation
            let registered = context.eventLoop.makePromise(of: AMQPMethod.self)
            let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
            registered.futureResult.whenFailure { error in
                loopBoundSelf.value.consumers[id]?[tag] = nil
                continuation.finish(throwing: error)
            }
            registered.futureResult.cascade(to: promise)
            self.withChannel(id, context: context, orFail: { registered.fail($0) }) { $0.rpcRequested(.basic(.consume(consume)), token: registered) }
        case .asyncMethod(let id, let method, let promise):
            guard var machine = self.channels[id] else {
                promise.fail(AMQPClientError(code: .invalidState, message: "channel \(id) is not open"))
                return
            }
            let result = machine.asyncMethodRequested(method)
            self.channels[id] = machine
            switch result {
            case .success(let frames):
                self.send(frames, context: context)
                promise.succeed(())
            case .failure(let error):
                promise.fail(error)
            }
        case .publish(let id, let publish, let properties, let body, let promise):
            self.withChannel(id, context: context, orFail: { promise.fail($0) }) {
                $0.publishRequested(publish, properties: properties, body: body, token: promise)
            }
        case .closeChannel(let id, let promise):
            let closed = context.eventLoop.makePromise(of: AMQPMethod.self)
            closed.futureResult.map { _ in () }.cascade(to: promise)
            self.withChannel(id, context: context, orFail: { closed.fail($0) }) { $0.closeRequested(closed) }
        case .closeConnection(let promise):
            self.closePromises.append(promise)
            self.run(self.connection.closeRequested(), context: context)
        }
    }

    private func withChannel(
        _ id: UInt16,
        context: ChannelHandlerContext,
        orFail fail: (AMQPClientError) -> Void,
        _ body: (inout ChannelMachine) -> ChannelMachine.Action
    ) {
        guard var machine = self.channels[id] else {
            fail(AMQPClientError(code: .invalidState, message: "channel \(id) is not open"))
            return
        }
        let action = body(&machine)
        self.channels[id] = machine
        self.run(action, channel: id, context: context)
    }

    private func freeChannelID() -> UInt16? {
        let channelMax = max(1, self.negotiated?.channelMax ?? 2047)
        var candidate = self.nextChannelHint
        for _ in 0..<Int(channelMax) {
            if candidate == 0 || candidate > channelMax { candidate = 1 }
            let inUse: Bool
            switch self.channels[candidate]?.state {
            case nil, .closed?, .failed?: inUse = false
            default: inUse = true
            }
            if !inUse {
                self.nextChannelHint = candidate &+ 1
                return candidate
            }
            candidate &+= 1
        }
        return nil
    }

    // MARK: Carrying out actions

    private func send(_ frames: [AMQPFrame], context: ChannelHandlerContext) {
        guard !frames.isEmpty else { return }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        let frameMax = self.negotiated?.frameMax ?? 0
        for frame in frames {
            do {
                try frame.encode(into: &buffer, maxFrameSize: frameMax)
            } catch {
                // The machines only produce frames within frame_max.
                assertionFailure("cannot encode \(frame): \(error)")
            }
        }
        self.connection.frameSent(now: .now())
        context.write(self.wrapOutboundOut(buffer), promise: nil)
        self.queueFlush(context: context)
    }

    /// Flushes once the event loop has run what is queued now, so that the frames of many
    /// concurrent requests (publishes from many HTTP clients) share one system call.
    private func queueFlush(context: ChannelHandlerContext) {
        guard !self.flushQueued else { return }
        self.flushQueued = true
        context.eventLoop.assumeIsolated().execute {
            self.flushQueued = false
            context.flush()
        }
    }

    private func run(_ action: AMQPConnectionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .sendProtocolHeader:
            var buffer = context.channel.allocator.buffer(capacity: AMQPProtocolHeader.encodedSize)
            AMQPProtocolHeader.amqp091.encode(into: &buffer)
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
        case .send(let frames):
            self.send(frames, context: context)
        case .tuned(let parameters, let frames):
            self.negotiated = parameters
            self.decoder.maxFrameSize = parameters.frameMax
            self.send(frames, context: context)
            if parameters.heartbeat > 0 {
                let interval = TimeAmount.milliseconds(max(250, Int64(parameters.heartbeat) * 500))
                let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
                let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                self.heartbeatTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                    let handler = loopBoundSelf.value
                    handler.run(handler.connection.heartbeatTick(now: .now()), context: loopBoundContext.value)
                }
            }
        case .connected(let parameters):
            self.handshakeTimeout?.cancel()
            self.handshakeTimeout = nil
            self.connectPromise?.succeed(parameters)
            self.connectPromise = nil
        case .sendHeartbeat:
            self.send([.heartbeat], context: context)
        case .blockedChanged(let blocked, let reason):
            self.shared.withLockedValue {
                $0.isBlocked = blocked
                $0.blockedReason = reason
            }
        case .failAndClose(let error, let frames):
            self.send(frames, context: context)
            self.failAll(error, context: context)
            context.flush()  // the frames sent before closing leave first
            context.close(promise: nil)
        case .closeTransport:
            self.failAll(AMQPClientError(code: .closed, message: "the connection was closed"), context: context)
            context.flush()
            context.close(promise: nil)
        }
    }

    private func run(_ action: ChannelMachine.Action, channel id: UInt16, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .send(let frames):
            self.send(frames, context: context)
        case .failRPC(let promise, let error):
            promise.fail(error)
        case .succeedRPC(let promise, let method, let frames):
            self.send(frames, context: context)
            if case .basic(.cancelOk(let ok)) = method {
                // Our own cancel: the consumer's sequence ends normally.
                self.consumers[id]?.removeValue(forKey: ok.consumerTag.string ?? ok.consumerTag.description)?.finish()
            }
            promise.succeed(method)
        case .sendAndSucceedPublish(let frames, let promise):
            self.send(frames, context: context)
            promise.succeed(())
        case .failPublish(let promise, let error):
            promise.fail(error)
        case .resolvePublishes(let resolutions, let frames):
            self.send(frames, context: context)
            for resolution in resolutions {
                resolution.token.completeWith(resolution.result.mapError { $0 as any Error })
            }
        case .deliver(let delivery):
            self.consumers[id]?[delivery.consumerTag]?.yield(delivery)
        case .consumerCancelled(let tag, let frames):
            self.send(frames, context: context)
            self.consumers[id]?.removeValue(forKey: tag)?.finish(throwing: AMQPClientError(
                code: .consumerCancelled, message: "the broker cancelled consumer '\(tag)' (queue deleted or node failure)"
            ))
        case .channelClosed(let error, let rpcs, let publishes, _, let closeOK, let frames):
            self.send(frames, context: context)
            self.assembler.reset(channel: id)
            if error.code == .channelClosedByServer {
                self.shared.withLockedValue { $0.channelErrors[id] = error }
            }
            for promise in rpcs { promise.fail(error) }
            for promise in publishes { promise.fail(error) }
            let continuations = self.consumers.removeValue(forKey: id) ?? [:]
            for continuation in continuations.values {
                if closeOK != nil {
                    continuation.finish()
                } else {
                    continuation.finish(throwing: error)
                }
            }
            closeOK?.succeed(.channel(.closeOk))
        case .connectionError(let message):
            self.run(self.connection.protocolViolation(message), context: context)
        }
    }

    private func failAll(_ error: AMQPClientError, context: ChannelHandlerContext) {
        guard self.failure == nil else { return }
        self.failure = error
        self.shared.withLockedValue { $0.failure = error }
        self.heartbeatTask?.cancel()
        self.heartbeatTask = nil
        self.handshakeTimeout?.cancel()
        self.handshakeTimeout = nil
        self.connectPromise?.fail(error)
        self.connectPromise = nil
        for id in self.channels.keys.sorted() {
            guard var machine = self.channels[id] else { continue }
            let action = machine.connectionClosed(error)
            self.channels[id] = machine
            self.run(action, channel: id, context: context)
        }
        for (_, continuations) in self.consumers {
            for continuation in continuations.values { continuation.finish(throwing: error) }
        }
        self.consumers = [:]
        let closePromises = self.closePromises
        self.closePromises = []
        for promise in closePromises { promise.succeed(()) }
    }

    private func handshakeTimedOut(context: ChannelHandlerContext) {
        guard self.connectPromise != nil else { return }
        self.run(.failAndClose(
            AMQPClientError(code: .connectTimeout, message: "the AMQP handshake did not finish within \(self.handshakeTimeoutAmount.nanoseconds / 1_000_000) ms"),
            send: []
        ), context: context)
    }
}
