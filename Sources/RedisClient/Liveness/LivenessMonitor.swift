import NIOCore
import RESP

/// Runs one endpoint's ``LivenessStateMachine`` on the endpoint's event loop: one timer at the machine's next
/// wake-up, probes and keepalives sent with a callback that completes on that loop (the endpoint's connections
/// live on it), reports handed to the multiplexer. No task waits for anything: the path of one probe is the timer
/// firing, the PING joining the connection's outbound batch, its reply read by the command handler, the callback
/// feeding the machine, all in turns of the one loop.
final class LivenessMonitor: Sendable {
    /// What the monitor asks of the endpoint's owner (the multiplexer), and tells it.
    protocol Owner: AnyObject, Sendable {
        /// When a caller's command last went on the interactive connection.
        var lastUsedAt: ContinuousClock.Instant { get }
        /// The probe's timeout now (relaxed in a maintenance window).
        var probeTimeout: Duration { get }
        /// Hands on an event about `connection` (a probe's latency, unresponsive, responsive).
        func liveness(_ event: MultiplexerEvent, on connection: RedisConnection)
    }

    typealias Machine = LivenessStateMachine<ContinuousClock.Instant>

    private struct State {
        var machine: Machine
        var interactive: RedisConnection?
        var subscriber: RedisConnection?
        var timer: LoopTimers.Token?
        var timerAt: ContinuousClock.Instant?
        var stopped = false
        weak var owner: (any Owner)?
    }

    let eventLoop: any EventLoop
    /// The loop's shared timers: the monitors of one probe slot wait for one NIO timer.
    private let timers: LoopTimers
    private let state: NIOLoopBoundBox<State>

    init(configuration: Machine.Configuration, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.timers = LoopTimers.on(eventLoop)
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(machine: Machine(configuration: configuration)), eventLoop: eventLoop)
    }

    // MARK: events (from any thread)

    /// Sets who the monitor works for (held weakly): before any connection event.
    func setOwner(_ owner: any Owner) {
        self.onLoop { $0.state.value.owner = owner }
    }

    /// `connection` is the endpoint's interactive connection now: it is probed at once.
    func interactiveConnected(_ connection: RedisConnection) {
        self.onLoop { monitor in
            guard !monitor.state.value.stopped else { return }
            monitor.state.value.interactive = connection
            monitor.run(monitor.state.value.machine.interactiveConnected(now: .now))
        }
    }

    /// `connection` has ended; nothing of it counts any more.
    func interactiveDisconnected(_ connection: RedisConnection) {
        self.onLoop { monitor in
            guard monitor.state.value.interactive === connection else { return }
            monitor.state.value.interactive = nil
            monitor.state.value.machine.interactiveDisconnected()
            monitor.reschedule()
        }
    }

    func subscriberConnected(_ connection: RedisConnection) {
        self.onLoop { monitor in
            guard !monitor.state.value.stopped else { return }
            monitor.state.value.subscriber = connection
            monitor.state.value.machine.subscriberConnected(now: .now)
            monitor.reschedule()
        }
    }

    func subscriberDisconnected(_ connection: RedisConnection) {
        self.onLoop { monitor in
            guard monitor.state.value.subscriber === connection else { return }
            monitor.state.value.subscriber = nil
            monitor.state.value.machine.subscriberDisconnected()
            monitor.reschedule()
        }
    }

    /// Stops for good: the timer cancelled, the connections let go.
    func stop() {
        self.onLoop { monitor in
            monitor.state.value.stopped = true
            if let timer = monitor.state.value.timer { monitor.timers.cancel(timer) }
            monitor.state.value.timer = nil
            monitor.state.value.interactive = nil
            monitor.state.value.subscriber = nil
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
                guard let connection = self.state.value.interactive else { continue }
                let monitor = self
                guard let owner = self.state.value.owner else { continue }
                connection.send(RESPCommand("PING"), timeout: owner.probeTimeout) { result in
                    monitor.onLoop { $0.probeFinished(on: connection, result) }
                }
            case .sendKeepalive(.interactive):
                self.state.value.interactive?.sendDetached(RESPCommand("PING"))
            case .sendKeepalive(.subscriber):
                // A timeout here that leaves the connection silent too long closes it (the command queue's rule).
                self.state.value.subscriber?.sendDetached(RESPCommand("PING"))
            case .report(let report):
                guard let connection = self.state.value.interactive else { continue }
                self.state.value.owner?.liveness(report, on: connection)
            }
        }
        self.reschedule()
    }

    private func probeFinished(on connection: RedisConnection, _ result: Result<RESPValue, RedisClientError>) {
        guard self.state.value.interactive === connection else { return }
        switch result {
        case .success:
            self.run(self.state.value.machine.probeAnswered(now: .now))
        case .failure(let error):
            self.run(self.state.value.machine.probeMissed(now: .now, error: error.description))
        }
    }

    private var lastUsed: ContinuousClock.Instant {
        self.state.value.owner?.lastUsedAt ?? .now
    }

    private var subscriberLastRead: ContinuousClock.Instant? {
        self.state.value.subscriber?.lastReadAtOnEventLoop.map(ProbeClock.instant)
    }

    private func reschedule() {
        guard !self.state.value.stopped else { return }
        let next = self.state.value.machine.nextWakeup(lastUsed: self.lastUsed, subscriberLastRead: self.subscriberLastRead)
        guard next != self.state.value.timerAt else { return }
        if let timer = self.state.value.timer { self.timers.cancel(timer) }
        self.state.value.timerAt = next
        guard let next else {
            self.state.value.timer = nil
            return
        }
        // The same instant gives the same NIO deadline in every monitor: the monitors of one probe slot share one
        // timer and fire in one turn.
        self.state.value.timer = self.timers.schedule(at: ProbeClock.deadline(next)) { [self] in self.timerFired() }
    }

    private func timerFired() {
        self.state.value.timer = nil
        self.state.value.timerAt = nil
        guard !self.state.value.stopped else { return }
        self.run(
            self.state.value.machine.timerFired(now: .now, lastUsed: self.lastUsed, subscriberLastRead: self.subscriberLastRead))
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
