import Foundation
import NIOCore
import RESP
import RedisClient
import Testing

@testable import HealthDaemon

private func node(_ id: String, _ ip: String, _ port: Int, slots: [ClosedRange<Int>] = [], role: ClusterNode.Role = .primary) -> ClusterNode {
    ClusterNode(id: id, host: ip, ip: ip, port: port, role: role, health: "online", slots: slots)
}

private let incidentRules = EndpointRules(allowedPorts: [6379...6379, 6380...6380, 13000...13999, 15000...15999])

@Suite("Topology watch: allow-lists, anomalies, history")
struct TopologyWatchTests {
    @Test("allowed_ports and allowed_networks", arguments: [
        ("10.0.0.5", 6379, []), ("10.0.0.5", 13500, []), ("10.0.0.5", 15999, []),
        ("10.0.0.5", 10226, ["allowed_ports"]), ("10.9.0.5", 6380, ["allowed_networks"]),
        ("192.168.1.1", 10226, ["allowed_ports", "allowed_networks"]), ("fd00::5", 6379, []), ("fe80::1", 6379, ["allowed_networks"]),
        ("redis.example.com", 6379, ["allowed_networks"]),  // a host name without an IP cannot be shown to be inside
    ] as [(String, Int, [String])])
    func rules(address: String, port: Int, broken: [String]) throws {
        let rules = EndpointRules(
            allowedPorts: incidentRules.allowedPorts,
            allowedNetworks: [try #require(.init(cidr: "10.0.0.0/16")), try #require(.init(cidr: "fd00::/8"))])
        #expect(rules.violations(address: address, port: port).map(\.rule) == broken)
    }

    @Test("CIDRs: valid and invalid")
    func cidrs() {
        for valid in ["10.0.0.0/8", "0.0.0.0/0", "192.168.1.7/32", "::/0", "fd00::/8", "2001:db8::1/128"] {
            #expect(EndpointRules.Network(cidr: valid) != nil, "\(valid)")
        }
        for invalid in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "fd00::/129", "::g/8", "host/8", "/8", ""] {
            #expect(EndpointRules.Network(cidr: invalid) == nil, "\(invalid)")
        }
        #expect(EndpointRules.Network(cidr: "10.1.0.0/15")!.contains([10, 0, 255, 1]))
        #expect(!EndpointRules.Network(cidr: "10.2.0.0/15")!.contains([10, 1, 255, 1]))
        #expect(EndpointRules(allowedPorts: []).violations(address: "1.2.3.4", port: 1).isEmpty, "empty lists: no rule")
    }

    @Test("the incident: a node re-announced on 10226 is an anomaly, recorded with a diff, and clears when it returns")
    func incident() {
        var watch = TopologyWatch(rules: incidentRules, capacity: 3)
        let healthy = ClusterTopology(nodes: [
            node("7c1e0f3a9b", "10.0.0.5", 6379, slots: [0...8191]), node("a2b3c4d5e6", "10.0.0.6", 6379, slots: [8192...16383]),
        ])
        let first = watch.observe(healthy, source: "CLUSTER SHARDS from 10.0.0.5:6379", trigger: "initial", at: 100)
        #expect(first.recorded && first.isFirst && first.newAnomalies.isEmpty && first.changes.count == 2)
        // Nothing changed: no new history entry, but the refresh counts.
        #expect(!watch.observe(healthy, source: "CLUSTER SHARDS from 10.0.0.5:6379", trigger: "periodic", at: 160).recorded)
        #expect(watch.history.count == 1 && watch.refreshes == 2 && watch.current?.time == 160)

        var scaled = healthy
        scaled.nodes[0].port = 10226
        let bad = watch.observe(scaled, source: "CLUSTER SHARDS from 10.0.0.6:6379", trigger: "moved", at: 200)
        #expect(bad.recorded)
        #expect(bad.changes.map(\.description) == ["node 7c1e0f3a endpoint 10.0.0.5:6379 -> 10.0.0.5:10226"])
        let anomaly = try! #require(bad.newAnomalies.first)
        #expect(anomaly.nodeID == "7c1e0f3a9b" && anomaly.endpoint == "10.0.0.5:10226" && anomaly.rule == "allowed_ports")
        #expect(anomaly.message == "node 7c1e0f3a announces 10.0.0.5:10226, outside allowed_ports [6379, 6380, 13000-13999, 15000-15999]")
        #expect(anomaly.source == "CLUSTER SHARDS from 10.0.0.6:6379")
        // Persisting: not new again, and it keeps the time it was first seen.
        let again = watch.observe(scaled, source: "x", trigger: "periodic", at: 260)
        #expect(again.newAnomalies.isEmpty && !again.recorded && !again.isFirst && watch.anomalies.first?.since == 200)
        #expect(again.anomalies == watch.anomalies && again.anomalies.count == 1)
        let back = watch.observe(healthy, source: "x", trigger: "periodic", at: 300)
        #expect(back.clearedAnomalies.map(\.endpoint) == ["10.0.0.5:10226"] && watch.anomalies.isEmpty)
        // Bounded: the oldest entries go first.
        _ = watch.observe(scaled, source: "x", trigger: "periodic", at: 400)
        #expect(watch.history.count == 3 && watch.history.map(\.time) == [200, 300, 400])
    }

    @Test("a node announcing a TLS port outside the list is an anomaly too")
    func tlsPort() {
        let watch = TopologyWatch(rules: incidentRules)
        let topology = ClusterTopology(nodes: [ClusterNode(id: "n1", host: "10.0.0.5", ip: "10.0.0.5", port: 6379, tlsPort: 10226, role: .primary)])
        #expect(watch.check(topology, source: "s", at: 0).map(\.endpoint) == ["10.0.0.5:10226"])
    }

    @Test("status: anomalies make a healthy target degraded with the reason; clearing them makes it healthy")
    func statusWithAnomalies() {
        var status = TargetStatus(name: "cluster-b", endpoint: "10.0.0.5:6379", now: 0)
        status.apply(.connected(role: .interactive, endpoint: .init(host: "h", port: 1), protocolVersion: 3, restored: false), now: 1)
        status.apply(.probe(latency: .milliseconds(1)), now: 1)
        #expect(status.state == .healthy && status.reason == nil)
        var watch = TopologyWatch(rules: incidentRules)
        _ = watch.observe(ClusterTopology(nodes: [node("7c1e0f3a9b", "10.0.0.5", 10226, slots: [0...16383])]), source: "s", trigger: "t", at: 2)
        let degraded = status.setClusterState(anomalies: watch.anomalies, uncoveredSlots: 0, nodeProblems: [:], now: 2)
        #expect(degraded)
        #expect(status.state == .degraded)
        #expect(status.reason?.hasPrefix("node 7c1e0f3a announces 10.0.0.5:10226, outside allowed_ports") == true)
        // Many targets: only those not healthy are named, at most 8.
        let many = (1...1000).map { index -> TargetStatus in
            var target = TargetStatus(name: "t\(index)", endpoint: "h:\(index)", now: 0)
            target.state = index <= 10 ? .down : .healthy
            return target
        }
        let summary = statusLine(many)
        #expect(summary.hasPrefix("990/1000 targets healthy; t1 down, t2 down,") && summary.hasSuffix("t8 down and 2 more"), "\(summary)")
        #expect(statusLine(Array(many.suffix(900))) == "900/900 targets healthy")
        #expect(statusLine([status]) == "0/1 targets healthy; cluster-b degraded: disallowed port 10226")
        // A probe recovery does not hide the anomaly.
        status.apply(.unresponsive(consecutiveFailures: 2, lastError: "timeout"), now: 3)
        status.apply(.responsive, now: 4)
        #expect(status.state == .degraded)
        let cleared = status.setClusterState(anomalies: [], uncoveredSlots: 0, nodeProblems: [:], now: 5)
        #expect(cleared)
        #expect(status.state == .healthy)
        // While down, anomalies do not change the state.
        status.apply(.connectionFailed(role: .interactive, endpoint: .init(host: "h", port: 1), kind: .connectionRefused, message: "refused"), now: 6)
        let whileDown = status.setClusterState(anomalies: watch.anomalies, uncoveredSlots: 0, nodeProblems: [:], now: 7)
        #expect(!whileDown && status.state == .down)
        status.apply(.connected(role: .interactive, endpoint: .init(host: "h", port: 1), protocolVersion: 3, restored: true), now: 8)
        status.apply(.probe(latency: .milliseconds(1)), now: 8)
        #expect(status.state == .degraded)
    }

    @Test("status: an unreachable primary, then uncovered slots, make the target degraded; both clear")
    func statusWithNodeProblems() {
        var status = TargetStatus(name: "cluster-b", endpoint: "10.0.0.5:6379", now: 0)
        status.apply(.connected(role: .interactive, endpoint: .init(host: "h", port: 1), protocolVersion: 3, restored: false), now: 1)
        status.apply(.probe(latency: .milliseconds(1)), now: 1)
        var changed = status.setNodeProblem("10.0.0.7:6379", "10.0.0.7:6379: connection refused", now: 2)
        #expect(changed && status.state == .degraded)
        #expect(status.reason == "cluster node 10.0.0.7:6379 unreachable: 10.0.0.7:6379: connection refused")
        #expect(statusLine([status]) == "0/1 targets healthy; cluster-b degraded: node 10.0.0.7:6379 unreachable")
        _ = status.setClusterState(anomalies: [], uncoveredSlots: 5461, nodeProblems: status.nodeProblems, now: 3)
        changed = status.setNodeProblem("10.0.0.7:6379", nil, now: 4)
        #expect(!changed && status.reason == "5461 of 16384 slots are served by no healthy primary")
        changed = status.setClusterState(anomalies: [], uncoveredSlots: 0, nodeProblems: status.nodeProblems, now: 5)
        #expect(changed && status.state == .healthy && status.reason == nil)
    }

    @Test("the topology table shows nodes, what is not dialed and why, anomalies, and the history")
    func table() {
        var watch = TopologyWatch(rules: incidentRules)
        let topology = ClusterTopology(nodes: [
            node("7c1e0f3a9b", "10.0.0.5", 10226, slots: [0...8191]), node("a2b3c4d5e6", "10.0.0.6", 6379, slots: [8192...16383]),
            node("r1r1r1r1r1", "10.0.0.7", 6379, role: .replica),
        ])
        _ = watch.observe(topology, source: "CLUSTER SHARDS from 10.0.0.6:6379", trigger: "initial", at: 1_700_000_000)
        var target = DaemonConfiguration.Target(name: "cluster-b", multiplexer: .init(connection: .init(endpoint: .init(host: "10.0.0.6", port: 6379))))
        target.allowedPorts = incidentRules.allowedPorts
        let document = TopologyDocument(
            target: target, mode: "cluster", watch: watch, dialed: [.init(host: "10.0.0.6", port: 6379): true],
            notDialed: [.init(host: "10.0.0.5", port: 10226): "port 10226 is outside allowed_ports [6379, 6380, 13000-13999, 15000-15999]"])
        let text = renderTopology(document, history: true)
        #expect(text.contains("cluster-b: 2 primaries, 1 replicas, 16384/16384 slots covered"))
        #expect(text.contains("7c1e0f3a  primary  10.0.0.5:10226  0-8191"))
        #expect(text.contains("not dialed: port 10226 is outside allowed_ports"))
        #expect(text.contains("a2b3c4d5  primary  10.0.0.6:6379   8192-16383  online  up"))
        #expect(text.contains("not dialed: replica"))
        #expect(text.contains("ANOMALIES\n  node 7c1e0f3a announces 10.0.0.5:10226, outside allowed_ports"))
        #expect(text.contains("HISTORY (oldest first, 1 snapshot)"))
        #expect(text.contains("    node r1r1r1r1 added at 10.0.0.7:6379 replica"))
        // The JSON round-trips (the CLI decodes what the daemon encodes).
        let data = try! JSONEncoder().encode(document)
        #expect(try! JSONDecoder().decode(TopologyDocument.self, from: data) == document)
        let standalone = TopologyDocument(target: target, mode: "standalone", watch: nil, dialed: [:], notDialed: [:])
        #expect(renderTopology(standalone, history: false).contains("standalone server"))
    }
}

@Suite("Maintenance notifications, host check, export redaction")
struct MaintenanceAndExportTests {
    @Test("every notification type parses; Ended, FailoverComplete and ScaleComplete refresh the topology", arguments: MaintenanceEvent.Kind.allCases)
    func kinds(kind: MaintenanceEvent.Kind) throws {
        let event = try MaintenanceEvent.parse(
            "NotificationType|\(kind.rawValue)|StartTimeInUTC|2026-11-22T23:26:57|IsReplica|False|IPAddress|10.0.0.4|SSLPort|15001|NonSSLPort|13001")
        #expect(event.kind == kind)
        #expect(event.ipAddress == "10.0.0.4" && event.sslPort == 15001 && event.nonSSLPort == 13001 && event.isReplica == false)
        #expect(event.startTimeInUTC == "2026-11-22T23:26:57")
        #expect(event.refreshesTopology == [.ended, .failoverComplete, .scaleComplete].contains(kind))
        #expect(event.summary == "\(kind.rawValue) 10.0.0.4 (replica: false, ports 15001/13001 (ssl/non-ssl)) starting 2026-11-22T23:26:57 UTC")
    }

    @Test("unknown types parse as unknown; malformed messages are clear errors", arguments: [
        ("NotificationType|NodeMaintenanceSomethingNew|IPAddress|10.0.0.1", true),
        ("NotificationType|NodeMaintenanceEnded|", true),
        ("", false), ("hello", false), ("NotificationType", false), ("IPAddress|10.0.0.1", false),
        ("NotificationType|NodeMaintenanceEnded|IPAddress", false), ("|x|NotificationType|NodeMaintenanceEnded", false),
        (String(repeating: "A|", count: 3000), false),
    ])
    func malformed(message: String, parses: Bool) {
        let result = Result { () throws(MaintenanceEvent.ParseError) in try MaintenanceEvent.parse(message) }
        switch result {
        case .success(let event): #expect(parses, "parsed \(event)")
        case .failure(let error): #expect(!parses, "\(error)")
        }
        if parses, case .success(let event) = result, event.type == "NodeMaintenanceSomethingNew" { #expect(event.kind == nil) }
    }

    @Test("maintenance events default to on for Azure host names only")
    func azureDefault() {
        #expect(MaintenanceEvent.isAzureHost("contoso.redis.cache.windows.net"))
        #expect(MaintenanceEvent.isAzureHost("Contoso.eastus.Redis.Azure.net"))
        #expect(!MaintenanceEvent.isAzureHost("redis.internal"))
        #expect(!MaintenanceEvent.isAzureHost("windows.net.example.com"))
    }

    @Test("host check: tcp_retries2 above 5 without TCP_USER_TIMEOUT warns, saying what to set")
    func hostCheck() throws {
        let warning = try #require(HostCheck.warning(tcpRetries2: 15, targetsWithoutUserTimeout: ["cache-a"]))
        #expect(warning.contains("net.ipv4.tcp_retries2 is 15") && warning.contains("cache-a"))
        #expect(warning.contains("tcp.user_timeout") && warning.contains("sysctl -w net.ipv4.tcp_retries2=5"))
        #expect(HostCheck.warning(tcpRetries2: 5, targetsWithoutUserTimeout: ["cache-a"]) == nil)
        #expect(HostCheck.warning(tcpRetries2: 15, targetsWithoutUserTimeout: []) == nil)
        #expect(HostCheck.warning(tcpRetries2: nil, targetsWithoutUserTimeout: ["cache-a"]) == nil)
        var target = DaemonConfiguration.Target(name: "t", multiplexer: .init(connection: .init(endpoint: .init(host: "h", port: 1))))
        #expect(HostCheck.targetsWithoutUserTimeout([target]).isEmpty, "on by default (30 s)")
        target.multiplexer.connection.tcp.userTimeout = .zero
        #expect(HostCheck.targetsWithoutUserTimeout([target]) == ["t"])
        if let retries = HostCheck.sysctl("net.ipv4.tcp_retries2") { #expect(Int(retries) != nil) }
    }

    @Test("CONFIG GET values that are secrets are redacted; the password is scrubbed wherever it appears")
    func redaction() {
        let reply = RESPValue.array(
            ["requirepass", "s3cret-pw", "masterauth", "s3cret-pw", "maxmemory", "0", "tls-key-file-pass", "k3y", "masteruser", "repl",
             "tls-auth-clients", "yes"].map { .bulkString(.init(string: $0)) })
        let text = DiagnosticsExporter.renderConfig(reply)
        #expect(text.contains("requirepass <redacted>") && text.contains("masterauth <redacted>") && text.contains("tls-key-file-pass <redacted>"))
        #expect(text.contains("maxmemory 0") && text.contains("masteruser repl") && text.contains("tls-auth-clients yes"))
        #expect(!text.contains("s3cret-pw") && !text.contains("k3y"))
        #expect(DiagnosticsExporter.scrub("name=x s3cret-pw y", secrets: ["s3cret-pw"]) == "name=x <redacted> y")
        // Short secrets are scrubbed too: a mangled reply is better than a leaked password.
        #expect(DiagnosticsExporter.scrub("redis_version:7.0.15", secrets: ["redis"]) == "<redacted>_version:7.0.15")
    }
}
