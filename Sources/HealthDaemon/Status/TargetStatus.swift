import RedisMultiplexer

/// What the daemon knows about one target, as shown by `redis-healthd status`.
public struct TargetStatus: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, CaseIterable, Codable {
        case starting, connecting, healthy, degraded, reconnecting, down, misconfigured
    }

    public var name: String
    public var endpoint: String
    public var state: State = .starting
    /// When `state` last changed (wall clock, seconds since 1970).
    public var since: Double
    public var lastError: String?
    public var lastErrorKind: String?
    public var probeLast: Duration?
    /// Recent probe latencies, newest last (bounded).
    public var probeWindow: [Duration] = []
    public var connectionFailures = 0
    public var reconnects = 0
    public var forceReconnects = 0
    public var forceReconnectsSuppressed = 0
    /// The guard: a force-reconnect under way, and how long the minimum interval still blocks the next one.
    public var forceReconnectInProgress = false
    public var forceReconnectBlockedFor: Duration = .zero

    public init(name: String, endpoint: String, now: Double) {
        self.name = name
        self.endpoint = endpoint
        self.since = now
    }

    /// A latency percentile (0…100) of the recent probes.
    public func probePercentile(_ percentile: Double) -> Duration? {
        guard !self.probeWindow.isEmpty else { return nil }
        let sorted = self.probeWindow.sorted()
        let index = min(sorted.count - 1, Int((percentile / 100 * Double(sorted.count - 1)).rounded()))
        return sorted[index]
    }

    static let probeWindowSize = 300

    /// Folds one multiplexer event into the status; returns whether the state changed.
    @discardableResult
    public mutating func apply(_ event: MultiplexerEvent, now: Double) -> Bool {
        let before = self.state
        switch event {
        case .connecting(.interactive, _, let attempt):
            if self.state == .starting { self.state = .connecting }
            else if attempt > 0 && self.state != .down && self.state != .misconfigured { self.state = .reconnecting }
        case .connected(.interactive, _, _, let restored):
            self.state = .healthy
            if restored { self.reconnects += 1 }
        case .connectionFailed(.interactive, _, let kind, let message):
            self.connectionFailures += 1
            self.lastError = message
            self.lastErrorKind = kind.description
            switch kind {
            case .authentication, .configuration, .tls:
                // Retrying will not fix these: somebody must change a setting.
                self.state = .misconfigured
            case .connectionRefused, .connectTimeout, .dnsFailure, .connectFailed:
                self.state = .down
            default:
                self.state = self.state == .healthy || self.state == .degraded ? .reconnecting : .down
            }
        case .probe(let latency):
            self.probeLast = latency
            self.probeWindow.append(latency)
            if self.probeWindow.count > Self.probeWindowSize { self.probeWindow.removeFirst() }
        case .unresponsive(let failures, let error):
            self.state = .degraded
            self.lastError = "unresponsive: \(failures) probes unanswered (\(error))"
            self.lastErrorKind = "unresponsive"
        case .responsive:
            if self.state == .degraded { self.state = .healthy }
        case .forceReconnect(let acted, _):
            if acted { self.forceReconnects += 1 } else { self.forceReconnectsSuppressed += 1 }
        case .connecting(.subscriber, _, _), .connected(.subscriber, _, _, _), .connectionFailed(.subscriber, _, _, _),
            .reconnectScheduled, .forceReconnectCompleted, .subscribed:
            break
        }
        if self.state != before {
            self.since = now
            return true
        }
        return false
    }
}
