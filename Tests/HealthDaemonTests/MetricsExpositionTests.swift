import Foundation
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// Operator experience (18): metrics Prometheus tooling accepts as they are.
@Suite("Metrics exposition")
struct MetricsExpositionTests {
    static let promtool = try? which("promtool")

    func populated() -> DaemonMetrics {
        let metrics = DaemonMetrics(version: "test")
        metrics.register(target: "cache-a")
        metrics.register(target: "cache-b")
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: 1)
        metrics.record(.probe(latency: .microseconds(400)), target: "cache-a")
        metrics.record(.probe(latency: .milliseconds(3)), target: "cache-b")
        metrics.record(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .socket, message: "reset"), target: "cache-b")
        metrics.record(.forceReconnect(acted: false, reason: "minimum-interval"), target: "cache-a")
        metrics.recordTopologyChange(target: "cache-b", kind: "node-added")
        metrics.recordMaintenance(target: "cache-a", type: "NodeMaintenanceEnded")
        metrics.recordCanaryLatency(target: "cache-a", seconds: 0.0004)
        metrics.recordCanaryMissed(target: "cache-b")
        return metrics
    }

    @Test("every family has HELP and TYPE, families and series come in a stable order")
    func helpAndOrder() {
        let metrics = self.populated()
        let text = metrics.exposition()
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        let helps = text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] }
        #expect(types == helps, "a HELP before every TYPE")
        #expect(types == types.sorted())
        #expect(metrics.exposition() == text, "the same state gives the same text")
        // Counters with known label values are there at 0 before anything happened.
        #expect(text.contains("redis_healthd_connection_failures_total{target=\"cache-a\",kind=\"connection-refused\"} 0"))
        #expect(text.contains("redis_healthd_force_reconnect_decisions_total{target=\"cache-b\",decision=\"acted\",reason=\"manual\"} 0"))
        #expect(text.contains("redis_healthd_topology_refreshes_total{target=\"cache-a\",outcome=\"failed\"} 0"))
        #expect(text.contains("redis_healthd_canary_missed_total{target=\"cache-a\"} 0"))
        #expect(text.contains("redis_healthd_canary_missed_total{target=\"cache-b\"} 1"))
        // A histogram's lines stay together, buckets in order.
        let buckets = text.split(separator: "\n").filter { $0.hasPrefix("redis_healthd_probe_duration_seconds_bucket{target=\"cache-a\"") }
        #expect(buckets.last?.contains("le=\"+Inf\"") == true)
    }

    @Test("promtool check metrics finds nothing to complain about", .enabled(if: promtool != nil, "promtool is not installed (Debian: prometheus)"))
    func promtoolClean() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rh-metrics-\(UUID().uuidString.prefix(6)).txt").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try self.populated().exposition().write(toFile: file, atomically: true, encoding: .utf8)
        let output = try await run("/bin/sh", ["-c", "\"$0\" check metrics < \"$1\" 2>&1", Self.promtool!, file])
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(output)")
    }
}
