import DequeModule
import Logging
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
final class FanOutSubscriber: Sendable {
    let clientIdentifier: String
    let capacity: Int
    let slowTimeout: Duration
    private let closeConnection: (@Sendable () -> Void)?
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var buffer = Deque<Message>()
        var waiter: CheckedContinuation<StreamWait, any Error>?
        var end: End?
        var fullSince: ContinuousClock.Instant?
        var dropped = 0
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

    init(clientIdentifier: String, capacity: Int, slowTimeout: Duration, closeConnection: (@Sendable () -> Void)?, logger: Logger) {
        self.clientIdentifier = clientIdentifier
        self.capacity = max(1, capacity)
        self.slowTimeout = slowTimeout
        self.closeConnection = closeConnection
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
        let offer = state.withLock { state -> Offer in
            guard state.end == nil else { return .ended }
            if let pending = state.waiter {
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
        let (expired, dropped) = state.withLock { state -> (Bool, Int) in
            guard state.end == nil, state.fullSince == since else { return (false, 0) }
            state.end = .failed(error)
            state.buffer.removeAll()
            return (true, state.dropped)
        }
        guard expired else { return }
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

    /// A buffered message, or the end (`.some(nil)`, or the failure thrown); nil to wait.
    private static func take(_ state: inout State) throws -> Message?? {
        if let message = state.buffer.popFirst() {
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
        let waiter = state.withLock { state -> CheckedContinuation<StreamWait, any Error>? in
            guard state.end == nil else { return nil }
            state.end = error.map { .failed($0) } ?? .finished
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: .end) }
    }

    /// Whether new messages would be dropped.
    var isFull: Bool { state.withLock { $0.buffer.count >= capacity } }
}
