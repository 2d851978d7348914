import NIOConcurrencyHelpers
import NIOCore

/// Sendable source of request tokens, so that a request can be named (and cancelled) from any
/// thread before it reaches the event loop.
final class MQTTTokenGenerator: Sendable {
    private let counter = NIOLockedValueBox<UInt64>(0)

    func next() -> UInt64 {
        self.counter.withLockedValue { value in
            value += 1
            return value
        }
    }
}

/// The engine behind ``MQTTClient`` and ``MQTTSession``: drives an
/// ``MQTTConnectionStateMachine``, owns the subscription buffers (keyed by subscription
/// identifier), the parked incoming messages and the promises of pending requests.
///
/// It does not belong to a channel: each channel's ``MQTTChannelHandler`` attaches to it while
/// the channel lives. ``MQTTClient`` uses one channel and a state machine that ends with it;
/// ``MQTTSession`` attaches one channel after the other to the same core (state machine in
/// session mode), so buffers, pending requests and the session state survive reconnects.
///
/// Event-loop bound: every method runs on `eventLoop`.
final class MQTTConnectionCore {
    private struct RegisteredSubscription {
        var topicFilter: String
        var buffer: MQTTSubscriptionBuffer
        var acknowledgement: MQTTAcknowledgementMode = .onReceipt
    }

    /// An incoming message waiting for room in a subscription buffer.
    private struct Parked {
        var publish: MQTTPublishPacket
        /// Whether accepting it must acknowledge it; false once its connection's session is
        /// gone (the packet identifier may then name another message).
        var acknowledge: Bool
    }

    let eventLoop: any EventLoop
    let tokens = MQTTTokenGenerator()
    private(set) var stateMachine: MQTTConnectionStateMachine
    private let subscriptionBufferSize: Int
    private let authHook: (@Sendable (MQTTAuthPacket) -> MQTTAuthPacket?)?

    /// The handler of the channel currently attached, if any.
    private var handler: MQTTChannelHandler?
    private var keepAliveTask: Scheduled<Void>?
    private var connectTimeoutTask: Scheduled<Void>?

    private var publishPromises: [UInt64: EventLoopPromise<MQTTReasonCode>] = [:]
    private var subscribePromises: [UInt64: (promise: EventLoopPromise<MQTTClientSubscription>, identifier: UInt32, filter: String)] = [:]
    private var unsubscribePromises: [UInt64: (promise: EventLoopPromise<Void>, identifiers: [UInt32])] = [:]
    private var subscriptions: [UInt32: RegisteredSubscription] = [:]
    private var nextSubscriptionIdentifier: UInt32 = 0
    /// Incoming publishes waiting for room in a subscription buffer (not yet acknowledged).
    private var parked: [Parked] = []
    private var readPaused = false
    /// Counts sessions: a CONNACK without Session Present starts a new one, and packet
    /// identifiers of the old one name nothing any more.
    private var sessionEpoch: UInt64 = 0
    /// Everything is over: buffers finished, promises completed, `onFinished` called.
    private(set) var isFinished = false

    /// CONNACK success.
    var onConnected: ((MQTTConnectionInfo) -> Void)?
    /// A connection attempt failed (the connection is being closed).
    var onConnectFailed: ((MQTTClientError) -> Void)?
    /// Session mode: the connection is gone, the session kept; reconnect or ``endSession(_:)``.
    var onConnectionLost: ((MQTTClientError) -> Void)?
    /// The end: the state machine is closed and no channel is attached. The error is nil after
    /// a client-requested disconnect.
    var onFinished: ((MQTTClientError?) -> Void)?

    init(
        eventLoop: any EventLoop,
        settings: MQTTConnectSettings,
        keepsSessionAcrossConnections: Bool,
        resubscribesOnResume: Bool = false,
        subscriptionBufferSize: Int,
        authHook: (@Sendable (MQTTAuthPacket) -> MQTTAuthPacket?)?
    ) {
        self.eventLoop = eventLoop
        self.stateMachine = MQTTConnectionStateMachine(
            settings: settings, keepsSessionAcrossConnections: keepsSessionAcrossConnections, resubscribesOnResume: resubscribesOnResume)
        self.subscriptionBufferSize = subscriptionBufferSize
        self.authHook = authHook
    }

    // MARK: Channel attachment (called by MQTTChannelHandler)

    /// A new channel's handler. Refused (false) when the core is over or another channel is
    /// attached; the handler then closes its channel.
    func attach(_ handler: MQTTChannelHandler) -> Bool {
        guard !self.isFinished, !self.stateMachine.isClosed, self.handler == nil else { return false }
        self.handler = handler
        return true
    }

    /// The attached channel became active: send CONNECT, bounded by `connectDeadline`.
    func transportActive(_ handler: MQTTChannelHandler, connectDeadline: NIODeadline) {
        guard handler === self.handler else { return }
        self.connectTimeoutTask = self.eventLoop.assumeIsolated().scheduleTask(deadline: connectDeadline) {
            self.run(self.stateMachine.errorCaught(MQTTClientError(kind: .connectTimeout, message: "no CONNACK within the connect timeout")))
        }
        self.run(self.stateMachine.connectRequested())
    }

    func packetReceived(_ packet: MQTTPacket, from handler: MQTTChannelHandler) {
        guard handler === self.handler else { return }
        self.run(self.stateMachine.packetReceived(packet))
    }

    func errorCaught(_ error: MQTTClientError, from handler: MQTTChannelHandler) {
        guard handler === self.handler else { return }
        self.run(self.stateMachine.errorCaught(error))
    }

    /// The channel is gone (inactive or its handler removed).
    func detach(_ handler: MQTTChannelHandler) {
        guard handler === self.handler else { return }
        self.handler = nil
        self.keepAliveTask?.cancel()
        self.connectTimeoutTask?.cancel()
        if handler.isStarted {
            self.run(self.stateMachine.channelInactive())
        }
        self.finishIfClosed()
    }

    /// The transport of the attached (not yet active) channel could not be established.
    func transportFailed() {
        guard let handler = self.handler, !handler.isStarted else { return }
        self.handler = nil
        self.finishIfClosed()
    }

    /// Whether the handler must hold back socket reads: a subscription buffer is full. Only
    /// while connected, so that a slow consumer cannot keep a reconnect from seeing CONNACK.
    func holdsReads(for handler: MQTTChannelHandler) -> Bool {
        self.readPaused && self.stateMachine.isConnected && handler === self.handler
    }

    // MARK: Requests

    func publish(token: UInt64, _ packet: MQTTPublishPacket) -> EventLoopFuture<MQTTReasonCode> {
        let promise = self.eventLoop.makePromise(of: MQTTReasonCode.self)
        self.publishPromises[token] = promise
        self.run(self.stateMachine.publishRequested(token: token, packet))
        return promise.futureResult
    }

    func subscribe(
        token: UInt64, _ subscription: MQTTSubscription, properties: MQTTProperties, acknowledgement: MQTTAcknowledgementMode = .onReceipt
    ) -> EventLoopFuture<MQTTClientSubscription> {
        let promise = self.eventLoop.makePromise(of: MQTTClientSubscription.self)
        self.nextSubscriptionIdentifier += 1
        let identifier = self.nextSubscriptionIdentifier
        var properties = properties
        // The state machine drops it when the server has no Subscription Identifiers; messages
        // are then routed by topic filter.
        properties.subscriptionIdentifiers = [identifier]
        // Register before SUBSCRIBE goes out so that nothing sent right after SUBACK is lost.
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let buffer = MQTTSubscriptionBuffer(capacity: self.subscriptionBufferSize) {
            bound.eventLoop.execute { bound.value.drainParked() }
        }
        self.subscriptions[identifier] = RegisteredSubscription(topicFilter: subscription.topicFilter, buffer: buffer, acknowledgement: acknowledgement)
        self.subscribePromises[token] = (promise, identifier, subscription.topicFilter)
        self.run(self.stateMachine.subscribeRequested(token: token, subscriptions: [subscription], properties: properties))
        self.drainParked()  // messages of a resumed session that waited for their subscription
        return promise.futureResult
    }

    func unsubscribe(token: UInt64, identifiers: [UInt32], properties: MQTTProperties) -> EventLoopFuture<Void> {
        let filters = identifiers.compactMap { self.subscriptions[$0]?.topicFilter }
        guard !filters.isEmpty else { return self.eventLoop.makeSucceededVoidFuture() }
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.unsubscribePromises[token] = (promise, identifiers)
        self.run(self.stateMachine.unsubscribeRequested(token: token, topicFilters: Array(Set(filters)).sorted(), properties: properties))
        return promise.futureResult
    }

    func subscriptionIdentifiers(matchingFilter filter: String) -> [UInt32] {
        self.subscriptions.filter { $0.value.topicFilter == filter }.keys.sorted()
    }

    /// The requester stopped waiting: withdraws the request if it has not been sent yet.
    func cancel(token: UInt64) {
        self.run(self.stateMachine.cancelRequested(token: token))
    }

    /// Client-requested end (DISCONNECT when connected).
    func disconnect(reason: MQTTReasonCode, properties: MQTTProperties) {
        self.run(self.stateMachine.closeRequested(reason: reason, properties: properties))
    }

    /// Session mode: give up; everything pending fails with `error`.
    func endSession(_ error: MQTTClientError) {
        self.run(self.stateMachine.sessionEnded(error))
    }

    // MARK: Actions

    private func run(_ actions: [MQTTConnectionStateMachine.Action]) {
        for action in actions { self.run(action) }
        self.finishIfClosed()
    }

    private func run(_ action: MQTTConnectionStateMachine.Action) {
        switch action {
        case .send(let packet):
            self.handler?.write(packet)
        case .connected(let info):
            self.connectTimeoutTask?.cancel()
            self.scheduleKeepAlive(info)
            if !info.sessionPresent {
                // Parked messages of an earlier connection: the broker forgot them, and their
                // packet identifiers may be reused by new messages. Deliver, never acknowledge.
                for index in self.parked.indices { self.parked[index].acknowledge = false }
                self.sessionEpoch += 1
            }
            self.onConnected?(info)
        case .connectFailed(let error):
            self.connectTimeoutTask?.cancel()
            self.onConnectFailed?(error)
        case .connectionLost(let error):
            self.onConnectionLost?(error)
        case .publishCompleted(let token, let result):
            self.publishPromises.removeValue(forKey: token)?.completeWith(result.mapError { $0 as any Error })
        case .subscribeCompleted(let token, let result):
            guard let entry = self.subscribePromises.removeValue(forKey: token) else { return }
            switch result {
            case .success(let suback):
                guard let registered = self.subscriptions[entry.identifier] else {
                    entry.promise.fail(self.stateMachine.closeError ?? .closed())
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
                self.drainParked()
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
        case .resubscribeFailed(let packet, let error):
            let identifiers = Set(packet.properties.subscriptionIdentifiers)
            let filters = Set(packet.subscriptions.map(\.topicFilter))
            let lost = self.subscriptions.filter { identifier, registered in
                identifiers.isEmpty ? filters.contains(registered.topicFilter) : identifiers.contains(identifier)
            }
            for identifier in lost.keys.sorted() {
                self.subscriptions.removeValue(forKey: identifier)?.buffer.finish(.failure(error))
            }
            self.drainParked()
        case .deliver(let publish):
            let parked = Parked(publish: publish, acknowledge: true)
            if self.parked.isEmpty && self.tryDeliver(parked) { return }
            self.parked.append(parked)
            // Full buffers slow the broker down. Messages waiting for a first subscription (a
            // resumed session's queue, sent right after CONNACK) must not stop the SUBACK from
            // being read; the broker's in-flight window (our Receive Maximum) bounds them.
            if !self.subscriptions.isEmpty { self.readPaused = true }
        case .authReceived(let auth):
            if let response = self.authHook?(auth) {
                self.run(self.stateMachine.authResponse(response))
            } else {
                self.run(self.stateMachine.errorCaught(MQTTClientError(kind: .protocolError, reasonCode: .badAuthenticationMethod, message: "AUTH received but no authentication hook answered")))
            }
        case .close:
            self.keepAliveTask?.cancel()
            self.handler?.close()
        }
    }

    /// Completes everything once the state machine is closed and no channel is attached.
    private func finishIfClosed() {
        guard self.stateMachine.isClosed, self.handler == nil, !self.isFinished else { return }
        self.isFinished = true
        self.keepAliveTask?.cancel()
        self.connectTimeoutTask?.cancel()
        let closeError = self.stateMachine.closeError
        let result: Result<Void, MQTTClientError> = closeError.map { .failure($0) } ?? .success(())
        for subscription in self.subscriptions.values { subscription.buffer.finish(result) }
        self.subscriptions = [:]
        self.parked = []
        // The state machine failed everything pending; fail defensively so no caller can hang.
        let error = closeError ?? .closed()
        for promise in self.publishPromises.values { promise.fail(error) }
        for entry in self.subscribePromises.values { entry.promise.fail(error) }
        for entry in self.unsubscribePromises.values { entry.promise.fail(error) }
        self.publishPromises = [:]
        self.subscribePromises = [:]
        self.unsubscribePromises = [:]
        self.onFinished?(closeError)
    }

    /// Offers a message to every subscription it belongs to if all have room, then accepts
    /// (acknowledges) it. Returns false, delivering nothing, if one of them is full.
    /// A message for a single manually acknowledged subscription is acknowledged by its reader
    /// instead (``MQTTMessage/acknowledge()``).
    /// A QoS 1/2 message that arrives before any subscription exists (a resumed session's queue)
    /// waits, unacknowledged, for one.
    private func tryDeliver(_ parked: Parked) -> Bool {
        let publish = parked.publish
        if self.subscriptions.isEmpty && publish.qos != .atMostOnce && parked.acknowledge { return false }
        let targets = self.targets(of: publish)
        guard targets.allSatisfy({ $0.buffer.hasRoom() }) else { return false }
        var message = MQTTMessage(publish)
        let acknowledges = parked.acknowledge && publish.qos != .atMostOnce
        if acknowledges, let id = publish.packetIdentifier, targets.count == 1, targets[0].acknowledgement == .manual {
            let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
            let epoch = self.sessionEpoch
            message.acknowledger = MQTTAcknowledger {
                bound.eventLoop.execute { bound.value.acknowledgeManually(id, epoch: epoch) }
            }
            for target in targets { _ = target.buffer.offer(message) }
            return true
        }
        for target in targets { _ = target.buffer.offer(message) }
        if acknowledges, let id = publish.packetIdentifier {
            self.run(self.stateMachine.incomingPublishAccepted(packetIdentifier: id))
        }
        return true
    }

    private func acknowledgeManually(_ packetIdentifier: UInt16, epoch: UInt64) {
        guard epoch == self.sessionEpoch else { return }
        self.run(self.stateMachine.incomingPublishAccepted(packetIdentifier: packetIdentifier))
    }

    /// The subscriptions a message belongs to: by its Subscription Identifiers, else (a server
    /// without them, or identifiers of an earlier session's subscriptions) by topic filter.
    private func targets(of publish: MQTTPublishPacket) -> [RegisteredSubscription] {
        let byIdentifier = publish.properties.subscriptionIdentifiers.compactMap { self.subscriptions[$0] }
        if !byIdentifier.isEmpty { return byIdentifier }
        return self.subscriptions.values.filter { MQTTTopic.filter($0.topicFilter, matches: publish.topicName) }
    }

    fileprivate func drainParked() {
        while let first = self.parked.first {
            guard self.tryDeliver(first) else { return }
            self.parked.removeFirst()
        }
        guard self.readPaused else { return }
        self.readPaused = false
        self.handler?.resumeReading()
    }

    private func scheduleKeepAlive(_ info: MQTTConnectionInfo) {
        guard info.keepAlive > 0 else { return }
        // Tick four times per keep-alive interval (at least every 100 ms, at most every 5 s).
        let interval = TimeAmount.milliseconds(min(max(Int64(info.keepAlive) * 250, 100), 5_000))
        self.keepAliveTask = self.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.run(self.stateMachine.keepAliveTick(now: .now))
            if self.stateMachine.isConnected { self.scheduleKeepAlive(info) }
        }
    }
}
