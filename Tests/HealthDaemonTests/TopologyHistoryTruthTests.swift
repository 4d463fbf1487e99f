import Foundation
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// Operator experience (5): the history says what was, not what is; it survives a reload that rebuilds the target.
@Suite("Topology history as it was")
struct TopologyHistoryTruthTests {
    let target = DaemonConfiguration.Target(
        name: "c", multiplexer: .init(connection: .init(endpoint: .init(host: "127.0.0.1", port: 7000))))

    func topology(port: Int) -> ClusterTopology {
        ClusterTopology(nodes: [
            ClusterNode(id: "aaaa", host: "127.0.0.1", ip: "127.0.0.1", port: port, role: .primary, health: "online", slots: [0...16383])
        ])
    }

    @Test("a history snapshot shows what was dialed then, and no connection state it cannot know")
    func historyAsItWas() throws {
        var watch = TopologyWatch(rules: EndpointRules(allowedPorts: [7000...7000]))
        _ = watch.observe(self.topology(port: 7000), source: "s", trigger: "initial", at: 1, dialed: ["127.0.0.1:7000"], notDialed: [:])
        _ = watch.observe(
            self.topology(port: 10226), source: "s", trigger: "periodic", at: 2, dialed: [],
            notDialed: ["127.0.0.1:10226": "port 10226 is outside allowed_ports [7000]"])
        // Now (say the port came back) the node is dialed and up.
        let document = TopologyDocument(
            target: self.target, mode: "cluster", watch: watch, dialed: [RedisEndpoint(host: "127.0.0.1", port: 10226): true],
            notDialed: [:])
        let first = try #require(document.history.first?.nodes.first)
        #expect(first.dialed && first.connected == nil, "dialed then; whether it was up is not known")
        let second = try #require(document.history.last?.nodes.first)
        #expect(!second.dialed && second.notDialedReason == "port 10226 is outside allowed_ports [7000]")
        let current = try #require(document.nodes.first)
        #expect(current.dialed && current.connected == true)
    }

    @Test("a rebuilt target's watch carries the history over")
    func carryOver() {
        var old = TopologyWatch(rules: EndpointRules(allowedPorts: []))
        _ = old.observe(self.topology(port: 7000), source: "s", trigger: "initial", at: 1)
        _ = old.observe(self.topology(port: 7001), source: "s", trigger: "periodic", at: 2)
        var new = TopologyWatch(rules: EndpointRules(allowedPorts: []), capacity: 10)
        new.carryOver(from: old)
        #expect(new.history.count == 2 && new.refreshes == 2)
        // The next refresh is compared with the last topology seen, not treated as the first.
        let next = new.observe(self.topology(port: 7001), source: "s", trigger: "periodic", at: 3)
        #expect(!next.isFirst && !next.recorded)
    }

    @Test("a reload that changes a cluster target keeps its topology history")
    func reloadKeepsHistory() async throws {
        try await withRedisCluster { cluster in
            let yaml = clusterTargetYAML(cluster)
            try await withDaemon(targetsYAML: yaml) { daemon, client, socket in
                #expect(await eventually(within: .seconds(20)) {
                    ((try? await object(client, "/topology/cluster-b"))?["history"] as? [Any])?.isEmpty == false
                })
                let before = (try await object(client, "/topology/cluster-b"))["history"] as? [Any] ?? []
                var configuration = try ConfigurationLoader(credentialsDirectory: nil).parse(
                    "control:\n  socket: \(socket)\ntargets:\n" + yaml.replacingOccurrences(of: "probe_interval: 200ms", with: "probe_interval: 300ms"))
                configuration.control = daemon.configuration.control
                let outcome = try daemon.reload(configuration)
                #expect(outcome.restarted == ["cluster-b"])
                let after = (try await object(client, "/topology/cluster-b"))["history"] as? [Any] ?? []
                #expect(after.count >= before.count, "history kept across the rebuild: \(before.count) before, \(after.count) after")
            }
        }
    }
}
