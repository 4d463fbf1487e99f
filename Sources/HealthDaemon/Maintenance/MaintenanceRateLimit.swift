/// How many maintenance notifications of one target are recorded (event log, journal): a token bucket, at most
/// `burst` at once and `perMinute` a minute after that. Anybody who can PUBLISH on the maintenance channel can send
/// thousands; the rest are counted (metric, and one "N maintenance events suppressed" entry when recording resumes).
/// A pure value: time is passed in (seconds, any monotonic origin).
public struct MaintenanceRateLimit: Sendable, Hashable {
    /// What to do with one notification.
    public enum Decision: Sendable, Hashable {
        /// Record it; `suppressedBefore` notifications were dropped since the last one recorded (0: none).
        case record(suppressedBefore: Int)
        /// Drop it (count it); `first` for the first drop of a flood (a flood ends when a notification is
        /// recorded with none dropped before it).
        case suppress(first: Bool)
    }

    /// Notifications recorded a minute, once the burst is spent. [10]
    public let perMinute: Double
    /// Notifications recorded at once. [10]
    public let burst: Double
    private var tokens: Double
    private var last: Double?
    /// Dropped since the last one recorded.
    public private(set) var suppressed = 0
    private var flooding = false

    public init(perMinute: Int = 10, burst: Int = 10) {
        self.perMinute = Double(max(1, perMinute))
        self.burst = Double(max(1, burst))
        self.tokens = self.burst
    }

    /// A notification arrives at `now`.
    public mutating func arrived(now: Double) -> Decision {
        if let last = self.last, now > last {
            self.tokens = min(self.burst, self.tokens + (now - last) * self.perMinute / 60)
        }
        if self.last.map({ now > $0 }) ?? true { self.last = now }
        guard self.tokens >= 1 else {
            self.suppressed += 1
            defer { self.flooding = true }
            return .suppress(first: !self.flooding)
        }
        self.tokens -= 1
        if self.suppressed == 0 { self.flooding = false }
        defer { self.suppressed = 0 }
        return .record(suppressedBefore: self.suppressed)
    }
}
