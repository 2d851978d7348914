import NIOCore

/// Runs a task's jobs on one event loop: a task started with this preference, and every actor
/// without an executor of its own that it calls, runs on the loop's thread instead of hopping to
/// the cooperative pool and back. For short tasks that begin and end on that loop (a request the
/// gateway answers there); what they call, and their child tasks, which inherit the preference,
/// must not block.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
