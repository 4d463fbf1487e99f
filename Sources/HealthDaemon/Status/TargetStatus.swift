import RedisClient

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
    /// Recent probe latencies (the last 300).
    public var probeWindow = ProbeWindow()
    public var connectionFailures = 0
    public var reconnects = 0
    public var forceReconnects = 0
    public var forceReconnectsSuppressed = 0
    /// The guard: a force-reconnect under way, and how long the minimum interval still blocks the next one.
    public var forceReconnectInProgress = false
    public var forceReconnectBlockedFor: Duration = .zero
    /// Whether probes go unanswered (`probe_failures` in a row) right now.
    public var unresponsive = false
    /// Whether the target is probed. Then a connection counts as up only once a probe answered on it.
    public var probesEnabled = true
    /// Connected, but no probe has answered on this connection yet: not healthy until one does.
    public var awaitingProbe = false
    /// Announced endpoints outside the allowed ports/networks (cluster targets): they make the target degraded.
    public var anomalies: [TopologyAnomaly] = []
    /// `standalone`, `cluster`, `detecting` (cluster: auto, not known yet) or `off` (cluster: off).
    public var topologyMode = "detecting"
    /// Cluster targets: primaries in the topology, and those with a connection up.
    public var clusterPrimaries: Int?
    public var clusterPrimariesConnected: Int?
    /// Cluster node connections that are down: endpoint → why.
    public var nodeProblems: [String: String] = [:]
    /// Slots no healthy primary serves (cluster targets).
    public var uncoveredSlots = 0
    /// Primaries of the last topology read that the cluster does not mark failed (nil: no topology read yet).
    public var servingPrimaries: Int?
    /// A cluster target whose own (seed) connection is down while other nodes still serve the cluster: why.
    /// The target is then degraded (naming the seed), not down: its health is the cluster's as this host sees it.
    public var seedProblem: String?
    /// Replicas whose announced host name does not resolve (endpoint → why): a failover to one would send clients
    /// nowhere. Checked like the primaries' endpoints; they make the target degraded.
    public var replicaProblems: [String: String] = [:]
    /// Something wrong with the cluster as a whole (e.g. `cluster: on` against a server without cluster support).
    public var clusterProblem: String?
    /// The latest maintenance notification, if any.
    public var lastMaintenanceEvent: String?
    /// A maintenance window announced by push notifications, per node (endpoint → window).
    public struct MaintenanceWindowNote: Sendable, Hashable {
        /// MIGRATING, FAILING_OVER, SMIGRATING or MOVING.
        public var kind: String
        public var since: Double
        public var sequence: Int64
        /// The window closes by itself then (its end never came).
        public var expires: Double
    }
    public var maintenanceWindows: [String: MaintenanceWindowNote] = [:]
    /// Why the configured endpoint is outside allowed_ports / allowed_networks (it is dialed anyway: the operator
    /// chose it); nil when it is inside. A note: it does not change the state.
    public var configuredEndpointNote: String?
    /// TLS certificates presented at the last handshake of each connection (node endpoint → expiries).
    public var certificates: [String: PeerCertificates] = [:]
    /// Set while a certificate expires within tls.expiry_warning (or has expired): which, and when. A note: the
    /// target stays healthy, and its reason says this.
    public var certificateNote: String?
    /// Where the target's credentials come from, when they were obtained and when they expire (never the secret).
    public var credential: CredentialSource.Summary?
    /// The pub/sub canary, while it runs (nil: off, or nothing subscribed).
    public var canary: CanaryStatus?

    /// What the pub/sub canary saw: a note, it does not change the state (a silent subscriber is reconnected).
    public struct CanaryStatus: Sendable, Hashable {
        public var channel: String
        public var interval: Duration
        /// How long a canary may take (probe_timeout × probe_failures).
        public var deadline: Duration
        /// The last canary's round trip, and when it arrived (seconds since 1970).
        public var lastRoundTrip: Double?
        public var lastArrivedAt: Double?
        /// The last miss (seconds since 1970), and misses so far.
        public var lastMissedAt: Double?
        public var missed = 0
        /// Why the canary was stopped (a PUBLISH refused by an ACL), if it was.
        public var disabled: String?
    }

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

    /// Healthy, unless the cluster's state makes it degraded: anomalies, unreachable primaries, uncovered slots, an
    /// unreachable seed, a problem of the whole cluster.
    private var upState: State {
        self.anomalies.isEmpty && self.nodeProblems.isEmpty && self.uncoveredSlots == 0 && self.seedProblem == nil
            && self.clusterProblem == nil && self.replicaProblems.isEmpty ? .healthy : .degraded
    }

    /// A cluster target whose topology was read and some of whose primaries this host still reaches: its seed
    /// going away leaves it degraded, not down.
    private var clusterReachable: Bool {
        guard self.topologyMode == "cluster", let primaries = self.servingPrimaries, primaries > 0 else { return false }
        return self.nodeProblems.count < primaries
    }

    /// Why the target is not healthy, for the status table and STATUS=; for a healthy or degraded target, it also
    /// names a TLS certificate about to expire.
    public var reason: String? {
        switch (self.state, self.baseReason, self.certificateNote) {
        case (.healthy, _, let note): note
        case (.degraded, let reason?, let note?): "\(reason); \(note)"
        case (.degraded, nil, let note): note
        case (_, let reason, _): reason
        }
    }

    private var baseReason: String? {
        switch self.state {
        case .healthy: return nil
        case .degraded where !self.unresponsive:
            if let anomaly = self.anomalies.first {
                return anomaly.message + (self.anomalies.count > 1 ? " (and \(self.anomalies.count - 1) more)" : "")
            }
            if let clusterProblem { return clusterProblem }
            if let (endpoint, problem) = self.nodeProblems.min(by: { $0.key < $1.key }) {
                return "cluster node \(endpoint) unreachable: \(problem)"
                    + (self.nodeProblems.count > 1 ? " (and \(self.nodeProblems.count - 1) more)" : "")
            }
            if self.uncoveredSlots > 0 {
                return "\(self.uncoveredSlots) of 16384 slots are served by no healthy primary"
            }
            if let (endpoint, problem) = self.replicaProblems.min(by: { $0.key < $1.key }) {
                return "cluster replica \(endpoint): \(problem)"
                    + (self.replicaProblems.count > 1 ? " (and \(self.replicaProblems.count - 1) more)" : "")
            }
            if let seedProblem {
                return "seed \(self.endpoint) unreachable: \(seedProblem); the cluster is served by its other nodes"
            }
            return self.lastError
        default: return self.lastError
        }
    }

    /// A few words for systemd's STATUS= line.
    public var shortReason: String? {
        if self.state == .degraded && !self.unresponsive {
            if let anomaly = self.anomalies.first {
                let port = anomaly.endpoint.split(separator: ":").last.map(String.init) ?? anomaly.endpoint
                return anomaly.rule == "allowed_ports" ? "disallowed port \(port)" : "disallowed address \(anomaly.endpoint)"
            }
            if self.clusterProblem != nil { return "cluster problem" }
            if let endpoint = self.nodeProblems.keys.min() { return "node \(endpoint) unreachable" }
            if self.uncoveredSlots > 0 { return "\(self.uncoveredSlots) slots uncovered" }
            if let endpoint = self.replicaProblems.keys.min() { return "replica \(endpoint) does not resolve" }
            if self.seedProblem != nil { return "seed \(self.endpoint) unreachable" }
        }
        return self.state == .degraded && self.unresponsive ? "unresponsive" : self.lastErrorKind
    }

    /// Records that a cluster node's connection failed (`problem`) or is up again (nil); returns whether the state
    /// changed.
    @discardableResult
    public mutating func setNodeProblem(_ endpoint: String, _ problem: String?, now: Double) -> Bool {
        self.nodeProblems[endpoint] = problem
        return self.settleUpState(now: now)
    }

    /// Sets everything a topology refresh decides at once (so the state settles once); returns whether the state
    /// changed.
    @discardableResult
    public mutating func setClusterState(
        anomalies: [TopologyAnomaly], uncoveredSlots: Int, nodeProblems: [String: String], servingPrimaries: Int? = nil,
        now: Double
    ) -> Bool {
        self.anomalies = anomalies
        self.uncoveredSlots = uncoveredSlots
        self.nodeProblems = nodeProblems
        if let servingPrimaries { self.servingPrimaries = servingPrimaries }
        return self.settleUpState(now: now)
    }

    /// Sets the replicas whose host names do not resolve; returns whether the state changed.
    @discardableResult
    public mutating func setReplicaProblems(_ problems: [String: String], now: Double) -> Bool {
        self.replicaProblems = problems
        return self.settleUpState(now: now)
    }

    /// Says what is wrong with the cluster as a whole (nil: nothing); returns whether the state changed.
    @discardableResult
    public mutating func setClusterProblem(_ problem: String?, now: Double) -> Bool {
        self.clusterProblem = problem
        return self.settleUpState(now: now)
    }

    /// While the target's own connection is up and answering, healthy or degraded follows the cluster's state. While
    /// a cluster target's seed is down, the cluster decides between degraded (other nodes reachable) and down.
    private mutating func settleUpState(now: Double) -> Bool {
        let settled: State
        if self.seedProblem != nil {
            settled = self.clusterReachable ? .degraded : .down
        } else {
            guard (self.state == .healthy || self.state == .degraded) && !self.unresponsive else { return false }
            settled = self.upState
        }
        guard self.state != settled else { return false }
        self.state = settled
        self.since = now
        return true
    }

    /// Folds one multiplexer event into the status; returns whether the state changed.
    @discardableResult
    public mutating func apply(_ event: MultiplexerEvent, now: Double) -> Bool {
        let before = self.state
        switch event {
        case .connecting(.interactive, _, let attempt):
            if self.state == .starting { self.state = .connecting }
            else if self.seedProblem != nil { break }  // the cluster decides while the seed is away
            else if attempt > 0 && self.state != .down && self.state != .misconfigured { self.state = .reconnecting }
        case .connected(.interactive, _, _, let restored):
            self.unresponsive = false
            if restored { self.reconnects += 1 }
            if self.probesEnabled {
                // One source of truth: healthy once a probe answered on this connection, not when it connected
                // (a server that takes HELLO but never answers PING is not healthy).
                self.awaitingProbe = true
                if self.seedProblem == nil {
                    self.state = self.state == .starting || self.state == .connecting ? .connecting : .reconnecting
                }
            } else {
                self.seedProblem = nil
                self.state = self.upState
            }
        case .connectionFailed(.interactive, _, let kind, let message):
            self.unresponsive = false
            self.awaitingProbe = false
            self.connectionFailures += 1
            self.lastError = message
            self.lastErrorKind = kind.description
            switch kind {
            case .authentication, .configuration, .tls:
                // Retrying will not fix these: somebody must change a setting.
                self.seedProblem = nil
                self.state = .misconfigured
            case _ where self.clusterReachable:
                // A cluster target's seed went away, but this host still reaches the cluster through its other
                // nodes: degraded, naming the seed; down only once no primary is reachable either.
                self.seedProblem = message
                self.state = .degraded
            case .connectionRefused, .connectTimeout, .dnsFailure, .connectFailed:
                self.seedProblem = nil
                self.state = .down
            default:
                self.seedProblem = nil
                self.state = self.state == .healthy || self.state == .degraded ? .reconnecting : .down
            }
        case .probe(let latency):
            self.probeLast = latency
            self.probeWindow.append(latency)
            // A probe answered on the current connection (a late one of a failed connection is never published):
            // the target is up, whatever it was before.
            if self.awaitingProbe || (!self.unresponsive && self.state != .healthy && self.state != .degraded) {
                self.awaitingProbe = false
                self.seedProblem = nil
                self.state = self.upState
            }
        case .unresponsive(let failures, let error):
            self.unresponsive = true
            self.awaitingProbe = false
            self.state = .degraded
            self.lastError = "unresponsive: \(failures) probes unanswered (\(error))"
            self.lastErrorKind = "unresponsive"
        case .responsive:
            self.unresponsive = false
            if self.state == .degraded { self.state = self.upState }
        case .forceReconnect(let acted, _):
            if acted { self.forceReconnects += 1 } else { self.forceReconnectsSuppressed += 1 }
        case .connecting(.subscriber, _, _), .connected(.subscriber, _, _, _), .connectionFailed(.subscriber, _, _, _),
            .reconnectScheduled, .forceReconnectCompleted, .subscribed, .peerCertificates, .reauthenticated, .maintenanceNotificationsRefused,
            .maintenanceNotification, .maintenanceMalformed, .maintenanceHandoff:
            // Certificates: the supervisor's CertificateExpiryWatch sets `certificates` and `certificateNote`.
            break
        }
        if self.state != before {
            self.since = now
            return true
        }
        return false
    }
}
