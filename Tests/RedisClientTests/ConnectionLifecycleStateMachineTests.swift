import Testing

@testable import RedisClient

/// The connection life as timelines on a manual clock, with a random source that always draws the ceiling (so
/// every backoff delay is its upper bound: base × 2ⁿ, capped): connect, back off from the attempt's start, start
/// the count again after a healthy connection, defer a dial, hand the next connection to the backlog, shut down.
@Suite("Connection lifecycle state machine")
struct ConnectionLifecycleStateMachineTests {
    final class Connection: CustomStringConvertible {
        let name: String
        init(_ name: String) { self.name = name }
        var description: String { self.name }
    }

    typealias Machine = ConnectionLifecycleStateMachine<Connection, String, TestInstant>

    /// Draws the largest value every time: `Int64.random(in: 0...n)` gives n.
    struct Ceiling: RandomNumberGenerator {
        mutating func next() -> UInt64 { .max }
    }

    static func machine(maxBacklog: Int? = 2) -> Machine {
        Machine(
            configuration: Machine.Configuration(
                backoff: Backoff(base: .milliseconds(100), cap: .seconds(2)),
                firstBackoff: Backoff(base: .milliseconds(100), cap: .seconds(30)),
                healthyPeriod: .seconds(5), maxBacklog: maxBacklog))
    }

    /// What an action looks like in a timeline.
    enum Expect: Equatable {
        case connect(Int)
        case sleep(until: Double, announced: (attempt: Int, delay: Double)?)
        case ignored
        case stop

        static func == (lhs: Expect, rhs: Expect) -> Bool {
            switch (lhs, rhs) {
            case (.connect(let a), .connect(let b)): a == b
            case (.sleep(let a, let x), .sleep(let b, let y)): a == b && x?.attempt == y?.attempt && x?.delay == y?.delay
            case (.ignored, .ignored), (.stop, .stop): true
            default: false
            }
        }
    }

    static func expect(_ action: Machine.Action) -> Expect {
        switch action {
        case .connect(let attempt): .connect(attempt)
        case .sleep(let until, let announced):
            .sleep(until: seconds(until), announced: announced.map { ($0.attempt, seconds($0.delay)) })
        case .ignored: .ignored
        case .stop: .stop
        }
    }

    static func seconds(_ instant: TestInstant) -> Double { seconds(instant.offset) }
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    @Test("failed attempts back off exponentially, spaced by their start; the never-connected cap applies until a first connection")
    func backoffFromAttemptStart() {
        var machine = Self.machine()
        var random = Ceiling()
        #expect(Self.expect(machine.start(now: .at(0))) == .connect(0))
        // Attempt 0 started at 0 and failed at 0.05: the next starts 0.1 after the start, announced.
        #expect(Self.expect(machine.connectFailed(now: .at(0.05), using: &random)) == .sleep(until: 0.1, announced: (0, 0.1)))
        #expect(Self.expect(machine.backoffElapsed(now: .at(0.1))) == .connect(1))
        // A slow failure (a handshake that timed out after 1.5 s) is not followed by a further wait.
        #expect(Self.expect(machine.connectFailed(now: .at(1.6), using: &random)) == .sleep(until: 0.3, announced: (1, 0.2)))
        #expect(Self.expect(machine.backoffElapsed(now: .at(1.6))) == .connect(2))
        #expect(Self.expect(machine.connectFailed(now: .at(1.7), using: &random)) == .sleep(until: 2.0, announced: (2, 0.4)))
        // Never connected: the cap is 30 s, not 2 s.
        for _ in 3..<8 {
            _ = machine.backoffElapsed(now: .at(100))
            _ = machine.connectFailed(now: .at(100), using: &random)
        }
        _ = machine.backoffElapsed(now: .at(200))
        #expect(Self.expect(machine.connectFailed(now: .at(200.1), using: &random)) == .sleep(until: 225.6, announced: (8, 25.6)))
        _ = machine.backoffElapsed(now: .at(300))
        #expect(Self.expect(machine.connectFailed(now: .at(300.1), using: &random)) == .sleep(until: 330, announced: (9, 30)))
    }

    @Test("a connection restores the role after failures; one that lived the healthy period starts the count again")
    func healthyPeriodResetsAttempts() {
        var machine = Self.machine()
        var random = Ceiling()
        _ = machine.start(now: .at(0))
        _ = machine.connectFailed(now: .at(0.01), using: &random)
        _ = machine.backoffElapsed(now: .at(0.1))
        let first = Connection("first")
        guard case .install(let restored, let waiters) = machine.connectSucceeded(first, now: .at(0.12)) else {
            Issue.record("not installed")
            return
        }
        #expect(restored)
        #expect(waiters.isEmpty)
        #expect(machine.connection === first)
        // It lived 1 s (< 5 s): attempt 1 goes on to 2; the cap is now the connected one (2 s).
        #expect(Self.expect(machine.connectionEnded(first, now: .at(1.1), using: &random)) == .sleep(until: 0.3, announced: (1, 0.2)))
        #expect(machine.connection == nil)
        _ = machine.backoffElapsed(now: .at(1.1))
        let second = Connection("second")
        _ = machine.connectSucceeded(second, now: .at(1.2))
        // It lived 60 s: the count starts again, the first wait is short.
        #expect(Self.expect(machine.connectionEnded(second, now: .at(61.1), using: &random)) == .sleep(until: 1.2, announced: (0, 0.1)))
        // The end of a connection that is not the current one changes nothing.
        #expect(Self.expect(machine.connectionEnded(first, now: .at(62), using: &random)) == .ignored)
    }

    @Test("a deferred dial waits a backoff step, at least 50 ms, unannounced, and counts as an attempt")
    func deferredDial() {
        var machine = Self.machine()
        var random = Ceiling()
        _ = machine.start(now: .at(0))
        #expect(Self.expect(machine.dialDeferred(now: .at(0), using: &random)) == .sleep(until: 0.1, announced: nil))
        #expect(Self.expect(machine.backoffElapsed(now: .at(0.1))) == .connect(1))
        // A backoff step shorter than 50 ms still waits 50 ms.
        var short = Machine(
            configuration: Machine.Configuration(
                backoff: Backoff(base: .milliseconds(10), cap: .seconds(2)), firstBackoff: Backoff(base: .milliseconds(10), cap: .seconds(2)),
                healthyPeriod: .seconds(5), maxBacklog: nil))
        _ = short.start(now: .at(0))
        #expect(Self.expect(short.dialDeferred(now: .at(0.1), using: &random)) == .sleep(until: 0.15, announced: nil))
    }

    @Test("callers: the connection up, or a wait for the next (at most max_backlog), handed over when it comes")
    func backlog() {
        var machine = Self.machine(maxBacklog: 2)
        var random = Ceiling()
        _ = machine.start(now: .at(0))
        let a = machine.reserveWaiterID()
        let b = machine.reserveWaiterID()
        let c = machine.reserveWaiterID()
        #expect(Self.admitted(machine.admit("a", id: a, usable: { _ in true })) == "wait")
        #expect(Self.admitted(machine.admit("b", id: b, usable: { _ in true })) == "wait")
        #expect(Self.admitted(machine.admit("c", id: c, usable: { _ in true })) == "refused backlogFull(2)")
        // b timed out: removed once; a second removal finds nothing.
        #expect(machine.removeWaiter(b) == "b")
        #expect(machine.removeWaiter(b) == nil)
        let connection = Connection("one")
        guard case .install(let restored, let waiters) = machine.connectSucceeded(connection, now: .at(0.01)) else {
            Issue.record("not installed")
            return
        }
        #expect(!restored)
        #expect(waiters == ["a"])
        #expect(machine.removeWaiter(a) == nil, "handed a connection: nothing to fail")
        let d = machine.reserveWaiterID()
        #expect(Self.admitted(machine.admit("d", id: d, usable: { _ in true })) == "ready one")
        // Its channel closed before its end reached the machine: the caller waits for the next.
        let e = machine.reserveWaiterID()
        #expect(Self.admitted(machine.admit("e", id: e, usable: { _ in false })) == "wait")
        _ = machine.connectionEnded(connection, now: .at(1), using: &random)
        #expect(machine.waiting == 1)
    }

    @Test("fail-fast: callers never wait")
    func failFast() {
        var machine = Self.machine(maxBacklog: nil)
        _ = machine.start(now: .at(0))
        let a = machine.reserveWaiterID()
        #expect(Self.admitted(machine.admit("a", id: a, usable: { _ in true })) == "refused failFast")
    }

    @Test("shutdown: waiters failed, the connection to close; a connect under way brings a connection that is closed")
    func shutdown() {
        var machine = Self.machine()
        var random = Ceiling()
        _ = machine.start(now: .at(0))
        let a = machine.reserveWaiterID()
        _ = machine.admit("a", id: a, usable: { _ in true })
        let (waiters, connection) = machine.shutdown()
        #expect(waiters == ["a"])
        #expect(connection == nil)
        #expect(machine.isShutDown)
        // The connect that was under way succeeds: it is closed, the loop stops.
        guard case .close = machine.connectSucceeded(Connection("late"), now: .at(0.1)) else {
            Issue.record("a connection that came after shutdown was installed")
            return
        }
        let b = machine.reserveWaiterID()
        #expect(Self.admitted(machine.admit("b", id: b, usable: { _ in true })) == "refused shutDown")
        #expect(Self.expect(machine.backoffElapsed(now: .at(1))) == .stop)

        var connected = Self.machine()
        _ = connected.start(now: .at(0))
        let up = Connection("up")
        _ = connected.connectSucceeded(up, now: .at(0.01))
        #expect(connected.shutdown().connection === up)
        // Its end, when the close comes through, stops the loop without a failure to report.
        #expect(Self.expect(connected.connectionEnded(up, now: .at(0.02), using: &random)) == .stop)
        // Failing while connecting after shutdown stops too.
        var connecting = Self.machine()
        _ = connecting.start(now: .at(0))
        _ = connecting.shutdown()
        #expect(Self.expect(connecting.connectFailed(now: .at(0.1), using: &random)) == .stop)
    }

    static func admitted(_ admission: Machine.Admission) -> String {
        switch admission {
        case .ready(let connection): "ready \(connection)"
        case .wait: "wait"
        case .refused(let refusal): "refused \(refusal)"
        }
    }
}
