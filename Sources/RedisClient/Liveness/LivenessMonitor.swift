import NIOCore
import RESP
import Synchronization

/// Runs one endpoint's ``LivenessStateMachine`` on the endpoint's event loop: one timer at the machine's next
/// wake-up, probes and keepalives sent with a callback that completes on that loop (the endpoint's connections
/// live on it), reports handed to the multiplexer. No task waits for anything: the path of one probe is the timer
/// firing, the PING joining the connection's outbound batch, its reply read by the command handler, the callback
/// feeding the machine, all in turns of the one loop.
final class LivenessMonitor: Sendable {
    /// What the monitor asks of the endpoint's owner (the multiplexer), and tells it.
    protocol Owner: AnyObject, Sendable {
        /// The probe's timeout now (relaxed in a maintenance window).
        var probeTimeout: Duration { get }
        /// Hands on an event about `connection` (a probe's latency, unresponsive, responsive).
        func liveness(_ event: MultiplexerEvent, on connection: RedisConnection)
    }

    typealias Machine = LivenessStateMachine<ContinuousClock.Instant>

    /// The monitor's state: touched on the event loop only (every entry goes through ``onLoop(_:)``, the timer and
    /// the probes' callbacks run there). A class of its own, read and changed in place: this runs for every probe
    /// of every connection, where a box copying the whole state on each read showed in the daemon's profile.
    private final class State: @unchecked Sendable {
        var machine: Machine
        var interactive: RedisConnection?
        var subscriber: RedisConnection?
        var timer: LoopTimers.Token?
        var timerAt: ContinuousClock.Instant?
        var stopped = false
        /// Held strongly from the first connection until ``stop()`` (the owner's shutdown): a weak reference would
        /// move the owner's reference counts to a side table for life, the slow path on every retain, and the
        /// monitor reads it on every probe. An owner that never connects is never held.
        var owner: (any Owner)?

        init(machine: Machine) {
            self.machine = machine
        }
    }

    let eventLoop: any EventLoop
    /// When a caller's command last went on the interactive connection (the owner writes it).
    let lastUse: LastUse
    /// The loop's shared timers: the monitors of one probe slot wait for one NIO timer.
    private let timers: LoopTimers
    private let _state: State

    /// The state, on the loop.
    private var state: State {
        self.eventLoop.assertInEventLoop()
        return self._state
    }

    init(configuration: Machine.Configuration, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.lastUse = LastUse()
        self.timers = LoopTimers.on(eventLoop)
        self._state = State(machine: Machine(configuration: configuration))
    }

    // MARK: events (from any thread)

    /// `connection` is the endpoint's interactive connection now: it is probed at once. `owner`: who the monitor
    /// works for (held until ``stop()``).
    func interactiveConnected(_ connection: RedisConnection, owner: any Owner) {
        self.onLoop { monitor in
            guard !monitor.state.stopped else { return }
            monitor.state.owner = owner
            monitor.state.interactive = connection
            monitor.run(monitor.state.machine.interactiveConnected(now: .now))
        }
    }

    /// `connection` has ended; nothing of it counts any more.
    func interactiveDisconnected(_ connection: RedisConnection) {
        self.onLoop { monitor in
            guard monitor.state.interactive === connection else { return }
            monitor.state.interactive = nil
            monitor.state.machine.interactiveDisconnected()
            monitor.reschedule()
        }
    }

    func subscriberConnected(_ connection: RedisConnection, owner: any Owner) {
        self.onLoop { monitor in
            guard !monitor.state.stopped else { return }
            monitor.state.owner = owner
            monitor.state.subscriber = connection
            monitor.state.machine.subscriberConnected(now: .now)
            monitor.reschedule()
        }
    }

    func subscriberDisconnected(_ connection: RedisConnection) {
        self.onLoop { monitor in
            guard monitor.state.subscriber === connection else { return }
            monitor.state.subscriber = nil
            monitor.state.machine.subscriberDisconnected()
            monitor.reschedule()
        }
    }

    /// Stops for good: the timer cancelled, the connections let go.
    func stop() {
        self.onLoop { monitor in
            monitor.state.stopped = true
            if let timer = monitor.state.timer { monitor.timers.cancel(timer) }
            monitor.state.timer = nil
            monitor.state.interactive = nil
            monitor.state.subscriber = nil
            monitor.state.owner = nil
        }
    }

    private func onLoop(_ body: @escaping @Sendable (LivenessMonitor) -> Void) {
        if self.eventLoop.inEventLoop {
            body(self)
        } else {
            self.eventLoop.execute { body(self) }
        }
    }

    // MARK: on the loop

    /// Runs `actions`, then sets the timer where the machine says.
    private func run(_ actions: [Machine.Action]) {
        for action in actions {
            switch action {
            case .sendProbe:
                guard let connection = self.state.interactive else { continue }
                let monitor = self
                guard let owner = self.state.owner else { continue }
                // The callback runs on the connection's event loop, which is this monitor's.
                connection.send(Self.ping, timeout: owner.probeTimeout) { result in
                    monitor.probeFinished(on: connection, result)
                }
            case .sendKeepalive(.interactive):
                self.state.interactive?.sendDetached(Self.ping)
            case .sendKeepalive(.subscriber):
                // A timeout here that leaves the connection silent too long closes it (the command queue's rule).
                self.state.subscriber?.sendDetached(Self.ping)
            case .report(let report):
                guard let connection = self.state.interactive else { continue }
                self.state.owner?.liveness(report, on: connection)
            }
        }
        self.reschedule()
    }

    /// Probes and keepalives: encoded once for the process.
    private static let ping = RESPCommand("PING")

    private func probeFinished(on connection: RedisConnection, _ result: Result<RESPValue, RedisClientError>) {
        guard self.state.interactive === connection else { return }
        switch result {
        case .success:
            self.run(self.state.machine.probeAnswered(now: .now))
        case .failure(let error):
            self.run(self.state.machine.probeMissed(now: .now, error: error.description))
        }
    }

    private var subscriberLastRead: ContinuousClock.Instant? {
        self.state.subscriber?.lastReadAtOnEventLoop.map(ProbeClock.instant)
    }

    private func reschedule() {
        guard !self.state.stopped else { return }
        let next = self.state.machine.nextWakeup(lastUsed: self.lastUse.instant, subscriberLastRead: self.subscriberLastRead)
        guard next != self.state.timerAt else { return }
        if let timer = self.state.timer { self.timers.cancel(timer) }
        self.state.timerAt = next
        guard let next else {
            self.state.timer = nil
            return
        }
        // The same instant gives the same NIO deadline in every monitor: the monitors of one probe slot share one
        // timer and fire in one turn.
        self.state.timer = self.timers.schedule(at: ProbeClock.deadline(next)) { [self] in self.timerFired() }
    }

    private func timerFired() {
        self.state.timer = nil
        self.state.timerAt = nil
        guard !self.state.stopped else { return }
        self.run(
            self.state.machine.timerFired(now: .now, lastUsed: self.lastUse.instant, subscriberLastRead: self.subscriberLastRead))
    }
}

/// The probe grid's origin, once per process, in both clocks: an instant of the grid converts to exactly one
/// `NIODeadline`, whichever monitor computes it.
enum ProbeClock {
    static let epoch = (clock: ContinuousClock.now, nio: NIODeadline.now())

    static func deadline(_ instant: ContinuousClock.Instant) -> NIODeadline {
        epoch.nio + epoch.clock.duration(to: instant).timeAmount
    }

    static func instant(_ deadline: NIODeadline) -> ContinuousClock.Instant {
        epoch.clock.advanced(by: .nanoseconds((deadline - epoch.nio).nanoseconds))
    }
}

/// When a caller's command last went on a connection: written by its multiplexer at every command, read by the
/// liveness monitor at every probe (an atomic, not the multiplexer's lock).
final class LastUse: Sendable {
    /// Nanoseconds since ``ProbeClock/epoch``.
    private let nanoseconds: Atomic<Int64>

    init() {
        self.nanoseconds = Atomic(Self.nanoseconds(.now))
    }

    var instant: ContinuousClock.Instant {
        ProbeClock.epoch.clock.advanced(by: .nanoseconds(self.nanoseconds.load(ordering: .relaxed)))
    }

    func record(_ instant: ContinuousClock.Instant) {
        self.nanoseconds.store(Self.nanoseconds(instant), ordering: .relaxed)
    }

    private static func nanoseconds(_ instant: ContinuousClock.Instant) -> Int64 {
        ProbeClock.epoch.clock.duration(to: instant).timeAmount.nanoseconds
    }
}
