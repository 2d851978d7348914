import NIOCore

/// Closes a keep-alive connection that has stayed idle for `http.idleTimeoutMs`: no request
/// being read or answered, and no live stream. The handler that keeps track of the connection's
/// requests (``CollectedPostHandler``, ``EventStreamConnectionHandler``) says when the connection
/// becomes idle and when a request begins. Bytes of a head not yet whole are not a request, so a
/// later request's head sent a byte at a time holds the connection no longer than silence does
/// (the first request's head has ``GatewaySettings/requestHeadTimeout``).
///
/// Those handlers are added as a connection's first request arrives, so nothing is kept until
/// that request has been answered: a connection that only streams holds no timer at all. After
/// that, one scheduled check at a time, never moved per request: a busy connection costs a clock
/// read each time it becomes idle, and its check, when it comes, sees it busy and ends (the next
/// idle period schedules another).
///
/// Used on the connection's event loop only.
struct IdleConnectionTimer {
    private let timeout: TimeAmount
    /// Made the first time the connection becomes idle.
    private var watch: Watch?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// The connection has nothing in progress from now on.
    mutating func becameIdle(context: ChannelHandlerContext) {
        if watch == nil { watch = Watch(timeout: timeout) }
        watch!.becameIdle(context: context)
    }

    /// A request has begun.
    func becameBusy() {
        watch?.idleSince = nil
    }

    /// The handler leaves the connection (closed, or given to another protocol).
    func stop() {
        watch?.stop()
    }

    private final class Watch {
        let timeout: TimeAmount
        /// When the connection became idle; nil while it is busy.
        var idleSince: NIODeadline?
        private var check: Scheduled<Void>?

        init(timeout: TimeAmount) {
            self.timeout = timeout
        }

        func becameIdle(context: ChannelHandlerContext) {
            let now = NIODeadline.now()
            idleSince = now
            if check == nil { schedule(at: now + timeout, context: context) }
        }

        func stop() {
            idleSince = nil
            check?.cancel()
            check = nil
        }

        private func schedule(at deadline: NIODeadline, context: ChannelHandlerContext) {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            check = context.eventLoop.scheduleTask(deadline: deadline) {
                let (watch, context) = loopBound.value
                watch.check = nil
                guard let since = watch.idleSince else { return }
                let due = since + watch.timeout
                if NIODeadline.now() >= due {
                    context.close(promise: nil)
                } else {
                    watch.schedule(at: due, context: context)
                }
            }
        }
    }
}
