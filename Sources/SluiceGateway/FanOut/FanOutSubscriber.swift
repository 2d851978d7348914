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
        if let fullSince { expire(ifStillFullSince: fullSince) }
        return offer
    }

    /// A message for this subscriber was dropped before it reached the buffer, because its
    /// event loop fell behind (``FanOutLoopQueue``): as a drop from a full buffer, under the same
    /// policy.
    func noteDropped() {
        let fullSince = state.withLock { state -> ContinuousClock.Instant? in
            guard state.end == nil else { return nil }
            state.dropped += 1
            guard state.fullSince == nil else { return nil }
            state.fullSince = .now
            return state.fullSince
        }
        if let fullSince { expire(ifStillFullSince: fullSince) }
    }

    /// Ends the subscriber after the slow timeout if it is still full since `fullSince` then.
    /// One timer per time the buffer fills up, not one per message.
    private func expire(ifStillFullSince fullSince: ContinuousClock.Instant) {
        Task {
            try? await Task.sleep(until: fullSince + self.slowTimeout, clock: .continuous)
            self.expire(ifFullSince: fullSince)
        }
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

    /// From now on writes the messages to `connection` itself (what is buffered first). Returns
    /// the queue of the connection's loop, or nil when it wrote to a connection already.
    func deliver(to connection: any LiveConnection) -> FanOutLoopQueue? {
        let queue = loops.queue(for: connection.eventLoop)
        let (taken, schedule) = state.withLock { state -> (Bool, Bool) in
            guard state.direct == nil else { return (false, false) }
            state.direct = Direct(connection: connection, queue: queue, scheduled: !state.buffer.isEmpty)
            return (true, !state.buffer.isEmpty)
        }
        if schedule { queue.schedule(self) }
        return taken ? queue : nil
    }

    /// On the connection's event loop: writes everything buffered and flushes once. When the
    /// connection is above its high-water mark, the next writes wait until this one has left.
    func writeReady() {
        writeBuffered(evenIfAwaiting: false)
    }

    /// On the connection's event loop: messages its loop hands over (``FanOutLoopQueue``). They
    /// go out at once, with one flush, when nothing waits before them and the connection is not
    /// waiting for a write to leave; otherwise they are offered, to wait their turn in the
    /// buffer under its policy.
    func writeOnLoop(_ messages: ArraySlice<Message>) {
        let connection = state.withLock { state -> (any LiveConnection)? in
            guard state.end == nil, let direct = state.direct, !direct.awaitingWrite, state.buffer.isEmpty else { return nil }
            // Caught up, if its loop had fallen behind.
            state.fullSince = nil
            return direct.connection
        }
        guard let connection else {
            for message in messages { offer(message) }
            return
        }
        write(messages, to: connection)
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
        write(messages, to: connection)
    }

    /// Writes and flushes. Above the high-water mark already: these go, and the next wait until
    /// they have left.
    private func write<Messages: Collection<Message>>(_ messages: Messages, to connection: any LiveConnection) {
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
    private let capacity: Int
    private let logger: Logger

    /// `capacity`: the messages each loop may have waiting (``FanOutLoopQueue``).
    init(capacity: Int, logger: Logger) {
        self.capacity = max(1, capacity)
        self.logger = logger
    }

    func queue(for eventLoop: any EventLoop) -> FanOutLoopQueue {
        queues.withLock { queues in
            if let queue = queues[ObjectIdentifier(eventLoop)] { return queue }
            let queue = FanOutLoopQueue(eventLoop: eventLoop, capacity: capacity, logger: logger)
            queues[ObjectIdentifier(eventLoop)] = queue
            return queue
        }
    }
}

/// The work of one event loop's fan-out: the subscribers with messages to write, and the
/// messages for the loop's subscribers that get every message (``FanOutHub``). One task on the
/// loop writes for all of them, however many messages and subscribers became ready meanwhile.
///
/// The messages waiting for the loop are bounded by `capacity`, as a subscriber's buffer is: a
/// loop that falls that far behind (the gateway has more to write than CPU to write it) drops
/// the newer ones (QoS none), logs it once per episode, and its subscribers count them as
/// dropped from a full buffer (``FanOutSubscriber/noteDropped()``): behind for longer than the
/// slow timeout, they are ended, as the subscriber-buffer policy says.
final class FanOutLoopQueue: Sendable {
    let eventLoop: any EventLoop
    let capacity: Int
    private let logger: Logger
    private let ready = Mutex(Ready())

    private struct Ready {
        var subscribers: [FanOutSubscriber] = []
        var deliveries: [(message: Message, members: [FanOutSubscriber])] = []
        var scheduled = false
        /// Messages dropped since the loop fell behind.
        var dropped = 0
    }

    init(eventLoop: any EventLoop, capacity: Int, logger: Logger) {
        self.eventLoop = eventLoop
        self.capacity = capacity
        self.logger = logger
    }

    /// The messages waiting for the loop (for tests).
    var waitingDeliveries: Int { ready.withLock { $0.deliveries.count } }

    func schedule(_ subscriber: FanOutSubscriber) {
        let run = ready.withLock { ready -> Bool in
            ready.subscribers.append(subscriber)
            defer { ready.scheduled = true }
            return !ready.scheduled
        }
        if run { eventLoop.execute { self.run() } }
    }

    /// Hands `message` to `members`, this loop's subscribers that get every message; false when
    /// the loop is too far behind to take it.
    func deliver(_ message: Message, to members: [FanOutSubscriber]) -> Bool {
        enum Outcome {
            case taken(run: Bool)
            case dropped(first: Bool)
        }
        let outcome = ready.withLock { ready -> Outcome in
            guard ready.deliveries.count < capacity else {
                ready.dropped += 1
                return .dropped(first: ready.dropped == 1)
            }
            ready.deliveries.append((message, members))
            defer { ready.scheduled = true }
            return .taken(run: !ready.scheduled)
        }
        switch outcome {
        case .taken(let run):
            if run { eventLoop.execute { self.run() } }
            return true
        case .dropped(let first):
            if first {
                logger.warning(
                    "An event loop fell behind its live subscribers: newer messages are dropped for them until it catches up",
                    metadata: ["waiting": "\(capacity)", "subscribers": "\(members.count)"])
            }
            return false
        }
    }

    private func run() {
        let (subscribers, deliveries, dropped) = ready.withLock { ready in
            ready.scheduled = false
            defer {
                ready.subscribers = []
                ready.deliveries = []
                ready.dropped = 0
            }
            return (ready.subscribers, ready.deliveries, ready.dropped)
        }
        if dropped > 0 { logger.warning("An event loop caught up with its live subscribers", metadata: ["dropped": "\(dropped)"]) }
        // What waited in buffers first: it is older than what the loop hands over now.
        for subscriber in subscribers { subscriber.writeReady() }
        guard !deliveries.isEmpty else { return }
        // Messages that came one after the other for the same members go to each in one write.
        let messages = deliveries.map(\.message)
        var start = 0
        while start < deliveries.count {
            let members = deliveries[start].members
            var end = start + 1
            while end < deliveries.count, Self.same(deliveries[end].members, members) { end += 1 }
            for member in members { member.writeOnLoop(messages[start..<end]) }
            start = end
        }
    }

    /// The same list: one that the hub handed over unchanged (its storage).
    private static func same(_ a: [FanOutSubscriber], _ b: [FanOutSubscriber]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }
}
