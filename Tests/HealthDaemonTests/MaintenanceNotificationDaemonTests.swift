import Foundation
import NIOCore
import RESP
import RedisClient
import RedisTestSupport
import Synchronization
import Testing

@testable import HealthDaemon

private func bulk(_ text: String) -> RESPValue { .bulkString(text) }

/// Takes CLIENT MAINT_NOTIFICATIONS (the fake server plays Redis Enterprise / Azure Managed Redis).
private let acceptsNotifications: FakeRedisServer.Handler = { command, _ in
    command.name == "CLIENT MAINT_NOTIFICATIONS" ? .ok : .default
}

@Suite("Maintenance push notifications in the daemon: status, metrics, log, refusal, topology refresh")
struct MaintenanceNotificationDaemonTests {
    @Test("MIGRATING: maintenance in the status, the metric and gauge, one notice with its event; MIGRATED clears it")
    func windowInStatus() async throws {
        try await withFakeRedisServer(.respond(acceptsNotifications)) { server in
            let logs = LogRecords()
            // A probe timeout that a loaded machine (the whole suite on 2 cores) cannot miss twice in a row: the test
            // is about the window not counting as a failure, not about probe misses.
            try await withDaemon(targetsYAML: quickTarget(server.port, probeTimeout: "2s"), logs: logs) { _, client, _ in
                #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy" })
                await server.sendPushToAll([bulk("MIGRATING"), .integer(3), .integer(30), bulk("1")])
                #expect(await eventually(within: .seconds(15)) { ((try? await object(client, "/status/cache-a"))?["maintenance"] as? [[String: Any]])?.count == 1 })
                let status = try await object(client, "/status/cache-a")
                let window = try #require((status["maintenance"] as? [[String: Any]])?.first)
                #expect(window["kind"] as? String == "MIGRATING")
                #expect(window["node"] as? String == "127.0.0.1:\(server.port)")
                #expect((window["since"] as? String)?.hasSuffix("Z") == true)
                #expect(window["sequence"] as? Int == 3)
                #expect(status["state"] as? String == "healthy", "a maintenance window is not a failure: \(status["reason"] ?? "-")")
                let metrics = String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
                #expect(metrics.contains("redis_healthd_maintenance_notifications_total{target=\"cache-a\",type=\"MIGRATING\"} 1"))
                #expect(metrics.contains("redis_healthd_maintenance_window_active{target=\"cache-a\"} 1"))
                let notices = logs.with(event: "maintenance-notification")
                // What an operator sees (the README quotes it).
                let shown = try JSONSerialization.data(
                    withJSONObject: ["last_maintenance_event": status["last_maintenance_event"] ?? "", "maintenance": status["maintenance"] ?? []],
                    options: [.sortedKeys])
                print("maintenance status: \(String(decoding: shown, as: UTF8.self))")
                print("maintenance notice: \(notices.first.map { "\($0.level) \($0.message) \($0.metadata.sorted { $0.key < $1.key })" } ?? "-")")
                #expect(notices.count == 1)
                #expect(notices.first?.level == .notice)
                #expect(notices.first?.metadata["redis.maintenance_type"] == "MIGRATING")
                let events = try await object(client, "/events?since=0&target=cache-a")
                let kinds = (events["events"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } ?? []
                #expect(kinds.contains("maintenance-notification"))

                await server.sendPushToAll([bulk("MIGRATED"), .integer(2)])  // a replay: ignored
                await server.sendPushToAll([bulk("MIGRATED"), .integer(4), bulk("1")])
                #expect(await eventually(within: .seconds(15)) { (try? await object(client, "/status/cache-a"))?["maintenance"] == nil })
                let after = String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
                #expect(after.contains("redis_healthd_maintenance_window_active{target=\"cache-a\"} 0"))
                #expect(after.contains("redis_healthd_maintenance_notifications_total{target=\"cache-a\",type=\"stale\"} 1"))
                // A hostile push: escaped when logged, counted, nothing breaks.
                await server.sendPushToAll([bulk("MIGRATING"), bulk("x\n<0>forged")])
                #expect(await eventually(within: .seconds(15)) { !logs.with(event: "maintenance-malformed").isEmpty })
                #expect(logs.with(event: "maintenance-malformed").allSatisfy { !($0.metadata["error.message"] ?? "").contains("\n") })
                // Healthy still (within a few probes: with 200 ms probes a loaded machine can make one late).
                #expect(await eventually(within: .seconds(5)) { ((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy" })
            }
        }
    }

    @Test("a refusal in auto is silent (debug once, no error); in on it is one clear warning, however many reconnects")
    func refusal() async throws {
        // The fake server's default answer to CLIENT MAINT_NOTIFICATIONS is an error, as from Redis 7.
        try await withFakeRedisServer { server in
            let logs = LogRecords()
            try await withDaemon(targetsYAML: quickTarget(server.port), logs: logs) { _, client, _ in
                #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy" })
                await server.closeAll()
                #expect(await eventually(within: .seconds(30)) { server.commands(named: "CLIENT MAINT_NOTIFICATIONS").count >= 2 })
                #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy" })
                let records = logs.with(event: "maintenance-notifications-refused")
                #expect(records.count <= 1, "noted once (at debug: present when the log level lets it through)")
                #expect(records.allSatisfy { $0.level == .debug })
                #expect(!logs.all.contains { $0.level >= .warning && $0.message.contains("MAINT_NOTIFICATIONS") })
                let status = try await object(client, "/status/cache-a")
                #expect(!((status["last_error"] as? String) ?? "").contains("MAINT_NOTIFICATIONS"))
                #expect(status["connection_failures"] as? Int == 1, "only the close counts, not the refusal")
            }
        }
        try await withFakeRedisServer { server in
            let logs = LogRecords()
            let target = quickTarget(server.port) + "    maintenance_notifications: on\n"
            try await withDaemon(targetsYAML: target, logs: logs) { _, client, _ in
                #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy" })
                await server.closeAll()
                #expect(await eventually(within: .seconds(30)) { server.commands(named: "CLIENT MAINT_NOTIFICATIONS").count >= 2 })
                #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy" })
                let warnings = logs.with(event: "maintenance-notifications-refused")
                #expect(warnings.count == 1)
                #expect(warnings.first?.level == .warning)
                #expect(warnings.first?.message.contains("maintenance_notifications is on") == true)
            }
        }
    }

    @Test("SMIGRATED on a cluster target triggers a topology refresh")
    func slotsMigratedRefresh() async throws {
        try await withFakeRedisServer(FakeRedisServer.Script(handler: acceptsNotifications)) { server in
            server.updateScript {
                $0.topology = FakeClusterTopology(nodes: [
                    FakeClusterNode(id: FakeClusterTopology.nodeID(1), ip: "127.0.0.1", endpoint: "127.0.0.1", port: server.port, slots: [0...16383])
                ])
            }
            let logs = LogRecords()
            let target = """
                  - name: cluster-b
                    host: 127.0.0.1
                    port: \(server.port)
                    cluster: on
                    probe_interval: 200ms
                    probe_timeout: 1s
                    allowed_ports: ["1-65535"]
                    topology: {refresh_interval: 10m, min_refresh_interval: 100ms}

                """
            try await withDaemon(targetsYAML: target, logs: logs) { daemon, client, _ in
                #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cluster-b"))?["state"] as? String) == "healthy" })
                #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cluster-b"))?["cluster_primaries_connected"] as? Int) == 1 })
                // Both connections (the target's own and the node's) asked for notifications.
                #expect(await eventually(within: .seconds(30)) { server.commands(named: "CLIENT MAINT_NOTIFICATIONS").count >= 2 })
                let before = server.commands(named: "CLUSTER SHARDS").count
                #expect(before >= 1)
                await server.sendPushToAll([
                    bulk("SMIGRATED"), .integer(9), .array([.array([bulk("127.0.0.1:\(server.port)"), bulk("127.0.0.1:7001"), bulk("1-100")])]),
                ])
                #expect(await eventually(within: .seconds(15)) { server.commands(named: "CLUSTER SHARDS").count > before })
                #expect(logs.with(event: "maintenance-notification").contains { $0.metadata["redis.topology_refresh"] == "true" })
                _ = daemon
            }
        }
    }

    @Test("MOVING: to an endpoint outside allowed_ports an anomaly, not dialed; to an allowed one a handoff, still healthy")
    func moving() async throws {
        try await withFakeRedisServer(.respond(acceptsNotifications)) { server in
            try await withFakeRedisServer(.respond(acceptsNotifications)) { forbidden in
                try await withFakeRedisServer(.respond(acceptsNotifications)) { next in
                    let logs = LogRecords()
                    // A name of this test's own: a connection another test's client makes to a port it was
                    // given (the parallel suite reuses ports) is not this daemon dialing the forbidden endpoint.
                    let clientName = "moving-\(UInt32.random(in: 0...UInt32.max))"
                    let target = quickTarget(server.port) + "    allowed_ports: [\(server.port), \(next.port)]\n    client_name: \(clientName)\n"
                    try await withDaemon(targetsYAML: target, logs: logs) { _, client, _ in
                        #expect(await eventually(within: .seconds(30)) { ((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy" })
                        await server.sendPushToAll([bulk("MOVING"), .integer(1), .integer(0), bulk("127.0.0.1:\(forbidden.port)")])
                        #expect(await eventually(within: .seconds(15)) { !logs.with(event: "maintenance-moving-disallowed").isEmpty })
                        let anomaly = try #require(logs.with(event: "maintenance-moving-disallowed").first)
                        #expect(anomaly.level == .warning)
                        #expect(anomaly.metadata["redis.announced_endpoint"] == "127.0.0.1:\(forbidden.port)")
                        #expect(anomaly.metadata["redis.rule"]?.contains("allowed_ports") == true)
                        #expect(anomaly.metadata["redis.dialed"] == "no")
                        try await Task.sleep(for: .seconds(1))
                        let dialedByThisDaemon = forbidden.snapshot.commands.filter { $0.words.contains { $0.hasPrefix(clientName) } }
                        #expect(dialedByThisDaemon.isEmpty, "the disallowed endpoint was dialed: \(dialedByThisDaemon)")

                        await server.sendPushToAll([bulk("MOVING"), .integer(2), .integer(1), bulk("127.0.0.1:\(next.port)")])
                        #expect(await eventually(within: .seconds(30)) { !logs.with(event: "maintenance-handoff").isEmpty })
                        #expect(logs.with(event: "maintenance-handoff").first?.level == .notice)
                        #expect(await eventually(within: .seconds(15)) { server.openConnections == 0 && next.openConnections >= 1 })
                        #expect(((try? await object(client, "/status/cache-a"))?["state"] as? String) == "healthy")
                        let metrics = String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
                        #expect(metrics.contains("redis_healthd_maintenance_handoffs_total{target=\"cache-a\",outcome=\"not-dialed\"} 1"))
                        #expect(metrics.contains("redis_healthd_maintenance_handoffs_total{target=\"cache-a\",outcome=\"completed\"} 1"))
                        #expect(metrics.contains("redis_healthd_maintenance_notifications_total{target=\"cache-a\",type=\"MOVING\"} 2"))
                    }
                }
            }
        }
    }

    @Test("a password echoed in a notification's shard ids or moves is scrubbed before anything shows it")
    func scrubbed() throws {
        let scrubber = SecretScrubber(password: RedisSecret("s3cret-password"))
        guard case .notification(let notification) = MaintenancePush.classify(
            .push([bulk("SMIGRATED"), .integer(1), .array([.array([bulk("a:1"), bulk("s3cret-password"), bulk("1")])])]))
        else { Issue.record("not parsed"); return }
        let event = scrubber.scrub(MultiplexerEvent.maintenanceNotification(node: RedisEndpoint(host: "h", port: 1), notification, stale: false))
        guard case .maintenanceNotification(_, let scrubbed, _) = event else { Issue.record("changed kind"); return }
        #expect(!scrubbed.summary.contains("s3cret-password"))
        #expect(!describe(event).contains("s3cret-password"))
    }

    @Test("auto subscribes to AzureRedisEvents for Azure Cache host names only")
    func azureEventsAuto() {
        #expect(MaintenanceEvent.isAzureCacheHost("contoso.redis.cache.windows.net"))
        #expect(!MaintenanceEvent.isAzureCacheHost("contoso.eastus.redis.azure.net"))
        var target = DaemonConfiguration.Target(
            name: "amr", multiplexer: RedisMultiplexerConfiguration(
                connection: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "contoso.eastus.redis.azure.net", port: 10000))))
        #expect(!target.subscribesToMaintenanceEvents)
        target.maintenanceEvents = .on
        #expect(target.subscribesToMaintenanceEvents)
    }
}
