/// The life of one connection role of an endpoint (interactive or subscriber), as a value: connect, hold the
/// connection, back off after a failure, connect again, shut down; and the callers waiting for a connection
/// meanwhile (the backlog). It reads no clock and draws no random number itself (every event brings them) and does
/// no I/O: the multiplexer's connection loop runs what it answers, the tests drive it through timelines.
///
///     idle ─start→ connecting ─succeeded→ connected ─ended→ backingOff ─elapsed→ connecting …
///                  connecting ─failed→ backingOff
///     any ─shutdown→ shutDown (closing first while a connect is under way: what it brings is closed)
///
/// The rules:
/// - Attempts back off exponentially with full jitter (``Backoff``), spaced by their start time: a slow failure (a
///   handshake timing out) is not followed by a further wait, so an attempt is nearly always under way when the
///   path comes back. Before the role has ever connected the backoff's cap may be higher (``Configuration``).
/// - A connection that lived for the healthy period starts the count again: its successor's first wait is short.
/// - An attempt the dial limiter defers waits a backoff step, at least `deferredAtLeast`, without being announced.
/// - A caller that needs a connection gets the one up, or waits for the next (policy queue, at most `maxBacklog`
///   waiting), or is refused at once (policy fail-fast; shut down; backlog full). Waiters are handed the next
///   connection when it comes, or failed at shutdown; one that times out or is cancelled is removed by its id.
struct ConnectionLifecycleStateMachine<Connection: AnyObject, Waiter, Instant: InstantProtocol> where Instant.Duration == Duration {
    struct Configuration {
        /// Between attempts once the role has connected, and before it ever has.
        var backoff: Backoff
        var firstBackoff: Backoff
        var healthyPeriod: Duration
        /// Nil: fail-fast (callers never wait); else at most this many wait.
        var maxBacklog: Int?
        /// The least wait of an attempt the dial limiter deferred.
        var deferredAtLeast: Duration = .milliseconds(50)
    }

    enum State {
        case idle
        case connecting(attempt: Int, started: Instant)
        case connected(Connection, attempt: Int, started: Instant)
        case backingOff(attempt: Int)
        /// Shut down while a connect is under way: the connection it brings is closed at once.
        case closing
        case shutDown
    }

    /// What the connection loop does next.
    enum Action {
        /// Dial (attempt `attempt`, 0-based), then say ``connectSucceeded(_:now:)``, ``connectFailed(now:using:)`` or
        /// ``dialDeferred(now:using:)``.
        case connect(attempt: Int)
        /// Sleep until `until`, then say ``backoffElapsed(now:)``. `announced`: the attempt and delay to report
        /// (a reconnect scheduled); nil for a deferred dial.
        case sleep(until: Instant, announced: (attempt: Int, delay: Duration)?)
        /// Nothing: the event did not concern the current attempt or connection (the loop has nothing to run).
        case ignored
        /// Shut down: the loop ends.
        case stop
    }

    /// What to do with a connection that just came up.
    enum Arrival {
        /// Make it the current one and hand it to these waiters; `restored`: the role had failed before.
        case install(restored: Bool, waiters: [Waiter])
        /// Shut down meanwhile: close it.
        case close
    }

    /// What a caller that needs a connection gets.
    enum Admission {
        case ready(Connection)
        /// It waits (see ``removeWaiter(_:)``).
        case wait
        case refused(Refusal)
    }

    enum Refusal: Equatable {
        case failFast
        case backlogFull(Int)
        case shutDown
    }

    let configuration: Configuration
    private(set) var state: State = .idle
    private var everConnected = false
    /// Whether a connection of this role has failed (or ended) before: the next one restores it.
    private(set) var everFailed = false
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiterID = 0

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The connection up, if any.
    var connection: Connection? {
        if case .connected(let connection, _, _) = self.state { return connection }
        return nil
    }

    var isShutDown: Bool {
        switch self.state {
        case .closing, .shutDown: true
        case .idle, .connecting, .connected, .backingOff: false
        }
    }

    var waiting: Int { self.waiters.count }

    // MARK: the connection loop's events

    mutating func start(now: Instant) -> Action {
        guard case .idle = self.state else { return self.isShutDown ? .stop : .ignored }
        self.state = .connecting(attempt: 0, started: now)
        return .connect(attempt: 0)
    }

    /// The dial limiter deferred the attempt: it waits a backoff step (at least `deferredAtLeast`), unannounced.
    mutating func dialDeferred(now: Instant, using generator: inout some RandomNumberGenerator) -> Action {
        guard case .connecting(let attempt, _) = self.state else { return self.stopIfShutDown() }
        let delay = max(self.backoff.delay(attempt: attempt, using: &generator), self.configuration.deferredAtLeast)
        self.state = .backingOff(attempt: attempt + 1)
        return .sleep(until: now.advanced(by: delay), announced: nil)
    }

    mutating func connectSucceeded(_ connection: Connection, now: Instant) -> Arrival {
        guard case .connecting(let attempt, let started) = self.state else {
            self.state = .shutDown
            return .close
        }
        self.state = .connected(connection, attempt: attempt, started: started)
        self.everConnected = true
        let waiters = Array(self.waiters.values)
        self.waiters = [:]
        return .install(restored: self.everFailed, waiters: waiters)
    }

    /// The attempt failed: the next one comes a backoff step after this one started.
    mutating func connectFailed(now: Instant, using generator: inout some RandomNumberGenerator) -> Action {
        guard case .connecting(let attempt, let started) = self.state else { return self.stopIfShutDown() }
        self.everFailed = true
        return self.backOff(attempt: attempt, started: started, using: &generator)
    }

    /// `connection` ended (failed, closed, declared dead). A connection that lived for the healthy period starts the
    /// count of attempts again.
    mutating func connectionEnded(_ connection: Connection, now: Instant, using generator: inout some RandomNumberGenerator) -> Action {
        guard case .connected(let current, var attempt, let started) = self.state, current === connection else {
            return self.stopIfShutDown()
        }
        self.everFailed = true
        if started.duration(to: now) >= self.configuration.healthyPeriod { attempt = 0 }
        return self.backOff(attempt: attempt, started: started, using: &generator)
    }

    mutating func backoffElapsed(now: Instant) -> Action {
        guard case .backingOff(let attempt) = self.state else { return self.stopIfShutDown() }
        self.state = .connecting(attempt: attempt, started: now)
        return .connect(attempt: attempt)
    }

    private var backoff: Backoff { self.everConnected ? self.configuration.backoff : self.configuration.firstBackoff }

    private mutating func backOff(attempt: Int, started: Instant, using generator: inout some RandomNumberGenerator) -> Action {
        let delay = self.backoff.delay(attempt: attempt, using: &generator)
        self.state = .backingOff(attempt: attempt + 1)
        return .sleep(until: started.advanced(by: delay), announced: (attempt, delay))
    }

    private mutating func stopIfShutDown() -> Action {
        guard self.isShutDown else { return .ignored }
        self.state = .shutDown
        return .stop
    }

    // MARK: callers

    /// The id a caller will wait under, taken before it may wait (so that its cancellation can name it).
    mutating func reserveWaiterID() -> Int {
        defer { self.nextWaiterID += 1 }
        return self.nextWaiterID
    }

    /// A caller needs a connection: `usable` says whether the one up still is (its channel may have closed before
    /// its end reached this machine). If it must wait, it waits under `id` (from ``reserveWaiterID()``).
    mutating func admit(_ waiter: Waiter, id: Int, usable: (Connection) -> Bool) -> Admission {
        if let connection = self.connection, usable(connection) { return .ready(connection) }
        if self.isShutDown { return .refused(.shutDown) }
        guard let maxBacklog = self.configuration.maxBacklog else { return .refused(.failFast) }
        guard self.waiters.count < maxBacklog else { return .refused(.backlogFull(maxBacklog)) }
        self.waiters[id] = waiter
        return .wait
    }

    /// The waiter `id` gave up (timed out, cancelled): returned to be failed, unless it was handed a connection or
    /// failed already.
    mutating func removeWaiter(_ id: Int) -> Waiter? {
        self.waiters.removeValue(forKey: id)
    }

    // MARK: shutdown

    /// Shuts down: the waiters to fail and the connection to close.
    mutating func shutdown() -> (waiters: [Waiter], connection: Connection?) {
        let connection = self.connection
        switch self.state {
        case .connecting: self.state = .closing
        case .closing: break
        case .idle, .connected, .backingOff, .shutDown: self.state = .shutDown
        }
        let waiters = Array(self.waiters.values)
        self.waiters = [:]
        return (waiters, connection)
    }
}
