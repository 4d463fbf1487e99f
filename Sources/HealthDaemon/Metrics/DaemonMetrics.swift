import RedisClient

/// The daemon's Prometheus metrics, in this daemon's own registry (no global state, so several daemons — or
/// tests — never share counters).
public final class DaemonMetrics: Sendable {
    let registry: MetricsRegistry

    /// Probe latency buckets, in seconds: 100 µs … 1 s.
    static let probeBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

    public init(version: String) {
        self.registry = MetricsRegistry(families: Self.families, targetSeries: Self.targetSeries)
        self.registry.set("redis_healthd_build_info", ["version": version], to: 1)
    }

    /// Prometheus text exposition format: every family with its HELP, in a stable order.
    public func exposition() -> String { self.registry.exposition() }

    /// Every family the daemon publishes, with what it means (its `# HELP`).
    static let families: [MetricsRegistry.Family] = [
        .init(
            name: "redis_healthd_build_info", kind: .gauge,
            help: "The running redis-healthd version (always 1)."),
        .init(
            name: "redis_healthd_target_up", kind: .gauge,
            help: "1 while the target answers (healthy or degraded), 0 while it is starting, connecting, reconnecting, down or misconfigured."),
        .init(
            name: "redis_healthd_target_state", kind: .gauge,
            help: "The target's state, one-hot: 1 for the current state, 0 for the others."),
        .init(
            name: "redis_healthd_probe_duration_seconds", kind: .histogram(buckets: probeBuckets),
            help: "Latency of the probe PINGs that answered."),
        .init(
            name: "redis_healthd_connection_failures_total", kind: .counter,
            help: "Failures of the target's own connections (attempts and established ones), by kind."),
        .init(
            name: "redis_healthd_reconnects_total", kind: .counter,
            help: "Reconnects: level connection (a connection came back after a failure) and forced (a force-reconnect replaced the multiplexer)."),
        .init(
            name: "redis_healthd_force_reconnect_decisions_total", kind: .counter,
            help: "Force-reconnect decisions, acted or suppressed, with the reason."),
        .init(
            name: "redis_healthd_topology_anomalies", kind: .gauge,
            help: "Announced cluster endpoints outside allowed_ports or allowed_networks, now."),
        .init(
            name: "redis_healthd_reauth_total", kind: .counter,
            help: "Live connections authenticated again with new credentials, by outcome (ok, failed, reconnect, expired)."),
        .init(
            name: "redis_healthd_credential_expiry_timestamp_seconds", kind: .gauge,
            help: "When the credential in use expires (credential_command), seconds since 1970."),
        .init(
            name: "redis_healthd_tls_certificate_expiry_timestamp_seconds", kind: .gauge,
            help: "When the first certificate a TLS node presents expires (the chain's earliest, else the leaf's), seconds since 1970."),
        .init(
            name: "redis_healthd_topology_changes_total", kind: .counter,
            help: "Changes between two topology snapshots, by kind."),
        .init(
            name: "redis_healthd_topology_refreshes_total", kind: .counter,
            help: "Cluster topology refreshes, by outcome."),
        .init(
            name: "redis_healthd_cluster_node_failures_total", kind: .counter,
            help: "Connection failures of the cluster's node connections, by kind."),
        .init(
            name: "redis_healthd_maintenance_events_total", kind: .counter,
            help: "Maintenance notifications received, by type."),
        .init(
            name: "redis_healthd_canary_missed_total", kind: .counter,
            help: "Pub/sub canaries that did not reach the subscriber connection in time (each one reconnected it)."),
        .init(
            name: "redis_healthd_canary_latency_seconds", kind: .gauge,
            help: "Round trip of the last pub/sub canary: from its PUBLISH to its arrival on the subscriber connection."),
        .init(
            name: "redis_healthd_maintenance_notifications_total", kind: .counter,
            help: "Maintenance push notifications (RESP3) received, by type (MOVING, MIGRATING, …; stale: a replay, ignored; malformed)."),
        .init(
            name: "redis_healthd_maintenance_window_active", kind: .gauge,
            help: "Nodes of the target in a maintenance window announced by push notifications now."),
        .init(
            name: "redis_healthd_maintenance_handoffs_total", kind: .counter,
            help: "MOVING handoffs, by outcome (completed, not-dialed, failed)."),
        .init(
            name: "redis_healthd_maintenance_events_suppressed_total", kind: .counter,
            help: "Maintenance notifications not recorded because more than 10 a minute came (a flood)."),
    ]

    /// The kinds a connection can fail with (the labels of the failure counters, present at 0 from the start).
    static let connectionFailureKinds = [
        "authentication", "command-timeout", "configuration", "connect-failed", "connect-timeout", "connection-closed",
        "connection-refused", "dns-failure", "handshake", "protocol", "socket", "tls", "unresponsive",
    ]

    /// The force-reconnect decisions that are published, with their reasons.
    static let forceReconnectDecisions = [
        ("acted", "error-threshold-exceeded"), ("acted", "manual"), ("suppressed", "minimum-interval"),
        ("suppressed", "in-progress"),
    ]

    /// The series every target has from its start (kept compactly, see ``MetricsRegistry``): those ``register(target:)``
    /// sets up, and the probe histogram.
    static let targetSeries: [MetricsRegistry.TargetSeries] = {
        var series: [MetricsRegistry.TargetSeries] = [
            .init("redis_healthd_target_up"), .init("redis_healthd_topology_anomalies"),
            .init("redis_healthd_maintenance_window_active"), .init("redis_healthd_maintenance_events_suppressed_total"),
            .init("redis_healthd_canary_missed_total"), .init("redis_healthd_probe_duration_seconds"),
        ]
        series += TargetStatus.State.allCases.map { .init("redis_healthd_target_state", [("state", $0.rawValue)]) }
        series += ["connection", "forced"].map { .init("redis_healthd_reconnects_total", [("level", $0)]) }
        series += connectionFailureKinds.map { .init("redis_healthd_connection_failures_total", [("kind", $0)]) }
        series += forceReconnectDecisions.map {
            .init("redis_healthd_force_reconnect_decisions_total", [("decision", $0.0), ("reason", $0.1)])
        }
        series += ["ok", "failed"].map { .init("redis_healthd_topology_refreshes_total", [("outcome", $0)]) }
        return series
    }()

    /// Takes a target's series out (a reload removed it); what its supervisor still records is dropped.
    func unregister(target: String) {
        self.registry.removeTarget(target)
    }

    /// Sets up a target's series so they exist (at zero) before anything happens.
    func register(target: String) {
        self.registry.addTarget(target)
        self.registry.set("redis_healthd_target_up", ["target": target], to: 0)
        self.registry.set("redis_healthd_topology_anomalies", ["target": target], to: 0)
        self.registry.set("redis_healthd_maintenance_window_active", ["target": target], to: 0)
        self.registry.increment("redis_healthd_maintenance_events_suppressed_total", ["target": target], by: 0)
        self.registry.increment("redis_healthd_canary_missed_total", ["target": target], by: 0)
        self.recordState(target: target, state: .starting)
        for level in ["connection", "forced"] {
            self.registry.increment("redis_healthd_reconnects_total", ["target": target, "level": level], by: 0)
        }
        // Counters with known label values exist at 0 from the start: `rate()` and alerts see the first failure.
        for kind in Self.connectionFailureKinds {
            self.registry.increment("redis_healthd_connection_failures_total", ["target": target, "kind": kind], by: 0)
        }
        for (decision, reason) in Self.forceReconnectDecisions {
            self.registry.increment("redis_healthd_force_reconnect_decisions_total", ["target": target, "decision": decision, "reason": reason], by: 0)
        }
        for outcome in ["ok", "failed"] {
            self.registry.increment("redis_healthd_topology_refreshes_total", ["target": target, "outcome": outcome], by: 0)
        }
    }

    func recordState(target: String, state: TargetStatus.State) {
        for candidate in TargetStatus.State.allCases {
            self.registry.set("redis_healthd_target_state", ["target": target, "state": candidate.rawValue], to: candidate == state ? 1 : 0)
        }
        self.registry.set("redis_healthd_target_up", ["target": target], to: state == .healthy || state == .degraded ? 1 : 0)
    }

    func recordAnomalies(target: String, count: Int) {
        self.registry.set("redis_healthd_topology_anomalies", ["target": target], to: Double(count))
    }

    /// Topology changes seen, by kind (node-added, endpoint-changed, slots-moved, …).
    func recordTopologyChange(target: String, kind: String) {
        self.registry.increment("redis_healthd_topology_changes_total", ["target": target, "kind": kind])
    }

    /// Topology refreshes, by outcome (ok, failed).
    func recordTopologyRefresh(target: String, ok: Bool) {
        self.registry.increment("redis_healthd_topology_refreshes_total", ["target": target, "outcome": ok ? "ok" : "failed"])
    }

    /// Maintenance notifications, by type (known types, `unknown` or `malformed`: a bounded label set).
    func recordMaintenance(target: String, type: String) {
        self.registry.increment("redis_healthd_maintenance_events_total", ["target": target, "type": type])
    }

    /// Maintenance push notifications (RESP3), by type: the seven known types, `stale` (a replay, ignored) or
    /// `malformed` (a bounded label set).
    func recordMaintenanceNotification(target: String, type: String) {
        self.registry.increment("redis_healthd_maintenance_notifications_total", ["target": target, "type": type])
    }

    /// Nodes of the target in a maintenance window now (announced by push notifications).
    func recordMaintenanceWindows(target: String, count: Int) {
        self.registry.set("redis_healthd_maintenance_window_active", ["target": target], to: Double(count))
    }

    /// MOVING handoffs, by outcome (completed, not-dialed, failed).
    func recordHandoff(target: String, outcome: String) {
        self.registry.increment("redis_healthd_maintenance_handoffs_total", ["target": target, "outcome": outcome])
    }

    /// Maintenance notifications not recorded (more than 10 a minute).
    func recordMaintenanceSuppressed(target: String) {
        self.registry.increment("redis_healthd_maintenance_events_suppressed_total", ["target": target])
    }

    /// A pub/sub canary that did not arrive in time.
    func recordCanaryMissed(target: String) {
        self.registry.increment("redis_healthd_canary_missed_total", ["target": target])
    }

    /// The last pub/sub canary's round trip.
    func recordCanaryLatency(target: String, seconds: Double) {
        self.registry.set("redis_healthd_canary_latency_seconds", ["target": target], to: Double(seconds))
    }

    /// When the first certificate a node presents expires (the chain's earliest when read, else the leaf's), like
    /// blackbox_exporter's probe_ssl_earliest_cert_expiry; nil removes the node's series (it left the topology).
    func recordCertificateExpiry(target: String, node: String, notValidAfter: Double?) {
        let labels: KeyValuePairs = ["target": target, "node": node]
        let name = "redis_healthd_tls_certificate_expiry_timestamp_seconds"
        if let notValidAfter {
            self.registry.set(name, labels, to: notValidAfter)
        } else {
            self.registry.remove(name, labels)
        }
    }

    /// When the credential in use expires (a credential command's); nil removes the series (it does not expire).
    func recordCredentialExpiry(target: String, expiresAt: Double?) {
        let name = "redis_healthd_credential_expiry_timestamp_seconds"
        if let expiresAt {
            self.registry.set(name, ["target": target], to: expiresAt)
        } else {
            self.registry.remove(name, ["target": target])
        }
    }

    /// Connection failures of a cluster node's connections (the target's own are in connection_failures_total).
    func recordNodeFailure(target: String, kind: String) {
        self.registry.increment("redis_healthd_cluster_node_failures_total", ["target": target, "kind": kind])
    }

    func record(_ event: MultiplexerEvent, target: String) {
        switch event {
        case .probe(let latency):
            self.registry.observe("redis_healthd_probe_duration_seconds", ["target": target], seconds(latency))
        case .connectionFailed(_, _, let kind, _):
            self.registry.increment("redis_healthd_connection_failures_total", ["target": target, "kind": kind.description])
        case .connected(.interactive, _, _, true):
            self.registry.increment("redis_healthd_reconnects_total", ["target": target, "level": "connection"])
        case .forceReconnect(let acted, let reason):
            self.registry.increment("redis_healthd_force_reconnect_decisions_total", ["target": target, "decision": acted ? "acted" : "suppressed", "reason": reason])
        case .forceReconnectCompleted(true, _):
            self.registry.increment("redis_healthd_reconnects_total", ["target": target, "level": "forced"])
        case .reauthenticated(_, let outcome, _):
            self.registry.increment("redis_healthd_reauth_total", ["target": target, "outcome": outcome])
        case .connecting, .connected, .reconnectScheduled, .unresponsive, .responsive, .forceReconnectCompleted, .subscribed,
            .peerCertificates, .maintenanceNotificationsRefused, .maintenanceNotification, .maintenanceMalformed,
            .maintenanceHandoff:
            // Maintenance push notifications: recordMaintenanceNotification (the supervisor keeps the windows).
            // Certificates: recordCertificateExpiry (the supervisor keeps one series per node).
            break
        }
    }
}
