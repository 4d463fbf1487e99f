import RedisClient
import Testing

@testable import HealthDaemon

/// Hardening (e): the address judged against the allow-lists is the address dialed. A node announcing an `ip`
/// inside `allowed_networks` and an endpoint of 127.0.0.1 on a forbidden port used to pass: the policy, the
/// anomaly check and the export judged the `ip`, the client dialed the endpoint.
@Suite("Allow-lists judge the dialed address")
struct DialedAddressTests {
    let rules = EndpointRules(
        allowedPorts: [6379...6380], allowedNetworks: [EndpointRules.Network(cidr: "10.0.0.0/8")!])

    /// The bypass: `ip` 10.0.0.5 (allowed), endpoint 127.0.0.1:7001 (outside both lists).
    var forged: ClusterNode {
        ClusterNode(id: "f0f0f0f0aa", host: "127.0.0.1", ip: "10.0.0.5", port: 7001, role: .primary, health: "online", slots: [0...16383])
    }

    @Test("the dial policy refuses the endpoint a forged ip would have let through")
    func dialPolicy() throws {
        let endpoint = try #require(self.forged.endpoint(tls: false))
        let refusal = try #require(self.rules.dialRefusal(endpoint))
        #expect(refusal.contains("port 7001 is outside allowed_ports"))
        #expect(refusal.contains("address 127.0.0.1 is outside allowed_networks"))
        #expect(self.rules.dialRefusal(RedisEndpoint(host: "10.0.0.5", port: 6379)) == nil)
    }

    @Test("the anomaly check names the dialed endpoint and both broken rules")
    func anomaly() {
        let watch = TopologyWatch(rules: self.rules)
        let anomalies = watch.check(ClusterTopology(nodes: [self.forged]), source: "CLUSTER SHARDS from 10.0.0.5:6379", at: 0)
        #expect(anomalies.map(\.endpoint) == ["127.0.0.1:7001", "127.0.0.1:7001"])
        #expect(Set(anomalies.map(\.rule)) == ["allowed_ports", "allowed_networks"])
    }

    @Test("a host name endpoint cannot pass a network rule, whatever ip the node announces")
    func hostName() {
        let refusal = self.rules.dialRefusal(RedisEndpoint(host: "redis-1.example", port: 6379))
        #expect(refusal?.contains("host name redis-1.example is not an IP address") == true)
    }
}
