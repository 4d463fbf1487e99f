import CoreMetrics
import Prometheus
import RedisMultiplexer

/// The daemon's Prometheus metrics, recorded through swift-metrics into this daemon's own registry
/// (no global bootstrap, so several daemons — or tests — never share counters).
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    public init(version: String) {
        var factory = PrometheusMetricsFactory(registry: self.registry)
        factory.durationHistogramBuckets["redis_healthd_probe_duration_seconds"] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1),
        ]
        self.factory = factory
        Gauge(label: "redis_healthd_build_info", dimensions: [("version", version)], factory: factory).record(1)
    }

    /// Prometheus text exposition format: every family with its HELP, in a stable order.
    public func exposition() -> String { MetricsExposition.normalize(self.registry.emitToString()) }

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

    /// Sets up a target's series so they exist (at zero) before anything happens.
    func register(target: String) {
        Gauge(label: "redis_healthd_target_up", dimensions: [("target", target)], factory: self.factory).record(0)
        Gauge(label: "redis_healthd_topology_anomalies", dimensions: [("target", target)], factory: self.factory).record(0)
        Gauge(label: "redis_healthd_maintenance_window_active", dimensions: [("target", target)], factory: self.factory).record(0)
        Counter(label: "redis_healthd_maintenance_events_suppressed_total", dimensions: [("target", target)], factory: self.factory)
            .increment(by: 0)
        Counter(label: "redis_healthd_canary_missed_total", dimensions: [("target", target)], factory: self.factory).increment(by: 0)
        self.recordState(target: target, state: .starting)
        for level in ["connection", "forced"] {
            Counter(label: "redis_healthd_reconnects_total", dimensions: [("target", target), ("level", level)], factory: self.factory)
                .increment(by: 0)
        }
        // Counters with known label values exist at 0 from the start: `rate()` and alerts see the first failure.
        for kind in Self.connectionFailureKinds {
            Counter(label: "redis_healthd_connection_failures_total", dimensions: [("target", target), ("kind", kind)], factory: self.factory)
                .increment(by: 0)
        }
        for (decision, reason) in Self.forceReconnectDecisions {
            Counter(
                label: "redis_healthd_force_reconnect_decisions_total",
                dimensions: [("target", target), ("decision", decision), ("reason", reason)], factory: self.factory
            ).increment(by: 0)
        }
        for outcome in ["ok", "failed"] {
            Counter(
                label: "redis_healthd_topology_refreshes_total", dimensions: [("target", target), ("outcome", outcome)],
                factory: self.factory
            ).increment(by: 0)
        }
    }

    func recordState(target: String, state: TargetStatus.State) {
        for candidate in TargetStatus.State.allCases {
            Gauge(
                label: "redis_healthd_target_state", dimensions: [("target", target), ("state", candidate.rawValue)],
                factory: self.factory
            ).record(candidate == state ? 1 : 0)
        }
        Gauge(label: "redis_healthd_target_up", dimensions: [("target", target)], factory: self.factory)
            .record(state == .healthy || state == .degraded ? 1 : 0)
    }

    func recordAnomalies(target: String, count: Int) {
        Gauge(label: "redis_healthd_topology_anomalies", dimensions: [("target", target)], factory: self.factory).record(count)
    }

    /// Topology changes seen, by kind (node-added, endpoint-changed, slots-moved, …).
    func recordTopologyChange(target: String, kind: String) {
        Counter(label: "redis_healthd_topology_changes_total", dimensions: [("target", target), ("kind", kind)], factory: self.factory)
            .increment()
    }

    /// Topology refreshes, by outcome (ok, failed).
    func recordTopologyRefresh(target: String, ok: Bool) {
        Counter(
            label: "redis_healthd_topology_refreshes_total", dimensions: [("target", target), ("outcome", ok ? "ok" : "failed")],
            factory: self.factory
        ).increment()
    }

    /// Maintenance notifications, by type (known types, `unknown` or `malformed`: a bounded label set).
    func recordMaintenance(target: String, type: String) {
        Counter(label: "redis_healthd_maintenance_events_total", dimensions: [("target", target), ("type", type)], factory: self.factory)
            .increment()
    }

    /// Maintenance push notifications (RESP3), by type: the seven known types, `stale` (a replay, ignored) or
    /// `malformed` (a bounded label set).
    func recordMaintenanceNotification(target: String, type: String) {
        Counter(
            label: "redis_healthd_maintenance_notifications_total", dimensions: [("target", target), ("type", type)],
            factory: self.factory
        ).increment()
    }

    /// Nodes of the target in a maintenance window now (announced by push notifications).
    func recordMaintenanceWindows(target: String, count: Int) {
        Gauge(label: "redis_healthd_maintenance_window_active", dimensions: [("target", target)], factory: self.factory).record(count)
    }

    /// MOVING handoffs, by outcome (completed, not-dialed, failed).
    func recordHandoff(target: String, outcome: String) {
        Counter(label: "redis_healthd_maintenance_handoffs_total", dimensions: [("target", target), ("outcome", outcome)], factory: self.factory)
            .increment()
    }

    /// Maintenance notifications not recorded (more than 10 a minute).
    func recordMaintenanceSuppressed(target: String) {
        Counter(label: "redis_healthd_maintenance_events_suppressed_total", dimensions: [("target", target)], factory: self.factory)
            .increment()
    }

    /// A pub/sub canary that did not arrive in time.
    func recordCanaryMissed(target: String) {
        Counter(label: "redis_healthd_canary_missed_total", dimensions: [("target", target)], factory: self.factory).increment()
    }

    /// The last pub/sub canary's round trip.
    func recordCanaryLatency(target: String, seconds: Double) {
        Gauge(label: "redis_healthd_canary_latency_seconds", dimensions: [("target", target)], factory: self.factory).record(seconds)
    }

    /// When the first certificate a node presents expires (the chain's earliest when read, else the leaf's), like
    /// blackbox_exporter's probe_ssl_earliest_cert_expiry; nil removes the node's series (it left the topology).
    func recordCertificateExpiry(target: String, node: String, notValidAfter: Double?) {
        let gauge = Gauge(
            label: "redis_healthd_tls_certificate_expiry_timestamp_seconds", dimensions: [("target", target), ("node", node)],
            factory: self.factory)
        if let notValidAfter {
            gauge.record(notValidAfter)
        } else {
            gauge.destroy()
        }
    }

    /// When the credential in use expires (a credential command's); nil removes the series (it does not expire).
    func recordCredentialExpiry(target: String, expiresAt: Double?) {
        let gauge = Gauge(label: "redis_healthd_credential_expiry_timestamp_seconds", dimensions: [("target", target)], factory: self.factory)
        if let expiresAt { gauge.record(expiresAt) } else { gauge.destroy() }
    }

    /// Connection failures of a cluster node's connections (the target's own are in connection_failures_total).
    func recordNodeFailure(target: String, kind: String) {
        Counter(
            label: "redis_healthd_cluster_node_failures_total", dimensions: [("target", target), ("kind", kind)], factory: self.factory
        ).increment()
    }

    func record(_ event: MultiplexerEvent, target: String) {
        switch event {
        case .probe(let latency):
            Timer(label: "redis_healthd_probe_duration_seconds", dimensions: [("target", target)], factory: self.factory)
                .recordNanoseconds(latency.components.seconds * 1_000_000_000 + latency.components.attoseconds / 1_000_000_000)
        case .connectionFailed(_, _, let kind, _):
            Counter(
                label: "redis_healthd_connection_failures_total", dimensions: [("target", target), ("kind", kind.description)],
                factory: self.factory
            ).increment()
        case .connected(.interactive, _, _, true):
            Counter(label: "redis_healthd_reconnects_total", dimensions: [("target", target), ("level", "connection")], factory: self.factory)
                .increment()
        case .forceReconnect(let acted, let reason):
            Counter(
                label: "redis_healthd_force_reconnect_decisions_total",
                dimensions: [("target", target), ("decision", acted ? "acted" : "suppressed"), ("reason", reason)],
                factory: self.factory
            ).increment()
        case .forceReconnectCompleted(true, _):
            Counter(label: "redis_healthd_reconnects_total", dimensions: [("target", target), ("level", "forced")], factory: self.factory)
                .increment()
        case .reauthenticated(_, let outcome, _):
            Counter(label: "redis_healthd_reauth_total", dimensions: [("target", target), ("outcome", outcome)], factory: self.factory)
                .increment()
        case .connecting, .connected, .reconnectScheduled, .unresponsive, .responsive, .forceReconnectCompleted, .subscribed,
            .peerCertificates, .maintenanceNotificationsRefused, .maintenanceNotification, .maintenanceMalformed,
            .maintenanceHandoff:
            // Maintenance push notifications: recordMaintenanceNotification (the supervisor keeps the windows).
            // Certificates: recordCertificateExpiry (the supervisor keeps one series per node).
            break
        }
    }
}
