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

    /// Prometheus text exposition format.
    public func exposition() -> String { self.registry.emitToString() }

    /// Sets up a target's series so they exist (at zero) before anything happens.
    func register(target: String) {
        Gauge(label: "redis_healthd_target_up", dimensions: [("target", target)], factory: self.factory).record(0)
        Gauge(label: "redis_healthd_topology_anomalies", dimensions: [("target", target)], factory: self.factory).record(0)
        self.recordState(target: target, state: .starting)
        for level in ["connection", "forced"] {
            Counter(label: "redis_healthd_reconnects_total", dimensions: [("target", target), ("level", level)], factory: self.factory)
                .increment(by: 0)
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
        case .connecting, .connected, .reconnectScheduled, .unresponsive, .responsive, .forceReconnectCompleted, .subscribed:
            break
        }
    }
}
