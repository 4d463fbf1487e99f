import Testing

@testable import RedisMultiplexer

/// Probes of connections that came up together spread over the interval; never later than one interval.
@Suite("Probe schedule")
struct ProbeScheduleTests {
    let schedule = ProbeSchedule(interval: .seconds(1))

    @Test("after a connection's first probe the next comes after a part of the interval, never more than one")
    func firstProbeSpreads() {
        #expect(schedule.next(after: TestInstant.at(10), firstOnConnection: true, jitter: 0) == .at(10.05))
        #expect(schedule.next(after: TestInstant.at(10), firstOnConnection: true, jitter: 0.5) == .at(10.525))
        #expect(schedule.next(after: TestInstant.at(10), firstOnConnection: true, jitter: 1) == .at(11))
        // Out-of-range jitter is clamped: never sooner than 5 % of the interval, never later than one interval.
        #expect(schedule.next(after: TestInstant.at(10), firstOnConnection: true, jitter: -3) == .at(10.05))
        #expect(schedule.next(after: TestInstant.at(10), firstOnConnection: true, jitter: 7) == .at(11))
    }

    @Test("later probes are one interval apart, by start time, whatever the jitter")
    func laterProbesKeepTheirPhase() {
        #expect(schedule.next(after: TestInstant.at(10.525), firstOnConnection: false, jitter: 0) == .at(11.525))
        #expect(schedule.next(after: TestInstant.at(10.525), firstOnConnection: false, jitter: 0.9) == .at(11.525))
    }

    @Test("1,000 connections that came up in the same millisecond probe at spread-out moments")
    func thousandConnectionsSpread() {
        var generator = SeededGenerator(state: 42)
        let start = TestInstant.at(0)
        var second = [Int](repeating: 0, count: 10)  // probes per tenth of the interval, from the second round on
        for _ in 0..<1000 {
            var due = schedule.next(after: start, firstOnConnection: true, jitter: Double.random(in: 0...1, using: &generator))
            for _ in 0..<5 { due = schedule.next(after: due, firstOnConnection: false, jitter: 0) }
            let phase = due.offset - .seconds(5)
            let tenth = Int(Double(phase.components.attoseconds) / 1e17)
            second[min(max(tenth, 0), 9)] += 1
        }
        // Uniform: about 100 per tenth; no tenth holds a herd.
        #expect(second.allSatisfy { $0 < 160 }, "\(second)")
        #expect(second.allSatisfy { $0 > 40 }, "\(second)")
    }
}
