import NIOCore
import Synchronization

/// Where the targets' events wait to be folded, and the one loop that folds them: the daemon has one for all its
/// targets; a supervisor running alone has its own.
///
/// Every target's status still has one writer, and its events are folded in the order they were submitted; what
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

    private struct State {
        var queue = CircularBuffer<(supervisor: TargetSupervisor, item: Item)>()
        /// The loop, waiting for the next item.
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    /// Queues `item` of `supervisor` for the loop: never blocks, never drops (any thread, any task).
    func submit(_ item: Item, for supervisor: TargetSupervisor) {
        let waiter = self.state.withLock { state in
            state.queue.append((supervisor, item))
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Folds what comes, in the order it came, until the task is cancelled. `clock`: seconds since 1970 when an item
    /// is folded (tests pass their own).
    func run(clock: @Sendable () -> Double) async {
        while !Task.isCancelled {
            var batch = CircularBuffer<(supervisor: TargetSupervisor, item: Item)>()
            self.state.withLock { swap(&batch, &$0.queue) }
            if batch.isEmpty {
                await self.waitForItems()
                continue
            }
            for (supervisor, item) in batch { supervisor.fold(item, now: clock()) }
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
