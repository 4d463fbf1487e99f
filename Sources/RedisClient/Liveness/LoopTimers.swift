import NIOCore
import Synchronization

/// The timers of every connection on one event loop, coalesced: one NIO timer per distinct deadline, however many
/// connections wait for it, and a cancellation that never touches NIO's timer heap.
///
/// With a thousand targets, each connection's liveness timer and command timer were NIO timers of their own: a
/// timer heap of thousands per loop, each one scheduled with a promise and a closure, and a cancellation that
/// searches the heap from one end. The probe grid puts the liveness timers of many connections on one instant
/// (``ProbeSchedule``), and command deadlines are rounded up to the millisecond here, so most deadlines are shared.
///
/// Everything but ``on(_:)`` runs on the loop.
final class LoopTimers: Sendable {
    /// What ``cancel(_:)`` needs.
    struct Token: Hashable, Sendable {
        let deadline: NIODeadline
        let id: UInt64
    }

    private struct State {
        /// Deadline → the callbacks waiting for it, by token id. A deadline stays (empty, once all of its callbacks
        /// are cancelled) until its NIO timer fires: a new callback for it then needs no new timer.
        var buckets: [NIODeadline: [UInt64: () -> Void]] = [:]
        /// The callbacks of the deadline firing now, not yet called.
        var firing: [UInt64: () -> Void] = [:]
        var nextID: UInt64 = 0
    }

    let eventLoop: any EventLoop
    private let state: NIOLoopBoundBox<State>

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// Loops and their timers. Each entry holds its loop (through its timers): an address is never reused while
    /// its entry is there. Never a weak reference: an object weakly referenced once keeps its reference counts in a
    /// side table for life, and an event loop is retained and released on every turn of NIO's paths (measured:
    /// ~10 % of the daemon's CPU with 1,000 targets went to the slow path).
    private static let registry = Mutex<[ObjectIdentifier: LoopTimers]>([:])

    /// The timers of `eventLoop` (made at the first call for it).
    static func on(_ eventLoop: any EventLoop) -> LoopTimers {
        let key = ObjectIdentifier(eventLoop)
        return self.registry.withLock { registry in
            if let timers = registry[key] { return timers }
            let timers = LoopTimers(eventLoop: eventLoop)
            registry[key] = timers
            return timers
        }
    }

    /// Calls `body` on the loop at `deadline` (not before), unless cancelled first.
    func schedule(at deadline: NIODeadline, _ body: @escaping () -> Void) -> Token {
        let id = self.state.value.nextID
        self.state.value.nextID += 1
        if self.state.value.buckets[deadline] == nil {
            self.state.value.buckets[deadline] = [:]
            // A loop that has shut down runs no timer: as with `scheduleTask`, nothing fires.
            _ = try? self.eventLoop.scheduleCallback(at: deadline, handler: Fire(timers: self, deadline: deadline))
        }
        self.state.value.buckets[deadline]![id] = body
        return Token(deadline: deadline, id: id)
    }

    /// The callback of `token` will not be called (nothing happens if it has been already).
    func cancel(_ token: Token) {
        self.state.value.buckets[token.deadline]?.removeValue(forKey: token.id)
        self.state.value.firing.removeValue(forKey: token.id)
    }

    /// How many callbacks wait, and for how many distinct deadlines (NIO timers).
    var pending: (callbacks: Int, deadlines: Int) {
        let buckets = self.state.value.buckets
        return (buckets.values.reduce(0) { $0 + $1.count }, buckets.count)
    }

    private func fire(_ deadline: NIODeadline) {
        guard let bucket = self.state.value.buckets.removeValue(forKey: deadline) else { return }
        // In the order they were scheduled. Those cancelled meanwhile by an earlier one are skipped; one scheduled
        // for this (now past) deadline meanwhile gets a new bucket and timer, and runs at a later turn, as a NIO
        // timer would: a callback that schedules itself again never spins the loop within one turn.
        self.state.value.firing = bucket
        for id in bucket.keys.sorted() {
            guard let body = self.state.value.firing.removeValue(forKey: id) else { continue }
            body()
        }
        self.state.value.firing = [:]
    }

    private struct Fire: NIOScheduledCallbackHandler, Sendable {
        let timers: LoopTimers
        let deadline: NIODeadline

        func handleScheduledCallback(eventLoop: some EventLoop) {
            self.timers.fire(self.deadline)
        }
    }
}

extension NIODeadline {
    /// This deadline rounded up to a whole millisecond: command deadlines of one loop then share timers.
    var roundedUpToMillisecond: NIODeadline {
        let millisecond: UInt64 = 1_000_000
        let nanoseconds = self.uptimeNanoseconds
        let rounded = nanoseconds / millisecond * millisecond
        guard rounded != nanoseconds, rounded <= UInt64.max - millisecond else { return self }
        return .uptimeNanoseconds(rounded + millisecond)
    }
}
