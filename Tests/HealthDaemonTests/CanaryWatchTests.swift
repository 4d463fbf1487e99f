import Testing

@testable import HealthDaemon

/// The pub/sub canary's rule, with time passed in: no sockets, no sleeps.
@Suite("Pub/sub canary rule")
struct CanaryWatchTests {
    /// interval 30 s, deadline 2 s (probe_timeout 1 s × probe_failures 2), subscriber up at t = 100.
    func watch(subscriberUp: Bool = true) -> CanaryWatch {
        CanaryWatch(interval: 30, deadline: 2, subscriberUp: subscriberUp, now: 100)
    }

    @Test("a canary is due at once, then every interval after the last PUBLISH")
    func due() {
        var watch = self.watch()
        #expect(watch.next(now: 100) == .publish(sequence: 1))
        watch.published(1, at: 100)
        // In flight: nothing to do until its deadline.
        #expect(watch.next(now: 101) == .wait(until: 102))
        #expect(watch.arrived(1, at: 100.004) != nil)
        #expect(watch.next(now: 100.5) == .wait(until: 130))
        #expect(watch.next(now: 129.999) == .wait(until: 130))
        #expect(watch.next(now: 130) == .publish(sequence: 2))
    }

    @Test("arrived in time: its round trip is recorded, nothing is missed")
    func arrivedInTime() throws {
        var watch = self.watch()
        watch.published(1, at: 100)
        let arrived = watch.arrived(1, at: 101.5)
        let roundTrip = try #require(arrived)
        #expect(abs(roundTrip - 1.5) < 1e-9)
        #expect(watch.lastArrivedAt == 101.5)
        #expect(watch.outstanding == nil)
        #expect(watch.missed == 0)
        // The deadline passing later changes nothing.
        #expect(watch.next(now: 103) == .wait(until: 130))
        // Arriving again (a duplicate) is ignored.
        #expect(watch.arrived(1, at: 103) == nil)
    }

    @Test("not arrived by its deadline: missed once, with its number and PUBLISH time; a late arrival after is ignored")
    func missed() {
        var watch = self.watch()
        watch.published(1, at: 100)
        #expect(watch.next(now: 101.999) == .wait(until: 102))
        #expect(watch.next(now: 102) == .missed(sequence: 1, sentAt: 100))
        #expect(watch.missed == 1 && watch.lastMissedAt == 102)
        // Reported once: the next decision is not another miss.
        #expect(watch.next(now: 102.5) == .wait(until: 130))
        #expect(watch.arrived(1, at: 102.6) == nil, "a canary arriving after its deadline does not count")
        #expect(watch.lastRoundTrip == nil)
    }

    @Test("an arrival just at the deadline counts; a foreign or earlier number does not")
    func boundaries() {
        var watch = self.watch()
        watch.published(1, at: 100)
        #expect(watch.arrived(7, at: 100.1) == nil)
        #expect(watch.arrived(1, at: 102) == 2)
        watch.published(2, at: 130)
        #expect(watch.arrived(1, at: 130.1) == nil, "canary 1 again (a duplicate) is not canary 2")
        #expect(watch.next(now: 132) == .missed(sequence: 2, sentAt: 130))
    }

    @Test("after a reconnect: nothing published while the subscriber is down, the canary in flight is not a miss, the next is due at once when it is subscribed again")
    func afterReconnect() {
        var watch = self.watch()
        watch.published(1, at: 100)
        #expect(watch.next(now: 102) == .missed(sequence: 1, sentAt: 100))
        // The driver closes the subscriber connection.
        watch.subscriberDown()
        #expect(watch.next(now: 102.1) == .wait(until: nil))
        #expect(watch.next(now: 500) == .wait(until: nil), "however long: no PUBLISH into a connection being rebuilt")
        watch.subscriberUp(now: 500.2)
        #expect(watch.next(now: 500.2) == .publish(sequence: 2))
        watch.published(2, at: 500.2)
        #expect(watch.arrived(2, at: 500.25) != nil)
        #expect(watch.missed == 1)

        // A subscriber failing while a canary is in flight: dropped, not missed.
        watch.published(3, at: 600)
        watch.subscriberDown()
        #expect(watch.next(now: 700) == .wait(until: nil))
        #expect(watch.missed == 1)
        #expect(watch.arrived(3, at: 600.1) == nil)
    }

    @Test("starting with the subscriber not yet up: waits for it")
    func startsDown() {
        var watch = self.watch(subscriberUp: false)
        #expect(watch.next(now: 100) == .wait(until: nil))
        watch.subscriberUp(now: 101)
        #expect(watch.next(now: 101) == .publish(sequence: 1))
    }

    @Test("a PUBLISH that failed (interactive connection down) is neither in flight nor missed; the next waits the interval")
    func publishFailed() {
        var watch = self.watch()
        watch.published(1, at: 100)
        watch.publishFailed(1)
        #expect(watch.next(now: 110) == .wait(until: 130))
        #expect(watch.missed == 0)
        #expect(watch.next(now: 130) == .publish(sequence: 2))
    }

    @Test("a deadline longer than the interval: one canary in flight at a time")
    func oneInFlight() {
        var watch = CanaryWatch(interval: 0.5, deadline: 2, subscriberUp: true, now: 0)
        watch.published(1, at: 0)
        #expect(watch.next(now: 1) == .wait(until: 2))
        #expect(watch.arrived(1, at: 1.5) != nil)
        #expect(watch.next(now: 1.5) == .publish(sequence: 2))
    }

    @Test("message format: the number first, then the time; anything else is not a canary")
    func messages() {
        let message = CanaryWatch.message(sequence: 42, wallClock: 1_800_000_000)
        #expect(message.hasPrefix("42 2027-"))
        #expect(CanaryWatch.sequence(of: message) == 42)
        #expect(CanaryWatch.sequence(of: "hello") == nil)
        #expect(CanaryWatch.sequence(of: "") == nil)
    }
}
