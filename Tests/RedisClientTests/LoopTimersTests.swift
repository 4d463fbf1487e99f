import NIOCore
import NIOEmbedded
import Testing

@testable import RedisClient

/// The coalesced timers of one loop, on an embedded loop whose clock only moves when told: no sleeps.
@Suite("Coalesced timers of one event loop")
struct LoopTimersTests {
    @Test("callbacks for one deadline share one timer and run at it, not before, in the order they were scheduled")
    func sharedDeadline() {
        let loop = EmbeddedEventLoop()
        let timers = LoopTimers.on(loop)
        var fired: [String] = []
        let deadline = NIODeadline.uptimeNanoseconds(0) + .milliseconds(100)
        _ = timers.schedule(at: deadline) { fired.append("a") }
        _ = timers.schedule(at: deadline) { fired.append("b") }
        _ = timers.schedule(at: deadline + .milliseconds(50)) { fired.append("c") }
        #expect(timers.pending.callbacks == 3 && timers.pending.deadlines == 2)
        loop.advanceTime(by: .milliseconds(99))
        #expect(fired.isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(fired == ["a", "b"])
        loop.advanceTime(by: .milliseconds(50))
        #expect(fired == ["a", "b", "c"])
        #expect(timers.pending.callbacks == 0 && timers.pending.deadlines == 0)
    }

    @Test("a cancelled callback is not called, even when cancelled by another of the same deadline as it fires")
    func cancellation() {
        let loop = EmbeddedEventLoop()
        let timers = LoopTimers.on(loop)
        var fired: [String] = []
        let deadline = NIODeadline.uptimeNanoseconds(0) + .milliseconds(10)
        let cancelled = timers.schedule(at: deadline) { fired.append("cancelled") }
        timers.cancel(cancelled)
        var second: LoopTimers.Token?
        _ = timers.schedule(at: deadline) {
            fired.append("first")
            if let second { timers.cancel(second) }
            // Added for the deadline being fired: called at a later turn, not within this one.
            _ = timers.schedule(at: deadline) { fired.append("added while firing") }
        }
        second = timers.schedule(at: deadline) { fired.append("second") }
        loop.advanceTime(by: .milliseconds(10))
        #expect(fired == ["first", "added while firing"])
        // Cancelling what already ran does nothing.
        timers.cancel(cancelled)
        #expect(timers.pending.callbacks == 0 && timers.pending.deadlines == 0)
    }

    @Test("one instance per loop; command deadlines rounded up to the millisecond")
    func registryAndRounding() {
        let first = EmbeddedEventLoop()
        let second = EmbeddedEventLoop()
        #expect(LoopTimers.on(first) === LoopTimers.on(first))
        #expect(LoopTimers.on(first) !== LoopTimers.on(second))
        #expect(LoopTimers.on(second).eventLoop === second)
        #expect(NIODeadline.uptimeNanoseconds(5_000_000).roundedUpToMillisecond == .uptimeNanoseconds(5_000_000))
        #expect(NIODeadline.uptimeNanoseconds(5_000_001).roundedUpToMillisecond == .uptimeNanoseconds(6_000_000))
        #expect(NIODeadline.distantFuture.roundedUpToMillisecond == .distantFuture)
    }
}
