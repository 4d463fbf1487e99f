import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

@Suite("Reload keeps the metrics of unchanged targets and takes out those of removed ones", .serialized)
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

    @Test("a reload removing a target takes its series out at once, and they stay out once its connections closed")
    func removedTargetLeavesNoSeries() async throws {
        try await withRedisServer { server in
            try await withDaemon(server) { daemon, client in
                func metrics() -> String { daemon.metricsText() }
                let a = "  - {name: cache-a, host: 127.0.0.1, port: \(server.port), probe_interval: 200ms, probe_timeout: 200ms}\n"
                // cache-b names its connections, so that the test sees them close.
                let b = "  - {name: cache-b, host: 127.0.0.1, port: \(server.port), probe_interval: 200ms, probe_timeout: 200ms, client_name: removed-b}\n"
                func configuration(_ targets: String) throws -> DaemonConfiguration {
                    try ConfigurationLoader(credentialsDirectory: nil).parse("control:\n  socket: \(client.socketPath)\ntargets:\n" + targets)
                }
                _ = try daemon.reload(try configuration(a + b))
                #expect(await eventually(within: .seconds(15)) { metrics().contains(#"redis_healthd_target_up{target="cache-b"} 1"#) })
                #expect(await eventually(within: .seconds(15)) { metrics().contains(#"redis_healthd_probe_duration_seconds_count{target="cache-b"}"#) })

                let removed = try daemon.reload(try configuration(a))
                #expect(removed.removed == ["cache-b"] && removed.unchanged == ["cache-a"])
                #expect(!metrics().contains(#"target="cache-b""#), "\(metrics())")
                // Its supervisor stops after the reload: once its connections are gone, nothing of it came back.
                #expect(await eventually(within: .seconds(15)) { (try? await clientNames(server).contains("removed-b")) == false })
                let text = metrics()
                #expect(!text.contains(#"target="cache-b""#), "\(text)")
                #expect(text.contains(#"redis_healthd_target_up{target="cache-a"} 1"#), "\(text)")
                let targets = json(try await client.send("GET", "/status"))["targets"] as? [[String: Any]] ?? []
                #expect(targets.compactMap { $0["name"] as? String } == ["cache-a"])
            }
        }
    }

    @Test("a reload before the daemon started its targets starts each target once, and the daemon stops")
    func reloadBeforeStart() async throws {
        try await withRedisServer { server in
            func target(_ name: String) -> String {
                "  - {name: \(name), host: 127.0.0.1, port: \(server.port), probe_interval: 200ms, probe_timeout: 200ms, client_name: early-\(name)}\n"
            }
            // A SIGHUP handled before run() reached its targets (the handler is installed first): "a" rebuilt (its
            // probe settings differ), "b" added. withDaemon fails the test if run() does not return after stop().
            try await withDaemon(targetsYAML: target("a")) { daemon in
                var changed = try ConfigurationLoader(credentialsDirectory: nil).parse(
                    "control:\n  socket: \(daemon.configuration.control.socket)\ntargets:\n" + target("a") + target("b"))
                changed.targets[0].multiplexer.probeTimeout = .milliseconds(300)
                let outcome = try daemon.reload(changed)
                #expect(outcome.restarted == ["a"] && outcome.added == ["b"])
            } _: { daemon, _, _ in
                #expect(await eventually(within: .seconds(15)) {
                    daemon.metricsText().contains(#"redis_healthd_target_up{target="a"} 1"#)
                        && daemon.metricsText().contains(#"redis_healthd_target_up{target="b"} 1"#)
                })
                // One connection per target: a supervisor started twice would hold two.
                try await Task.sleep(for: .milliseconds(500))
                // Client names carry a suffix per connection ("early-a#…"); the probe connection is the one here.
                let names = try await clientNames(server).map { String($0.split(separator: "#").first ?? "") }
                #expect(names.filter { $0 == "early-a" }.count == 1, "\(names)")
                #expect(names.filter { $0 == "early-b" }.count == 1, "\(names)")
            }
        }
    }
}
