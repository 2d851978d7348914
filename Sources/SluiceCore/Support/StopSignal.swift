import Synchronization

/// A one-shot signal that tells open streams to end (undeploy, redeploy, shutdown, the client
/// gone). Any number of
/// tasks may wait for it; waiting is cancellable.
public final class StopSignal: Sendable {
    public enum Reason: String, Sendable {
        /// The API was redeployed or undeployed.
        case undeployed
        /// The gateway is shutting down.
        case shutdown
        /// The client closed its connection.
        case clientClosed
    }

    private struct State {
        var reason: Reason?
        var waiters: [Int: CheckedContinuation<Reason?, Never>] = [:]
        var observers: [Int: @Sendable (Reason) -> Void] = [:]
        var nextId = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The reason, once fired.
    public var reason: Reason? { state.withLock { $0.reason } }

    /// Fires the signal; later calls do nothing.
    public func fire(_ reason: Reason) {
        let (waiters, observers) = state.withLock { state -> ([CheckedContinuation<Reason?, Never>], [@Sendable (Reason) -> Void]) in
            guard state.reason == nil else { return ([], []) }
            state.reason = reason
            defer {
                state.waiters = [:]
                state.observers = [:]
            }
            return (Array(state.waiters.values), Array(state.observers.values))
        }
        for waiter in waiters { waiter.resume(returning: reason) }
        for observer in observers { observer(reason) }
    }

    /// Calls `observer` when the signal fires (at once if it has). Returns a token for
    /// ``removeObserver(_:)``: a stream that ends before the signal must remove its observer.
    public func addObserver(_ observer: @escaping @Sendable (Reason) -> Void) -> Int {
        let (id, fired) = state.withLock { state -> (Int, Reason?) in
            state.nextId += 1
            if state.reason == nil { state.observers[state.nextId] = observer }
            return (state.nextId, state.reason)
        }
        if let fired { observer(fired) }
        return id
    }

    public func removeObserver(_ id: Int) {
        _ = state.withLock { $0.observers.removeValue(forKey: id) }
    }

    /// Waits until the signal fires; returns nil when the waiting task is cancelled first.
    public func wait() async -> Reason? {
        let id = state.withLock { state -> Int in
            state.nextId += 1
            return state.nextId
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Reason?, Never>) in
                let immediate: Reason?? = state.withLock { state in
                    if let reason = state.reason { return .some(reason) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    /// The signal as a sequence of at most one element, to merge with other streams.
    public var events: Events { Events(signal: self) }

    public struct Events: AsyncSequence, Sendable {
        public typealias Element = Reason
        let signal: StopSignal

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(signal: signal) }

        public struct AsyncIterator: AsyncIteratorProtocol {
            let signal: StopSignal
            var done = false

            public mutating func next() async -> Reason? {
                guard !done else { return nil }
                done = true
                return await signal.wait()
            }
        }
    }
}
