/// Decides when to replace a whole multiplexer (level-2 reconnect). A pure value: time is passed in.
///
/// Rules (the README, "The multiplexer", level 2):
/// - connection and socket errors count; timeouts count only when `countTimeouts` is on;
/// - it acts only when errors have persisted for at least `errorThreshold` (since the first error of the
///   current run) and the latest error came within `errorThreshold` of the one before (a longer gap starts a
///   new run), and at least `minimumInterval` has passed since the last force-reconnect;
/// - while a force-reconnect is in progress, further triggers are suppressed (they collapse into it);
/// - a manual request bypasses the error threshold, nothing else.
///
/// Every call returns a ``Decision`` saying what it decided and why, so the caller can report it.
public struct ForceReconnectGuard<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public struct Configuration: Sendable, Hashable {
        /// Least time between two force-reconnects. [60 s]
        public var minimumInterval: Duration
        /// How long errors must persist before acting, and the largest gap between two errors of one run. [30 s]
        public var errorThreshold: Duration
        /// Whether command timeouts count as errors. [off]
        public var countTimeouts: Bool

        public init(minimumInterval: Duration = .seconds(60), errorThreshold: Duration = .seconds(30), countTimeouts: Bool = false) {
            self.minimumInterval = minimumInterval
            self.errorThreshold = errorThreshold
            self.countTimeouts = countTimeouts
        }
    }

    /// What kind of error was observed.
    public enum ErrorKind: String, Sendable, Hashable {
        case connection
        case socket
        case timeout
    }

    /// The outcome of one trigger.
    public enum Decision: Sendable, Hashable {
        /// Replace the multiplexer now; call ``reconnectSucceeded(now:)`` or ``reconnectFailed(now:)`` when done.
        case act(Reason)
        /// Do nothing, for this reason.
        case suppress(Reason)

        public var reason: Reason {
            switch self {
            case .act(let reason), .suppress(let reason): reason
            }
        }

        public var acted: Bool {
            if case .act = self { return true }
            return false
        }
    }

    /// Why. Stable names for logs and metric labels.
    public enum Reason: String, Sendable, Hashable {
        /// Errors persisted past the threshold.
        case errorThresholdExceeded = "error-threshold-exceeded"
        /// An operator asked for it.
        case manual
        /// The kind of error does not count (a timeout with `countTimeouts` off).
        case errorNotCounted = "error-not-counted"
        /// First error of a run: the clock starts.
        case firstError = "first-error"
        /// Errors have not yet persisted for the threshold.
        case belowThreshold = "below-threshold"
        /// The minimum interval since the last force-reconnect has not passed.
        case minimumInterval = "minimum-interval"
        /// A force-reconnect is already under way; this trigger joins it.
        case inProgress = "in-progress"
    }

    private enum State: Sendable, Hashable {
        case idle
        case reconnecting
    }

    public let configuration: Configuration
    private var state: State = .idle
    private var firstErrorAt: Instant?
    private var lastErrorAt: Instant?
    private var lastForceReconnectAt: Instant?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether a force-reconnect is under way.
    public var isReconnecting: Bool { self.state == .reconnecting }

    /// An error was observed at `now`.
    public mutating func errorObserved(_ kind: ErrorKind, now: Instant) -> Decision {
        switch kind {
        case .timeout where !self.configuration.countTimeouts:
            return .suppress(.errorNotCounted)
        case .connection, .socket, .timeout:
            break
        }
        switch self.state {
        case .reconnecting:
            return .suppress(.inProgress)
        case .idle:
            break
        }
        guard let firstErrorAt = self.firstErrorAt, let lastErrorAt = self.lastErrorAt,
            lastErrorAt.duration(to: now) <= self.configuration.errorThreshold
        else {
            // First error, or the previous one is too old: a new run of errors starts here.
            self.firstErrorAt = now
            self.lastErrorAt = now
            return .suppress(.firstError)
        }
        self.lastErrorAt = now
        guard firstErrorAt.duration(to: now) >= self.configuration.errorThreshold else {
            return .suppress(.belowThreshold)
        }
        if let last = self.lastForceReconnectAt, last.duration(to: now) < self.configuration.minimumInterval {
            return .suppress(.minimumInterval)
        }
        return self.act(.errorThresholdExceeded, now: now)
    }

    /// An operator asked for a force-reconnect: the error threshold is bypassed, the minimum interval is not.
    public mutating func manualRequest(now: Instant) -> Decision {
        switch self.state {
        case .reconnecting:
            return .suppress(.inProgress)
        case .idle:
            break
        }
        if let last = self.lastForceReconnectAt, last.duration(to: now) < self.configuration.minimumInterval {
            return .suppress(.minimumInterval)
        }
        return self.act(.manual, now: now)
    }

    /// The new multiplexer is connected and swapped in: the error run is over.
    public mutating func reconnectSucceeded(now: Instant) {
        self.state = .idle
        self.firstErrorAt = nil
        self.lastErrorAt = nil
    }

    /// The new multiplexer could not connect; the old one was kept. Errors keep counting; the minimum
    /// interval still runs from this attempt, so a failing path is not hammered.
    public mutating func reconnectFailed(now: Instant) {
        self.state = .idle
    }

    /// The connection is healthy again on its own: the error run is over.
    public mutating func recovered(now: Instant) {
        self.firstErrorAt = nil
        self.lastErrorAt = nil
    }

    /// Time remaining before the minimum interval allows another force-reconnect (zero when allowed).
    public func minimumIntervalRemaining(now: Instant) -> Duration {
        guard let last = self.lastForceReconnectAt else { return .zero }
        let elapsed = last.duration(to: now)
        return elapsed >= self.configuration.minimumInterval ? .zero : self.configuration.minimumInterval - elapsed
    }

    private mutating func act(_ reason: Reason, now: Instant) -> Decision {
        self.state = .reconnecting
        self.lastForceReconnectAt = now
        return .act(reason)
    }
}
