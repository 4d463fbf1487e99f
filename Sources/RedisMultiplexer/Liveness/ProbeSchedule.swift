/// When the next probe of a connection is due.
///
/// Probes are spaced by their start time, `interval` apart. The probe after the first one on a new connection
/// comes after a random part of the interval: connections that came up together (a daemon starting with 1,000
/// targets, a server coming back to many) then probe at spread-out moments instead of all in the same
/// millisecond, every interval, for as long as they live. It never comes later than one interval: spreading
/// only ever makes the first probes more frequent.
public struct ProbeSchedule: Sendable, Hashable {
    public let interval: Duration
    /// The least fraction of the interval before the second probe (so two probes never come back to back).
    public static let leastFraction = 0.05

    public init(interval: Duration) {
        self.interval = interval
    }

    /// When the probe after one that started at `started` is due. `firstOnConnection`: that probe was the first on
    /// its connection; `jitter` (0…1, drawn by the caller) spreads the next one.
    public func next<Instant: InstantProtocol>(
        after started: Instant, firstOnConnection: Bool, jitter: Double
    ) -> Instant where Instant.Duration == Swift.Duration {
        guard firstOnConnection else { return started.advanced(by: self.interval) }
        let fraction = Self.leastFraction + (1 - Self.leastFraction) * min(max(jitter, 0), 1)
        return started.advanced(by: self.interval * fraction)
    }
}
