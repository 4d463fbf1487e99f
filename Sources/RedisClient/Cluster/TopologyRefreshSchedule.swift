/// When to read a cluster's topology again: periodically, and soon after a trigger (MOVED, ASK, a connection
/// failure, a maintenance event), but never more often than the minimum interval. A pure value: time is
/// passed in.
public struct TopologyRefreshSchedule<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    /// Time between periodic refreshes. [60 s]
    public var interval: Duration
    /// Least time between two refreshes, however many triggers come. [5 s]
    public var minimumInterval: Duration
    /// When the last refresh started.
    public private(set) var lastRefresh: Instant?
    /// A triggered refresh waiting for its turn, and what triggered it first.
    public private(set) var pending: (at: Instant, trigger: String)?

    public init(interval: Duration = .seconds(60), minimumInterval: Duration = .seconds(5)) {
        self.interval = interval
        self.minimumInterval = minimumInterval
    }

    public enum Decision: Sendable, Equatable {
        /// Refresh at this instant (now, or when the minimum interval has passed).
        case scheduled(Instant)
        /// A refresh is already scheduled for this instant; the trigger joins it.
        case coalesced(Instant)
    }

    /// Something suggests the topology changed.
    public mutating func triggered(_ trigger: String, now: Instant) -> Decision {
        if let pending = self.pending { return .coalesced(pending.at) }
        let earliest = self.lastRefresh.map { $0.advanced(by: self.minimumInterval) } ?? now
        let at = max(earliest, now)
        self.pending = (at, trigger)
        return .scheduled(at)
    }

    /// When the next refresh is due: a pending trigger's instant, else a period after the last refresh (now if
    /// there never was one).
    public func nextRefresh(now: Instant) -> Instant {
        let periodic = self.lastRefresh.map { $0.advanced(by: self.interval) } ?? now
        guard let pending = self.pending else { return periodic }
        return min(pending.at, periodic)
    }

    /// Whether a refresh is due at `now`; if so it counts as started and its trigger is returned
    /// (`initial`, `periodic` or the first pending trigger).
    public mutating func startIfDue(now: Instant) -> String? {
        guard self.nextRefresh(now: now) <= now else { return nil }
        let trigger: String
        if let pending = self.pending, pending.at <= now {
            trigger = pending.trigger
        } else {
            trigger = self.lastRefresh == nil ? "initial" : "periodic"
        }
        self.pending = nil
        self.lastRefresh = now
        return trigger
    }
}
