import Testing

@testable import RedisClient

/// An instant of a manual clock: seconds since the test's zero. No real time passes in these tests.
struct TestInstant: InstantProtocol {
    var offset: Duration
    func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }
    func duration(to other: TestInstant) -> Duration { other.offset - offset }
    static func < (lhs: TestInstant, rhs: TestInstant) -> Bool { lhs.offset < rhs.offset }
    static func at(_ seconds: Double) -> TestInstant { TestInstant(offset: .milliseconds(Int64((seconds * 1000).rounded()))) }
}

typealias Guard = ForceReconnectGuard<TestInstant>

/// One step of a timeline: at time `t`, something happens, and the guard must answer `expect`.
enum Step: Sendable, CustomStringConvertible {
    case error(Double, Guard.ErrorKind, Guard.Decision)
    case manual(Double, Guard.Decision)
    case succeeded(Double)
    case failed(Double)
    case recovered(Double)

    var description: String {
        switch self {
        case .error(let t, let kind, let decision): "t=\(t) \(kind) error → \(decision)"
        case .manual(let t, let decision): "t=\(t) manual → \(decision)"
        case .succeeded(let t): "t=\(t) succeeded"
        case .failed(let t): "t=\(t) failed"
        case .recovered(let t): "t=\(t) recovered"
        }
    }
}

struct Timeline: Sendable, CustomTestStringConvertible {
    var name: String
    var configuration = Guard.Configuration()
    var steps: [Step]
    var testDescription: String { name }
}

let timelines: [Timeline] = [
    Timeline(name: "first error only", steps: [.error(0, .connection, .suppress(.firstError))]),
    Timeline(
        name: "errors just under the threshold",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(15, .socket, .suppress(.belowThreshold)),
            .error(29.999, .connection, .suppress(.belowThreshold)),
        ]),
    Timeline(
        name: "errors exactly at and just over the threshold act",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(20, .connection, .suppress(.belowThreshold)),
            .error(30, .socket, .act(.errorThresholdExceeded)),
        ]),
    Timeline(
        name: "a gap longer than the threshold starts a new run",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(31, .connection, .suppress(.firstError)),
            .error(45, .connection, .suppress(.belowThreshold)),
            .error(61, .connection, .act(.errorThresholdExceeded)),
        ]),
    Timeline(
        name: "timeouts do not count by default",
        steps: [
            .error(0, .timeout, .suppress(.errorNotCounted)),
            .error(40, .timeout, .suppress(.errorNotCounted)),
            .error(41, .connection, .suppress(.firstError)),
        ]),
    Timeline(
        name: "timeouts count when enabled",
        configuration: .init(countTimeouts: true),
        steps: [
            .error(0, .timeout, .suppress(.firstError)),
            .error(30, .timeout, .act(.errorThresholdExceeded)),
        ]),
    Timeline(
        name: "a trigger inside the minimum interval is suppressed, then allowed after it",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(30, .connection, .act(.errorThresholdExceeded)),
            .failed(31),
            .error(40, .connection, .suppress(.minimumInterval)),
            .error(60, .connection, .suppress(.minimumInterval)),
            .error(89.9, .connection, .suppress(.minimumInterval)),
            .error(90, .connection, .act(.errorThresholdExceeded)),
        ]),
    Timeline(
        name: "concurrent triggers collapse into the one in progress",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(30, .connection, .act(.errorThresholdExceeded)),
            .error(30, .socket, .suppress(.inProgress)),
            .error(30.5, .connection, .suppress(.inProgress)),
            .manual(30.5, .suppress(.inProgress)),
            .succeeded(31),
            .error(32, .connection, .suppress(.firstError)),
        ]),
    Timeline(
        name: "a failed new connection keeps the old one; errors keep counting from the same run",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(30, .connection, .act(.errorThresholdExceeded)),
            .failed(35),
            // The run did not end: once the minimum interval has passed, the next error acts at once.
            .error(60, .connection, .suppress(.minimumInterval)),
            .error(90, .connection, .act(.errorThresholdExceeded)),
        ]),
    Timeline(
        name: "success ends the run: the threshold starts again",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(30, .connection, .act(.errorThresholdExceeded)),
            .succeeded(31),
            .error(100, .connection, .suppress(.firstError)),
            .error(120, .connection, .suppress(.belowThreshold)),
            .error(130, .connection, .act(.errorThresholdExceeded)),
        ]),
    Timeline(
        name: "recovery on its own ends the run",
        steps: [
            .error(0, .connection, .suppress(.firstError)),
            .error(20, .connection, .suppress(.belowThreshold)),
            .recovered(21),
            .error(25, .connection, .suppress(.firstError)),
            .error(50, .connection, .suppress(.belowThreshold)),
        ]),
    Timeline(
        name: "manual bypasses the error threshold but not the minimum interval",
        steps: [
            .manual(0, .act(.manual)),
            .succeeded(1),
            .manual(30, .suppress(.minimumInterval)),
            .manual(60, .act(.manual)),
        ]),
    Timeline(
        name: "custom thresholds",
        configuration: .init(minimumInterval: .seconds(5), errorThreshold: .seconds(2)),
        steps: [
            .error(0, .socket, .suppress(.firstError)),
            .error(1, .socket, .suppress(.belowThreshold)),
            .error(2, .socket, .act(.errorThresholdExceeded)),
            .succeeded(2.1),
            .error(3, .socket, .suppress(.firstError)),
            .error(5, .socket, .suppress(.minimumInterval)),
            .error(7, .socket, .act(.errorThresholdExceeded)),
        ]),
]

@Suite("Force-reconnect guard")
struct ForceReconnectGuardTests {
    @Test("timelines", arguments: timelines)
    func timeline(_ timeline: Timeline) {
        var guardState = Guard(configuration: timeline.configuration)
        for step in timeline.steps {
            switch step {
            case .error(let t, let kind, let expected):
                #expect(guardState.errorObserved(kind, now: .at(t)) == expected, "\(step)")
            case .manual(let t, let expected):
                #expect(guardState.manualRequest(now: .at(t)) == expected, "\(step)")
            case .succeeded(let t):
                #expect(guardState.isReconnecting, "\(step): nothing was in progress")
                guardState.reconnectSucceeded(now: .at(t))
            case .failed(let t):
                #expect(guardState.isReconnecting, "\(step): nothing was in progress")
                guardState.reconnectFailed(now: .at(t))
            case .recovered(let t):
                guardState.recovered(now: .at(t))
            }
        }
    }

    @Test("it reports how long the minimum interval still runs")
    func minimumIntervalRemaining() {
        var guardState = Guard()
        #expect(guardState.minimumIntervalRemaining(now: .at(0)) == .zero)
        _ = guardState.manualRequest(now: .at(10))
        guardState.reconnectSucceeded(now: .at(11))
        #expect(guardState.minimumIntervalRemaining(now: .at(40)) == .seconds(30))
        #expect(guardState.minimumIntervalRemaining(now: .at(70)) == .zero)
    }
}

@Suite("Backoff")
struct BackoffTests {
    @Test("ceilings double from the base up to the cap")
    func ceilings() {
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(2))
        #expect((0..<7).map { backoff.ceiling(attempt: $0) } == [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
            .seconds(2), .seconds(2),
        ])
        #expect(backoff.ceiling(attempt: 1_000) == .seconds(2))
    }

    @Test("full jitter: delays spread over [0, ceiling]")
    func jitter() {
        let backoff = Backoff()
        var generator = SystemRandomNumberGenerator()
        let delays = (0..<2_000).map { _ in backoff.delay(attempt: 3, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(800) })
        #expect(delays.contains { $0 < .milliseconds(100) })
        #expect(delays.contains { $0 > .milliseconds(700) })
    }
}
