import NIOCore

/// Closes a keep-alive connection that has stayed idle for `http.idleTimeoutMs`: no request
/// being read or answered, and no live stream. The handler that keeps track of the connection's
/// requests (``CollectedPostHandler``, ``EventStreamConnectionHandler``) says when the connection
/// becomes idle and when a request begins. Bytes of a head not yet whole are not a request, so a
/// later request's head sent a byte at a time holds the connection no longer than silence does
/// (the first request's head has ``GatewaySettings/requestHeadTimeout``).
///
/// One scheduled check at a time, never moved per request: a busy connection costs a clock read
/// each time it becomes idle, and its check, when it comes, sees it busy and ends (the next idle
/// period schedules another).
///
/// Used on the connection's event loop only.
final class IdleConnectionTimer {
    private let timeout: TimeAmount
    /// When the connection became idle; nil while it is busy.
    private var idleSince: NIODeadline?
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// The connection has nothing in progress from now on.
    func becameIdle(context: ChannelHandlerContext) {
        idleSince = .now()
        if check == nil { schedule(at: idleSince! + timeout, context: context) }
    }

    /// A request has begun.
    func becameBusy() {
        idleSince = nil
    }

    /// The handler leaves the connection (closed, or given to another protocol).
    func stop() {
        idleSince = nil
        check?.cancel()
        check = nil
    }

    private func schedule(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (timer, context) = loopBound.value
            timer.check = nil
            guard let since = timer.idleSince else { return }
            let due = since + timer.timeout
            if NIODeadline.now() >= due {
                context.close(promise: nil)
            } else {
                timer.schedule(at: due, context: context)
            }
        }
    }
}
