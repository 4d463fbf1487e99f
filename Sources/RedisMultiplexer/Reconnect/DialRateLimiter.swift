import Synchronization

/// Spreads the connection attempts of many multiplexers (one cluster's nodes) over time: at most one dial per
/// `interval`, granted in the order asked. A topology announcing a thousand unreachable nodes then costs a
/// steady trickle of dials instead of a thousand at once, every backoff round.
public final class DialRateLimiter: Sendable {
    /// Time between two dials. [50 ms: 20 dials a second]
    public let interval: Duration
    private let nextFree: Mutex<ContinuousClock.Instant>

    public init(interval: Duration = .milliseconds(50)) {
        self.interval = interval
        self.nextFree = Mutex(.now)
    }

    /// Books the next free turn at or after `now`.
    func reserve(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        self.nextFree.withLock { nextFree in
            let turn = max(nextFree, now)
            nextFree = turn.advanced(by: self.interval)
            return turn
        }
    }

    /// Waits for this caller's turn. Returns false when the waiting task was cancelled.
    public func acquire() async -> Bool {
        let now = ContinuousClock.now
        let turn = self.reserve(now: now)
        guard turn > now else { return !Task.isCancelled }
        do {
            try await Task.sleep(until: turn, clock: .continuous)
            return true
        } catch {
            return false
        }
    }
}
