import NIOCore
import NIOPosix
import Synchronization

/// Where the targets' events wait to be folded, and the one loop that folds them: the daemon has one for all its
/// targets; a supervisor running alone has its own.
///
/// Every target's state still has one writer, and its events are folded in the order they were submitted; what
/// changes is that one task folds them for every target. With a task per target, each event (a probe's, every
/// second, for each of 1,000 targets) woke that target's task on the task pool: a thread hop per event, about a
/// quarter of the daemon's CPU. Here an event is appended under a lock, and the loop, woken once, folds everything
/// that came meanwhile (the probes of one slot arrive together).
///
/// Folding never waits for anything (its work is status, metrics, events, the log and hand-offs to the hooks and
/// the daemon), so one target's events never hold up another's for long.
public final class EventFolder: Sendable {
    /// What a supervisor submits: one of its events, or the end of them (what comes after is not folded).
    enum Item: Sendable {
        case event(TargetEvent)
        case end
    }

    /// How long items submitted on an event loop gather before the loop is woken for them. The probes of one slot
    /// are answered over a few milliseconds, in several turns of two event loops: one wake-up for all of them, not
    /// one per turn, each a thread woken on the task pool (with 1,000 targets: 1,600 futex calls a second became
    /// 150).
    /// Items submitted by tasks wake the loop at once.
    static let gathering = TimeAmount.milliseconds(10)

    private struct State {
        var queue = CircularBuffer<(supervisor: TargetSupervisor, item: Item)>(initialCapacity: 64)
        /// The loop, waiting for the next item.
        var waiter: CheckedContinuation<Void, Never>?
        /// A wake-up is scheduled on an event loop: what is submitted there meanwhile waits for it.
        var wakeScheduled = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Queues `item` of `supervisor` for the loop: never blocks, never drops (any thread, any task).
    func submit(_ item: Item, for supervisor: TargetSupervisor) {
        enum Wake {
            case none
            case now(CheckedContinuation<Void, Never>)
            case later(any EventLoop)
        }
        let eventLoop = MultiThreadedEventLoopGroup.currentEventLoop
        let wake = self.state.withLock { state -> Wake in
            state.queue.append((supervisor, item))
            guard let waiter = state.waiter else { return .none }
            if let eventLoop {
                if state.wakeScheduled { return .none }
                state.wakeScheduled = true
                return .later(eventLoop)
            }
            state.waiter = nil
            return .now(waiter)
        }
        switch wake {
        case .none: break
        case .now(let waiter): waiter.resume()
        case .later(let eventLoop): eventLoop.scheduleTask(in: Self.gathering) { self.wakeUp() }
        }
    }

    /// The scheduled wake-up: the loop (if it waits still) folds what gathered.
    private func wakeUp() {
        self.state.withLock { state in
            state.wakeScheduled = false
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }

    /// Folds what comes, in the order it came, until the task is cancelled. `clock`: seconds since 1970 when an item
    /// is folded (tests pass their own).
    func run(clock: @Sendable () -> Double) async {
        // Two buffers taking turns: the one just folded goes back as the queue, its capacity kept.
        var batch = CircularBuffer<(supervisor: TargetSupervisor, item: Item)>(initialCapacity: 64)
        while !Task.isCancelled {
            self.state.withLock { swap(&batch, &$0.queue) }
            if batch.isEmpty {
                await self.waitForItems()
                continue
            }
            for (supervisor, item) in batch { supervisor.fold(item, now: clock()) }
            // A burst (1,000 targets reconnecting) should not pin its memory for the daemon's lifetime.
            if batch.capacity > 4_096 {
                batch = CircularBuffer(initialCapacity: 64)
            } else {
                batch.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Returns once something is queued, or the task is cancelled.
    private func waitForItems() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = self.state.withLock { state in
                    if !state.queue.isEmpty || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            self.state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }
}
