import Synchronization

/// What a stream's wait for its next message ended with.
public enum StreamWait: Sendable {
    case message(Message)
    /// Something else needs the stream's attention (a heartbeat is due, a stop signal fired).
    case woken
    /// No more messages.
    case end
}

/// Wakes a stream that waits for its next message, so that one wait serves every event of the
/// stream (messages, heartbeats, stops) without a task per event source. A wake that comes while
/// the stream is busy is kept for its next wait.
public final class StreamWaker: Sendable {
    private struct State {
        var pending = false
        var onWake: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes the stream's current wait, or its next one.
    public func wake() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            guard let onWake = state.onWake else {
                state.pending = true
                return nil
            }
            state.onWake = nil
            return onWake
        }
        action?()
    }

    /// For a message source that starts waiting: `onWake` runs once, at the next wake (at once
    /// when one is pending, which then returns true and does not keep `onWake`).
    public func arm(_ onWake: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            if state.pending {
                state.pending = false
                return true
            }
            state.onWake = onWake
            return false
        }
    }

    /// The wait ended another way: forget `onWake`.
    public func disarm() {
        state.withLock { $0.onWake = nil }
    }

    /// Takes a pending wake.
    public func takePending() -> Bool {
        state.withLock { state in
            defer { state.pending = false }
            return state.pending
        }
    }
}

/// A subscription whose reader can wait for a message and be woken in the same wait
/// (``StreamWaker``), and take messages that are ready without waiting (to write them in one go).
/// Or, better, hand it the client's connection (``deliver(to:)``): it then writes the messages
/// itself, and the reader's wait only ends for wakes and the end.
public protocol WakeableMessageSource: Sendable {
    func next(wakingOn waker: StreamWaker) async throws -> StreamWait
    /// A message that is ready now, or nil.
    func nextReady() throws -> Message?
    /// From now on, writes the messages to `connection` (after what is already waiting), in
    /// order; ``next(wakingOn:)`` no longer returns messages.
    func deliver(to connection: any LiveConnection)
    /// Stops writing to the connection, after the messages already taken. Once it returns,
    /// nothing more is written: the reader may write its last words.
    func stopDelivering() async
    /// ``stopDelivering()`` for a reader on the connection's event loop: it returns once the
    /// messages already taken are written, and nothing more is written after it. The reader is
    /// done: the end is no longer reported to it (``whenEnded(_:)``).
    func stopDeliveringOnLoop()
    /// Calls `action` once when the subscription ends (at once if it has): with nil when it
    /// ended normally, with the failure otherwise. For a reader that waits for nothing (its
    /// messages go to its connection): the end is all it needs to hear.
    func whenEnded(_ action: @escaping @Sendable ((any Error)?) -> Void)
}
