#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LogText
import RedisClient

/// The JSON of `GET /topology/{target}` and `redis-healthd topology --json`: the current topology (each node
/// with whether it is dialed), the anomalies, and the history of snapshots with their diffs.
public struct TopologyDocument: Codable, Sendable, Hashable {
    public struct Node: Codable, Sendable, Hashable {
        public var id: String
        public var host: String
        public var ip: String?
        public var hostname: String?
        public var port: Int?
        public var tlsPort: Int?
        public var role: String
        public var health: String?
        /// `0-5460`, `16001-16383`…
        public var slots: [String]
        /// Whether the daemon holds a connection to this node (primaries whose endpoint is allowed).
        public var dialed: Bool
        /// Whether that connection is up.
        /// Whether its connection is up now (current topology); nil in history, where only `dialed` is known.
        public var connected: Bool?
        /// Why the node is not dialed: a replica, or a rule its endpoint breaks.
        public var notDialedReason: String?

        enum CodingKeys: String, CodingKey {
            case id, host, ip, hostname, port, role, health, slots, dialed, connected
            case tlsPort = "tls_port"
            case notDialedReason = "not_dialed_reason"
        }
    }

    public struct Change: Codable, Sendable, Hashable {
        public var kind: String
        public var nodeID: String
        public var from: String?
        public var to: String?
        public var slots: String?
        public var description: String

        enum CodingKeys: String, CodingKey {
            case kind, from, to, slots, description
            case nodeID = "node_id"
        }

        init(_ change: TopologyChange) {
            self.kind = change.kind.rawValue
            self.nodeID = change.nodeID
            self.from = change.from
            self.to = change.to
            self.slots = change.slots
            self.description = change.description
        }
    }

    public struct Snapshot: Codable, Sendable, Hashable {
        public var time: String
        public var trigger: String
        public var source: String
        public var changes: [Change]
        public var anomalies: [TopologyAnomaly]
        public var nodes: [Node]
    }

    public var target: String
    /// standalone, cluster, detecting or off.
    public var mode: String
    /// When the topology was last read (RFC 3339), how, and why.
    public var refreshedAt: String?
    public var source: String?
    public var trigger: String?
    public var refreshes: Int
    public var uncoveredSlots: Int?
    public var nodes: [Node]
    public var anomalies: [TopologyAnomaly]
    /// Oldest first.
    public var history: [Snapshot]
    /// Ports and ranges (`"6379"`, `"13000-13999"`), like `allowed_networks` a list.
    public var allowedPorts: [String]
    public var allowedNetworks: [String]
    public var dialDisallowed: Bool

    enum CodingKeys: String, CodingKey {
        case target, mode, source, trigger, refreshes, nodes, anomalies, history
        case refreshedAt = "refreshed_at"
        case uncoveredSlots = "uncovered_slots"
        case allowedPorts = "allowed_ports"
        case allowedNetworks = "allowed_networks"
        case dialDisallowed = "dial_disallowed"
    }

    /// - Parameters:
    ///   - dialed: endpoints with a node connection, and whether it is up.
    ///   - notDialed: endpoints refused by the rules, with the reason.
    public init(
        target: DaemonConfiguration.Target, mode: String, watch: TopologyWatch?, dialed: [RedisEndpoint: Bool],
        notDialed: [RedisEndpoint: String]
    ) {
        self.target = target.name
        self.mode = mode
        self.allowedPorts = target.allowedPorts.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
        self.allowedNetworks = target.allowedNetworks
        self.dialDisallowed = target.dialDisallowed
        let tls = target.multiplexer.connection.tls != nil
        /// The nodes of `topology`; `then` (a history entry) says what was dialed at that time, and then whether a
        /// connection was up is not known: `connected` stays nil.
        func nodes(_ topology: ClusterTopology, then: TopologyWatch.Entry? = nil) -> [Node] {
            topology.nodes.map { node in
                let endpoint = node.endpoint(tls: tls)
                let isDialed: Bool
                let connected: Bool?
                var refusal: String?
                if let then {
                    isDialed = endpoint.map { (then.dialed ?? []).contains($0.description) } ?? false
                    connected = nil
                    refusal = endpoint.flatMap { then.notDialed?[$0.description] }
                } else {
                    let live = endpoint.flatMap { dialed[$0] }
                    isDialed = live != nil
                    connected = live ?? false
                    refusal = endpoint.flatMap { notDialed[$0] }
                }
                var reason: String?
                if node.role == .replica {
                    reason = "replica (commands go to primaries)"
                } else if node.isFailed {
                    reason = "the cluster marked it failed (\(node.health ?? "fail")): it serves no slots"
                } else if let refusal {
                    reason = refusal
                } else if endpoint == nil {
                    reason = "it announces no port"
                }
                return Node(
                    id: node.id, host: node.host, ip: node.ip, hostname: node.hostname, port: node.port, tlsPort: node.tlsPort,
                    role: node.role.rawValue, health: node.health,
                    slots: node.slots.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" },
                    dialed: isDialed, connected: connected, notDialedReason: reason)
            }
        }
        self.refreshes = watch?.refreshes ?? 0
        self.anomalies = watch?.anomalies ?? []
        if let current = watch?.current {
            self.refreshedAt = rfc3339(current.time)
            self.source = current.source
            self.trigger = current.trigger
            self.nodes = nodes(current.topology)
            self.uncoveredSlots = current.topology.uncoveredSlots
        } else {
            self.nodes = []
        }
        self.history = (watch?.history ?? []).map { entry in
            Snapshot(
                time: rfc3339(entry.time), trigger: entry.trigger, source: entry.source, changes: entry.changes.map(Change.init),
                anomalies: entry.anomalies, nodes: nodes(entry.topology, then: entry))
        }
    }
}

/// The readable form of `redis-healthd topology TARGET [--history]`.
public func renderTopology(_ document: TopologyDocument, history: Bool) -> String {
    var lines: [String] = []
    switch document.mode {
    case "standalone":
        return "\(document.target.escapingControlCharacters): standalone server (not a cluster): no topology to watch\n"
    case "off":
        return "\(document.target.escapingControlCharacters): cluster: off in the configuration: no topology watch\n"
    case "detecting" where document.refreshedAt == nil:
        return "\(document.target.escapingControlCharacters): not known yet whether this is a cluster (waiting for a connection)\n"
    default:
        break
    }
    guard let refreshedAt = document.refreshedAt else {
        return "\(document.target.escapingControlCharacters): cluster topology not read yet\n"
    }
    let primaries = document.nodes.filter { $0.role == "primary" }.count
    lines.append(
        "\(document.target): \(primaries) primaries, \(document.nodes.count - primaries) replicas, "
            + "\(16384 - (document.uncoveredSlots ?? 0))/16384 slots covered; read \(refreshedAt) with \(document.source ?? "?") (\(document.trigger ?? "?"))")
    lines.append("allowed_ports [\(document.allowedPorts.joined(separator: ", "))]" + (document.allowedNetworks.isEmpty ? "" : ", allowed_networks [\(document.allowedNetworks.joined(separator: ", "))]")
        + (document.dialDisallowed ? ", dial_disallowed: true" : ""))
    lines.append("")
    var rows = [["NODE", "ROLE", "ENDPOINT", "SLOTS", "HEALTH", "CONNECTION"]]
    for node in document.nodes {
        let endpoint = [node.port.map { RedisEndpoint(host: node.host, port: $0).description }, node.tlsPort.map { "tls \($0)" }]
            .compactMap { $0 }.joined(separator: " ")
        let connection =
            node.dialed ? (node.connected.map { $0 ? "up" : "connecting" } ?? "dialed") : "not dialed: \(node.notDialedReason ?? "-")"
        rows.append([
            String(node.id.prefix(8)), node.role, endpoint.isEmpty ? node.host : endpoint,
            node.slots.isEmpty ? "-" : node.slots.joined(separator: ","), node.health ?? "-", connection,
        ])
    }
    lines.append(contentsOf: table(rows))
    lines.append("")
    if document.anomalies.isEmpty {
        lines.append("No anomalies: every announced endpoint is allowed.")
    } else {
        lines.append("ANOMALIES")
        for anomaly in document.anomalies {
            lines.append("  \(anomaly.message) (since \(rfc3339(anomaly.since)), from \(anomaly.source))")
        }
    }
    if history {
        lines.append("")
        lines.append("HISTORY (oldest first, \(document.history.count) snapshot\(document.history.count == 1 ? "" : "s"))")
        for snapshot in document.history {
            lines.append("\(snapshot.time)  \(snapshot.trigger)  \(snapshot.source)  \(snapshot.nodes.count) nodes, \(snapshot.anomalies.count) anomal\(snapshot.anomalies.count == 1 ? "y" : "ies")")
            for change in snapshot.changes { lines.append("    \(change.description)") }
        }
    }
    // Anomaly messages, sources, triggers and changes carry what the cluster announced: one line each, escaped.
    return lines.map(\.escapingControlCharacters).joined(separator: "\n") + "\n"
}

/// Left-aligned columns, two spaces apart, the last one unpadded. Control characters in cells (server data such
/// as node ids, endpoints, error text) are escaped, so a row is always one line.
func table(_ rows: [[String]]) -> [String] {
    let rows = rows.map { $0.map(\.escapingControlCharacters) }
    guard let first = rows.first else { return [] }
    let widths = (0..<first.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padded(to: widths[index] + 2)
        }.joined()
    }
}
