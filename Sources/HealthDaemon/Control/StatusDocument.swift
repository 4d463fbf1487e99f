#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
import LogText
#endif

/// The JSON of `GET /status` and `redis-healthd status --json`: timestamps in RFC 3339, durations in seconds.
public struct StatusDocument: Codable, Sendable, Hashable {
    /// When the certificates a TLS node presented at its last handshake expire.
    public struct Certificate: Codable, Sendable, Hashable {
        /// The node's endpoint (the target's own, or a cluster node's).
        public var node: String
        /// The leaf as presented (serial number, common name).
        public var leaf: String
        public var leafNotAfter: String
        /// The earliest expiry in the presented chain (nil when it could not be read).
        public var chainNotAfter: String?
        /// Whole days until the first of them expires (negative once expired).
        public var daysLeft: Int

        enum CodingKeys: String, CodingKey {
            case node, leaf
            case leafNotAfter = "leaf_not_after"
            case chainNotAfter = "chain_not_after"
            case daysLeft = "days_left"
        }
    }

    /// Where a target's credentials come from (never the secret).
    public struct Credential: Codable, Sendable, Hashable {
        /// `password_file /etc/…`, `password_credential …` or `credential_command /usr/local/bin/…`.
        public var source: String
        public var obtainedAt: String?
        public var ageSeconds: Double?
        public var expiresAt: String?
        /// Why the last attempt to obtain new credentials failed (the current ones are kept while they last).
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case source
            case obtainedAt = "obtained_at"
            case ageSeconds = "age_seconds"
            case expiresAt = "expires_at"
            case lastError = "last_error"
        }
    }

    /// The pub/sub canary of a target with subscriptions (canary_interval not 0s).
    public struct Canary: Codable, Sendable, Hashable {
        public var channel: String
        public var intervalSeconds: Double
        public var deadlineSeconds: Double
        public var lastRoundTripSeconds: Double?
        public var lastArrived: String?
        public var lastMissed: String?
        public var missed: Int
        public var disabled: String?

        enum CodingKeys: String, CodingKey {
            case channel, missed, disabled
            case intervalSeconds = "interval_seconds"
            case deadlineSeconds = "deadline_seconds"
            case lastRoundTripSeconds = "last_round_trip_seconds"
            case lastArrived = "last_arrived"
            case lastMissed = "last_missed"
        }
    }

    /// A node in a maintenance window announced by push notifications.
    public struct Maintenance: Codable, Sendable, Hashable {
        /// MIGRATING, FAILING_OVER, SMIGRATING or MOVING (until the handoff).
        public var kind: String
        public var since: String
        /// The node's endpoint.
        public var node: String
        public var sequence: Int64
    }

    public struct Target: Codable, Sendable, Hashable {
        public var name: String
        public var endpoint: String
        public var state: String
        public var since: String
        public var sinceSeconds: Double
        public var lastError: String?
        public var lastErrorKind: String?
        public var probeLastSeconds: Double?
        public var probeP50Seconds: Double?
        public var probeP99Seconds: Double?
        public var connectionFailures: Int
        public var reconnects: Int
        public var forceReconnects: Int
        public var forceReconnectsSuppressed: Int
        public var forceReconnectInProgress: Bool
        public var forceReconnectBlockedSeconds: Double
        /// Why the target is not healthy; for a healthy target, nil or a TLS certificate about to expire.
        public var reason: String?
        /// Topology anomalies (announced endpoints outside allowed_ports / allowed_networks).
        public var anomalies: [TopologyAnomaly]
        /// standalone, cluster, detecting or off.
        public var topology: String
        public var clusterPrimaries: Int?
        public var clusterPrimariesConnected: Int?
        public var lastMaintenanceEvent: String?
        /// Cluster node connections that are down: endpoint → why.
        public var clusterNodeErrors: [String: String]
        public var uncoveredSlots: Int
        /// Set when the configured endpoint is outside allowed_ports / allowed_networks: the broken rule. The target
        /// is still dialed (the operator chose it) and its state is not changed by this.
        public var configuredEndpointOutsideAllowList: String?
        /// TLS targets: the certificates each node presented, the first to expire first.
        public var tlsCertificates: [Certificate]?
        /// Targets with a password or a credential command: where the credentials come from.
        public var credential: Credential?
        /// The pub/sub canary (nil: off or nothing subscribed).
        public var canary: Canary?
        /// Nodes in a maintenance window now (absent when none).
        public var maintenance: [Maintenance]?

        enum CodingKeys: String, CodingKey {
            case name, endpoint, state, since
            case sinceSeconds = "since_seconds"
            case lastError = "last_error"
            case lastErrorKind = "last_error_kind"
            case probeLastSeconds = "probe_last_seconds"
            case probeP50Seconds = "probe_p50_seconds"
            case probeP99Seconds = "probe_p99_seconds"
            case connectionFailures = "connection_failures"
            case reconnects
            case forceReconnects = "force_reconnects"
            case forceReconnectsSuppressed = "force_reconnects_suppressed"
            case forceReconnectInProgress = "force_reconnect_in_progress"
            case forceReconnectBlockedSeconds = "force_reconnect_blocked_seconds"
            case reason, anomalies, topology
            case clusterPrimaries = "cluster_primaries"
            case clusterPrimariesConnected = "cluster_primaries_connected"
            case lastMaintenanceEvent = "last_maintenance_event"
            case clusterNodeErrors = "cluster_node_errors"
            case uncoveredSlots = "uncovered_slots"
            case configuredEndpointOutsideAllowList = "configured_endpoint_outside_allow_list"
            case tlsCertificates = "tls_certificates"
            case credential
            case canary
            case maintenance
        }

        public init(_ status: TargetStatus, now: Double) {
            self.name = status.name
            self.endpoint = status.endpoint
            self.state = status.state.rawValue
            self.since = rfc3339(status.since)
            self.sinceSeconds = max(0, now - status.since)
            self.lastError = status.lastError
            self.lastErrorKind = status.lastErrorKind
            self.probeLastSeconds = status.probeLast.map(seconds)
            self.probeP50Seconds = status.probePercentile(50).map(seconds)
            self.probeP99Seconds = status.probePercentile(99).map(seconds)
            self.connectionFailures = status.connectionFailures
            self.reconnects = status.reconnects
            self.forceReconnects = status.forceReconnects
            self.forceReconnectsSuppressed = status.forceReconnectsSuppressed
            self.forceReconnectInProgress = status.forceReconnectInProgress
            self.forceReconnectBlockedSeconds = seconds(status.forceReconnectBlockedFor)
            self.reason = status.reason
            self.anomalies = status.anomalies
            self.topology = status.topologyMode
            self.clusterPrimaries = status.clusterPrimaries
            self.clusterPrimariesConnected = status.clusterPrimariesConnected
            self.lastMaintenanceEvent = status.lastMaintenanceEvent
            self.clusterNodeErrors = status.nodeProblems
            self.uncoveredSlots = status.uncoveredSlots
            self.configuredEndpointOutsideAllowList = status.configuredEndpointNote
            self.credential = status.credential.map { summary in
                Credential(
                    source: summary.source, obtainedAt: summary.obtainedAt.map(rfc3339),
                    ageSeconds: summary.obtainedAt.map { max(0, now - $0) }, expiresAt: summary.expiresAt.map(rfc3339),
                    lastError: summary.lastError)
            }
            self.canary = status.canary.map { canary in
                Canary(
                    channel: canary.channel, intervalSeconds: seconds(canary.interval), deadlineSeconds: seconds(canary.deadline),
                    lastRoundTripSeconds: canary.lastRoundTrip, lastArrived: canary.lastArrivedAt.map(rfc3339),
                    lastMissed: canary.lastMissedAt.map(rfc3339), missed: canary.missed, disabled: canary.disabled)
            }
            let windows = status.maintenanceWindows.filter { $0.value.expires > now }.sorted { ($0.value.since, $0.key) < ($1.value.since, $1.key) }
            self.maintenance =
                windows.isEmpty
                ? nil
                : windows.map { node, window in
                    Maintenance(kind: window.kind, since: rfc3339(window.since), node: node, sequence: window.sequence)
                }
            self.tlsCertificates =
                status.certificates.isEmpty
                ? nil
                : status.certificates.sorted { ($0.value.earliestNotValidAfter, $0.key) < ($1.value.earliestNotValidAfter, $1.key) }
                    .map { node, certificates in
                        Certificate(
                            node: node, leaf: certificates.leafSummary, leafNotAfter: rfc3339(certificates.leafNotValidAfter),
                            chainNotAfter: certificates.chainNotValidAfter.map(rfc3339),
                            daysLeft: CertificateExpiryWatch.daysLeft(certificates.earliestNotValidAfter, now: now))
                    }
        }
    }

    public var targets: [Target]

    public init(targets: [Target]) { self.targets = targets }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// A time (seconds since 1970) written as RFC 3339 in JSON, like every timestamp the daemon writes.
@propertyWrapper
public struct RFC3339Time: Sendable, Hashable, Codable {
    public var wrappedValue: Double

    public init(wrappedValue: Double) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let time = parseRFC3339(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not an RFC 3339 time")
        }
        self.wrappedValue = time
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339(self.wrappedValue))
    }
}

/// The one-line summary for systemd's STATUS=: "2/2 targets healthy; cache-a 0.4 ms". Control characters are
/// escaped: a newline from a server could otherwise add an assignment (READY=, WATCHDOG=) to the notification.
/// With more than `detailLimit` targets only the ones not healthy are named, at most that many ("… and 12 more"):
/// a line naming 1,000 targets would be a 20 KB datagram at every state change.
public func statusLine(_ statuses: [TargetStatus], detailLimit: Int = 8) -> String {
    let healthy = statuses.filter { $0.state == .healthy }
    var line = "\(healthy.count)/\(statuses.count) targets healthy"
    let shown = statuses.count <= detailLimit ? statuses : statuses.filter { $0.state != .healthy }
    let details = shown.prefix(detailLimit).map { status -> String in
        if status.state == .healthy, let latency = status.probeLast {
            return "\(status.name) \((seconds(latency) * 1000).fixed(1)) ms"
        }
        if status.state == .healthy { return status.name }
        return "\(status.name) \(status.state.rawValue)" + (status.shortReason.map { ": \($0)" } ?? "")
    }
    if !details.isEmpty { line += "; " + details.joined(separator: ", ") }
    if shown.count > detailLimit { line += " and \(shown.count - detailLimit) more" }
    return line.escapingControlCharacters
}
