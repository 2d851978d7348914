//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: a connection that outlives individual TCP
// connections (reconnect, topology replay, consumers that carry on).
//===----------------------------------------------------------------------===//

import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A connection to a broker that recovers when the TCP connection is lost.
///
/// When the connection ends unexpectedly (socket closed, missed
/// heartbeats, the broker closing it with 320 CONNECTION_FORCED on shutdown
/// or by an operator, 541), the session reconnects with exponential backoff
/// (``AMQPRecoveryPolicy``: at most `maximumAttempts` consecutive failed
/// reconnects, counted again from zero after a recovery), then replays what
/// its channels set up, in this order: open every channel, `basic.qos`,
/// `confirm.select`, exchange declares, queue declares (a server-named queue
/// gets a new name; the session keeps answering to the first one and maps it
/// for bindings, consumers, deletes and default-exchange publishes),
/// bindings, and consumers (same consumer tags). Only then do operations
/// resume.
///
/// Guarantees:
/// * A `publish` on a channel in confirm mode returns only after the broker
///   confirmed it. A publish whose confirm had not arrived when the
///   connection was lost is published again after the recovery: messages
///   may be duplicated, never lost once confirmed. (Without confirm mode a
///   publish returns when written and can be lost with the connection.)
/// * Operations requested while the session recovers wait for it; if it
///   gives up they fail with ``closeError`` (the last attempt's error), and
///   consumers throw it. A cancelled waiting task gets
///   ``AMQPClientError/Code/closed``.
/// * A consumer's sequence (``AMQPSessionConsumer``) continues across
///   recoveries; the reader only sees a pause. Deliveries carry the
///   connection ``AMQPDelivery/generation``; acknowledging a delivery of an
///   earlier connection does nothing (the broker requeued it and delivers it
///   again with `redelivered` set).
/// * A channel the broker closes with a channel-level error (404, 406, ...)
///   is not recovered: its pending operations and consumers fail with that
///   error, as on ``AMQPChannel``. A replayed declaration the broker refuses
///   that way fails the channel it was made on and is dropped.
/// * Refused credentials (403), an unknown virtual host (530) and protocol
///   errors are not retried, neither on the first connect nor later.
///
/// Design: the decisions live in two values without I/O,
/// `AMQPRecoveryStateMachine` (connecting / replaying / connected / closed,
/// attempts, backoff, what to retry) and `AMQPTopology` (what was declared,
/// the replay plan, queue renames). The session records an operation in the
/// topology only if its connection is still the current one when the
/// broker's answer arrives; otherwise it runs the operation again after the
/// recovery, so the replay never misses it. Each connection is a plain
/// ``AMQPConnection``; a consumer on it feeds the session's stream through a
/// small task per connection.
public final class AMQPSession: Sendable {
    typealias Waiter = CheckedContinuation<Result<Void, AMQPClientError>, Never>
    typealias DeliveryContinuation = AsyncThrowingStream<AMQPDelivery, any Error>.Continuation

    struct ConsumerKey: Hashable, Sendable {
        var channel: Int
        var tag: String
    }

    struct ConsumerEntry: Sendable {
        var continuation: DeliveryContinuation
        /// The connection its current wire consumer runs on.
        var generation: UInt64 = 0
        var pump: Task<Void, Never>?
    }

    enum ChannelStatus: Sendable {
        case open
        case failed(AMQPClientError)
        case closed
    }

    struct State: Sendable {
        var machine: AMQPRecoveryStateMachine
        var topology = AMQPTopology()
        /// The connection of `machine.generation`.
        var connection: AMQPConnection?
        /// Session channel → its channel on `connection`.
        var wireChannels: [Int: AMQPChannel] = [:]
        var channels: [Int: ChannelStatus] = [:]
        /// By session channel and consumer tag.
        var consumers = ChannelRecords<String, ConsumerEntry>()
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0
        var nextChannelID = 0
        var nextConsumerTag = 0
        var recoveryTask: Task<Void, Never>?
    }

    let configuration: AMQPConnectionConfiguration
    let eventLoopGroup: any EventLoopGroup
    private let state: NIOLockedValueBox<State>

    private init(configuration: AMQPConnectionConfiguration, policy: AMQPRecoveryPolicy, eventLoopGroup: any EventLoopGroup) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.state = NIOLockedValueBox(State(machine: AMQPRecoveryStateMachine(policy: policy)))
    }

    /// Connects; a failed first connect is retried like a reconnect
    /// (transport errors only: refused credentials or virtual host fail at once).
    public static func connect(
        configuration: AMQPConnectionConfiguration,
        recovery: AMQPRecoveryPolicy = AMQPRecoveryPolicy(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(AMQPClientError) -> AMQPSession {
        let session = AMQPSession(configuration: configuration, policy: recovery, eventLoopGroup: eventLoopGroup)
        if let error = await session.connectLoop(after: nil) {
            throw error
        }
        return session
    }

    /// The policy the session recovers with.
    public var recoveryPolicy: AMQPRecoveryPolicy { self.state.withLockedValue { $0.machine.policy } }

    /// Why the session gave up recovering (the last error), once it has;
    /// nil while it runs and after ``close()``.
    public var closeError: AMQPClientError? { self.state.withLockedValue { $0.machine.giveUpError } }

    /// Whether a connection is up and ready (not recovering, not closed).
    public var isConnected: Bool { self.state.withLockedValue { $0.machine.isConnected } }

    /// How many times the session recovered from a lost connection.
    public var recoveryCount: Int { self.state.withLockedValue { $0.machine.recoveryCount } }

    /// Opens a channel (waits while the session recovers).
    public func openChannel() async throws(AMQPClientError) -> AMQPSessionChannel {
        let id = self.state.withLockedValue { state -> Int in
            state.nextChannelID += 1
            return state.nextChannelID
        }
        var newerThan: UInt64 = 0
        while true {
            let (connection, generation) = try await self.currentConnection(newerThan: newerThan)
            let wire: AMQPChannel
            do {
                wire = try await connection.openChannel()
            } catch {
                guard connection.closeError != nil else { throw error }
                newerThan = generation
                continue
            }
            let committed = self.state.withLockedValue { state -> Bool in
                guard state.machine.state == .connected(generation: generation) else { return false }
                state.channels[id] = .open
                state.topology.channelOpened(id)
                state.wireChannels[id] = wire
                return true
            }
            if committed {
                return AMQPSessionChannel(session: self, id: id)
            }
            newerThan = generation
        }
    }

    /// Closes the session for good: pending operations fail with
    /// ``AMQPClientError/Code/closed``, consumers throw it, no reconnect follows.
    public func close() async {
        let taken = self.state.withLockedValue { state -> (AMQPConnection?, Task<Void, Never>?, [Waiter], [DeliveryContinuation])? in
            guard state.machine.closeRequested() else { return nil }
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            let consumers = state.consumers.all.map(\.continuation)
            state.consumers.removeAll()
            state.wireChannels = [:]
            let connection = state.connection
            state.connection = nil
            let task = state.recoveryTask
            state.recoveryTask = nil
            return (connection, task, waiters, consumers)
        }
        guard let (connection, task, waiters, consumers) = taken else { return }
        task?.cancel()
        let error = AMQPClientError(code: .closed, message: "the session was closed")
        for waiter in waiters { waiter.resume(returning: .failure(error)) }
        for consumer in consumers { consumer.finish(throwing: error) }
        await connection?.close()
    }

    // MARK: Connecting and recovering

    /// Connects (after `delay`) until connected and replayed, or until the
    /// policy gives up. Returns nil when connected, else the final error.
    private func connectLoop(after initialDelay: Duration?) async -> AMQPClientError? {
        var delay = initialDelay
        while true {
            if let wait = delay, wait > .zero {
                try? await Task.sleep(for: wait)
            }
            if Task.isCancelled {
                // A cancelled first connect (close() also cancels a recovery).
                _ = self.state.withLockedValue { $0.machine.closeRequested() }
                return AMQPClientError(code: .closed, message: "cancelled while connecting")
            }
            if let closed = self.closedError() {
                return closed
            }
            let next: AMQPRecoveryStateMachine.Next
            do {
                let connection = try await AMQPConnection.connect(self.configuration, eventLoopGroup: self.eventLoopGroup)
                next = await self.established(connection)
            } catch {
                next = self.state.withLockedValue { $0.machine.attemptFailed(error) }
            }
            switch next {
            case .reconnect(let wait):
                delay = wait
            case .giveUp(let error):
                self.gaveUp(error)
                return error
            case .none:
                return self.closedError()
            }
        }
    }

    /// A new connection: replay the topology on it, then let operations run.
    private func established(_ connection: AMQPConnection) async -> AMQPRecoveryStateMachine.Next {
        let generation = self.state.withLockedValue { state -> UInt64? in
            guard let generation = state.machine.connectionEstablished() else { return nil }
            state.connection = connection
            state.wireChannels = [:]
            return generation
        }
        guard let generation else {
            // Closed meanwhile.
            await connection.close()
            return .none
        }
        connection.channel.closeFuture.whenComplete { [weak self] _ in
            self?.connectionClosed(connection, generation: generation)
        }
        do {
            try await self.replay(on: connection, generation: generation)
        } catch {
            let next = self.state.withLockedValue { $0.machine.attemptFailed(error) }
            connection.channel.close(promise: nil)
            return next
        }
        let (next, waiters) = self.state.withLockedValue { state -> (AMQPRecoveryStateMachine.Next, [Waiter]) in
            let next = state.machine.replayFinished(generation: generation)
            guard state.machine.isConnected else { return (next, []) }
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            return (next, waiters)
        }
        for waiter in waiters { waiter.resume(returning: .success(())) }
        if case .reconnect = next {
            connection.channel.close(promise: nil)
        }
        return next
    }

    /// The close future of connection `generation` fired.
    private func connectionClosed(_ connection: AMQPConnection, generation: UInt64) {
        let error = connection.closeError ?? AMQPClientError(code: .connectionLost, message: "the connection to the broker was lost")
        var finished: [(DeliveryContinuation, AMQPClientError?)] = []
        let next = self.state.withLockedValue { state -> AMQPRecoveryStateMachine.Next in
            if state.machine.generation == generation {
                // Channels the broker had closed stay failed: not recovered.
                for (id, wire) in state.wireChannels {
                    if let channelError = connection.channelError(wire.id) {
                        finished += Self.failChannel(&state, id, channelError)
                    }
                }
            }
            let next = state.machine.connectionLost(generation: generation, error: error)
            if case .reconnect(let delay) = next {
                state.wireChannels = [:]
                state.recoveryTask = Task { [weak self] in
                    _ = await self?.connectLoop(after: delay)
                }
            }
            return next
        }
        Self.finish(finished)
        if case .giveUp(let error) = next {
            self.gaveUp(error)
        }
    }

    /// The session gave up: everything pending fails with `error`.
    private func gaveUp(_ error: AMQPClientError) {
        let (waiters, consumers, connection) = self.state.withLockedValue { state -> ([Waiter], [DeliveryContinuation], AMQPConnection?) in
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            let consumers = state.consumers.all.map(\.continuation)
            state.consumers.removeAll()
            state.wireChannels = [:]
            state.recoveryTask = nil
            let connection = state.connection
            state.connection = nil
            return (waiters, consumers, connection)
        }
        for waiter in waiters { waiter.resume(returning: .failure(error)) }
        for consumer in consumers { consumer.finish(throwing: error) }
        connection?.channel.close(promise: nil)
    }

    private func closedError() -> AMQPClientError? {
        self.state.withLockedValue { state in
            if case .closed(let error) = state.machine.state { return error }
            return nil
        }
    }

    /// Replays the topology on a new connection. Throws (abandoning the
    /// connection) on connection-level failures; a step the broker refuses
    /// with a channel-level error fails that channel and is dropped.
    private func replay(on connection: AMQPConnection, generation: UInt64) async throws(AMQPClientError) {
        let plan = self.state.withLockedValue { $0.topology.replayPlan() }
        var spare: AMQPChannel?
        for planned in plan {
            let step = self.state.withLockedValue { $0.topology.resolved(planned) }
            switch step {
            case .openChannel(let id):
                guard self.isOpen(id) else { continue }
                let wire = try await connection.openChannel()
                let kept = self.state.withLockedValue { state -> Bool in
                    guard case .open? = state.channels[id], state.machine.generation == generation else { return false }
                    state.wireChannels[id] = wire
                    return true
                }
                if !kept {
                    try? await wire.close()
                }
            case .qos(let id, let prefetch, let global):
                guard let wire = self.replayChannel(id) else { continue }
                _ = try await self.runReplayed(planned, on: wire, sessionChannel: id) { wire throws(AMQPClientError) in
                    try await wire.basicQos(prefetch: prefetch, global: global)
                }
            case .confirmSelect(let id):
                guard let wire = self.replayChannel(id) else { continue }
                _ = try await self.runReplayed(planned, on: wire, sessionChannel: id) { wire throws(AMQPClientError) in
                    try await wire.confirmSelect()
                }
            case .declareExchange(let owner, let declare):
                let (wire, sessionChannel) = try await self.declarationChannel(owner, spare: &spare, connection: connection)
                let done = try await self.runReplayed(planned, on: wire, sessionChannel: sessionChannel) { wire throws(AMQPClientError) in
                    try await wire.rpc(.exchange(.declare(declare)))
                }
                if done == nil && sessionChannel == nil { spare = nil }
            case .declareQueue(let owner, let name, let declare):
                let (wire, sessionChannel) = try await self.declarationChannel(owner, spare: &spare, connection: connection)
                let response = try await self.runReplayed(planned, on: wire, sessionChannel: sessionChannel) { wire throws(AMQPClientError) in
                    try await wire.rpc(.queue(.declare(declare)))
                }
                if case .queue(.declareOk(let ok))? = response {
                    let brokerName = ok.queue.string ?? ok.queue.description
                    self.state.withLockedValue { $0.topology.queueRedeclared(name, as: brokerName) }
                } else if response == nil && sessionChannel == nil {
                    spare = nil
                }
            case .bind(let owner, let bind):
                let (wire, sessionChannel) = try await self.declarationChannel(owner, spare: &spare, connection: connection)
                let done = try await self.runReplayed(planned, on: wire, sessionChannel: sessionChannel) { wire throws(AMQPClientError) in
                    try await wire.rpc(.queue(.bind(bind)))
                }
                if done == nil && sessionChannel == nil { spare = nil }
            case .consume(let id, let consume):
                let tag = consume.consumerTag.string ?? consume.consumerTag.description
                let key = ConsumerKey(channel: id, tag: tag)
                guard let wire = self.replayChannel(id), self.state.withLockedValue({ $0.consumers[channel: key.channel, key: key.tag] != nil }) else { continue }
                let wireConsumer = try await self.runReplayed(planned, on: wire, sessionChannel: id) { wire throws(AMQPClientError) in
                    try await wire.consume(
                        queue: consume.queue.string ?? consume.queue.description, consumerTag: tag,
                        noAck: consume.noAck, exclusive: consume.exclusive, arguments: consume.arguments
                    )
                }
                guard let wireConsumer else { continue }
                let started = self.state.withLockedValue { state in
                    self.startPump(&state, key: key, wireConsumer: wireConsumer, generation: generation, connection: connection)
                }
                if !started {
                    // The reader went away during the replay.
                    try? await wire.cancel(consumerTag: tag)
                }
            }
        }
        if let spare {
            try? await spare.close()
        }
    }

    private func isOpen(_ id: Int) -> Bool {
        self.state.withLockedValue { state in
            if case .open? = state.channels[id] { return true }
            return false
        }
    }

    /// The wire channel of an open session channel during the replay.
    private func replayChannel(_ id: Int) -> AMQPChannel? {
        self.state.withLockedValue { state in
            guard case .open? = state.channels[id] else { return nil }
            return state.wireChannels[id]
        }
    }

    /// Declarations run on the channel that made them if it is still open,
    /// else on a spare channel of the new connection.
    private func declarationChannel(
        _ owner: Int,
        spare: inout AMQPChannel?,
        connection: AMQPConnection
    ) async throws(AMQPClientError) -> (AMQPChannel, Int?) {
        if let wire = self.replayChannel(owner) {
            return (wire, owner)
        }
        if let spare {
            return (spare, nil)
        }
        let opened = try await connection.openChannel()
        spare = opened
        return (opened, nil)
    }

    /// Runs one replayed step; nil when the broker refused it with a
    /// channel-level error (the step is dropped, its channel failed).
    private func runReplayed<T: Sendable>(
        _ planned: AMQPTopology.Step,
        on wire: AMQPChannel,
        sessionChannel: Int?,
        _ body: (AMQPChannel) async throws(AMQPClientError) -> T
    ) async throws(AMQPClientError) -> T? {
        do {
            return try await body(wire)
        } catch {
            switch AMQPRecoveryStateMachine.replayStepFailed(error) {
            case .abandonConnection:
                throw error
            case .failChannel:
                let finished = self.state.withLockedValue { state -> [(DeliveryContinuation, AMQPClientError?)] in
                    state.topology.replayStepRefused(planned)
                    guard let id = sessionChannel else { return [] }
                    return Self.failChannel(&state, id, error)
                }
                Self.finish(finished)
                return nil
            }
        }
    }

    // MARK: Operations

    /// Waits until the session is connected on a generation newer than
    /// `newerThan`; returns that connection.
    private func currentConnection(newerThan: UInt64) async throws(AMQPClientError) -> (AMQPConnection, UInt64) {
        while true {
            let ready = self.state.withLockedValue { state -> Result<(AMQPConnection, UInt64), AMQPClientError>? in
                switch state.machine.admission(newerThan: newerThan) {
                case .proceed(let generation):
                    guard let connection = state.connection else {
                        return .failure(AMQPClientError(code: .invalidState, message: "the session has no connection"))
                    }
                    return .success((connection, generation))
                case .fail(let error):
                    return .failure(error)
                case .wait:
                    return nil
                }
            }
            if let ready { return try ready.get() }
            try await self.waitForRecovery(newerThan: newerThan)
        }
    }

    /// Waits until session channel `id` can run an operation on a
    /// connection newer than `newerThan`.
    private func wireChannel(_ id: Int, newerThan: UInt64) async throws(AMQPClientError) -> (AMQPChannel, UInt64, AMQPConnection) {
        while true {
            let ready = self.state.withLockedValue { state -> Result<(AMQPChannel, UInt64, AMQPConnection), AMQPClientError>? in
                if let failure = Self.channelUnusable(state, id) {
                    return .failure(failure)
                }
                switch state.machine.admission(newerThan: newerThan) {
                case .proceed(let generation):
                    guard let wire = state.wireChannels[id], let connection = state.connection else {
                        return .failure(AMQPClientError(code: .invalidState, message: "session channel \(id) has no channel on the connection"))
                    }
                    return .success((wire, generation, connection))
                case .fail(let error):
                    return .failure(error)
                case .wait:
                    return nil
                }
            }
            if let ready { return try ready.get() }
            try await self.waitForRecovery(newerThan: newerThan)
        }
    }

    private static func channelUnusable(_ state: State, _ id: Int) -> AMQPClientError? {
        switch state.channels[id] {
        case .open?:
            return nil
        case .failed(let error)?:
            return error
        case .closed?, nil:
            return AMQPClientError(code: .invalidState, message: "session channel \(id) is closed")
        }
    }

    /// Suspends until the admission for `newerThan` is no longer "wait"
    /// (connected again, or given up / closed), or the task is cancelled.
    private func waitForRecovery(newerThan: UInt64) async throws(AMQPClientError) {
        let id = self.state.withLockedValue { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let cancelled = AMQPClientError(code: .closed, message: "cancelled while waiting for the connection to recover")
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Waiter) in
                let immediate = self.state.withLockedValue { state -> Result<Void, AMQPClientError>? in
                    if Task.isCancelled { return .failure(cancelled) }
                    switch state.machine.admission(newerThan: newerThan) {
                    case .proceed: return .success(())
                    case .fail(let error): return .failure(error)
                    case .wait:
                        state.waiters[id] = continuation
                        return nil
                    }
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                }
            }
        } onCancel: {
            let waiter = self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: .failure(cancelled))
        }
        try result.get()
    }

    /// Runs `body` on the channel's current wire channel. If the connection
    /// is lost before the broker answered, waits for the recovery and runs
    /// it again. `commit` records the result in the session state; it runs
    /// only while the operation's connection is still the current one, so a
    /// replay cannot miss it (otherwise the operation runs again).
    func perform<T: Sendable>(
        channel id: Int,
        _ body: (AMQPChannel) async throws(AMQPClientError) -> T,
        commit: (inout State, T, UInt64, AMQPConnection) -> Void
    ) async throws(AMQPClientError) -> T {
        var newerThan: UInt64 = 0
        while true {
            let (wire, generation, connection) = try await self.wireChannel(id, newerThan: newerThan)
            let value: T
            do {
                value = try await body(wire)
            } catch {
                try self.operationFailed(error, channel: id, connection: connection)
                newerThan = generation
                continue
            }
            let committed = self.state.withLockedValue { state -> Bool in
                guard state.machine.state == .connected(generation: generation) else { return false }
                commit(&state, value, generation, connection)
                return true
            }
            if committed {
                return value
            }
            newerThan = generation
        }
    }

    /// `perform` for a publish: nothing to record, and a confirmed publish
    /// is never sent again.
    func publish(channel id: Int, _ body: (AMQPChannel) async throws(AMQPClientError) -> Void) async throws(AMQPClientError) {
        var newerThan: UInt64 = 0
        while true {
            let (wire, generation, connection) = try await self.wireChannel(id, newerThan: newerThan)
            do {
                try await body(wire)
                return
            } catch {
                try self.operationFailed(error, channel: id, connection: connection)
                newerThan = generation
            }
        }
    }

    /// Returns if the operation should run again after the recovery;
    /// throws the error otherwise.
    private func operationFailed(_ error: AMQPClientError, channel id: Int, connection: AMQPConnection) throws(AMQPClientError) {
        switch AMQPRecoveryStateMachine.operationFailed(error, connectionDead: connection.closeError != nil) {
        case .retryAfterRecovery:
            return
        case .failChannel:
            self.failChannel(id, error)
            throw error
        case .fail:
            throw error
        }
    }

    /// basic.ack / nack / reject of `delivery`: sent only on the connection
    /// the delivery came on; otherwise (and if that connection is lost
    /// meanwhile) nothing happens, the broker redelivers it.
    func acknowledge(channel id: Int, _ delivery: AMQPDelivery, _ body: (AMQPChannel) async throws(AMQPClientError) -> Void) async throws(AMQPClientError) {
        let target = self.state.withLockedValue { state -> Result<(AMQPChannel, AMQPConnection)?, AMQPClientError> in
            if let failure = Self.channelUnusable(state, id) {
                return .failure(failure)
            }
            guard state.machine.shouldAcknowledge(deliveryGeneration: delivery.generation),
                let wire = state.wireChannels[id], let connection = state.connection
            else { return .success(nil) }
            return .success((wire, connection))
        }
        guard let (wire, connection) = try target.get() else { return }
        do {
            try await body(wire)
        } catch {
            try self.operationFailed(error, channel: id, connection: connection)
        }
    }

    func brokerQueueName(_ name: String) -> String {
        self.state.withLockedValue { $0.topology.brokerName(ofQueue: name) }
    }

    func makeConsumerTag(channel id: Int) -> String {
        let number = self.state.withLockedValue { state -> Int in
            state.nextConsumerTag += 1
            return state.nextConsumerTag
        }
        return "sluice-session-\(id)-\(number)"
    }

    func hasConsumer(_ key: ConsumerKey) -> Bool {
        self.state.withLockedValue { $0.consumers[channel: key.channel, key: key.tag] != nil }
    }

    func closeChannel(_ id: Int) async {
        let (wire, consumers) = self.state.withLockedValue { state -> (AMQPChannel?, [DeliveryContinuation]) in
            guard case .open? = state.channels[id] else { return (nil, []) }
            state.channels[id] = .closed
            state.topology.channelRemoved(id)
            let consumers = state.consumers.removeChannel(id).map(\.continuation)
            return (state.wireChannels.removeValue(forKey: id), consumers)
        }
        for consumer in consumers { consumer.finish() }
        try? await wire?.close()
    }

    func consumerCancelled(_ key: ConsumerKey) {
        let entry = self.state.withLockedValue { state -> ConsumerEntry? in
            state.topology.consumerRemoved(channel: key.channel, tag: key.tag)
            return state.consumers.remove(channel: key.channel, key: key.tag)
        }
        entry?.continuation.finish()
    }

    // MARK: Consumers

    /// Feeds the deliveries of a wire consumer of connection `generation`
    /// into the session consumer's stream. Call with the state locked.
    func startPump(_ state: inout State, key: ConsumerKey, wireConsumer: AMQPConsumer, generation: UInt64, connection: AMQPConnection) -> Bool {
        guard var entry = state.consumers[channel: key.channel, key: key.tag] else { return false }
        let continuation = entry.continuation
        entry.generation = generation
        entry.pump = Task { [weak self] in
            var failure: (any Error)?
            do {
                for try await delivery in wireConsumer {
                    var delivery = delivery
                    delivery.generation = generation
                    continuation.yield(delivery)
                }
            } catch {
                failure = error
            }
            self?.pumpEnded(key, generation: generation, error: failure, connection: connection)
        }
        state.consumers.record(entry, channel: key.channel, key: key.tag)
        return true
    }

    /// A wire consumer ended: normally (our cancel or channel close: the
    /// sequence ends), by the broker (cancel, channel close: the sequence
    /// throws), or with its connection (the recovery or the give-up decides).
    private func pumpEnded(_ key: ConsumerKey, generation: UInt64, error: (any Error)?, connection: AMQPConnection) {
        let finished = self.state.withLockedValue { state -> [(DeliveryContinuation, AMQPClientError?)] in
            guard let entry = state.consumers[channel: key.channel, key: key.tag], entry.generation == generation else { return [] }
            guard let error else {
                state.consumers.remove(channel: key.channel, key: key.tag)
                state.topology.consumerRemoved(channel: key.channel, tag: key.tag)
                return [(entry.continuation, nil)]
            }
            let clientError = AMQPClientError.wrap(error)
            switch AMQPRecoveryStateMachine.operationFailed(clientError, connectionDead: connection.closeError != nil) {
            case .retryAfterRecovery:
                return []
            case .failChannel:
                return Self.failChannel(&state, key.channel, clientError)
            case .fail:
                state.consumers.remove(channel: key.channel, key: key.tag)
                state.topology.consumerRemoved(channel: key.channel, tag: key.tag)
                return [(entry.continuation, clientError)]
            }
        }
        Self.finish(finished)
    }

    /// The reader stopped iterating: forget the consumer and cancel it.
    func consumerDropped(_ key: ConsumerKey) {
        let pump = self.state.withLockedValue { state -> Task<Void, Never>? in
            state.topology.consumerRemoved(channel: key.channel, tag: key.tag)
            return state.consumers.remove(channel: key.channel, key: key.tag)?.pump
        }
        // Ending the pump drops the wire consumer, which sends basic.cancel.
        pump?.cancel()
    }

    private func failChannel(_ id: Int, _ error: AMQPClientError) {
        let finished = self.state.withLockedValue { Self.failChannel(&$0, id, error) }
        Self.finish(finished)
    }

    /// Marks an open session channel failed for good; returns its
    /// consumers' streams to finish with the error.
    private static func failChannel(_ state: inout State, _ id: Int, _ error: AMQPClientError) -> [(DeliveryContinuation, AMQPClientError?)] {
        guard case .open? = state.channels[id] else { return [] }
        state.channels[id] = .failed(error)
        state.topology.channelRemoved(id)
        state.wireChannels[id] = nil
        return state.consumers.removeChannel(id).map { ($0.continuation, error) }
    }

    private static func finish(_ continuations: [(DeliveryContinuation, AMQPClientError?)]) {
        for (continuation, error) in continuations {
            if let error {
                continuation.finish(throwing: error)
            } else {
                continuation.finish()
            }
        }
    }
}

/// A channel of an ``AMQPSession``: the operations of ``AMQPChannel``,
/// recorded and set up again on every new connection. Operations on a
/// channel whose connection is being recovered wait for the recovery;
/// declarations and binds that were in flight when the connection was lost
/// run again on the new one.
public final class AMQPSessionChannel: Sendable {
    public let session: AMQPSession
    /// The session's number for the channel (stable across recoveries; the
    /// channel id on the wire may change).
    public let id: Int

    init(session: AMQPSession, id: Int) {
        self.session = session
        self.id = id
    }

    /// `exchange.declare` (recorded unless passive).
    public func exchangeDeclare(
        _ name: String,
        type: String = "direct",
        durable: Bool = false,
        autoDelete: Bool = false,
        internal: Bool = false,
        passive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws(AMQPClientError) {
        let declare = AMQPMethod.Exchange.Declare(
            exchange: AMQPShortString(name), type: AMQPShortString(type), passive: passive,
            durable: durable, autoDelete: autoDelete, internal: `internal`, arguments: arguments
        )
        let id = self.id
        _ = try await self.session.perform(channel: id) { wire throws(AMQPClientError) in
            try await wire.rpc(.exchange(.declare(declare)))
        } commit: { state, _, _, _ in
            state.topology.exchangeDeclared(declare, channel: id)
        }
    }

    /// `exchange.delete` (forgets the exchange and its bindings).
    public func exchangeDelete(_ name: String, ifUnused: Bool = false) async throws(AMQPClientError) {
        _ = try await self.session.perform(channel: self.id) { wire throws(AMQPClientError) in
            try await wire.exchangeDelete(name, ifUnused: ifUnused)
        } commit: { state, _, _, _ in
            state.topology.exchangeDeleted(name)
        }
    }

    /// `queue.declare` (recorded unless passive); an empty name lets the
    /// broker pick one, which the session keeps answering to after a
    /// recovery renames the queue.
    @discardableResult
    public func queueDeclare(
        _ name: String = "",
        durable: Bool = false,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        passive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws(AMQPClientError) -> AMQPQueueDeclareResult {
        let id = self.id
        let session = self.session
        let declare = AMQPMethod.Queue.Declare(
            queue: AMQPShortString(name), passive: passive, durable: durable,
            exclusive: exclusive, autoDelete: autoDelete, arguments: arguments
        )
        var result = try await session.perform(channel: id) { wire throws(AMQPClientError) -> AMQPQueueDeclareResult in
            var sent = declare
            if !name.isEmpty {
                sent.queue = AMQPShortString(session.brokerQueueName(name))
            }
            let response = try await wire.rpc(.queue(.declare(sent)))
            guard case .queue(.declareOk(let ok)) = response else {
                throw AMQPClientError(code: .protocolError, message: "unexpected \(response.name)")
            }
            return AMQPQueueDeclareResult(queue: ok.queue.string ?? "", messageCount: ok.messageCount, consumerCount: ok.consumerCount)
        } commit: { state, result, _, _ in
            state.topology.queueDeclared(declare, name: name.isEmpty ? result.queue : name, channel: id)
        }
        if !name.isEmpty {
            result.queue = name
        }
        return result
    }

    /// `queue.bind` (recorded).
    public func queueBind(queue: String, exchange: String, routingKey: String = "", arguments: AMQPFieldTable = [:]) async throws(AMQPClientError) {
        let id = self.id
        let session = self.session
        _ = try await session.perform(channel: id) { wire throws(AMQPClientError) in
            try await wire.queueBind(queue: session.brokerQueueName(queue), exchange: exchange, routingKey: routingKey, arguments: arguments)
        } commit: { state, _, _, _ in
            state.topology.queueBound(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments, channel: id)
        }
    }

    /// `queue.delete` (forgets the queue, its bindings and consumers);
    /// returns the number of messages deleted.
    @discardableResult
    public func queueDelete(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws(AMQPClientError) -> UInt32 {
        let session = self.session
        return try await session.perform(channel: self.id) { wire throws(AMQPClientError) in
            try await wire.queueDelete(session.brokerQueueName(name), ifUnused: ifUnused, ifEmpty: ifEmpty)
        } commit: { state, _, _, _ in
            state.topology.queueDeleted(name)
        }
    }

    /// `confirm.select` (recorded): afterwards `publish` returns only after
    /// the broker confirmed the message, re-publishing it after a recovery
    /// if the confirm was lost with the connection.
    public func confirmSelect() async throws(AMQPClientError) {
        let id = self.id
        _ = try await self.session.perform(channel: id) { wire throws(AMQPClientError) in
            try await wire.confirmSelect()
        } commit: { state, _, _, _ in
            state.topology.confirmSelected(channel: id)
        }
    }

    /// `basic.qos` (recorded).
    public func basicQos(prefetch: UInt16, global: Bool = false) async throws(AMQPClientError) {
        let id = self.id
        _ = try await self.session.perform(channel: id) { wire throws(AMQPClientError) in
            try await wire.basicQos(prefetch: prefetch, global: global)
        } commit: { state, _, _, _ in
            state.topology.qosSet(channel: id, prefetch: prefetch, global: global)
        }
    }

    /// `basic.publish`. In confirm mode returns after the broker's ack and
    /// throws on a nack (``AMQPClientError/Code/publishNacked``) or a return
    /// (``AMQPClientError/Code/publishReturned``); a publish not confirmed
    /// when the connection was lost is published again after the recovery
    /// (at least once). Waits while the session recovers; throws the
    /// session's ``AMQPSession/closeError`` if it gives up.
    public func publish(
        exchange: String,
        routingKey: String,
        body: ByteBuffer,
        properties: AMQPBasicProperties = .none,
        mandatory: Bool = false
    ) async throws(AMQPClientError) {
        let session = self.session
        try await session.publish(channel: self.id) { wire throws(AMQPClientError) in
            // The default exchange routes by queue name: map a renamed one.
            let key = exchange.isEmpty ? session.brokerQueueName(routingKey) : routingKey
            try await wire.publish(exchange: exchange, routingKey: key, body: body, properties: properties, mandatory: mandatory)
        }
    }

    /// `basic.consume`. The returned sequence continues across recoveries
    /// (the consumer is registered again with the same tag); it ends when
    /// the consumer is cancelled by this client or its channel closed, and
    /// throws when the broker cancels it, closes the channel, or the session
    /// gives up. Dropping the iterator (or cancelling the reading task)
    /// cancels the consumer.
    public func consume(
        queue: String,
        consumerTag: String? = nil,
        noAck: Bool = false,
        exclusive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws(AMQPClientError) -> AMQPSessionConsumer {
        let session = self.session
        let id = self.id
        let tag = consumerTag ?? session.makeConsumerTag(channel: id)
        let key = AMQPSession.ConsumerKey(channel: id, tag: tag)
        guard !session.hasConsumer(key) else {
            // The broker would close the whole connection (530) for this.
            throw AMQPClientError(code: .invalidState, message: "consumer tag '\(tag)' is already in use on session channel \(id)")
        }
        let (stream, continuation) = AsyncThrowingStream<AMQPDelivery, any Error>.makeStream()
        continuation.onTermination = { [weak session] termination in
            guard case .cancelled = termination else { return }
            session?.consumerDropped(key)
        }
        do {
            _ = try await session.perform(channel: id) { wire throws(AMQPClientError) in
                try await wire.consume(
                    queue: session.brokerQueueName(queue), consumerTag: tag,
                    noAck: noAck, exclusive: exclusive, arguments: arguments
                )
            } commit: { state, wireConsumer, generation, connection in
                state.consumers.record(AMQPSession.ConsumerEntry(continuation: continuation), channel: key.channel, key: key.tag)
                state.topology.consumerAdded(AMQPTopology.Consumer(
                    channel: id, tag: tag, queue: queue, noAck: noAck, exclusive: exclusive, arguments: arguments
                ))
                _ = session.startPump(&state, key: key, wireConsumer: wireConsumer, generation: generation, connection: connection)
            }
        } catch {
            continuation.finish(throwing: error)
            throw error
        }
        return AMQPSessionConsumer(consumerTag: tag, stream: stream)
    }

    /// `basic.cancel`; the consumer's sequence then ends.
    public func cancel(consumerTag: String) async throws(AMQPClientError) {
        let id = self.id
        let key = AMQPSession.ConsumerKey(channel: id, tag: consumerTag)
        _ = try await self.session.perform(channel: id) { wire throws(AMQPClientError) in
            try await wire.cancel(consumerTag: consumerTag)
        } commit: { state, _, _, _ in
            state.topology.consumerRemoved(channel: id, tag: consumerTag)
        }
        self.session.consumerCancelled(key)
    }

    /// `basic.ack` of a delivery; does nothing for a delivery of an earlier
    /// connection (the broker redelivers it).
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) async throws(AMQPClientError) {
        try await self.session.acknowledge(channel: self.id, delivery) { wire throws(AMQPClientError) in
            try await wire.ack(deliveryTag: delivery.deliveryTag, multiple: multiple)
        }
    }

    /// `basic.nack` of a delivery; does nothing for a delivery of an
    /// earlier connection.
    public func nack(_ delivery: AMQPDelivery, multiple: Bool = false, requeue: Bool = true) async throws(AMQPClientError) {
        try await self.session.acknowledge(channel: self.id, delivery) { wire throws(AMQPClientError) in
            try await wire.nack(deliveryTag: delivery.deliveryTag, multiple: multiple, requeue: requeue)
        }
    }

    /// `basic.reject` of a delivery; does nothing for a delivery of an
    /// earlier connection.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool = true) async throws(AMQPClientError) {
        try await self.session.acknowledge(channel: self.id, delivery) { wire throws(AMQPClientError) in
            try await wire.reject(deliveryTag: delivery.deliveryTag, requeue: requeue)
        }
    }

    /// Closes the channel for good: it is not recovered, its consumers' sequences end.
    public func close() async {
        await self.session.closeChannel(self.id)
    }
}

/// The deliveries of one ``AMQPSessionChannel`` consumer, across recoveries.
public struct AMQPSessionConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    public let consumerTag: String
    let stream: AsyncThrowingStream<AMQPDelivery, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<AMQPDelivery, any Error>.AsyncIterator

        public mutating func next() async throws -> AMQPDelivery? {
            try await self.base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.stream.makeAsyncIterator())
    }
}
