import Logging
import NIOCore
import NIOHTTPTypes
import SluiceCore

/// A live SSE stream (QoS none, shared) carried by its connection's event loop once the body has
/// been handed over (``EventLoopBodyWriter``): the subscription writes the messages
/// (``SSELiveConnection``), a timer of the loop writes the heartbeats, and the stop signals and the
/// subscription's end end the stream from the loop. No task waits for anything meanwhile, which
/// is what keeps an idle stream small.
///
/// `@unchecked Sendable`: the mutable state is touched on the event loop only (every entry point
/// hops there first); the rest is immutable.
final class SSELoopStream: @unchecked Sendable {
    /// Dropped at the end: the subscription leaves the fan-out once nothing holds it.
    private var source: (any WakeableMessageSource)?
    private let connection: SSELiveConnection
    private let body: HandedOverBody
    private let heartbeatInterval: Duration
    private let stop: StopSignal
    private let connectionClosed: StopSignal
    private let logger: Logger
    private let eventLoop: any EventLoop

    private var heartbeat: Scheduled<Void>?
    private var lastHeartbeat = ContinuousClock.now
    private var stopObserver: Int?
    private var closedObserver: Int?
    private var ended = false

    private enum End {
        case stopped(StopSignal.Reason)
        case subscriptionEnded((any Error)?)
    }

    init(
        source: any WakeableMessageSource, connection: SSELiveConnection, body: HandedOverBody, heartbeatInterval: Duration,
        stop: StopSignal, connectionClosed: StopSignal, logger: Logger
    ) {
        self.source = source
        self.connection = connection
        self.body = body
        self.heartbeatInterval = heartbeatInterval
        self.stop = stop
        self.connectionClosed = connectionClosed
        self.logger = logger
        eventLoop = connection.eventLoop
    }

    /// Starts the stream, from any thread.
    func start() {
        if eventLoop.inEventLoop {
            startOnLoop()
        } else {
            eventLoop.execute { self.startOnLoop() }
        }
    }

    private func startOnLoop() {
        guard let source else { return }
        source.deliver(to: connection)
        scheduleHeartbeat(after: heartbeatInterval)
        closedObserver = connectionClosed.addObserver { reason in self.onLoop { $0.end(.stopped(reason)) } }
        stopObserver = stop.addObserver { reason in self.onLoop { $0.end(.stopped(reason)) } }
        source.whenEnded { error in self.onLoop { $0.end(.subscriptionEnded(error)) } }
    }

    private func onLoop(_ action: @escaping @Sendable (SSELoopStream) -> Void) {
        if eventLoop.inEventLoop {
            action(self)
        } else {
            eventLoop.execute { action(self) }
        }
    }

    private func scheduleHeartbeat(after delay: Duration) {
        let (seconds, attoseconds) = delay.components
        let nanoseconds = max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        heartbeat = eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { self.heartbeatDue() }
    }

    /// A heartbeat after `heartbeatInterval` of silence: the last message written or the last
    /// heartbeat, whichever is later.
    private func heartbeatDue() {
        guard !ended else { return }
        let silentSince = max(lastHeartbeat, connection.lastWrite)
        let now = ContinuousClock.now
        guard now - silentSince >= heartbeatInterval else {
            scheduleHeartbeat(after: silentSince + heartbeatInterval - now)
            return
        }
        var buffer = ByteBuffer()
        SSEEncoder.heartbeat(into: &buffer)
        connection.channel.writeAndFlush(HTTPResponsePart.body(buffer), promise: nil)
        lastHeartbeat = now
        scheduleHeartbeat(after: heartbeatInterval)
    }

    /// Ends the stream once: the subscription stops writing (after what it has taken), the last
    /// words go out (`goaway`, or `error` with the subscription's failure), and the response ends.
    private func end(_ cause: End) {
        eventLoop.assertInEventLoop()
        guard !ended else { return }
        ended = true
        heartbeat?.cancel()
        heartbeat = nil
        if let stopObserver { stop.removeObserver(stopObserver) }
        if let closedObserver { connectionClosed.removeObserver(closedObserver) }
        source?.stopDeliveringOnLoop()
        source = nil
        var buffer = ByteBuffer()
        switch cause {
        case .stopped(.clientClosed), .subscriptionEnded(nil):
            break
        case .stopped(let reason):
            SSEEncoder.event(
                "goaway", data: reason == .shutdown ? "The gateway is stopping" : "The API was redeployed or undeployed", into: &buffer)
        case .subscriptionEnded(let error?):
            let failure = GatewayError.from(error)
            logger.log(level: failure.code == .slowSubscriber ? .info : .warning, "SSE stream failed", metadata: ["error": "\(failure)"])
            SSEEncoder.event("error", data: failure.detail.map { "\(failure.message) (\($0))" } ?? failure.message, into: &buffer)
        }
        if buffer.readableBytes > 0 { connection.channel.write(HTTPResponsePart.body(buffer), promise: nil) }
        body.end()
    }
}
