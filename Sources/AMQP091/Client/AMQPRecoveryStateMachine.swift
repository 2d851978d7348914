//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: when and how often an AMQPSession reconnects,
// as a value.
//===----------------------------------------------------------------------===//

/// How an ``AMQPSession`` reconnects after losing its connection.
public struct AMQPRecoveryPolicy: Sendable, Hashable {
    /// Consecutive failed reconnects before the session gives up (0...10;
    /// 0 = no recovery). The count restarts after a successful recovery.
    /// The first connect is tried once plus this many times.
    public var maximumAttempts: Int {
        didSet { self.maximumAttempts = Self.clamp(self.maximumAttempts) }
    }
    /// The wait before the first reconnect; it doubles with every failed one.
    public var initialBackoff: Duration
    /// The longest wait between two reconnects.
    public var maximumBackoff: Duration

    public init(maximumAttempts: Int = 3, initialBackoff: Duration = .milliseconds(250), maximumBackoff: Duration = .seconds(10)) {
        self.maximumAttempts = Self.clamp(maximumAttempts)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// No reconnects at all: the session ends with its first connection.
    public static let disabled = AMQPRecoveryPolicy(maximumAttempts: 0)

    /// The wait before reconnect number `attempt` (from 1):
    /// `initialBackoff * 2^(attempt-1)`, at most `maximumBackoff`.
    public func backoff(attempt: Int) -> Duration {
        let ceiling = max(self.maximumBackoff, .zero)
        var delay = max(self.initialBackoff, .zero)
        guard attempt > 1 else { return min(delay, ceiling) }
        for _ in 1..<attempt {
            if delay >= ceiling || delay == .zero { break }
            delay *= 2
        }
        return min(delay, ceiling)
    }

    private static func clamp(_ value: Int) -> Int {
        min(max(value, 0), 10)
    }
}

/// The life of an ``AMQPSession`` as a value: connecting, replaying the
/// topology on a new connection, connected, closed. Methods are events and
/// return what the session does next; the session keeps its waiters and
/// connections itself. Every decision about reconnecting, giving up and
/// retrying an operation is made here.
///
/// Generations: every connection the session establishes gets the next
/// generation (1, 2, ...). Operations and deliveries carry the generation
/// they ran on, so an event of an earlier connection is recognised as stale.
struct AMQPRecoveryStateMachine: Sendable {
    enum State: Hashable, Sendable {
        /// Connecting (the first connect or a reconnect), or waiting for the
        /// backoff before the next attempt.
        case connecting
        /// Connection `generation` is up and the topology is being replayed
        /// on it; operations wait (acks of its deliveries do not).
        case replaying(generation: UInt64)
        /// Connection `generation` is up and ready.
        case connected(generation: UInt64)
        /// Closed by the user, or the session gave up (then `gaveUp`).
        case closed(AMQPClientError)
    }

    /// What the session does next.
    enum Next: Hashable, Sendable {
        case none
        /// Try to connect (again) after this wait.
        case reconnect(after: Duration)
        /// Stop for good: fail everything pending with this error.
        case giveUp(AMQPClientError)
    }

    /// Whether an operation may run now.
    enum Admission: Hashable, Sendable {
        /// Run it on connection `generation`.
        case proceed(generation: UInt64)
        /// Wait until the session is connected again (or gives up).
        case wait
        case fail(AMQPClientError)
    }

    /// What to do about an operation that failed.
    enum OperationFailure: Hashable, Sendable {
        /// Its connection is gone: run it again on the next connection.
        case retryAfterRecovery
        /// The broker closed the channel: the channel is failed for good.
        case failChannel
        /// Report the error to the caller.
        case fail
    }

    /// What to do about a replayed step the broker refused.
    enum ReplayFailure: Hashable, Sendable {
        /// Drop the step; the session channel it ran on (if any) is failed.
        case failChannel
        /// Abandon this connection; it counts as a failed reconnect.
        case abandonConnection
    }

    let policy: AMQPRecoveryPolicy
    private(set) var state: State = .connecting
    /// The last generation established (0 before the first connection).
    private(set) var generation: UInt64 = 0
    /// Failed attempts since the last successful (re)connect.
    private(set) var failedAttempts = 0
    /// Successful recoveries (connections after the first that finished replaying).
    private(set) var recoveryCount = 0
    /// Set when the session gave up (not when the user closed it).
    private(set) var giveUpError: AMQPClientError?
    private var lostDuringReplay: AMQPClientError?

    init(policy: AMQPRecoveryPolicy) {
        self.policy = policy
    }

    var isConnected: Bool {
        if case .connected = self.state { return true }
        return false
    }

    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    // MARK: Connection events

    /// A connection attempt succeeded: returns its generation, or nil if the
    /// session was closed meanwhile (close the new connection then).
    mutating func connectionEstablished() -> UInt64? {
        guard case .connecting = self.state else { return nil }
        self.generation += 1
        self.lostDuringReplay = nil
        self.state = .replaying(generation: self.generation)
        return self.generation
    }

    /// The replay on `generation` is done: the session is connected, unless
    /// the connection was lost during the replay (then it counts as a failed
    /// attempt).
    mutating func replayFinished(generation: UInt64) -> Next {
        guard case .replaying(let current) = self.state, current == generation else { return .none }
        if let error = self.lostDuringReplay {
            self.lostDuringReplay = nil
            self.state = .connecting
            return self.attemptFailed(error)
        }
        self.state = .connected(generation: generation)
        self.failedAttempts = 0
        if generation > 1 {
            self.recoveryCount += 1
        }
        return .none
    }

    /// A connection attempt or the replay on a new connection failed.
    mutating func attemptFailed(_ error: AMQPClientError) -> Next {
        switch self.state {
        case .connecting, .replaying:
            break
        case .connected, .closed:
            return .none
        }
        self.state = .connecting
        self.lostDuringReplay = nil
        self.failedAttempts += 1
        guard Self.isRecoverable(error) else {
            return self.giveUp(error)
        }
        // The first connect is tried once more than a reconnect.
        let allowed = self.policy.maximumAttempts + (self.generation == 0 ? 1 : 0)
        if self.failedAttempts >= allowed {
            return self.giveUp(error)
        }
        let attempt = self.generation == 0 ? self.failedAttempts : self.failedAttempts + 1
        return .reconnect(after: self.policy.backoff(attempt: attempt))
    }

    /// Connection `generation` closed or failed. Stale generations and a
    /// session closed by the user are ignored.
    mutating func connectionLost(generation: UInt64, error: AMQPClientError) -> Next {
        switch self.state {
        case .connected(let current) where current == generation:
            break
        case .replaying(let current) where current == generation:
            // The replay fails or finishes next; either way it is an attempt.
            self.lostDuringReplay = error
            return .none
        default:
            return .none
        }
        guard Self.isRecoverable(error), self.policy.maximumAttempts > 0 else {
            return self.giveUp(error)
        }
        self.state = .connecting
        self.failedAttempts = 0
        return .reconnect(after: self.policy.backoff(attempt: 1))
    }

    /// The user closes the session; false if it was already closed.
    mutating func closeRequested() -> Bool {
        if case .closed = self.state { return false }
        self.state = .closed(AMQPClientError(code: .closed, message: "the session was closed"))
        return true
    }

    private mutating func giveUp(_ error: AMQPClientError) -> Next {
        self.state = .closed(error)
        self.giveUpError = error
        return .giveUp(error)
    }

    // MARK: Operations

    /// Whether an operation may run, on a connection newer than
    /// `newerThan` (the generation it already failed on, 0 for none).
    func admission(newerThan: UInt64 = 0) -> Admission {
        switch self.state {
        case .connected(let generation) where generation > newerThan:
            return .proceed(generation: generation)
        case .closed(let error):
            return .fail(error)
        default:
            return .wait
        }
    }

    /// Whether an ack/nack/reject of a delivery from connection
    /// `generation` goes to the broker. The delivery tag of an earlier
    /// connection means nothing on this one (the broker requeued the message
    /// when that connection ended and redelivers it): such acks are skipped.
    func shouldAcknowledge(deliveryGeneration generation: UInt64) -> Bool {
        switch self.state {
        case .connected(let current), .replaying(let current):
            return current == generation
        case .connecting, .closed:
            return false
        }
    }

    /// Whether a connection that ended with `error` is worth reconnecting:
    /// transport failures, missed heartbeats and a broker that closed the
    /// connection with 320 CONNECTION_FORCED (shutdown, operator) or 541
    /// INTERNAL_ERROR are. Refused credentials or vhost, protocol errors
    /// (likely to repeat), and a close by the user are not. A 405
    /// RESOURCE_LOCKED during the replay (an exclusive queue the broker
    /// still keeps for the lost connection) is retried too.
    static func isRecoverable(_ error: AMQPClientError) -> Bool {
        switch error.code {
        case .connectFailed, .connectTimeout, .tlsFailure, .connectionLost, .heartbeatTimeout:
            return true
        case .connectionClosedByServer:
            guard let code = error.replyCode else { return true }
            return code == AMQPReplyCode.connectionForced.rawValue || code == AMQPReplyCode.internalError.rawValue
        case .channelClosedByServer:
            return error.replyCode == AMQPReplyCode.resourceLocked.rawValue
        case .authenticationFailed, .virtualHostNotAllowed, .mechanismNotSupported, .protocolError,
            .publishNacked, .publishReturned, .consumerCancelled, .invalidState, .noFreeChannel, .closed:
            return false
        }
    }

    /// An operation failed with `error`; `connectionDead` says whether the
    /// connection it ran on has ended. A nack, a return or a broker cancel
    /// is the operation's own result; a channel close by the broker ends the
    /// channel; anything else on a dead connection is retried after the
    /// recovery (whether there will be one is decided by the session:
    /// the wait fails if it gives up).
    static func operationFailed(_ error: AMQPClientError, connectionDead: Bool) -> OperationFailure {
        switch error.code {
        case .channelClosedByServer:
            return .failChannel
        case .publishNacked, .publishReturned, .consumerCancelled:
            return .fail
        default:
            return connectionDead ? .retryAfterRecovery : .fail
        }
    }

    /// A replayed step failed with `error`.
    static func replayStepFailed(_ error: AMQPClientError) -> ReplayFailure {
        if error.code == .channelClosedByServer && error.replyCode != AMQPReplyCode.resourceLocked.rawValue {
            return .failChannel
        }
        return .abandonConnection
    }
}
