import NIOCore

/// When the next probe of a connection is due.
///
/// Each connection probes in one of `slots` slots of the interval, drawn at random: its probes fall on the grid
/// `epoch + slot × interval / slots + k × interval`, one interval apart. Connections that came up together (a
/// daemon starting with 1,000 targets, a server coming back to many) are so spread over the interval instead of
/// probing in the same millisecond, and those of one slot share their instants exactly: their timers fire in one
/// turn of the event loop and their probes are handled in one burst, not in a thousand separate wake-ups.
///
/// The first probe on a new connection is immediate (the caller's); the one after it comes at the connection's
/// next slot at least `leastFraction` of the interval later; then one every interval. A probe that ran late
/// (a busy machine) is followed by the next slot instant at least `interval × (1 − 1/slots)` after it.
public struct ProbeSchedule: Sendable, Hashable {
    public let interval: Duration
    /// How many slots the interval is cut into.
    public let slots: Int
    /// The least fraction of the interval between a connection's first probe and its second.
    public static let leastFraction = 0.05

    public init(interval: Duration, slots: Int = 10) {
        precondition(slots >= 1, "at least one slot")
        self.interval = interval
        self.slots = slots
    }

    /// When the probe after one that started at `started` is due, on `slot`'s grid counted from `epoch`.
    /// `firstOnConnection`: that probe was the first on its connection.
    public func next<Instant: InstantProtocol>(
        after started: Instant, epoch: Instant, slot: Int, firstOnConnection: Bool
    ) -> Instant where Instant.Duration == Swift.Duration {
        let interval = Self.nanoseconds(self.interval)
        let phase = interval * Int64(min(max(slot, 0), self.slots - 1)) / Int64(self.slots)
        let gap = firstOnConnection ? Int64(Double(interval) * Self.leastFraction) : interval - interval / Int64(self.slots)
        let earliest = Self.nanoseconds(epoch.duration(to: started)) + gap
        // The first grid instant of the slot at or after `earliest`.
        let rounds = Self.divideRoundingUp(earliest - phase, interval)
        return epoch.advanced(by: .nanoseconds(phase + rounds * interval))
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.timeAmount.nanoseconds
    }

    private static func divideRoundingUp(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor > 0 ? quotient + 1 : quotient
    }
}
