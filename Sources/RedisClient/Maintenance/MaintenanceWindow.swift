/// The maintenance state of one node (one multiplexer): the window the server announced, and the rules that follow
/// from it. A pure value: time is passed in.
///
/// - A notification whose sequence number is not above the last one seen is a replay and is ignored.
/// - MIGRATING, FAILING_OVER and SMIGRATING open a window; MIGRATED, FAILED_OVER and SMIGRATED close it. A window
///   whose end never comes closes by itself after its announced time plus the relaxed timeout.
/// - While a window is open, probe and command timeouts are at least the relaxed timeout, and errors do not count
///   toward the force-reconnect threshold.
/// - MOVING asks for a handoff after its time (half of it when no endpoint is given: the same endpoint is dialed
///   again, as clients do) and opens a window until the handoff.
public struct MaintenanceWindow<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    public struct Active: Sendable, Hashable {
        public var kind: MaintenanceNotification.Kind
        public var since: Instant
        public var sequence: Int64
        /// The window closes by itself then.
        public var expires: Instant
    }

    /// What one notification means.
    public enum Outcome: Sendable, Hashable {
        /// A replay (sequence not above the last): nothing changes.
        case stale(lastSequence: Int64)
        /// A window opened (or a newer one replaced the open one).
        case windowStarted
        /// The window closed (`wasOpen`: whether one was open).
        case windowEnded(wasOpen: Bool)
        /// Hand the connection off to `endpoint` (nil: the same one) after `delay`.
        case handoff(endpoint: RedisEndpoint?, delay: Duration)
    }

    public let relaxedTimeout: Duration
    public private(set) var lastSequence: Int64?
    private var window: Active?

    public init(relaxedTimeout: Duration) {
        self.relaxedTimeout = relaxedTimeout
    }

    /// The open window now (nil once it ended or expired).
    public func active(now: Instant) -> Active? {
        guard let window, now < window.expires else { return nil }
        return window
    }

    /// Whether timeouts are relaxed and errors kept out of the force-reconnect guard now.
    public func isRelaxed(now: Instant) -> Bool { self.active(now: now) != nil }

    /// `base`, or the relaxed timeout when that is longer and a window is open.
    public func timeout(_ base: Duration, now: Instant) -> Duration {
        self.isRelaxed(now: now) ? max(base, self.relaxedTimeout) : base
    }

    /// When a MOVING handoff is due: after the announced time, or half of it when no endpoint is named.
    public static func handoffDelay(_ notification: MaintenanceNotification) -> Duration {
        let time = notification.time ?? .zero
        return notification.endpoint == nil ? time / 2 : time
    }

    public mutating func apply(_ notification: MaintenanceNotification, now: Instant) -> Outcome {
        if let last = self.lastSequence, notification.sequence <= last { return .stale(lastSequence: last) }
        self.lastSequence = notification.sequence
        let time = notification.time ?? .zero
        switch notification.kind {
        case .migrating, .failingOver, .slotsMigrating:
            self.window = Active(
                kind: notification.kind, since: now, sequence: notification.sequence,
                expires: now.advanced(by: time + self.relaxedTimeout))
            return .windowStarted
        case .migrated, .failedOver, .slotsMigrated:
            let wasOpen = self.active(now: now) != nil
            self.window = nil
            return .windowEnded(wasOpen: wasOpen)
        case .moving:
            let delay = Self.handoffDelay(notification)
            self.window = Active(
                kind: .moving, since: now, sequence: notification.sequence,
                expires: now.advanced(by: delay + self.relaxedTimeout))
            return .handoff(endpoint: notification.endpoint, delay: delay)
        }
    }
}
