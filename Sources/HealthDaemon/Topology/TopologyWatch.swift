import RedisClient

/// An announced endpoint that breaks a rule.
public struct TopologyAnomaly: Sendable, Hashable, Codable {
    public var nodeID: String
    /// The announced endpoint, `host:port`.
    public var endpoint: String
    /// `allowed_ports` or `allowed_networks`.
    public var rule: String
    /// "node 7c1e0f3a announces 10.0.0.5:10226, outside allowed_ports [6379, 6380, 13000-13999, 15000-15999]"
    public var message: String
    /// Where the topology came from: "CLUSTER SHARDS from 127.0.0.1:7000".
    public var source: String
    /// When it was first seen (seconds since 1970; RFC 3339 in JSON).
    @RFC3339Time public var since: Double

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id"
        case endpoint, rule, message, source, since
    }

    /// What makes two anomalies the same one across refreshes.
    var identity: String { "\(self.nodeID)|\(self.endpoint)|\(self.rule)" }
}

/// The topology watch of one cluster target: each refresh is checked against the endpoint rules and compared
/// with the previous one; snapshots that differ are kept in a bounded history with their diff. A pure value: time
/// is passed in.
public struct TopologyWatch: Sendable {
    /// One snapshot in the history.
    public struct Entry: Sendable, Codable, Hashable {
        public var time: Double
        /// What caused the refresh: initial, periodic, moved, ask, connection-failed, maintenance:…
        public var trigger: String
        /// "CLUSTER SHARDS from 127.0.0.1:7000"
        public var source: String
        public var topology: ClusterTopology
        /// Differences from the previous snapshot (every node "added" for the first).
        public var changes: [TopologyChange]
        /// The anomalies of this snapshot.
        public var anomalies: [TopologyAnomaly]
        /// The endpoints the cluster client dialed when this snapshot was taken, and those it refused with why
        /// (nil: not recorded). History shows these, not the connections of today.
        public var dialed: [String]?
        public var notDialed: [String: String]?
    }

    /// What one refresh brought.
    public struct Observation: Sendable, Hashable {
        public var changes: [TopologyChange]
        public var newAnomalies: [TopologyAnomaly]
        public var clearedAnomalies: [TopologyAnomaly]
        /// Whether a history entry was recorded.
        public var recorded: Bool
        /// Every anomaly of this topology (new and persisting).
        public var anomalies: [TopologyAnomaly]
        /// Whether this was the first topology observed.
        public var isFirst: Bool
    }

    public let rules: EndpointRules
    /// Snapshots kept. [50]
    public let capacity: Int
    public private(set) var history: [Entry] = []
    /// The anomalies of the latest topology.
    public private(set) var anomalies: [TopologyAnomaly] = []
    public private(set) var current: Entry?
    /// Refreshes observed.
    public private(set) var refreshes = 0

    public init(rules: EndpointRules, capacity: Int = 50) {
        self.rules = rules
        self.capacity = max(1, capacity)
    }

    /// The anomalies of a topology, one per node, endpoint and broken rule.
    public func check(_ topology: ClusterTopology, source: String, at time: Double) -> [TopologyAnomaly] {
        var anomalies: [TopologyAnomaly] = []
        for node in topology.nodes {
            for endpoint in node.announcedEndpoints {
                // The address judged is the one a client dials (the announced endpoint), not the announced `ip`,
                // which may differ (an internal address behind a client-facing endpoint).
                for violation in self.rules.violations(address: endpoint.host, port: endpoint.port) {
                    anomalies.append(
                        TopologyAnomaly(
                            nodeID: node.id, endpoint: endpoint.description, rule: violation.rule,
                            message: "node \(node.shortID) announces \(endpoint), outside \(violation.rule) \(violation.allowed)",
                            source: source, since: time))
                }
            }
        }
        return anomalies
    }

    /// Takes over the history of the watch of an earlier build of the same target (a reload that changed its
    /// settings): the history lives on, and the next refresh is compared with the last topology seen.
    public mutating func carryOver(from earlier: TopologyWatch) {
        self.history = Array(earlier.history.suffix(self.capacity))
        self.current = earlier.current
        self.anomalies = earlier.anomalies
        self.refreshes = earlier.refreshes
    }

    /// Folds in one refresh; `dialed` and `notDialed` record what the cluster client did with this topology.
    public mutating func observe(
        _ topology: ClusterTopology, source: String, trigger: String, at time: Double, dialed: [String]? = nil,
        notDialed: [String: String]? = nil
    ) -> Observation {
        self.refreshes += 1
        let changes = TopologyChange.diff(from: self.current?.topology, to: topology)
        let previous = Dictionary(self.anomalies.map { ($0.identity, $0) }, uniquingKeysWith: { first, _ in first })
        var anomalies = self.check(topology, source: source, at: time)
        for index in anomalies.indices {
            // An anomaly that persists keeps the time it was first seen.
            if let earlier = previous[anomalies[index].identity] { anomalies[index].since = earlier.since }
        }
        let identities = Set(anomalies.map(\.identity))
        let newAnomalies = anomalies.filter { previous[$0.identity] == nil }
        let cleared = self.anomalies.filter { !identities.contains($0.identity) }
        self.anomalies = anomalies
        let entry = Entry(
            time: time, trigger: trigger, source: source, topology: topology, changes: changes, anomalies: anomalies,
            dialed: dialed?.sorted(), notDialed: notDialed)
        let isFirst = self.current == nil
        let recorded = isFirst || !changes.isEmpty || !newAnomalies.isEmpty || !cleared.isEmpty
        self.current = entry
        if recorded {
            self.history.append(entry)
            if self.history.count > self.capacity { self.history.removeFirst(self.history.count - self.capacity) }
        }
        return Observation(
            changes: changes, newAnomalies: newAnomalies, clearedAnomalies: cleared, recorded: recorded, anomalies: anomalies,
            isFirst: isFirst)
    }
}
