import Synchronization

/// Spreads the connection attempts of many multiplexers (one cluster's nodes) over time: at most one dial per
/// `interval`, granted in the order asked. A topology announcing a thousand unreachable nodes then costs a
/// steady trickle of dials instead of a thousand at once, every backoff round.
///
/// Turns are booked at most `horizon` ahead: a multiplexer that would have to wait longer defers its attempt
/// (it waits its backoff and asks again). So turns booked by multiplexers that went away (the topology shrank)
/// never hold up the others for more than the horizon.
public final class DialRateLimiter: Sendable {
    /// What a multiplexer may do now.
    public enum Turn: Sendable, Hashable {
        /// Dial now.
        case granted
        /// Too many dials are booked: wait the backoff and ask again.
        case deferred
        /// The waiting task was cancelled.
        case cancelled
    }

    /// Time between two dials. [50 ms: 20 dials a second]
    public let interval: Duration
    /// How far ahead a turn may be booked. [2 s]
    public let horizon: Duration
    private let nextFree: Mutex<ContinuousClock.Instant>

    public init(interval: Duration = .milliseconds(50), horizon: Duration = .seconds(2)) {
        self.interval = interval
        self.horizon = horizon
        self.nextFree = Mutex(.now)
    }

    /// Books the next free turn at or after `now`, when it is within the horizon; nil otherwise.
    func reserve(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        self.nextFree.withLock { nextFree in
            let turn = max(nextFree, now)
            guard turn <= now.advanced(by: self.horizon) else { return nil }
            nextFree = turn.advanced(by: self.interval)
            return turn
        }
    }

    /// Waits for this caller's turn.
    public func acquire() async -> Turn {
        let now = ContinuousClock.now
        guard let turn = self.reserve(now: now) else { return .deferred }
        guard turn > now else { return Task.isCancelled ? .cancelled : .granted }
        do {
            try await Task.sleep(until: turn, clock: .continuous)
            return .granted
        } catch {
            return .cancelled
        }
    }
}
