/// Exponential backoff with full jitter: attempt n waits a random time in [0, min(cap, base × 2ⁿ)].
///
/// Pure: the random source is passed in, so tests can fix it.
public struct Backoff: Sendable, Hashable {
    /// First step's upper bound. [100 ms]
    public var base: Duration
    /// Largest wait. [2 s]
    public var cap: Duration

    public init(base: Duration = .milliseconds(100), cap: Duration = .seconds(2)) {
        self.base = base
        self.cap = cap
    }

    /// The upper bound for attempt `attempt` (0-based): min(cap, base × 2^attempt).
    public func ceiling(attempt: Int) -> Duration {
        let exponent = min(max(attempt, 0), 30)
        let ceiling = self.base * (1 << exponent)
        return min(ceiling, self.cap)
    }

    /// A random delay for attempt `attempt` in [0, ceiling].
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = self.ceiling(attempt: attempt)
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &generator))
    }
}
