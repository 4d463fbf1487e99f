import Testing

@testable import RedisClient

/// Probes of connections that came up together spread over the interval's slots; one interval apart after that.
@Suite("Probe schedule")
struct ProbeScheduleTests {
    let schedule = ProbeSchedule(interval: .seconds(1), slots: 10)
    let epoch = TestInstant.at(0)

    @Test("after a connection's first probe the next comes at its slot, at least 5 % of the interval later")
    func secondProbeAtTheSlot() {
        // Slot 3: instants 0.3, 1.3, 2.3, … A first probe at 10.02 is followed at 10.3.
        #expect(schedule.next(after: TestInstant.at(10.02), epoch: epoch, slot: 3, firstOnConnection: true) == .at(10.3))
        // Right before the slot instant: not back to back, the next round.
        #expect(schedule.next(after: TestInstant.at(10.28), epoch: epoch, slot: 3, firstOnConnection: true) == .at(11.3))
        // Slot 0 on a probe at exactly 10.0: 11.0 (10.0 + 5 % is past 10.0).
        #expect(schedule.next(after: TestInstant.at(10), epoch: epoch, slot: 0, firstOnConnection: true) == .at(11))
        // Slots out of range are clamped.
        #expect(schedule.next(after: TestInstant.at(10.02), epoch: epoch, slot: 42, firstOnConnection: true) == .at(10.9))
    }

    @Test("later probes are one interval apart on the slot's grid, a few milliseconds of lateness absorbed")
    func laterProbesKeepTheGrid() {
        #expect(schedule.next(after: TestInstant.at(10.3), epoch: epoch, slot: 3, firstOnConnection: false) == .at(11.3))
        #expect(schedule.next(after: TestInstant.at(10.304), epoch: epoch, slot: 3, firstOnConnection: false) == .at(11.3))
        // A probe that ran 150 ms late (a busy machine) is not followed 850 ms later but at the next slot instant
        // at least 900 ms after it.
        #expect(schedule.next(after: TestInstant.at(10.45), epoch: epoch, slot: 3, firstOnConnection: false) == .at(12.3))
    }

    @Test("1,000 connections that came up in the same millisecond probe in ten slots of about 100 each")
    func thousandConnectionsSpread() {
        var generator = SeededGenerator(state: 42)
        var perSlotInstant: [TestInstant: Int] = [:]
        for _ in 0..<1000 {
            let slot = Int.random(in: 0..<10, using: &generator)
            var due = schedule.next(after: TestInstant.at(0.001), epoch: epoch, slot: slot, firstOnConnection: true)
            for _ in 0..<5 { due = schedule.next(after: due, epoch: epoch, slot: slot, firstOnConnection: false) }
            perSlotInstant[due, default: 0] += 1
        }
        // Ten distinct instants in the sixth round, none holding a herd.
        #expect(perSlotInstant.count == 10)
        #expect(perSlotInstant.values.allSatisfy { $0 > 50 && $0 < 150 }, "\(perSlotInstant.values.sorted())")
    }
}
