import NIOCore

/// An event loop as a `TaskExecutor`: a task that prefers it (`withTaskExecutorPreference`, or a child task added
/// with `executorPreference:`) runs its code on that loop's thread.
///
/// A caller running on its connection's event loop is resumed by the reply where the reply is read: the job joins
/// the loop's own queue, with no other thread woken and no hop back (see ``RedisMultiplexer/taskExecutor``). The
/// loop must never be blocked, so such a task must not block either (no waiting on locks held long, no blocking
/// system calls) — what holds for any code on an event loop.
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: its one stored property is immutable and Sendable; TaskExecutor requires a class here (jobs hold it
    // unowned while they run).
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
