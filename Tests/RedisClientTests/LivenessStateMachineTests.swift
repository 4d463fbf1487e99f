import Testing

@testable import RedisClient

/// The liveness rules as timelines on a manual clock: probes (at once on a new connection, then on the
/// connection's slot, one at a time), misses counted per connection, unresponsive after N and responsive again,
/// keepalives on idle connections. No connection, no real time.
@Suite("Liveness state machine")
struct LivenessStateMachineTests {
    typealias Machine = LivenessStateMachine<TestInstant>

    enum Event: CustomStringConvertible {
        case connected(Double)
        case disconnected(Double)
        case subscriberConnected(Double)
        case subscriberDisconnected(Double)
        case answered(Double)
        case missed(Double)
        /// The timer at `t`, with callers' last use of the interactive connection and the subscriber's last read.
        case timer(Double, lastUsed: Double = 0, subscriberRead: Double? = nil)

        var description: String {
            switch self {
            case .connected(let t): "t=\(t) connected"
            case .disconnected(let t): "t=\(t) disconnected"
            case .subscriberConnected(let t): "t=\(t) subscriber connected"
            case .subscriberDisconnected(let t): "t=\(t) subscriber disconnected"
            case .answered(let t): "t=\(t) probe answered"
            case .missed(let t): "t=\(t) probe missed"
            case .timer(let t, let used, let read): "t=\(t) timer (last used \(used), subscriber read \(read.map { "\($0)" } ?? "-"))"
            }
        }
    }

    /// A step: an event, the actions it must answer, and when the timer must fire next (nil: not at all).
    struct Step {
        var event: Event
        var actions: [Machine.Action]
        var next: Double?
    }

    struct Timeline: CustomTestStringConvertible, Sendable {
        var name: String
        var probes: Bool = true
        var probeFailures = 2
        var keepalive = 60.0
        var steps: [Step]
        var testDescription: String { self.name }
    }

    static func step(_ event: Event, _ actions: [Machine.Action], next: Double?) -> Step {
        Step(event: event, actions: actions, next: next)
    }

    static func latency(_ seconds: Double) -> Machine.Action { .report(.probe(latency: .milliseconds(Int64((seconds * 1000).rounded())))) }

    /// Slot 3 of a 1 s interval: probes at x.3 s.
    static let timelines: [Timeline] = [
        Timeline(
            name: "a new connection is probed at once, then on its slot, then every interval",
            steps: [
                // While a probe is out, nothing wakes the timer: the probe's outcome comes within its timeout.
                step(.connected(10.0), [.sendProbe], next: nil),
                step(.answered(10.002), [latency(0.002)], next: 10.3),
                step(.timer(10.3), [.sendProbe], next: nil),
                step(.answered(10.301), [latency(0.001)], next: 11.3),
                step(.timer(11.3), [.sendProbe], next: nil),
            ]),
        Timeline(
            name: "one probe at a time: a timer while a probe is out sends none",
            steps: [
                step(.connected(10.0), [.sendProbe], next: nil),
                step(.timer(10.9), [], next: nil),
                // The next probe was due at 10.3 (the slot after the first): it goes at once.
                step(.missed(11.0), [], next: 10.3),
                step(.timer(11.0), [.sendProbe], next: nil),
            ]),
        Timeline(
            name: "two misses in a row → unresponsive once; the next answer → responsive",
            steps: [
                step(.connected(10.0), [.sendProbe], next: nil),
                step(.answered(10.001), [latency(0.001)], next: 10.3),
                step(.timer(10.3), [.sendProbe], next: nil),
                step(.missed(11.3), [], next: 11.3),
                step(.timer(11.3), [.sendProbe], next: nil),
                step(.missed(12.3), [.report(.unresponsive(consecutiveFailures: 2, lastError: "timeout"))], next: 12.3),
                step(.timer(12.3), [.sendProbe], next: nil),
                step(.missed(13.3), [], next: 13.3),
                step(.timer(13.3), [.sendProbe], next: nil),
                step(.answered(13.35), [latency(0.05), .report(.responsive)], next: 14.3),
            ]),
        Timeline(
            name: "an answer between misses starts the count again",
            probeFailures: 2,
            steps: [
                step(.connected(10.0), [.sendProbe], next: nil),
                step(.missed(10.5), [], next: 10.3),
                step(.timer(10.5), [.sendProbe], next: nil),
                // Sent late (10.5): the next slot instant at least 0.9 s later is 12.3.
                step(.answered(10.6), [latency(0.1)], next: 12.3),
                step(.timer(11.3), [], next: 12.3),
                step(.timer(12.3), [.sendProbe], next: nil),
                step(.missed(13.3), [], next: 13.3),
            ]),
        Timeline(
            name: "misses count per connection: a new one starts with none and is reported unresponsive again",
            probeFailures: 1,
            steps: [
                step(.connected(10.0), [.sendProbe], next: nil),
                step(.missed(11.0), [.report(.unresponsive(consecutiveFailures: 1, lastError: "timeout"))], next: 10.3),
                step(.disconnected(11.1), [], next: nil),
                step(.connected(12.0), [.sendProbe], next: nil),
                step(.missed(13.0), [.report(.unresponsive(consecutiveFailures: 1, lastError: "timeout"))], next: 12.3),
            ]),
        Timeline(
            name: "a probe outcome after its connection went counts for nothing",
            steps: [
                step(.connected(10.0), [.sendProbe], next: nil),
                step(.disconnected(10.5), [], next: nil),
                step(.missed(11.0), [], next: nil),
                step(.answered(11.0), [], next: nil),
                step(.timer(20.0), [], next: nil),
            ]),
        Timeline(
            name: "probes off: keepalive only, after the interval of idleness (callers' commands count as use)",
            probes: false, keepalive: 60,
            steps: [
                step(.connected(0), [], next: 60),
                step(.timer(60, lastUsed: 30), [], next: 90),
                step(.timer(90, lastUsed: 30), [.sendKeepalive(.interactive)], next: 150),
                step(.timer(150, lastUsed: 30), [.sendKeepalive(.interactive)], next: 210),
            ]),
        Timeline(
            name: "probes count as use: with probes more often than the keepalive, no keepalive goes",
            keepalive: 5,
            steps: [
                step(.connected(0), [.sendProbe], next: nil),
                step(.answered(0.001), [latency(0.001)], next: 0.3),
                step(.timer(0.3), [.sendProbe], next: nil),
                step(.answered(0.301), [latency(0.001)], next: 1.3),
                step(.timer(1.3), [.sendProbe], next: nil),
                step(.answered(1.301), [latency(0.001)], next: 2.3),
            ]),
        Timeline(
            name: "a probe and a keepalive due together: the probe is the use, no keepalive",
            keepalive: 1,
            steps: [
                step(.connected(0), [.sendProbe], next: nil),
                step(.answered(0.001), [latency(0.001)], next: 0.3),
                step(.timer(1.0), [.sendProbe], next: nil),
            ]),
        Timeline(
            name: "the subscriber gets a keepalive when nothing was read from it for the interval, once per interval",
            probes: false, keepalive: 60,
            steps: [
                step(.subscriberConnected(0), [], next: 60),
                step(.timer(60, subscriberRead: 40), [], next: 100),
                step(.timer(100, subscriberRead: 40), [.sendKeepalive(.subscriber)], next: 160),
                // Its reply was read at 100.01: the next is due an interval after that.
                step(.timer(160, subscriberRead: 100.01), [], next: 160.01),
                step(.subscriberDisconnected(161), [], next: nil),
            ]),
    ]

    static func slot3(_ timeline: Timeline) -> Machine {
        Machine(
            configuration: Machine.Configuration(
                probes: timeline.probes ? ProbeSchedule(interval: .seconds(1), slots: 10) : nil, slot: 3, epoch: .at(0),
                probeFailures: timeline.probeFailures, idlePingInterval: .milliseconds(Int64(timeline.keepalive * 1000))))
    }

    @Test(arguments: timelines)
    func timeline(_ timeline: Timeline) {
        var machine = Self.slot3(timeline)
        var lastUsed = TestInstant.at(0)
        var subscriberRead: TestInstant?
        for step in timeline.steps {
            let actions: [Machine.Action]
            switch step.event {
            case .connected(let t): actions = machine.interactiveConnected(now: .at(t))
            case .disconnected:
                machine.interactiveDisconnected()
                actions = []
            case .subscriberConnected(let t):
                machine.subscriberConnected(now: .at(t))
                actions = []
            case .subscriberDisconnected:
                machine.subscriberDisconnected()
                actions = []
            case .answered(let t): actions = machine.probeAnswered(now: .at(t))
            case .missed(let t): actions = machine.probeMissed(now: .at(t), error: "timeout")
            case .timer(let t, let used, let read):
                lastUsed = .at(used)
                subscriberRead = read.map { .at($0) }
                actions = machine.timerFired(now: .at(t), lastUsed: lastUsed, subscriberLastRead: subscriberRead)
            }
            #expect(actions == step.actions, "\(step.event)")
            #expect(machine.nextWakeup(lastUsed: lastUsed, subscriberLastRead: subscriberRead) == step.next.map { .at($0) }, "\(step.event): next wake-up")
        }
    }

    @Test("1,000 endpoints that came up together: second probes spread over ten slots, none within 50 ms of its first")
    func thousandEndpointsSpread() throws {
        var generator = SeededGenerator(state: 7)
        var perInstant: [TestInstant: Int] = [:]
        for _ in 0..<1000 {
            var machine = Machine(
                configuration: Machine.Configuration(
                    probes: ProbeSchedule(interval: .seconds(1)), slot: Int.random(in: 0..<10, using: &generator), epoch: .at(0),
                    probeFailures: 2, idlePingInterval: .seconds(60)))
            _ = machine.interactiveConnected(now: .at(5.0))
            _ = machine.probeAnswered(now: .at(5.001))
            let next = try #require(machine.nextWakeup(lastUsed: .at(5.0), subscriberLastRead: nil))
            #expect(TestInstant.at(5.0).duration(to: next) >= .milliseconds(50))
            perInstant[next, default: 0] += 1
        }
        #expect(perInstant.count == 10)
        #expect(perInstant.values.allSatisfy { (60...140).contains($0) }, "\(perInstant.values.sorted())")
    }
}
