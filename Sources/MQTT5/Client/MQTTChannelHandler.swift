import NIOCore
import NIOSSL

/// Carries out the actions of ``MQTTConnectionStateMachine`` on a channel, routes incoming
/// messages to subscription buffers and pauses reading while one of them is full.
/// Event-loop bound: every method runs on the channel's event loop.
final class MQTTChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundIn = MQTTPacket
    typealias OutboundOut = MQTTPacket

    private struct RegisteredSubscription {
        var topicFilter: String
        var buffer: MQTTSubscriptionBuffer
    }

    private var stateMachine: MQTTConnectionStateMachine
    private let connectPromise: EventLoopPromise<MQTTConnectionInfo>
    private let connectDeadline: NIODeadline
    private let subscriptionBufferSize: Int
    private let authHook: (@Sendable (MQTTAuthPacket) -> MQTTAuthPacket?)?

    private var context: ChannelHandlerContext?
    private var nextToken: UInt64 = 0
    private var publishPromises: [UInt64: EventLoopPromise<MQTTReasonCode>] = [:]
    private var subscribePromises: [UInt64: (promise: EventLoopPromise<MQTTClientSubscription>, identifier: UInt32, filter: String)] = [:]
    private var unsubscribePromises: [UInt64: (promise: EventLoopPromise<Void>, identifiers: [UInt32])] = [:]
    private var subscriptions: [UInt32: RegisteredSubscription] = [:]
    private var nextSubscriptionIdentifier: UInt32 = 0
    /// Incoming publishes waiting for room in a subscription buffer (not yet acknowledged).
    private var parked: [MQTTPublishPacket] = []
    private var readPaused = false
    private var pendingRead = false
    private var keepAliveTask: Scheduled<Void>?
    private var connectTimeoutTask: Scheduled<Void>?
    private var closeError: MQTTClientError?

    init(
        settings: MQTTConnectSettings,
        connectPromise: EventLoopPromise<MQTTConnectionInfo>,
        connectDeadline: NIODeadline,
        subscriptionBufferSize: Int,
        authHook: (@Sendable (MQTTAuthPacket) -> MQTTAuthPacket?)?
    ) {
        self.stateMachine = MQTTConnectionStateMachine(settings: settings)
        self.connectPromise = connectPromise
        self.connectDeadline = connectDeadline
        self.subscriptionBufferSize = subscriptionBufferSize
        self.authHook = authHook
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard self.connectTimeoutTask == nil else { return }
        self.connectTimeoutTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: self.connectDeadline) {
            self.run(self.stateMachine.errorCaught(MQTTClientError(kind: .connectTimeout, message: "no CONNACK within the connect timeout")))
        }
        self.run(self.stateMachine.connectRequested())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.run(self.stateMachine.packetReceived(self.unwrapInboundIn(data)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let mapped: MQTTClientError
        switch error {
        case let error as MQTTClientError:
            mapped = error
        case let error as MQTTCodecError:
            mapped = MQTTClientError(kind: .protocolError, reasonCode: error.reasonCode, message: error.description)
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            mapped = MQTTClientError(kind: .tlsFailure, message: "TLS failure: \(error)")
        default:
            mapped = MQTTClientError(kind: .connectionClosed, message: "connection error: \(error)")
        }
        self.run(self.stateMachine.errorCaught(mapped))
        // Make sure the channel goes away even if the state machine had already closed.
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.run(self.stateMachine.channelInactive())
        if self.closeError == nil { self.closeError = self.stateMachine.closeError }
        self.keepAliveTask?.cancel()
        self.connectTimeoutTask?.cancel()
        let result: Result<Void, MQTTClientError> = self.closeError.map { .failure($0) } ?? .success(())
        for subscription in self.subscriptions.values { subscription.buffer.finish(result) }
        self.subscriptions = [:]
        self.parked = []
        // Nothing should remain; fail defensively so no caller can hang.
        let error = self.closeError ?? .closed()
        for promise in self.publishPromises.values { promise.fail(error) }
        for entry in self.subscribePromises.values { entry.promise.fail(error) }
        for entry in self.unsubscribePromises.values { entry.promise.fail(error) }
        self.publishPromises = [:]
        self.subscribePromises = [:]
        self.unsubscribePromises = [:]
        self.connectPromise.fail(error)  // no-op if already completed
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if self.readPaused {
            self.pendingRead = true
        } else {
            context.read()
        }
    }

    // MARK: Requests (on the event loop)

    func publish(_ packet: MQTTPublishPacket) -> EventLoopFuture<MQTTReasonCode> {
        let token = self.makeToken()
        let promise = self.connectPromise.futureResult.eventLoop.makePromise(of: MQTTReasonCode.self)
        self.publishPromises[token] = promise
        self.run(self.stateMachine.publishRequested(token: token, packet))
        return promise.futureResult
    }

    func subscribe(_ subscription: MQTTSubscription, properties: MQTTProperties) -> EventLoopFuture<MQTTClientSubscription> {
        let eventLoop = self.connectPromise.futureResult.eventLoop
        let token = self.makeToken()
        let promise = eventLoop.makePromise(of: MQTTClientSubscription.self)
        self.nextSubscriptionIdentifier += 1
        let identifier = self.nextSubscriptionIdentifier
        var properties = properties
        if self.stateMachine.connectionInfo?.connAckProperties.subscriptionIdentifierAvailable != false {
            properties.subscriptionIdentifiers = [identifier]
        }
        // Register before SUBSCRIBE goes out so that nothing sent right after SUBACK is lost.
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let buffer = MQTTSubscriptionBuffer(capacity: self.subscriptionBufferSize) {
            bound.eventLoop.execute { bound.value.drainParked() }
        }
        self.subscriptions[identifier] = RegisteredSubscription(topicFilter: subscription.topicFilter, buffer: buffer)
        self.subscribePromises[token] = (promise, identifier, subscription.topicFilter)
        self.run(self.stateMachine.subscribeRequested(token: token, subscriptions: [subscription], properties: properties))
        return promise.futureResult
    }

    func unsubscribe(identifiers: [UInt32], properties: MQTTProperties) -> EventLoopFuture<Void> {
        let filters = identifiers.compactMap { self.subscriptions[$0]?.topicFilter }
        guard !filters.isEmpty else { return self.connectPromise.futureResult.eventLoop.makeSucceededVoidFuture() }
        let token = self.makeToken()
        let promise = self.connectPromise.futureResult.eventLoop.makePromise(of: Void.self)
        self.unsubscribePromises[token] = (promise, identifiers)
        self.run(self.stateMachine.unsubscribeRequested(token: token, topicFilters: Array(Set(filters)).sorted(), properties: properties))
        return promise.futureResult
    }

    func subscriptionIdentifiers(matchingFilter filter: String) -> [UInt32] {
        self.subscriptions.filter { $0.value.topicFilter == filter }.keys.sorted()
    }

    func disconnect(reason: MQTTReasonCode, properties: MQTTProperties) {
        self.run(self.stateMachine.closeRequested(reason: reason, properties: properties))
    }

    // MARK: Internals

    private func makeToken() -> UInt64 {
        self.nextToken += 1
        return self.nextToken
    }

    private func run(_ actions: [MQTTConnectionStateMachine.Action]) {
        for action in actions { self.run(action) }
    }

    private func run(_ action: MQTTConnectionStateMachine.Action) {
        switch action {
        case .send(let packet):
            self.context?.writeAndFlush(self.wrapOutboundOut(packet), promise: nil)
        case .connected(let info):
            self.connectTimeoutTask?.cancel()
            self.scheduleKeepAlive(info)
            self.connectPromise.succeed(info)
        case .connectFailed(let error):
            self.connectTimeoutTask?.cancel()
            self.closeError = error
            self.connectPromise.fail(error)
        case .publishCompleted(let token, let result):
            self.publishPromises.removeValue(forKey: token)?.completeWith(result.mapError { $0 as any Error })
        case .subscribeCompleted(let token, let result):
            guard let entry = self.subscribePromises.removeValue(forKey: token) else { return }
            switch result {
            case .success(let suback):
                guard let registered = self.subscriptions[entry.identifier] else {
                    entry.promise.fail(self.closeError ?? .closed())
                    return
                }
                entry.promise.succeed(MQTTClientSubscription(
                    topicFilter: entry.filter,
                    subscriptionIdentifier: entry.identifier,
                    grantedReasonCode: suback.reasonCodes.first ?? .success,
                    buffer: registered.buffer
                ))
            case .failure(let error):
                self.subscriptions.removeValue(forKey: entry.identifier)?.buffer.finish(.failure(error))
                entry.promise.fail(error)
            }
        case .unsubscribeCompleted(let token, let result):
            guard let entry = self.unsubscribePromises.removeValue(forKey: token) else { return }
            switch result {
            case .success:
                for identifier in entry.identifiers {
                    self.subscriptions.removeValue(forKey: identifier)?.buffer.finish(.success(()))
                }
                entry.promise.succeed(())
                self.drainParked()  // parked messages may have been waiting for a removed buffer
            case .failure(let error):
                entry.promise.fail(error)
            }
        case .deliver(let publish):
            if self.parked.isEmpty && self.tryDeliver(publish) { return }
            self.parked.append(publish)
            self.readPaused = true
        case .authReceived(let auth):
            if let response = self.authHook?(auth) {
                self.run(self.stateMachine.authResponse(response))
            } else {
                self.run(self.stateMachine.errorCaught(MQTTClientError(kind: .protocolError, reasonCode: .badAuthenticationMethod, message: "AUTH received but no authentication hook answered")))
            }
        case .close(let error):
            if self.closeError == nil { self.closeError = error }
            self.keepAliveTask?.cancel()
            self.context?.close(promise: nil)
        }
    }

    /// Offers `publish` to every subscription it belongs to if all have room, then accepts
    /// (acknowledges) it. Returns false, delivering nothing, if one of them is full.
    private func tryDeliver(_ publish: MQTTPublishPacket) -> Bool {
        let targets = self.targets(of: publish)
        guard targets.allSatisfy({ $0.hasRoom() }) else { return false }
        let message = MQTTMessage(publish)
        for target in targets { _ = target.offer(message) }
        if publish.qos != .atMostOnce, let id = publish.packetIdentifier {
            self.run(self.stateMachine.incomingPublishAccepted(packetIdentifier: id))
        }
        return true
    }

    private func targets(of publish: MQTTPublishPacket) -> [MQTTSubscriptionBuffer] {
        let identifiers = publish.properties.subscriptionIdentifiers
        if !identifiers.isEmpty {
            return identifiers.compactMap { self.subscriptions[$0]?.buffer }
        }
        return self.subscriptions.values
            .filter { MQTTTopic.filter($0.topicFilter, matches: publish.topicName) }
            .map(\.buffer)
    }

    fileprivate func drainParked() {
        while let first = self.parked.first {
            guard self.tryDeliver(first) else { return }
            self.parked.removeFirst()
        }
        guard self.readPaused else { return }
        self.readPaused = false
        if self.pendingRead, let context = self.context {
            self.pendingRead = false
            context.read()
        }
    }

    private func scheduleKeepAlive(_ info: MQTTConnectionInfo) {
        guard info.keepAlive > 0, let context = self.context else { return }
        // Tick four times per keep-alive interval (at least every 100 ms, at most every 5 s).
        let interval = TimeAmount.milliseconds(min(max(Int64(info.keepAlive) * 250, 100), 5_000))
        self.keepAliveTask = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.run(self.stateMachine.keepAliveTick(now: .now))
            if self.stateMachine.isConnected { self.scheduleKeepAlive(info) }
        }
    }
}

extension MQTTTopic {
    /// Whether the Topic Name `topic` matches the Topic Filter `filter` (§4.7), including
    /// shared subscriptions (`$share/name/filter`) and the `$`-topic rule for wildcards.
    public static func filter(_ filter: String, matches topic: String) -> Bool {
        var filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        if isSharedSubscription(filter) {
            guard filterLevels.count >= 3 else { return false }
            filterLevels.removeFirst(2)
        }
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = filterLevels.first, first == "+" || first == "#" {
            return false
        }
        var index = 0
        while index < filterLevels.count {
            let level = filterLevels[index]
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+" && level != topicLevels[index] { return false }
            index += 1
        }
        return index == topicLevels.count
    }
}
