import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// An MQTT 5 client whose session outlives individual connections: when the connection is
/// lost it reconnects with backoff and resumes the session (MQTT 5 §4.1, §4.4).
///
/// - A connection is lost when the transport closes, no PINGRESP arrives within the keep-alive
///   timeout, or the server sends DISCONNECT. Whether to reconnect is
///   ``MQTTRetryPolicy/shouldRetry(after:)`` (e.g. yes for 0x8B Server shutting down, 0x89
///   Server busy, 0x97 Quota exceeded; no for 0x8E Session taken over, 0x98 Administrative
///   action, protocol errors). Reconnect attempts wait `initialBackoff`, doubled per attempt up
///   to `maximumBackoff`; after `maximumRetries` consecutive failed attempts (or a failure not
///   worth retrying) the session is over. The count restarts after each successful reconnect.
/// - Reconnects send Clean Start 0 (the configured value applies to the first connection only)
///   with the client identifier in use (the server-assigned one, if any). Configure a Session
///   Expiry Interval so that the broker keeps the session while the client is away.
/// - Session present: unacknowledged QoS 1/2 PUBLISHes are resent with DUP and their packet
///   identifiers, PUBRELs for those awaiting PUBCOMP; the broker still has the subscriptions.
///   Session not present: subscriptions are made again (same filters, options, identifiers) and
///   unacknowledged publishes are published again as new messages — at least once: a message
///   may arrive twice, none acknowledged to the caller is lost.
/// - Subscriptions (``MQTTClientSubscription``) keep their buffers across connections: their
///   iterators only see a pause.
/// - Requests made while reconnecting wait for the next connection. `publish` returns after
///   PUBACK (QoS 1) / PUBCOMP (QoS 2), on whichever connection it came. Cancelling a waiting
///   request withdraws it if it has not been sent yet; once sent, it is awaited to the end.
/// - When the session is over (``disconnect(reason:properties:)``, attempts exhausted, an error
///   not worth retrying), every pending request fails — with the last connection error when the
///   session gave up (kind, reason code and reason string as the broker sent them) — and every
///   subscription finishes: with that error, or normally after `disconnect`.
public final class MQTTSession: Sendable {
    private let eventLoop: any EventLoop
    private let driver: NIOLoopBound<MQTTSessionDriver>
    private let tokens: MQTTTokenGenerator
    private let status: NIOLockedValueBox<MQTTSessionStatus>
    private let closed: EventLoopFuture<Void>

    private init(
        eventLoop: any EventLoop,
        driver: NIOLoopBound<MQTTSessionDriver>,
        tokens: MQTTTokenGenerator,
        status: NIOLockedValueBox<MQTTSessionStatus>,
        closed: EventLoopFuture<Void>
    ) {
        self.eventLoop = eventLoop
        self.driver = driver
        self.tokens = tokens
        self.status = status
        self.closed = closed
    }

    /// Connects and returns once CONNACK succeeded. The first connection is retried per `retry`
    /// (with backoff, for errors ``MQTTRetryPolicy/shouldRetry(after:)`` accepts); throws the
    /// last attempt's ``MQTTClientError`` otherwise, or `.cancelled` when the task is cancelled.
    public static func connect(
        configuration: MQTTClientConfiguration,
        retry: MQTTRetryPolicy,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(MQTTClientError) -> MQTTSession {
        let eventLoop = eventLoopGroup.next()
        let sslContext = try MQTTTransport.sslContext(for: configuration)
        let status = NIOLockedValueBox(MQTTSessionStatus())
        let closedPromise = eventLoop.makePromise(of: Void.self)
        let firstConnection = eventLoop.makePromise(of: MQTTConnectionInfo.self)
        let created = eventLoop.submit {
            let driver = MQTTSessionDriver(
                configuration: configuration,
                retry: retry,
                sslContext: sslContext,
                eventLoop: eventLoop,
                status: status,
                firstConnection: firstConnection,
                closed: closedPromise
            )
            driver.start()
            return (NIOLoopBound(driver, eventLoop: eventLoop), driver.core.tokens)
        }
        let driver: NIOLoopBound<MQTTSessionDriver>
        let tokens: MQTTTokenGenerator
        do {
            (driver, tokens) = try await created.get()
        } catch {
            firstConnection.fail(error)
            closedPromise.succeed(())
            throw MQTTClientError.from(error)
        }
        do {
            _ = try await withTaskCancellationHandler {
                try await firstConnection.futureResult.get()
            } onCancel: {
                eventLoop.execute {
                    driver.value.abort(MQTTClientError(kind: .cancelled, message: "cancelled while connecting"))
                }
            }
        } catch {
            throw MQTTClientError.from(error)
        }
        if Task.isCancelled {
            // Cancelled just as CONNACK came: the cancellation handler is ending the session.
            throw MQTTClientError(kind: .cancelled, message: "cancelled while connecting")
        }
        return MQTTSession(eventLoop: eventLoop, driver: driver, tokens: tokens, status: status, closed: closedPromise.futureResult)
    }

    /// Publishes and returns once it is complete: when written for QoS 0, after PUBACK for
    /// QoS 1, after PUBCOMP for QoS 2 — across reconnects if need be. Throws `.publishFailed`
    /// with the reason code of a failed acknowledgement, or the session's end error.
    public func publish(
        topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws(MQTTClientError) {
        let packet = MQTTPublishPacket(topicName: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        let token = self.tokens.next()
        let driver = self.driver
        // Called on the session's own loop (a publisher on that loop), the packet goes out now;
        // from elsewhere, it hops to the loop.
        let acknowledged =
            self.eventLoop.inEventLoop
            ? driver.value.core.publish(token: token, packet) : self.eventLoop.flatSubmit { driver.value.core.publish(token: token, packet) }
        _ = try await self.wait(token: token, acknowledged)
    }

    /// Convenience: publishes a UTF-8 string payload.
    public func publish(
        topic: String,
        payload: String,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws(MQTTClientError) {
        try await self.publish(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties)
    }

    /// Subscribes to one topic filter and returns its message sequence once SUBACK granted it.
    /// The subscription is part of the session: it is made again if the broker loses the
    /// session. With `acknowledgement: .manual` each QoS 1/2 message is acknowledged when the
    /// reader calls ``MQTTMessage/acknowledge()``. Throws `.subscribeFailed` with the SUBACK
    /// reason code when refused.
    public func subscribe(
        _ topicFilter: String,
        options: MQTTSubscriptionOptions = MQTTSubscriptionOptions(),
        properties: MQTTProperties = MQTTProperties(),
        acknowledgement: MQTTAcknowledgementMode = .onReceipt
    ) async throws(MQTTClientError) -> MQTTClientSubscription {
        let subscription = MQTTSubscription(topicFilter: topicFilter, options: options)
        let token = self.tokens.next()
        let driver = self.driver
        return try await self.wait(token: token, self.eventLoop.flatSubmit {
            driver.value.core.subscribe(token: token, subscription, properties: properties, acknowledgement: acknowledgement)
        })
    }

    /// Unsubscribes; the subscription's sequence then finishes.
    public func unsubscribe(_ subscription: MQTTClientSubscription, properties: MQTTProperties = MQTTProperties()) async throws(MQTTClientError) {
        let identifier = subscription.subscriptionIdentifier
        let token = self.tokens.next()
        let driver = self.driver
        try await self.wait(token: token, self.eventLoop.flatSubmit {
            driver.value.core.unsubscribe(token: token, identifiers: [identifier], properties: properties)
        })
    }

    /// Ends the session: sends DISCONNECT with `reason` if connected, stops reconnecting, fails
    /// pending requests, finishes the subscriptions and waits until all is closed.
    public func disconnect(reason: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) async {
        let driver = self.driver
        self.eventLoop.execute { driver.value.disconnect(reason: reason, properties: properties) }
        try? await self.closed.get()
    }

    /// Completes when the session is over for good: after ``disconnect(reason:properties:)``,
    /// or when reconnecting was given up (then ``closeError`` tells why). Returns early if the
    /// waiting task is cancelled.
    public func waitUntilClosed() async {
        let closed = self.closed
        let waiter = NIOLockedValueBox(CancellableWaiter())
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let cancelled = waiter.withLockedValue { state -> Bool in
                    if state.cancelled { return true }
                    state.continuation = continuation
                    return false
                }
                if cancelled {
                    continuation.resume()
                } else {
                    closed.whenComplete { _ in waiter.withLockedValue { $0.take() }?.resume() }
                }
            }
        } onCancel: {
            waiter.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                state.cancelled = true
                return state.take()
            }?.resume()
        }
    }

    /// Why the session ended: nil while it lives and after ``disconnect(reason:properties:)``.
    public var closeError: MQTTClientError? { self.status.withLockedValue { $0.closeError } }

    /// What the server granted in the CONNACK of the current connection; nil while reconnecting
    /// and after the end.
    public var connectionInfo: MQTTConnectionInfo? { self.status.withLockedValue { $0.connectionInfo } }

    /// Successful reconnections so far (the first connection not counted).
    public var reconnectCount: Int { self.status.withLockedValue { $0.reconnectCount } }

    /// Whether a connection is currently established (CONNACK received).
    public var isConnected: Bool { self.status.withLockedValue { $0.connectionInfo != nil } }

    // MARK: Helpers

    /// Waits for a request's result; cancellation withdraws the request if it was not sent yet.
    /// The request was submitted to the event loop before, so the cancellation comes after it.
    private func wait<T: Sendable>(token: UInt64, _ future: EventLoopFuture<T>) async throws(MQTTClientError) -> T {
        let driver = self.driver
        let eventLoop = self.eventLoop
        do {
            return try await withTaskCancellationHandler {
                try await future.get()
            } onCancel: {
                eventLoop.execute { driver.value.core.cancel(token: token) }
            }
        } catch {
            throw MQTTClientError.from(error)
        }
    }
}

/// The session's observable state, written on the event loop, read from anywhere.
struct MQTTSessionStatus: Sendable {
    var connectionInfo: MQTTConnectionInfo?
    var reconnectCount = 0
    var closeError: MQTTClientError?
}

/// A continuation resumed exactly once: by completion or by cancellation, whichever is first.
private struct CancellableWaiter {
    var continuation: CheckedContinuation<Void, Never>?
    var cancelled = false

    mutating func take() -> CheckedContinuation<Void, Never>? {
        defer { self.continuation = nil }
        return self.continuation
    }
}

/// Runs an ``MQTTSession``: opens connections to the core, one at a time, and decides after
/// each failed attempt or lost connection whether to try again (after a backoff) or to end the
/// session. Event-loop bound.
///
/// The core and the driver reference each other (the core's callbacks) until the session is
/// over, so a running session lives on even if the ``MQTTSession`` is dropped — like an open
/// ``MQTTClient`` channel.
final class MQTTSessionDriver {
    let core: MQTTConnectionCore
    private let configuration: MQTTClientConfiguration
    private let retry: MQTTRetryPolicy
    private let sslContext: NIOSSLContext?
    private let eventLoop: any EventLoop
    private let status: NIOLockedValueBox<MQTTSessionStatus>
    private let firstConnection: EventLoopPromise<MQTTConnectionInfo>
    private let closed: EventLoopPromise<Void>

    /// Consecutive failed attempts since the last successful connection.
    private var failedAttempts = 0
    private var retryTask: Scheduled<Void>?
    private var hasConnected = false

    init(
        configuration: MQTTClientConfiguration,
        retry: MQTTRetryPolicy,
        sslContext: NIOSSLContext?,
        eventLoop: any EventLoop,
        status: NIOLockedValueBox<MQTTSessionStatus>,
        firstConnection: EventLoopPromise<MQTTConnectionInfo>,
        closed: EventLoopPromise<Void>
    ) {
        self.core = MQTTConnectionCore(
            eventLoop: eventLoop,
            settings: configuration.connect,
            keepsSessionAcrossConnections: true,
            resubscribesOnResume: configuration.resubscribesOnResume,
            subscriptionBufferSize: configuration.subscriptionBufferSize,
            authHook: configuration.authHook
        )
        self.configuration = configuration
        self.retry = retry
        self.sslContext = sslContext
        self.eventLoop = eventLoop
        self.status = status
        self.firstConnection = firstConnection
        self.closed = closed
        self.core.onConnected = { self.connected($0) }
        self.core.onConnectionLost = { self.attemptFailed($0) }
        self.core.onFinished = { self.finished($0) }
    }

    func start() {
        self.attempt()
    }

    func disconnect(reason: MQTTReasonCode, properties: MQTTProperties) {
        self.retryTask?.cancel()
        self.retryTask = nil
        self.core.disconnect(reason: reason, properties: properties)
    }

    /// Ends the session with `error` (e.g. the first connect was cancelled).
    func abort(_ error: MQTTClientError) {
        self.retryTask?.cancel()
        self.retryTask = nil
        guard !self.isOver else { return }
        self.end(error)
    }

    private func end(_ error: MQTTClientError) {
        // Visible before any waiter is resumed with the error.
        self.status.withLockedValue { status in
            status.connectionInfo = nil
            status.closeError = error
        }
        self.core.endSession(error)
    }

    private var isOver: Bool { self.core.isFinished || self.core.stateMachine.isClosed }

    private func attempt() {
        self.retryTask = nil
        guard !self.isOver else { return }
        let deadline = NIODeadline.now() + MQTTTransport.timeAmount(self.configuration.connectTimeout)
        let core = NIOLoopBound(self.core, eventLoop: self.eventLoop)
        MQTTTransport.connect(configuration: self.configuration, sslContext: self.sslContext, eventLoop: self.eventLoop) {
            MQTTChannelHandler(core: core.value, connectDeadline: deadline)
        }.assumeIsolated().whenFailure { error in
            // No channel became active: the core has not seen this attempt.
            self.core.transportFailed()
            self.attemptFailed(MQTTClientError.from(error))
        }
        // Once the channel is active the outcome comes from the core: `connected` or, through
        // the state machine's `connectionLost`, `attemptFailed`.
    }

    private func connected(_ info: MQTTConnectionInfo) {
        self.failedAttempts = 0
        let reconnected = self.hasConnected
        self.hasConnected = true
        self.status.withLockedValue { status in
            status.connectionInfo = info
            if reconnected { status.reconnectCount += 1 }
        }
        self.firstConnection.succeed(info)
    }

    /// A connection attempt failed or an established connection was lost.
    private func attemptFailed(_ error: MQTTClientError) {
        self.status.withLockedValue { $0.connectionInfo = nil }
        guard !self.isOver, self.retryTask == nil else { return }
        if self.failedAttempts < self.retry.maximumRetries && self.retry.shouldRetry(after: error) {
            self.failedAttempts += 1
            let delay = MQTTTransport.timeAmount(self.retry.backoff(beforeRetry: self.failedAttempts))
            self.retryTask = self.eventLoop.assumeIsolated().scheduleTask(in: delay) { self.attempt() }
        } else {
            var error = error
            if self.failedAttempts > 0 {
                error.message += " (gave up after \(self.failedAttempts) \(self.hasConnected ? "reconnect attempts" : "retries"))"
            }
            self.end(error)
        }
    }

    private func finished(_ error: MQTTClientError?) {
        self.retryTask?.cancel()
        self.retryTask = nil
        self.status.withLockedValue { status in
            status.connectionInfo = nil
            status.closeError = error
        }
        self.firstConnection.fail(error ?? .closed("disconnected while connecting"))
        self.closed.succeed(())
        // Break the core <-> driver cycle.
        self.core.onConnected = nil
        self.core.onConnectionLost = nil
        self.core.onFinished = nil
    }
}
