//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: the channel state machine.
//===----------------------------------------------------------------------===//

import NIOCore

/// A message delivered to a consumer (`basic.deliver` with its content).
public struct AMQPDelivery: Hashable, Sendable {
    public var consumerTag: String
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    public var properties: AMQPBasicProperties
    public var body: ByteBuffer
    /// The connection the delivery came on, for an ``AMQPSession``: 1 for
    /// its first connection, one more after every recovery. Its delivery
    /// tag is only valid on that connection. 0 for a plain ``AMQPConnection``.
    public var generation: UInt64

    public init(
        consumerTag: String,
        deliveryTag: UInt64,
        redelivered: Bool,
        exchange: String,
        routingKey: String,
        properties: AMQPBasicProperties,
        body: ByteBuffer,
        generation: UInt64 = 0
    ) {
        self.generation = generation
        self.consumerTag = consumerTag
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }
}

/// One channel's protocol as a value. Methods are named after events and
/// return the action the I/O layer carries out. `RPCToken` and
/// `PublishToken` are whatever the I/O layer uses to resume its callers
/// (promises in the NIO handler, plain values in tests); the machine only
/// stores them and hands them back.
public struct AMQPChannelStateMachine<RPCToken, PublishToken> {
    public enum State: Hashable, Sendable {
        case closed
        case opening
        case open
        case closing
        /// Closed by the broker or by a connection failure.
        case failed(AMQPClientError)
    }

    /// How one publish ended.
    public struct PublishResolution {
        public var token: PublishToken
        public var result: Result<Void, AMQPClientError>
    }

    public enum Action {
        case none
        /// Write these frames.
        case send([AMQPFrame])
        /// Fail an RPC that could not be started.
        case failRPC(RPCToken, AMQPClientError)
        /// The response to the RPC arrived: resume it, then write the frames
        /// (the next queued request, if any).
        case succeedRPC(RPCToken, AMQPMethod, thenSend: [AMQPFrame])
        /// Write the frames of a publish on a channel without confirms, then
        /// succeed the token.
        case sendAndSucceedPublish([AMQPFrame], PublishToken)
        /// Fail a publish that could not be sent.
        case failPublish(PublishToken, AMQPClientError)
        /// Confirms arrived or the broker resumed the channel: write the
        /// frames (flow-ok, queued publishes the window now admits), then
        /// resolve these publishes.
        case resolvePublishes([PublishResolution], thenSend: [AMQPFrame])
        /// A delivery for a consumer.
        case deliver(AMQPDelivery)
        /// The broker cancelled a consumer; write the frames (cancel-ok if asked).
        case consumerCancelled(consumerTag: String, send: [AMQPFrame])
        /// The channel is gone: write the frames (close-ok if the broker
        /// closed it), fail/resolve every pending operation and finish every
        /// consumer with the error. `closeOK` is the RPC of our own close.
        case channelClosed(
            AMQPClientError,
            rpcs: [RPCToken],
            publishes: [PublishToken],
            consumers: [String],
            closeOK: RPCToken?,
            send: [AMQPFrame]
        )
        /// The broker broke the protocol on this channel: close the connection.
        case connectionError(String)
    }

    fileprivate struct QueuedRPC {
        var method: AMQPMethod
        var token: RPCToken
    }

    fileprivate struct Outstanding {
        var tag: UInt64
        var token: PublishToken
        var mandatory: Bool
        var exchange: AMQPShortString
        var routingKey: AMQPShortString
        var returned: AMQPClientError?
    }

    fileprivate struct WaitingPublish {
        var publish: AMQPMethod.Basic.Publish
        var properties: AMQPBasicProperties
        var body: ByteBuffer
        var token: PublishToken
    }

    public let channelID: UInt16
    public private(set) var state: State = .closed
    public private(set) var isConfirmMode = false
    /// The delivery tag the next publish gets in confirm mode (counted from 1).
    public private(set) var nextPublishTag: UInt64 = 1
    /// The most unconfirmed publishes on the wire; more wait in a queue.
    public let maxInFlight: Int
    public private(set) var consumers: Set<String> = []
    /// Whether the broker lets this channel publish. The broker pauses a
    /// channel with `channel.flow active=false` and resumes it with
    /// `active=true`; publishes requested while paused wait in order (in
    /// and out of confirm mode) and go out when the channel resumes.
    public private(set) var isFlowActive = true
    private let frameMax: UInt32
    private var rpcs: [QueuedRPC] = []
    private var rpcInFlight = false
    private var closeToken: RPCToken?
    private var outstanding: [Outstanding] = []
    private var waiting: [WaitingPublish] = []

    public init(channelID: UInt16, frameMax: UInt32, maxInFlight: Int = 1024) {
        self.channelID = channelID
        self.frameMax = frameMax
        self.maxInFlight = max(1, maxInFlight)
    }

    /// Publishes sent and not yet confirmed.
    public var unconfirmedCount: Int { self.outstanding.count }
    /// Publishes waiting for room in the in-flight window or for the
    /// broker to resume the channel (`channel.flow`).
    public var queuedPublishCount: Int { self.waiting.count }

    // MARK: Events from the user

    /// The user opens the channel; `token` resumes with `channel.open-ok`.
    public mutating func openRequested(_ token: RPCToken) -> Action {
        guard case .closed = self.state, self.rpcs.isEmpty else {
            return .failRPC(token, AMQPClientError(code: .invalidState, message: "channel \(self.channelID) is already open"))
        }
        self.state = .opening
        self.rpcs.append(QueuedRPC(method: .channel(.open(.init())), token: token))
        self.rpcInFlight = true
        return .send([self.frame(.channel(.open(.init())))])
    }

    /// The user sends a synchronous method (declare, bind, qos, consume,
    /// confirm.select, ...). Requests go out one at a time.
    public mutating func rpcRequested(_ method: AMQPMethod, token: RPCToken) -> Action {
        guard case .open = self.state else {
            return .failRPC(token, self.unusableError)
        }
        self.rpcs.append(QueuedRPC(method: method, token: token))
        if self.rpcInFlight {
            return .none
        }
        self.rpcInFlight = true
        return .send([self.frame(method)])
    }

    /// The user sends an asynchronous method (basic.ack / nack / reject).
    public mutating func asyncMethodRequested(_ method: AMQPMethod) -> Result<[AMQPFrame], AMQPClientError> {
        guard case .open = self.state else {
            return .failure(self.unusableError)
        }
        return .success([self.frame(method)])
    }

    /// The user publishes. In confirm mode the token resolves on the
    /// broker's ack (or fails on nack / return); otherwise after the write.
    /// While the broker paused the channel (`channel.flow`) the publish waits.
    public mutating func publishRequested(
        _ publish: AMQPMethod.Basic.Publish,
        properties: AMQPBasicProperties,
        body: ByteBuffer,
        token: PublishToken
    ) -> Action {
        guard case .open = self.state else {
            return .failPublish(token, self.unusableError)
        }
        if !self.isFlowActive {
            self.waiting.append(WaitingPublish(publish: publish, properties: properties, body: body, token: token))
            return .none
        }
        guard self.isConfirmMode else {
            do {
                let frames = try AMQPFrame.contentFrames(
                    channel: self.channelID, method: .basic(.publish(publish)),
                    properties: properties, body: body, maxFrameSize: self.frameMax
                )
                return .sendAndSucceedPublish(frames, token)
            } catch {
                return .failPublish(token, AMQPClientError(code: .invalidState, message: "cannot encode the publish: \(error)"))
            }
        }
        if self.outstanding.count >= self.maxInFlight || !self.waiting.isEmpty {
            self.waiting.append(WaitingPublish(publish: publish, properties: properties, body: body, token: token))
            return .none
        }
        switch self.sendConfirmed(WaitingPublish(publish: publish, properties: properties, body: body, token: token)) {
        case .success(let frames):
            return .send(frames)
        case .failure(let error):
            return .failPublish(token, error)
        }
    }

    /// The user closes the channel; `token` resumes with `channel.close-ok`.
    public mutating func closeRequested(_ token: RPCToken) -> Action {
        switch self.state {
        case .open, .opening:
            self.state = .closing
            self.closeToken = token
            return .send([self.frame(.channel(.close(.init(replyCode: .replySuccess, replyText: "bye"))))])
        case .closing, .closed, .failed:
            return .failRPC(token, self.unusableError)
        }
    }

    // MARK: Events from the broker

    /// A complete command arrived on this channel.
    public mutating func commandReceived(_ command: AMQPCommand) -> Action {
        if case .closing = self.state {
            switch command.method {
            case .channel(.closeOk):
                return self.finish(AMQPClientError(code: .closed, message: "channel \(self.channelID) was closed"), sendCloseOk: false)
            case .channel(.close(let close)):
                return self.finish(AMQPClientError.channelClose(close, channel: self.channelID), sendCloseOk: true)
            default:
                // Everything else is discarded while closing (spec 2.2.3).
                return .none
            }
        }
        switch command.method {
        case .channel(.close(let close)):
            return self.finish(AMQPClientError.channelClose(close, channel: self.channelID), sendCloseOk: true)
        case .channel(.flow(let flow)):
            return self.flowReceived(active: flow.active)
        case .basic(.ack(let ack)):
            return self.confirmsReceived(upTo: ack.deliveryTag, multiple: ack.multiple, nack: false)
        case .basic(.nack(let nack)):
            return self.confirmsReceived(upTo: nack.deliveryTag, multiple: nack.multiple, nack: true)
        case .basic(.return(let ret)):
            return self.returnReceived(ret)
        case .basic(.deliver(let deliver)):
            guard let content = command.content else {
                return .connectionError("basic.deliver without content on channel \(self.channelID)")
            }
            let tag = deliver.consumerTag.string ?? deliver.consumerTag.description
            guard self.consumers.contains(tag) else { return .none }
            return .deliver(AMQPDelivery(
                consumerTag: tag,
                deliveryTag: deliver.deliveryTag,
                redelivered: deliver.redelivered,
                exchange: deliver.exchange.string ?? "",
                routingKey: deliver.routingKey.string ?? "",
                properties: content.properties,
                body: content.body
            ))
        case .basic(.cancel(let cancel)) where !self.isResponseToInFlight(command.method):
            let tag = cancel.consumerTag.string ?? cancel.consumerTag.description
            self.consumers.remove(tag)
            let reply: [AMQPFrame] = cancel.noWait ? [] : [self.frame(.basic(.cancelOk(.init(consumerTag: cancel.consumerTag))))]
            return .consumerCancelled(consumerTag: tag, send: reply)
        default:
            return self.responseReceived(command.method)
        }
    }

    /// The connection failed or closed: everything on this channel ends.
    public mutating func connectionClosed(_ error: AMQPClientError) -> Action {
        switch self.state {
        case .closed, .failed:
            if self.rpcs.isEmpty && self.outstanding.isEmpty && self.waiting.isEmpty && self.closeToken == nil {
                return .none
            }
        default:
            break
        }
        return self.finish(error, sendCloseOk: false, failClose: true)
    }

    // MARK: Internals

    private var unusableError: AMQPClientError {
        switch self.state {
        case .failed(let error):
            return error
        case .closing:
            return AMQPClientError(code: .invalidState, message: "channel \(self.channelID) is closing")
        case .opening:
            return AMQPClientError(code: .invalidState, message: "channel \(self.channelID) is not open yet")
        default:
            return AMQPClientError(code: .invalidState, message: "channel \(self.channelID) is closed")
        }
    }

    private func frame(_ method: AMQPMethod) -> AMQPFrame {
        .method(method, channel: self.channelID)
    }

    private func isResponseToInFlight(_ method: AMQPMethod) -> Bool {
        guard self.rpcInFlight, let request = self.rpcs.first?.method else { return false }
        return Self.isResponse(method, to: request)
    }

    static func isResponse(_ response: AMQPMethod, to request: AMQPMethod) -> Bool {
        guard response.classID == request.classID else { return false }
        if case .exchange(.unbind) = request {
            return response.methodID == 51
        }
        return response.methodID == request.methodID + 1
    }

    private mutating func responseReceived(_ method: AMQPMethod) -> Action {
        guard self.rpcInFlight, let current = self.rpcs.first, Self.isResponse(method, to: current.method) else {
            return .connectionError("unexpected \(method.name) on channel \(self.channelID)")
        }
        self.rpcs.removeFirst()
        self.rpcInFlight = false
        switch method {
        case .channel(.openOk):
            self.state = .open
        case .confirm(.selectOk):
            self.isConfirmMode = true
        case .basic(.consumeOk(let ok)):
            self.consumers.insert(ok.consumerTag.string ?? ok.consumerTag.description)
        case .basic(.cancelOk(let ok)):
            self.consumers.remove(ok.consumerTag.string ?? ok.consumerTag.description)
        default:
            break
        }
        var next: [AMQPFrame] = []
        if let queued = self.rpcs.first {
            self.rpcInFlight = true
            next.append(self.frame(queued.method))
        }
        return .succeedRPC(current.token, method, thenSend: next)
    }

    private mutating func sendConfirmed(_ publish: WaitingPublish) -> Result<[AMQPFrame], AMQPClientError> {
        do {
            let frames = try AMQPFrame.contentFrames(
                channel: self.channelID, method: .basic(.publish(publish.publish)),
                properties: publish.properties, body: publish.body, maxFrameSize: self.frameMax
            )
            self.outstanding.append(Outstanding(
                tag: self.nextPublishTag, token: publish.token, mandatory: publish.publish.mandatory,
                exchange: publish.publish.exchange, routingKey: publish.publish.routingKey, returned: nil
            ))
            self.nextPublishTag += 1
            return .success(frames)
        } catch {
            return .failure(AMQPClientError(code: .invalidState, message: "cannot encode the publish: \(error)"))
        }
    }

    private mutating func confirmsReceived(upTo tag: UInt64, multiple: Bool, nack: Bool) -> Action {
        guard self.isConfirmMode else {
            return .connectionError("basic.\(nack ? "nack" : "ack") on channel \(self.channelID), which is not in confirm mode")
        }
        var resolved: [PublishResolution] = []
        func result(_ entry: Outstanding) -> Result<Void, AMQPClientError> {
            if nack {
                return .failure(AMQPClientError(code: .publishNacked, message: "the broker rejected the message (basic.nack, delivery tag \(entry.tag))"))
            }
            if let returned = entry.returned {
                return .failure(returned)
            }
            return .success(())
        }
        if multiple {
            let count = self.outstanding.prefix { $0.tag <= tag }.count
            for entry in self.outstanding.prefix(count) {
                resolved.append(PublishResolution(token: entry.token, result: result(entry)))
            }
            self.outstanding.removeFirst(count)
        } else if let index = self.outstanding.firstIndex(where: { $0.tag == tag }) {
            let entry = self.outstanding.remove(at: index)
            resolved.append(PublishResolution(token: entry.token, result: result(entry)))
        }
        var send: [AMQPFrame] = []
        self.drainWaiting(into: &send, resolved: &resolved)
        if resolved.isEmpty && send.isEmpty { return .none }
        return .resolvePublishes(resolved, thenSend: send)
    }

    /// `channel.flow` from the broker: answer `flow-ok`; on resume send the
    /// publishes that waited (as far as the confirm window allows).
    private mutating func flowReceived(active: Bool) -> Action {
        self.isFlowActive = active
        var send = [self.frame(.channel(.flowOk(.init(active: active))))]
        var resolved: [PublishResolution] = []
        self.drainWaiting(into: &send, resolved: &resolved)
        if resolved.isEmpty { return .send(send) }
        return .resolvePublishes(resolved, thenSend: send)
    }

    /// Moves waiting publishes onto the wire while the channel is not
    /// paused and, in confirm mode, the in-flight window has room. Without
    /// confirms a publish is resolved as soon as its frames are written
    /// (the I/O layer writes `send` before resolving).
    private mutating func drainWaiting(into send: inout [AMQPFrame], resolved: inout [PublishResolution]) {
        while self.isFlowActive, let next = self.waiting.first {
            if self.isConfirmMode {
                guard self.outstanding.count < self.maxInFlight else { return }
                self.waiting.removeFirst()
                switch self.sendConfirmed(next) {
                case .success(let frames):
                    send.append(contentsOf: frames)
                case .failure(let error):
                    resolved.append(PublishResolution(token: next.token, result: .failure(error)))
                }
            } else {
                self.waiting.removeFirst()
                do {
                    send += try AMQPFrame.contentFrames(
                        channel: self.channelID, method: .basic(.publish(next.publish)),
                        properties: next.properties, body: next.body, maxFrameSize: self.frameMax
                    )
                    resolved.append(PublishResolution(token: next.token, result: .success(())))
                } catch {
                    resolved.append(PublishResolution(token: next.token, result: .failure(AMQPClientError(code: .invalidState, message: "cannot encode the publish: \(error)"))))
                }
            }
        }
    }

    /// `basic.return` carries no delivery tag. RabbitMQ sends it before the
    /// ack of the same message, so it belongs to the oldest unconfirmed,
    /// not yet returned mandatory publish to the same exchange and routing key.
    private mutating func returnReceived(_ ret: AMQPMethod.Basic.Return) -> Action {
        let text = ret.replyText.string ?? ret.replyText.description
        let error = AMQPClientError(
            code: .publishReturned,
            message: "the broker returned the mandatory message to exchange '\(ret.exchange.string ?? "")' with routing key '\(ret.routingKey.string ?? "")' (\(ret.replyCode) \(text))",
            replyCode: ret.replyCode,
            replyText: text
        )
        if let index = self.outstanding.firstIndex(where: {
            $0.mandatory && $0.returned == nil && $0.exchange == ret.exchange && $0.routingKey == ret.routingKey
        }) {
            self.outstanding[index].returned = error
        }
        return .none
    }

    private mutating func finish(_ error: AMQPClientError, sendCloseOk: Bool, failClose: Bool = false) -> Action {
        self.state = .failed(error)
        let rpcs = self.rpcs.map(\.token)
        let publishes = self.outstanding.map(\.token) + self.waiting.map(\.token)
        let consumers = Array(self.consumers)
        var closeOK = self.closeToken
        var rpcList = rpcs
        if failClose, let token = closeOK {
            rpcList.append(token)
            closeOK = nil
        }
        self.rpcs = []
        self.rpcInFlight = false
        self.outstanding = []
        self.waiting = []
        self.consumers = []
        self.closeToken = nil
        return .channelClosed(
            error,
            rpcs: rpcList,
            publishes: publishes,
            consumers: consumers,
            closeOK: closeOK,
            send: sendCloseOk ? [self.frame(.channel(.closeOk))] : []
        )
    }
}

extension AMQPChannelStateMachine: Sendable where RPCToken: Sendable, PublishToken: Sendable {}
extension AMQPChannelStateMachine.Action: Sendable where RPCToken: Sendable, PublishToken: Sendable {}
extension AMQPChannelStateMachine.PublishResolution: Sendable where PublishToken: Sendable {}
extension AMQPChannelStateMachine.QueuedRPC: Sendable where RPCToken: Sendable {}
extension AMQPChannelStateMachine.Outstanding: Sendable where PublishToken: Sendable {}
extension AMQPChannelStateMachine.WaitingPublish: Sendable where PublishToken: Sendable {}
