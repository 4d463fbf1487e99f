import Foundation
import Logging
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// `cluster: auto` against what managed services answer: a proxy endpoint that calls itself a cluster but refuses
/// CLUSTER commands (Azure Managed Redis under its Enterprise cluster policy), and ACLs that refuse INFO.
@Suite("Cluster detection against proxies and refusals")
struct ClusterDetectionTests {
    private static let unknownCluster = "ERR unknown command 'CLUSTER', with args beginning with: 'SHARDS' "

    /// Runs the daemon against a fake server answering with `script`; returns the target's status after it has
    /// settled, the CLUSTER commands the server received over `observe` more seconds, and the log.
    private func settle(
        _ script: FakeRedisServer.Script, until settled: @escaping @Sendable ([String: Any]) -> Bool
    ) async throws -> (status: [String: Any], clusterCommands: Int, logs: LogRecords) {
        let logs = LogRecords()
        var result: ([String: Any], Int)?
        try await withFakeRedisServer(script) { server in
            // No port rule: the fake server's port is no warning of its own.
            // Probes with room to spare: these tests count warnings, and a 200 ms probe misses while another suite's
            // CPU hogs spin (BusyMachineFaultTests) would be an `unresponsive` warning that is not about detection.
            let target = quickTarget(server.port).replacingOccurrences(of: "probe_timeout: 200ms", with: "probe_timeout: 2s")
                + "    allowed_ports: []\n"
            try await withDaemon(targetsYAML: target, logs: logs) { _, client, _ in
                #expect(try await eventually(within: .seconds(20)) { settled(try await object(client, "/status/cache-a")) })
                // A few more probe rounds: a retry storm would show here.
                try await Task.sleep(for: .seconds(3))
                let status = try await object(client, "/status/cache-a")
                result = (status, server.commands.filter { $0.name.hasPrefix("CLUSTER") }.count)
            }
        }
        let (status, count) = try #require(result)
        return (status, count, logs)
    }

    @Test("a proxy: INFO says cluster_enabled:1, CLUSTER is an unknown command: standalone and healthy, no warning, no retries")
    func proxyEndpoint() async throws {
        let script = FakeRedisServer.Script.respond { command, _ in
            if command.name == "INFO" { return .bulk("# Cluster\r\ncluster_enabled:1\r\n") }
            if command.name.hasPrefix("CLUSTER") { return .error(Self.unknownCluster) }
            return .default
        }
        let (status, clusterCommands, logs) = try await self.settle(script) {
            $0["topology"] as? String == "standalone" && $0["state"] as? String == "healthy"
        }
        #expect(status["state"] as? String == "healthy" && status["reason"] == nil, "\(status)")
        #expect(clusterCommands == 1, "asked once (CLUSTER SHARDS), not again: \(clusterCommands)")
        let warnings = logs.all.filter { $0.level >= .warning }
        #expect(warnings.isEmpty, "\(warnings.map(\.message))")
        let mode = logs.with(event: "topology-mode").map(\.message)
        #expect(mode.contains { $0.hasPrefix("Standalone: the server refuses CLUSTER commands (ERR unknown command 'CLUSTER'") }, "\(mode)")
    }

    @Test("INFO refused by an ACL, and cluster support disabled: standalone, no warning")
    func infoRefusedStandalone() async throws {
        let script = FakeRedisServer.Script.respond { command, _ in
            if command.name == "INFO" { return .error("NOPERM User healthd has no permissions to run the 'info' command") }
            return .default  // a standalone server: -ERR This instance has cluster support disabled
        }
        let (status, clusterCommands, logs) = try await self.settle(script) { $0["topology"] as? String == "standalone" }
        #expect(status["state"] as? String == "healthy")
        #expect(clusterCommands == 1)
        #expect(logs.all.filter { $0.level >= .warning }.isEmpty)
    }

    @Test("INFO and CLUSTER both refused by an ACL: one warning saying to set cluster, asked again only now and then")
    func bothRefused() async throws {
        let script = FakeRedisServer.Script.respond { command, _ in
            if command.name == "INFO" { return .error("NOPERM User healthd has no permissions to run the 'info' command") }
            if command.name.hasPrefix("CLUSTER") { return .error("NOPERM User healthd has no permissions to run the 'cluster|shards' command") }
            return .default
        }
        let (status, clusterCommands, logs) = try await self.settle(script) { $0["state"] as? String == "healthy" }
        #expect(status["topology"] as? String == "detecting")
        #expect(clusterCommands == 1, "asked again after 30 s, not at once: \(clusterCommands)")
        let warnings = logs.all.filter { $0.level >= .warning }
        #expect(warnings.count == 1 && warnings.first?.message.contains("set cluster: on or off") == true, "\(warnings.map(\.message))")
    }
}
