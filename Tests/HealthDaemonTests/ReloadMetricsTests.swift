import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

@Suite("Reload keeps the metrics of unchanged targets", .serialized)
struct ReloadMetricsTests {
    @Test("a healthy target stays target_up 1 / state healthy across a reload with the same file, and one adding a target")
    func unchangedTargetKeepsMetrics() async throws {
        try await withRedisServer { server in
            try await withDaemon(server) { daemon, client in
                func metrics() -> String { daemon.metricsText() }
                let up = #"redis_healthd_target_up{target="cache-a"} 1"#
                let healthy = #"redis_healthd_target_state{target="cache-a",state="healthy"} 1"#
                #expect(await eventually(within: .seconds(15)) { metrics().contains(up) && metrics().contains(healthy) })
                let a = "  - {name: cache-a, host: 127.0.0.1, port: \(server.port), probe_interval: 200ms, probe_timeout: 200ms, reconnect: {min_interval: 0s}}\n"
                let b = "  - {name: cache-b, host: 127.0.0.1, port: \(server.port)}\n"
                func configuration(_ targets: String) throws -> DaemonConfiguration {
                    try ConfigurationLoader(credentialsDirectory: nil).parse("control:\n  socket: \(client.socketPath)\ntargets:\n" + targets)
                }

                let same = try daemon.reload(try configuration(a))
                #expect(same.unchanged == ["cache-a"] && same.restarted.isEmpty && same.added.isEmpty)
                // At once, not after the next state change (which may never come).
                var text = metrics()
                #expect(text.contains(up), "\(text)")
                #expect(text.contains(healthy), "\(text)")
                #expect(text.contains(#"redis_healthd_target_state{target="cache-a",state="starting"} 0"#))

                let added = try daemon.reload(try configuration(a + b))
                #expect(added.unchanged == ["cache-a"] && added.added == ["cache-b"])
                text = metrics()
                #expect(text.contains(up), "\(text)")
                #expect(text.contains(healthy), "\(text)")
                #expect(await eventually(within: .seconds(15)) { metrics().contains(#"redis_healthd_target_up{target="cache-b"} 1"#) })
                // Still true a moment later (nothing reset it behind our back).
                #expect(metrics().contains(up) && metrics().contains(healthy))
                #expect(json(try await client.send("GET", "/status/cache-a"))["state"] as? String == "healthy")
            }
        }
    }
}
