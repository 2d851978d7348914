import DequeModule
import Logging
import NIOCore
import SluiceCore
import Synchronization

/// One subscriber of a shared subscription: a bounded buffer between the hub, which offers every
/// message without waiting, and the subscriber's entrypoint, which pulls at the client's pace.
///
/// The policy for a client slower than its messages: while the buffer is full, messages for it
/// are dropped (QoS none); once it has stayed full for `slowTimeout` (whether or not more
/// messages came), the subscriber ends with a ``GatewayError/Code/slowSubscriber`` error (the
/// entrypoint tells the client why and ends the stream) and a second later its connection is
/// closed: a client that reads nothing at all leaves its entrypoint stuck writing, and only that
/// ends it. Either way the reason is logged.
///
/// When the entrypoint hands over its client's connection (``deliver(to:)``), the subscriber
/// writes to it itself, on the connection's event loop: the hub's offers only mark the
/// subscriber ready on its loop's queue (``FanOutLoopQueue``), and each turn of the loop writes
/// everything that came meanwhile and flushes once. While the connection is above its
/// high-water mark the messages wait in the buffer, under the same policy.
final class FanOutSubscriber: Sendable {
    let clientIdentifier: String
    let capacity: Int
    let slowTimeout: Duration
    private let closeConnection: (@Sendable () -> Void)?
    private let loops: FanOutLoops
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var buffer = Deque<Message>()
        var waiter: CheckedContinuation<StreamWait, any Error>?
        var end: End?
        var fullSince: ContinuousClock.Instant?
        var dropped = 0
        /// Set while the subscriber writes to the client's connection itself.
        var direct: Direct?
        /// Told of the end (``whenEnded(_:)``).
        var onEnd: (@Sendable ((any Error)?) -> Void)?
    }

    private struct Direct {
        let connection: any LiveConnection
        let queue: FanOutLoopQueue
        /// On the loop's queue already.
        var scheduled = false
        /// The connection is above its high-water mark: wait until the last write has left.
        var awaitingWrite = false
    }

    private enum End {
        case finished
        case failed(any Error)
    }

    enum Offer: Equatable {
        case buffered
        /// The buffer is full: the message is not for this subscriber.
        case dropped
        case ended
    }

    init(
        clientIdentifier: String, capacity: Int, slowTimeout: Duration, closeConnection: (@Sendable () -> Void)?, loops: FanOutLoops,
        logger: Logger
    ) {
        self.clientIdentifier = clientIdentifier
        self.capacity = max(1, capacity)
        self.slowTimeout = slowTimeout
        self.closeConnection = closeConnection
        self.loops = loops
        self.logger = logger
    }

    var slowReason: String {
        "The client read more slowly than its messages came: its buffer of \(capacity) messages stayed full for \(slowTimeout)"
    }

    /// Hands the subscriber a message without waiting.
    @discardableResult
    func offer(_ message: Message) -> Offer {
        var waiter: CheckedContinuation<StreamWait, any Error>?
        var fullSince: ContinuousClock.Instant?
        var ready: FanOutLoopQueue?
        let offer = state.withLock { state -> Offer in
            guard state.end == nil else { return .ended }
            if state.direct != nil {
                if state.buffer.count < capacity {
                    state.buffer.append(message)
                    if !state.direct!.scheduled {
                        state.direct!.scheduled = true
                        ready = state.direct!.queue
                    }
                    return .buffered
                }
            } else if let pending = state.waiter {
                state.waiter = nil
                waiter = pending
                return .buffered
            }
            if state.buffer.count < capacity {
                state.buffer.append(message)
                return .buffered
            }
            state.dropped += 1
            if state.fullSince == nil {
                state.fullSince = .now
                fullSince = state.fullSince
            }
            return .dropped
        }
        waiter?.resume(returning: .message(message))
        ready?.schedule(self)
        if let fullSince {
            // One timer per time the buffer fills up, not one per message.
            Task {
                try? await Task.sleep(until: fullSince + self.slowTimeout, clock: .continuous)
                self.expire(ifFullSince: fullSince)
            }
        }
        return offer
    }

    /// Ends the subscriber if its buffer has stayed full since `since`.
    private func expire(ifFullSince since: ContinuousClock.Instant) {
        let error = GatewayError(.slowSubscriber, "Too slow", detail: slowReason)
        let (expired, dropped, waiter, onEnd) = state.withLock {
            state -> (Bool, Int, CheckedContinuation<StreamWait, any Error>?, (@Sendable ((any Error)?) -> Void)?) in
            guard state.end == nil, state.fullSince == since else { return (false, 0, nil, nil) }
            state.end = .failed(error)
            state.buffer.removeAll()
            defer {
                state.waiter = nil
                state.onEnd = nil
            }
            return (true, state.dropped, state.waiter, state.onEnd)
        }
        guard expired else { return }
        // A subscriber that writes itself has a reader waiting for nothing but the end.
        waiter?.resume(throwing: error)
        onEnd?(error)
        logger.notice(
            "Slow subscriber disconnected", metadata: ["client": "\(clientIdentifier)", "reason": "\(slowReason)", "dropped": "\(dropped)"])
        guard let closeConnection else { return }
        Task {
            try? await Task.sleep(for: .seconds(1))
            closeConnection()
        }
    }

    /// The next message; nil when the shared subscription ended or the reader was cancelled.
    func next() async throws -> Message? {
        switch try await next(wakingOn: nil) {
        case .message(let message): message
        case .woken, .end: nil
        }
    }

    /// A buffered message, without waiting.
    func nextReady() throws -> Message? {
        try state.withLock { state throws -> Message? in try Self.take(&state) ?? nil }
    }

    /// The next message, or `.woken` when `waker` wakes the wait first.
    func next(wakingOn waker: StreamWaker?) async throws -> StreamWait {
        if let ready = try state.withLock({ state throws -> Message?? in try Self.take(&state) }) {
            return ready.map { .message($0) } ?? .end
        }
        if waker?.takePending() == true { return .woken }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StreamWait, any Error>) in
                let ready = state.withLock { state -> Result<StreamWait, any Error>? in
                    do {
                        if let ready = try Self.take(&state) { return .success(ready.map { .message($0) } ?? .end) }
                    } catch {
                        return .failure(error)
                    }
                    if Task.isCancelled { return .success(.end) }
                    state.waiter = continuation
                    return nil
                }
                if let ready {
                    continuation.resume(with: ready)
                } else if let waker {
                    // A wake that finds the wait over (a message came first) is kept for the next.
                    let armed = waker.arm { if !self.interrupt(with: .woken) { waker.wake() } }
                    if armed { _ = interrupt(with: .woken) }
                }
            }
        } onCancel: {
            _ = interrupt(with: .end)
        }
    }

    /// Ends the current wait, if any, with `outcome`; false when there was none.
    private func interrupt(with outcome: StreamWait) -> Bool {
        let waiter = state.withLock { state -> CheckedContinuation<StreamWait, any Error>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: outcome)
        return waiter != nil
    }

    /// A buffered message, or the end (`.some(nil)`, or the failure thrown); nil to wait. (While
    /// the subscriber writes itself, the reader takes no message.)
    private static func take(_ state: inout State) throws -> Message?? {
        if state.direct == nil, let message = state.buffer.popFirst() {
            state.fullSince = nil
            return .some(message)
        }
        switch state.end {
        case .finished: return .some(nil)
        case .failed(let error): throw error
        case nil: return nil
        }
    }

    /// Ends the stream after what is buffered: normally, or with the shared subscription's failure.
    func finish(_ error: (any Error)?) {
        let (waiter, onEnd) = state.withLock { state -> (CheckedContinuation<StreamWait, any Error>?, (@Sendable ((any Error)?) -> Void)?) in
            guard state.end == nil else { return (nil, nil) }
            state.end = error.map { .failed($0) } ?? .finished
            defer {
                state.waiter = nil
                state.onEnd = nil
            }
            return (state.waiter, state.onEnd)
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: .end) }
        onEnd?(error)
    }

    /// Calls `action` once at the end: nil when the shared subscription ended, its failure (or
    /// the slow-subscriber error) otherwise; at once when ended already.
    func whenEnded(_ action: @escaping @Sendable ((any Error)?) -> Void) {
        let ended = state.withLock { state -> End? in
            guard let end = state.end else {
                state.onEnd = action
                return nil
            }
            return end
        }
        switch ended {
        case nil: break
        case .finished: action(nil)
        case .failed(let error): action(error)
        }
    }

    /// Whether new messages would be dropped.
    var isFull: Bool { state.withLock { $0.buffer.count >= capacity } }

    // MARK: Writing to the client's connection

    /// From now on writes the messages to `connection` itself (what is buffered first).
    func deliver(to connection: any LiveConnection) {
        let queue = loops.queue(for: connection.eventLoop)
        let schedule = state.withLock { state -> Bool in
            guard state.direct == nil else { return false }
            state.direct = Direct(connection: connection, queue: queue, scheduled: !state.buffer.isEmpty)
            return !state.buffer.isEmpty
        }
        if schedule { queue.schedule(self) }
    }

    /// On the connection's event loop: writes everything buffered and flushes once. When the
    /// connection is above its high-water mark, the next writes wait until this one has left.
    func writeReady() {
        writeBuffered(evenIfAwaiting: false)
    }

    private func writeBuffered(evenIfAwaiting: Bool) {
        var messages = Deque<Message>()
        let connection = state.withLock { state -> (any LiveConnection)? in
            guard var direct = state.direct else { return nil }
            direct.scheduled = false
            defer { state.direct = direct }
            guard !state.buffer.isEmpty, evenIfAwaiting || !direct.awaitingWrite else { return nil }
            swap(&messages, &state.buffer)
            state.fullSince = nil
            return direct.connection
        }
        guard let connection else { return }
        // Above the high-water mark already: these go, and the next wait until they have left.
        let last: EventLoopPromise<Void>? = connection.isWritable ? nil : connection.eventLoop.makePromise()
        connection.write(messages, promise: last)
        connection.flush()
        guard let last else { return }
        state.withLock { $0.direct?.awaitingWrite = true }
        last.futureResult.whenComplete { _ in
            self.state.withLock { $0.direct?.awaitingWrite = false }
            self.writeReady()
        }
    }

    /// Stops writing to the connection, after what is buffered: once it returns, nothing more is
    /// written to it.
    func stopDelivering() async {
        guard let eventLoop = state.withLock({ $0.direct?.connection.eventLoop }) else { return }
        try? await eventLoop.submit { self.stopDeliveringOnLoop() }.get()
    }

    /// ``stopDelivering()`` on the connection's event loop; the reader is done, so its end
    /// action goes too (it may hold what holds this subscriber).
    func stopDeliveringOnLoop() {
        writeBuffered(evenIfAwaiting: true)
        state.withLock { state in
            state.direct = nil
            state.onEnd = nil
        }
    }
}

/// The per-event-loop queues of the subscribers that write to their connections themselves.
final class FanOutLoops: Sendable {
    private let queues = Mutex<[ObjectIdentifier: FanOutLoopQueue]>([:])

    func queue(for eventLoop: any EventLoop) -> FanOutLoopQueue {
        queues.withLock { queues in
            if let queue = queues[ObjectIdentifier(eventLoop)] { return queue }
            let queue = FanOutLoopQueue(eventLoop: eventLoop)
            queues[ObjectIdentifier(eventLoop)] = queue
            return queue
        }
    }
}

/// The subscribers of one event loop that have messages to write: one task on the loop writes
/// for all of them, however many messages and subscribers became ready meanwhile.
final class FanOutLoopQueue: Sendable {
    let eventLoop: any EventLoop
    private let ready = Mutex<(subscribers: [FanOutSubscriber], scheduled: Bool)>(([], false))

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func schedule(_ subscriber: FanOutSubscriber) {
        let run = ready.withLock { ready -> Bool in
            ready.subscribers.append(subscriber)
            defer { ready.scheduled = true }
            return !ready.scheduled
        }
        if run { eventLoop.execute { self.run() } }
    }

    private func run() {
        let subscribers = ready.withLock { ready -> [FanOutSubscriber] in
            ready.scheduled = false
            defer { ready.subscribers.removeAll(keepingCapacity: true) }
            return ready.subscribers
        }
        for subscriber in subscribers { subscriber.writeReady() }
    }
}
