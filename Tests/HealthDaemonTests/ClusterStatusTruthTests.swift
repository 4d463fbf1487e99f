import Foundation
import Synchronization
import HealthDaemon
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// Operator experience: a cluster target's state is the cluster's as this host sees it.
@Suite("A truthful cluster status")
struct ClusterStatusTruthTests {
    let seed = RedisEndpoint(host: "127.0.0.1", port: 6391)

    func healthyCluster() -> TargetStatus {
        var status = TargetStatus(name: "cluster-b", endpoint: "127.0.0.1:6391", now: 0)
        status.topologyMode = "cluster"
        status.apply(.connecting(role: .interactive, endpoint: seed, attempt: 0), now: 1)
        status.apply(.connected(role: .interactive, endpoint: seed, protocolVersion: 3, restored: false), now: 1)
        status.apply(.probe(latency: .milliseconds(1)), now: 1)
        status.setClusterState(anomalies: [], uncoveredSlots: 0, nodeProblems: [:], servingPrimaries: 3, now: 2)
        return status
    }

    /// (1) A dead seed paged as a dead cluster for minutes while every slot was served.
    @Test("the seed going away leaves a served cluster degraded (naming the seed), not down")
    func deadSeed() {
        var status = self.healthyCluster()
        #expect(status.state == .healthy)
        status.apply(.connectionFailed(role: .interactive, endpoint: seed, kind: .connectionClosed, message: "closed"), now: 3)
        #expect(status.state == .degraded)
        #expect(status.reason == "seed 127.0.0.1:6391 unreachable: closed; the cluster is served by its other nodes")
        #expect(status.shortReason == "seed 127.0.0.1:6391 unreachable")
        // Its reconnect attempts do not turn it into "reconnecting"/"down" while the cluster is served.
        status.apply(.connecting(role: .interactive, endpoint: seed, attempt: 3), now: 4)
        status.apply(.connectionFailed(role: .interactive, endpoint: seed, kind: .connectionRefused, message: "refused"), now: 5)
        #expect(status.state == .degraded)
        // No primary reachable any more: now it is down.
        status.setClusterState(
            anomalies: [], uncoveredSlots: 0, nodeProblems: ["a:1": "x", "b:1": "y", "c:1": "z"], servingPrimaries: 3, now: 6)
        #expect(status.state == .down)
        status.setClusterState(anomalies: [], uncoveredSlots: 0, nodeProblems: [:], servingPrimaries: 3, now: 7)
        #expect(status.state == .degraded)
        // The seed answers again: healthy once a probe answered on it.
        status.apply(.connected(role: .interactive, endpoint: seed, protocolVersion: 3, restored: true), now: 8)
        #expect(status.state == .degraded)
        status.apply(.probe(latency: .milliseconds(1)), now: 9)
        #expect(status.state == .healthy && status.seedProblem == nil)
    }

    @Test("a standalone target whose server goes away is down, as before")
    func standaloneStillDown() {
        var status = TargetStatus(name: "a", endpoint: "e", now: 0)
        status.topologyMode = "standalone"
        status.apply(.connected(role: .interactive, endpoint: seed, protocolVersion: 3, restored: false), now: 1)
        status.apply(.probe(latency: .milliseconds(1)), now: 1)
        status.apply(.connectionFailed(role: .interactive, endpoint: seed, kind: .connectionRefused, message: "refused"), now: 2)
        #expect(status.state == .down)
    }

    /// (4) `cluster: on` against a server without cluster support stayed healthy with 0 primaries.
    @Test("a problem of the whole cluster makes the target degraded and says what is wrong")
    func clusterProblem() {
        var status = self.healthyCluster()
        status.setClusterProblem("cluster: on, but 127.0.0.1:6391 has cluster support disabled; set cluster: off (or auto) for this target", now: 3)
        #expect(status.state == .degraded && status.reason?.contains("cluster support disabled") == true)
    }

    /// (3) A replica announcing a host name that does not resolve was not reported (a primary's is).
    @Test("a replica whose announced host name does not resolve makes the target degraded, with a warning")
    func unresolvableReplica() async throws {
        try await withFakeRedisServer { seed in
            seed.updateScript {
                $0.topology = FakeClusterTopology(nodes: [
                    FakeClusterNode(id: FakeClusterTopology.nodeID(1), ip: "127.0.0.1", port: seed.port, slots: [0...16383]),
                    FakeClusterNode(
                        id: FakeClusterTopology.nodeID(2), ip: "127.0.0.1", endpoint: "replica-1.no-such-host.invalid", port: 7001,
                        role: .replica, primaryID: FakeClusterTopology.nodeID(1)),
                ])
            }
            let logs = LogRecords()
            let yaml = """
                  - name: cluster-b
                    host: 127.0.0.1
                    port: \(seed.port)
                    cluster: on
                    probe_interval: 200ms
                    allowed_ports: ["1-65535"]
                    topology: {refresh_interval: 1s, min_refresh_interval: 200ms}

                """
            try await withDaemon(targetsYAML: yaml, logs: logs) { _, client, _ in
                let reached = await eventually(within: .seconds(15)) {
                    ((try? await object(client, "/status/cluster-b"))?["reason"] as? String)?.hasPrefix("cluster replica replica-1.no-such-host.invalid:7001: host name") == true
                }
                let status = try await object(client, "/status/cluster-b")
                #expect(reached, "\(status)")
                #expect(status["state"] as? String == "degraded")
                #expect(logs.all.contains { $0.metadata["redis.event"] == "replica-unresolvable" && $0.level == .warning })
            }
        }
    }

    /// (2) A failed primary kept counting and its row said "not dialed: -".
    @Test("a failed primary says why it is not dialed")
    func failedPrimaryRow() {
        let topology = ClusterTopology(nodes: [
            ClusterNode(id: "aaaa", host: "127.0.0.1", ip: "127.0.0.1", port: 1, role: .primary, health: "fail", slots: []),
            ClusterNode(id: "bbbb", host: "127.0.0.1", ip: "127.0.0.1", port: 2, role: .primary, health: "online", slots: [0...16383]),
        ])
        var watch = TopologyWatch(rules: EndpointRules(allowedPorts: []))
        _ = watch.observe(topology, source: "s", trigger: "t", at: 0)
        let target = DaemonConfiguration.Target(name: "c", multiplexer: .init(connection: .init(endpoint: .init(host: "127.0.0.1", port: 2))))
        let document = TopologyDocument(
            target: target, mode: "cluster", watch: watch, dialed: [RedisEndpoint(host: "127.0.0.1", port: 2): true], notDialed: [:])
        let failed = document.nodes.first { $0.id == "aaaa" }
        #expect(document.nodes.first { $0.id == "bbbb" }?.dialed == true)
        #expect(failed?.notDialedReason?.contains("marked it failed") == true, "\(String(describing: failed))")
    }

    /// (1) end to end: 3 primaries + 3 replicas; the configured node is killed and its replica takes over.
    @Test("kill -9 of the configured primary: its replica takes over, the target is degraded naming the seed, not down")
    func seedKilledDuringFailover() async throws {
        // Validity factor 0: a replica may take over however long ago it last heard from its primary (a fresh
        // test cluster may not have completed its first sync).
        try await withRedisCluster(
            nodes: 6, replicas: 1, nodeTimeout: 2000, extraConfig: ["cluster-replica-validity-factor 0"]
        ) { cluster in
            let seedServer = cluster.servers[0]
            let yaml = """
                  - name: cluster-b
                    host: 127.0.0.1
                    port: \(seedServer.port)
                    cluster: auto
                    probe_interval: 200ms
                    probe_timeout: 500ms
                    allowed_ports: ["1-65535"]
                    topology: {refresh_interval: 1s, min_refresh_interval: 200ms}

                """
            try await withDaemon(targetsYAML: yaml) { _, client, _ in
                try await Self.seedKilled(seedServer, client: client)
            }
        }
    }

    static func seedKilled(_ seedServer: RedisServer, client: ControlClient) async throws {
        #expect(await eventually(within: .seconds(20)) {
            let current = try? await object(client, "/status/cluster-b")
            return current?["state"] as? String == "healthy" && current?["cluster_primaries"] as? Int == 3
        })
        let killed = ContinuousClock.now
        await seedServer.kill9()
        let seen = StatesSeen()
        let settled = await eventually(within: .seconds(40)) {
            guard let current = try? await object(client, "/status/cluster-b") else { return false }
            seen.add(current["state"] as? String ?? "?")
            return current["state"] as? String == "degraded"
                && (current["reason"] as? String)?.hasPrefix("seed 127.0.0.1:\(seedServer.port) unreachable") == true
                && current["cluster_primaries"] as? Int == 3 && current["cluster_primaries_connected"] as? Int == 3
        }
        let final = try await object(client, "/status/cluster-b")
        print("seed killed: \(killed.duration(to: .now)) to settle; states seen \(seen.all); final \(final["state"] ?? "-"): \(final["reason"] ?? "-")")
        #expect(settled, "\(final)")
        // After the failover, never down: the cluster is served.
        try await Task.sleep(for: .seconds(2))
        #expect(try await object(client, "/status/cluster-b")["state"] as? String == "degraded")
        let topology = try await object(client, "/topology/cluster-b")
        let nodes = topology["nodes"] as? [[String: Any]] ?? []
        let dead = nodes.first { ($0["port"] as? Int) == seedServer.port }
        #expect((dead?["not_dialed_reason"] as? String)?.contains("failed") == true, "\(String(describing: dead))")
    }

}

/// The states a test saw while polling.
final class StatesSeen: Sendable {
    private let states = Mutex<Set<String>>([])
    func add(_ state: String) { self.states.withLock { _ = $0.insert(state) } }
    var all: [String] { self.states.withLock { $0.sorted() } }
}
