import Foundation
import Logging
import RedisTestSupport
import Synchronization
import Testing

@testable import HealthDaemon

/// Keeps every log record, to assert what an operator would read in the journal.
final class LogRecords: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let records = Mutex<[Record]>([])

    var all: [Record] { self.records.withLock { $0 } }

    func with(event: String) -> [Record] { self.all.filter { $0.metadata["redis.event"] == event } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(box: self) }
    }

    struct Handler: LogHandler {
        let box: LogRecords
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
            self.box.records.withLock {
                $0.append(Record(level: event.level, message: event.message.description, metadata: all.mapValues { "\($0)" }))
            }
        }
    }
}

/// Runs a daemon from `targetsYAML` (the `targets:` list) with a control socket in a temporary folder.
/// `topYAML` goes before the `control:` section (e.g. `metrics:`); the socket file must be gone after the stop.
func withDaemon(
    targetsYAML: String, topYAML: String = "", logs: LogRecords = LogRecords(), notifications: Notifications? = nil,
    beforeRun: (Daemon) throws -> Void = { _ in },
    _ body: (Daemon, ControlClient, String) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-cl-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let socket = directory.appendingPathComponent("control.sock").path
    let yaml = topYAML + "control:\n  socket: \(socket)\ntargets:\n" + targetsYAML
    let configuration = try ConfigurationLoader(credentialsDirectory: nil).parse(yaml)
    let daemon = try Daemon(
        configuration: configuration, logger: logs.logger,
        notify: { message in notifications?.messages.withLock { $0.append(message) } })
    try beforeRun(daemon)
    let ended = Mutex(false)
    let runner = Task {
        defer { ended.withLock { $0 = true } }
        try await daemon.run()
    }
    #expect(await eventually(within: .seconds(5)) { FileManager.default.fileExists(atPath: socket) })
    do {
        try await body(daemon, ControlClient(socketPath: socket, timeout: 30), socket)
    } catch {
        daemon.stop()
        _ = try? await runner.value
        throw error
    }
    daemon.stop()
    // run() returns after stop(): bounded, so that a daemon that hangs at stop fails its test, not the whole run.
    guard await eventually(within: .seconds(30), { ended.withLock { $0 } }) else {
        Issue.record("run() did not return within 30 s of stop()")
        runner.cancel()
        return
    }
    try await runner.value
    #expect(!FileManager.default.fileExists(atPath: socket), "the socket file is removed at stop")
}

/// A cluster target on the cluster's first node; every port allowed except 10226 (the incident's port).
func clusterTargetYAML(_ cluster: RedisCluster, refresh: String = "1s", extra: String = "") -> String {
    """
      - name: cluster-b
        host: 127.0.0.1
        port: \(cluster.servers[0].port)
        cluster: auto
        probe_interval: 200ms
        probe_timeout: 500ms
        allowed_ports: ["1-10225", "10227-65535"]
        topology: {refresh_interval: \(refresh), min_refresh_interval: 200ms}
    \(extra)
    """
}

func object(_ client: ControlClient, _ path: String) async throws -> [String: Any] {
    let response = try await client.send("GET", path)
    #expect(response.status == 200, "GET \(path)")
    return (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
}


@Suite("Topology watch, maintenance events and export against a real 3-node cluster", .serialized)
struct ClusterDaemonTests {
    @Test("a node announcing port 10226: anomaly logged, degraded with the reason, not dialed, in history; cleared after; nodes added and removed are followed; export")
    func announcedPortAnomaly() async throws {
        try await withRedisCluster { cluster in
            let logs = LogRecords()
            let notifications = Notifications()
            try await withDaemon(targetsYAML: clusterTargetYAML(cluster), logs: logs, notifications: notifications) { daemon, client, socket in
                func status() async throws -> [String: Any] { try await object(client, "/status/cluster-b") }
                func topology() async throws -> [String: Any] { try await object(client, "/topology/cluster-b") }
                #expect(try await eventually(within: .seconds(15)) {
                    let s = try await status()
                    return s["topology"] as? String == "cluster" && s["cluster_primaries_connected"] as? Int == 3 && s["state"] as? String == "healthy"
                })
                var current = try await topology()
                #expect((current["nodes"] as? [[String: Any]])?.count == 3)
                #expect((current["anomalies"] as? [Any])?.isEmpty == true)
                #expect((current["history"] as? [Any])?.count == 1)
                #expect(current["source"] as? String == "CLUSTER SHARDS from 127.0.0.1:\(cluster.servers[0].port)")

                // The incident: one node re-announces itself on a port the network does not allow.
                let moved = cluster.servers[2]
                let movedID = try await cluster.nodeID(moved)
                #expect(try await clientNames(moved).contains("redis-healthd#1"))
                let changedAt = ContinuousClock.now
                try await moved.cli("CONFIG", "SET", "cluster-announce-port", "10226")
                #expect(try await eventually(within: .seconds(15)) { try await status()["state"] as? String == "degraded" })
                print("anomaly detected \(changedAt.duration(to: .now)) after CONFIG SET (refresh interval 1 s)")
                let degraded = try await status()
                let reason = degraded["reason"] as? String ?? ""
                #expect(reason.contains("node \(movedID.prefix(8)) announces 127.0.0.1:10226, outside allowed_ports"))
                #expect(try await renderTable([JSONDecoder().decode(StatusDocument.Target.self, from: client.send("GET", "/status/cluster-b").body)])
                    .contains("degraded"))
                // Logged at warning, with everything the operator needs.
                let anomaly = try #require(logs.with(event: "topology-anomaly").first)
                #expect(anomaly.level == .warning)
                #expect(anomaly.metadata["redis.node_id"] == movedID)
                #expect(anomaly.metadata["redis.announced_endpoint"] == "127.0.0.1:10226")
                #expect(anomaly.metadata["redis.rule"] == "allowed_ports")
                #expect(anomaly.metadata["redis.topology_source"]?.hasPrefix("CLUSTER SHARDS from 127.0.0.1:") == true)
                #expect(anomaly.metadata["redis.dialed"] == "no")
                #expect(anomaly.metadata["redis.target"] == "cluster-b")
                // systemd's STATUS= and the metrics say it too.
                #expect(await eventually(within: .seconds(2)) { notifications.all.contains { $0.contains("cluster-b degraded: disallowed port 10226") } })
                #expect(daemon.metricsText().contains("redis_healthd_topology_anomalies{target=\"cluster-b\"} 1"))
                // Not dialed: the node's connection is closed, none is opened to 10226.
                current = try await topology()
                let node = try #require((current["nodes"] as? [[String: Any]])?.first { $0["id"] as? String == movedID })
                #expect(node["port"] as? Int == 10226 && node["dialed"] as? Bool == false)
                #expect((node["not_dialed_reason"] as? String)?.contains("port 10226 is outside allowed_ports") == true)
                #expect(try await eventually(within: .seconds(5)) { try await !clientNames(moved).contains("redis-healthd#1") })
                #expect(!daemon.events.entries(since: 0).contains { $0.event.contains("10226") && $0.event.contains("connection failed") })
                // Operator experience (6): the closed connection says what became of the node, not "no primary there".
                let closed = daemon.events.entries(since: 0).first { $0.kind == "node-closed" && $0.event.contains(":\(moved.port)") }
                #expect(
                    closed?.event.contains("node \(movedID.prefix(8)) now announces 127.0.0.1:10226, which is not dialed: port 10226 is outside allowed_ports") == true,
                    "\(closed?.event ?? "no node-closed event")")
                let history = try #require(current["history"] as? [[String: Any]])
                #expect(history.count >= 2)
                let change = try #require((history.last?["changes"] as? [[String: Any]])?.first)
                #expect(change["kind"] as? String == "endpoint-changed" && change["node_id"] as? String == movedID)
                #expect(change["to"] as? String == "127.0.0.1:10226")

                // The CLI shows it.
                let binary = try daemonBinary()
                let table = try await run(binary, ["topology", "cluster-b", "--history", "--socket", socket])
                #expect(table.contains("ANOMALIES") && table.contains("announces 127.0.0.1:10226"))
                #expect(table.contains("endpoint 127.0.0.1:\(moved.port) -> 127.0.0.1:10226"))
                #expect(table.contains("not dialed: port 10226"))
                let jsonText = try await run(binary, ["topology", "cluster-b", "--json", "--socket", socket])
                #expect((try JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: Any])?["target"] as? String == "cluster-b")

                // The export names the node it did not contact and why, and has the others' answers.
                let bundlePath = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString.prefix(6)).json").path
                defer { try? FileManager.default.removeItem(atPath: bundlePath) }
                _ = try await run(binary, ["export", "cluster-b", "--output", bundlePath, "--socket", socket])
                let attributes = try FileManager.default.attributesOfItem(atPath: bundlePath)
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
                let bundle = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundlePath))) as? [String: Any])
                let target = try #require((bundle["targets"] as? [[String: Any]])?.first)
                let nodes = try #require(target["nodes"] as? [[String: Any]])
                #expect(nodes.count == 3, "the three primaries, the configured endpoint among them")
                let seedID = try await cluster.nodeID(cluster.servers[0])
                #expect(nodes.first?["role"] as? String == "configured primary" && nodes.first?["node_id"] as? String == seedID)
                let skipped = try #require(nodes.first { $0["node_id"] as? String == movedID })
                #expect((skipped["skipped"] as? String)?.contains("port 10226") == true && (skipped["commands"] as? [Any])?.isEmpty == true)
                for contacted in nodes where contacted["skipped"] == nil {
                    let commands = try #require(contacted["commands"] as? [[String: Any]])
                    let names = commands.map { $0["command"] as? String ?? "" }
                    #expect(names == ["INFO", "CLIENT INFO", "CLUSTER INFO", "CLUSTER SHARDS", "CLUSTER NODES", "CLUSTER SLOTS", "CONFIG GET"])
                    #expect(commands.allSatisfy { ($0["output"] as? String)?.isEmpty == false }, "\(commands)")
                    #expect((commands.first?["output"] as? String)?.contains("redis_version:") == true)
                }
                #expect((target["topology"] as? [String: Any])?["history"] is [Any])
                #expect((target["events"] as? [[String: Any]])?.contains { ($0["event"] as? String)?.contains("ANOMALY") == true } == true)
                #expect(((bundle["host"] as? [String: Any])?["tcp"] as? [String: String])?["net.ipv4.tcp_retries2"] != nil)
                #expect((target["resolved_addresses"] as? [String]) == ["127.0.0.1"])

                // Back to a permitted port: the anomaly clears and the node is dialed again.
                try await moved.cli("CONFIG", "SET", "cluster-announce-port", "0")
                #expect(try await eventually(within: .seconds(15)) { try await status()["state"] as? String == "healthy" })
                #expect(logs.with(event: "topology-anomaly-cleared").count == 1)
                #expect(daemon.metricsText().contains("redis_healthd_topology_anomalies{target=\"cluster-b\"} 0"))
                #expect(try await eventually(within: .seconds(5)) { try await clientNames(moved).contains("redis-healthd#1") })

                // A node joins, then leaves: the history records both, connections follow. (First every node must
                // have seen the port change back: redis-cli --cluster add-node dials what they announce.)
                #expect(await eventually(within: .seconds(15)) {
                    await cluster.servers.asyncAllSatisfy { (try? await $0.cli("CLUSTER", "NODES").contains(":10226@")) == false }
                })
                let added = try await cluster.addNode()
                let addedID = try await cluster.nodeID(added)
                #expect(try await eventually(within: .seconds(15)) { try await status()["cluster_primaries_connected"] as? Int == 4 })
                try await cluster.removeNode(added)
                #expect(try await eventually(within: .seconds(15)) { try await status()["cluster_primaries"] as? Int == 3 })
                let changes = (try await topology()["history"] as? [[String: Any]] ?? []).flatMap { $0["changes"] as? [[String: Any]] ?? [] }
                #expect(changes.contains { $0["kind"] as? String == "node-added" && $0["node_id"] as? String == addedID })
                #expect(changes.contains { $0["kind"] as? String == "node-removed" && $0["node_id"] as? String == addedID })
                #expect(await eventually(within: .seconds(5)) {
                    logs.with(event: "node-closed").contains { $0.metadata["redis.node_endpoint"] == "127.0.0.1:\(added.port)" }
                })
            }
        }
    }

    @Test("TLS cluster: nodes dialed on their TLS ports; a node announcing TLS port 10226 is an anomaly and not dialed")
    func tlsCluster() async throws {
        try await withRedisCluster(tls: true) { cluster in
            let certificates = try await TestCertificates.shared()
            let yaml = clusterTargetYAML(
                cluster, extra: "    tls: {enabled: true, ca_file: \(certificates.caCertificate), server_name: localhost}")
            let logs = LogRecords()
            try await withDaemon(targetsYAML: yaml, logs: logs) { _, client, _ in
                func status() async throws -> [String: Any] { try await object(client, "/status/cluster-b") }
                #expect(try await eventually(within: .seconds(15)) {
                    let current = try await status()
                    return current["cluster_primaries_connected"] as? Int == 3 && current["state"] as? String == "healthy"
                })
                let nodes = try await object(client, "/topology/cluster-b")["nodes"] as? [[String: Any]] ?? []
                #expect(Set(nodes.compactMap { $0["tls_port"] as? Int }) == Set(cluster.servers.map(\.port)), "\(nodes)")
                // The certificate expiry watch covers every node's connection: in the status and one series each.
                let endpoints = Set(cluster.servers.map { "127.0.0.1:\($0.port)" })
                #expect(try await eventually(within: .seconds(15)) {
                    let listed = try await status()["tls_certificates"] as? [[String: Any]] ?? []
                    return Set(listed.compactMap { $0["node"] as? String }) == endpoints
                })
                func expirySeries() async throws -> Set<String> {
                    let metrics = String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
                    return Set(metrics.split(separator: "\n").filter { $0.hasPrefix("redis_healthd_tls_certificate_expiry_timestamp_seconds{") }
                        .compactMap { line in endpoints.first { line.contains(#"node="\#($0)""#) } })
                }
                #expect(try await expirySeries() == endpoints)
                let moved = cluster.servers[1]
                let movedID = try await cluster.nodeID(moved)
                try await moved.cli("CONFIG", "SET", "cluster-announce-tls-port", "10226")
                #expect(try await eventually(within: .seconds(15)) { try await status()["state"] as? String == "degraded" })
                let anomaly = try #require(logs.with(event: "topology-anomaly").first)
                #expect(anomaly.metadata["redis.node_id"] == movedID && anomaly.metadata["redis.announced_endpoint"] == "127.0.0.1:10226")
                let node = try #require((try await object(client, "/topology/cluster-b")["nodes"] as? [[String: Any]])?.first { $0["id"] as? String == movedID })
                #expect(node["tls_port"] as? Int == 10226 && node["dialed"] as? Bool == false)
                #expect(try await eventually(within: .seconds(5)) { try await !clientNames(moved).contains("redis-healthd#1") })
                // Its connection closed: its certificate series goes with it.
                #expect(try await eventually(within: .seconds(15)) { try await expirySeries() == endpoints.subtracting(["127.0.0.1:\(moved.port)"]) })
            }
        }
    }

    @Test("a primary killed: degraded (node unreachable, then its slots uncovered), healthy once it is back")
    func primaryKilled() async throws {
        try await withRedisCluster(nodeTimeout: 2000) { cluster in
            let notifications = Notifications()
            try await withDaemon(targetsYAML: clusterTargetYAML(cluster), notifications: notifications) { _, client, _ in
                func status() async throws -> [String: Any] { try await object(client, "/status/cluster-b") }
                #expect(try await eventually(within: .seconds(15)) {
                    let current = try await status()
                    return current["cluster_primaries_connected"] as? Int == 3 && current["state"] as? String == "healthy"
                })
                let victim = cluster.servers[2]
                let killedAt = ContinuousClock.now
                await victim.kill9()
                #expect(try await eventually(within: .seconds(5)) {
                    (try await status()["reason"] as? String)?.contains("cluster node 127.0.0.1:\(victim.port) unreachable") == true
                })
                print("primary kill -9: target degraded (node unreachable) after \(killedAt.duration(to: .now))")
                #expect((try await status()["cluster_node_errors"] as? [String: String])?["127.0.0.1:\(victim.port)"] != nil)
                #expect(await eventually(within: .seconds(2)) { notifications.all.contains { $0.contains("cluster-b degraded: node 127.0.0.1:\(victim.port) unreachable") } })
                // Once the cluster marks it failed (node timeout 2 s), its slots are served by nobody.
                #expect(try await eventually(within: .seconds(20)) {
                    (try await status()["reason"] as? String)?.contains("slots are served by no healthy primary") == true
                })
                let uncovered = try await status()["uncovered_slots"] as? Int ?? 0
                #expect(uncovered > 5000 && uncovered < 6000, "one third of the slots: \(uncovered)")
                print("primary kill -9: \(uncovered) slots uncovered after \(killedAt.duration(to: .now))")
                try await victim.restart()
                let restartedAt = ContinuousClock.now
                #expect(try await eventually(within: .seconds(30)) { try await status()["state"] as? String == "healthy" })
                print("primary restarted: target healthy again after \(restartedAt.duration(to: .now))")
                #expect(try await status()["uncovered_slots"] as? Int == 0)
            }
        }
    }

    @Test("maintenance messages PUBLISHed on AzureRedisEvents: parsed, logged, topology refreshed after Ended; malformed ones tolerated")
    func maintenanceEvents() async throws {
        try await withRedisCluster { cluster in
            let logs = LogRecords()
            let yaml = clusterTargetYAML(cluster, refresh: "60s", extra: "    maintenance_events: on")
            try await withDaemon(targetsYAML: yaml, logs: logs) { daemon, client, _ in
                #expect(try await eventually(within: .seconds(15)) {
                    try await object(client, "/topology/cluster-b")["refreshes"] as? Int == 1
                        && !logs.with(event: "maintenance-subscribed").isEmpty
                })
                // Published on another node: cluster pub/sub reaches every node's subscribers.
                let publisher = cluster.servers[1]
                func publish(_ message: String) async throws {
                    _ = try await publisher.cli("PUBLISH", "AzureRedisEvents", message)
                }
                #expect(try await eventually(within: .seconds(5)) {
                    // PUBSUB NUMSUB counts the node's own subscribers: ours is on the seed node.
                    try await cluster.servers[0].cli("PUBSUB", "NUMSUB", "AzureRedisEvents").contains("\n1")
                })
                let port = cluster.servers[0].port
                try await publish("NotificationType|NodeMaintenanceStarting|StartTimeInUTC|2026-11-22T23:26:57|IsReplica|False|IPAddress|127.0.0.1|SSLPort|15001|NonSSLPort|\(port)")
                try await publish("this is not a maintenance message")
                try await publish("NotificationType|NodeMaintenanceSomethingNew|IPAddress|127.0.0.1")
                try await publish("NotificationType|NodeMaintenanceEnded|StartTimeInUTC|2026-11-22T23:30:00|IsReplica|False|IPAddress|127.0.0.1|SSLPort|15001|NonSSLPort|\(port)")
                #expect(try await eventually(within: .seconds(10)) {
                    try await object(client, "/topology/cluster-b")["trigger"] as? String == "maintenance:NodeMaintenanceEnded"
                })
                let document = try await object(client, "/topology/cluster-b")
                #expect(document["refreshes"] as? Int == 2, "one refresh after Ended, none for the others")
                #expect(await eventually(within: .seconds(5)) { logs.with(event: "maintenance-event").count == 3 })
                let events = logs.with(event: "maintenance-event")
                #expect(events.map { $0.metadata["redis.maintenance_type"] ?? "" } == ["NodeMaintenanceStarting", "NodeMaintenanceSomethingNew", "NodeMaintenanceEnded"])
                #expect(events[0].level == .notice && events[0].metadata["redis.maintenance_ip"] == "127.0.0.1")
                #expect(events[0].metadata["redis.maintenance_start"] == "2026-11-22T23:26:57")
                #expect(events[1].level == .warning && events[1].message == "Unknown maintenance notification type")
                #expect(events[2].metadata["redis.topology_refresh"] == "true")
                let malformed = try #require(logs.with(event: "maintenance-malformed").first)
                #expect(malformed.level == .warning && malformed.metadata["error.message"]?.contains("Key|Value") == true)
                let status = try await object(client, "/status/cluster-b")
                #expect((status["last_maintenance_event"] as? String)?.contains("NodeMaintenanceEnded 127.0.0.1") == true)
                #expect(status["state"] as? String == "healthy")
                #expect(daemon.events.entries(since: 0).contains { $0.event.hasPrefix("maintenance NodeMaintenanceStarting 127.0.0.1") })
                let metrics = daemon.metricsText()
                #expect(metrics.contains("type=\"malformed\"") && metrics.contains("type=\"NodeMaintenanceEnded\""))
            }
        }
    }
}

@Suite("Diagnostics export and host check against real redis-servers", .serialized)
struct ExportTests {
    @Test("export: per node INFO, CLIENT INFO, CONFIG GET (redacted; a refusal recorded), status, events, host TCP settings; no password anywhere")
    func exportRedacts() async throws {
        let password = "export-Secret-4711"
        try await withRedisServer(.init(password: password, extraConfig: ["masterauth \(password)"])) { secured in
            try await withRedisServer(.init(extraConfig: ["rename-command CONFIG \"\""])) { locked in
                let passwordFile = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString.prefix(6))").path
                try password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: passwordFile) }
                let yaml = """
                      - name: secured
                        host: 127.0.0.1
                        port: \(secured.port)
                        password_file: \(passwordFile)
                      - name: locked
                        host: localhost
                        port: \(locked.port)
                        tcp: {user_timeout: 0s}
                    """
                let logs = LogRecords()
                try await withDaemon(targetsYAML: yaml, logs: logs) { daemon, client, _ in
                    #expect(try await eventually(within: .seconds(10)) {
                        try await object(client, "/status")["targets"].map { ($0 as? [[String: Any]])?.allSatisfy { $0["topology"] as? String == "standalone" } ?? false } ?? false
                    })
                    let response = try await client.send("GET", "/export")
                    #expect(response.status == 200)
                    let text = String(decoding: response.body, as: UTF8.self)
                    #expect(!text.contains(password), "the password appears nowhere in the bundle")
                    let bundle = try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
                    let targets = try #require(bundle["targets"] as? [[String: Any]])
                    #expect(targets.map { $0["name"] as? String } == ["secured", "locked"])
                    func commands(_ target: [String: Any]) -> [String: [String: Any]] {
                        let node = (target["nodes"] as? [[String: Any]])?.first ?? [:]
                        return Dictionary(uniqueKeysWithValues: (node["commands"] as? [[String: Any]] ?? []).map { ($0["command"] as? String ?? "", $0) })
                    }
                    let securedCommands = commands(targets[0])
                    #expect(Set(securedCommands.keys) == ["INFO", "CLIENT INFO", "CONFIG GET"], "no CLUSTER commands for a standalone server")
                    let config = securedCommands["CONFIG GET"]?["output"] as? String ?? ""
                    #expect(config.contains("requirepass <redacted>") && config.contains("masterauth <redacted>"))
                    #expect(config.contains("maxmemory-policy "))
                    #expect((securedCommands["CLIENT INFO"]?["output"] as? String)?.contains("name=redis-healthd#export") == true)
                    #expect((targets[0]["configuration"] as? [String: Any])?["password_file"] as? String == passwordFile)
                    #expect((targets[0]["configuration"] as? [String: Any])?["probe_failures"] as? Int == 2, "typed values")
                    // CONFIG refused on the other server: recorded, the rest still there.
                    let lockedCommands = commands(targets[1])
                    #expect((lockedCommands["CONFIG GET"]?["error"] as? String)?.contains("unknown command") == true)
                    #expect((lockedCommands["INFO"]?["output"] as? String)?.contains("redis_version:") == true)
                    #expect((targets[1]["resolved_addresses"] as? [String])?.contains { $0 == "127.0.0.1" || $0 == "::1" } == true)
                    #expect((targets[1]["status"] as? [String: Any])?["state"] as? String == "healthy")
                    let host = try #require(bundle["host"] as? [String: Any])
                    let tcp = try #require(host["tcp"] as? [String: String])
                    #expect(Set(tcp.keys) == Set(HostCheck.tcpSysctls))
                    // The host check: the "locked" target runs without TCP_USER_TIMEOUT.
                    let retries = HostCheck.sysctl("net.ipv4.tcp_retries2").flatMap { Int($0) }
                    let expectWarning = (retries ?? 0) > 5
                    #expect(logs.with(event: "host-check").count == (expectWarning ? 1 : 0), "tcp_retries2 = \(retries.map(String.init) ?? "unreadable")")
                    #expect(((host["warnings"] as? [String])?.first?.contains("locked") ?? false) == expectWarning)
                    if expectWarning {
                        #expect(logs.with(event: "host-check").first?.level == .warning)
                    }
                    #expect(try await client.send("GET", "/export/nothing").status == 404)
                    #expect(try await client.send("GET", "/topology/nothing").status == 404)
                    #expect(try await client.send("POST", "/topology/secured").status == 405)
                    #expect(try await object(client, "/topology/secured")["mode"] as? String == "standalone")
                    #expect(try await client.send("POST", "/export").status == 405)
                }
            }
        }
    }
}
