import Foundation
import NIOCore
import RESP
import RedisClient
import RedisTestSupport
import Synchronization
import Testing

@testable import HealthDaemon

/// The status a user sees, against the scripted fake server.
@Suite("Status against a hostile fake server")
struct HostileServerStatusTests {
    /// Hardening (g): a server that answers HELLO but never PING was reported healthy 28 of 30 seconds.
    @Test("a server that answers the handshake but never a PING is never healthy")
    func handshakeButNoPing() async throws {
        let script = FakeRedisServer.Script.respond { command, _ in command.name == "PING" ? .noReply : .default }
        try await withFakeRedisServer(script) { server in
            let configuration = RedisMultiplexerConfiguration(
                connection: RedisConnectionConfiguration(
                    endpoint: RedisEndpoint(host: server.host, port: server.port), clientName: "no-ping",
                    commandTimeout: .seconds(1)),
                probeInterval: .milliseconds(250), probeTimeout: .milliseconds(250), probeFailures: 2)
            let client = try ResilientRedisClient(configuration: configuration)
            let events = client.events()
            let runner = Task { await client.run() }
            // Fold the events as the daemon does, and note every state the status passes through.
            var status = TargetStatus(name: "no-ping", endpoint: server.endpoint, now: 0)
            var states: [TargetStatus.State] = []
            var unresponsiveReports = 0
            // Until the second silent connection has been reported (or 20 s: generous for a busy machine).
            let deadline = ContinuousClock.now + .seconds(20)
            for await event in events {
                if case .unresponsive = event { unresponsiveReports += 1 }
                status.apply(event, now: Date().timeIntervalSince1970)
                states.append(status.state)
                if ContinuousClock.now >= deadline || (unresponsiveReports >= 2 && server.acceptedConnections >= 2) { break }
            }
            await client.shutdown()
            await runner.value
            print("handshake but no PING: \(server.acceptedConnections) connections, \(unresponsiveReports) unresponsive reports, states \(Set(states.map(\.rawValue)).sorted())")
            #expect(!states.contains(.healthy))
            #expect(states.contains(.degraded))
            // Each new connection that does not answer is reported again (not once for the daemon's life).
            #expect(unresponsiveReports >= 2)
            #expect(server.acceptedConnections >= 2, "the silent connection is declared dead and replaced")
        }
    }

    /// Hardening (e), end to end: a node announcing an `ip` inside allowed_networks but an endpoint outside
    /// them is neither dialed nor unnoticed.
    @Test("a node whose ip is allowed but whose endpoint is not: not dialed, an anomaly")
    func forgedIPNotDialed() async throws {
        try await withFakeRedisServer { victim in
            let forged = FakeClusterNode(
                id: FakeClusterTopology.nodeID(2), ip: "10.0.0.5", endpoint: "127.0.0.1", port: victim.port,
                slots: [8192...16383])
            let rules = EndpointRules(allowedPorts: [], allowedNetworks: [EndpointRules.Network(cidr: "10.0.0.0/8")!])
            try await withFakeRedisServer(FakeRedisServer.Script(topology: nil)) { seed in
                let topology = FakeClusterTopology(nodes: [
                    FakeClusterNode(id: FakeClusterTopology.nodeID(1), ip: "10.0.0.4", endpoint: "127.0.0.1", port: seed.port, slots: [0...8191]),
                    forged,
                ])
                seed.updateScript { $0.topology = topology }
                // Timeouts generous for a busy 2-core machine (a CI run once saw no topology within 10 s with a
                // 1 s command timeout and a 5 s wait between attempts); a failed read is retried soon.
                let node = RedisMultiplexerConfiguration(
                    connection: RedisConnectionConfiguration(
                        endpoint: RedisEndpoint(host: seed.host, port: seed.port), commandTimeout: .seconds(5)))
                let cluster = try RedisClusterClient(
                    configuration: RedisClusterConfiguration(
                        node: node, seeds: [RedisEndpoint(host: seed.host, port: seed.port)],
                        minimumRefreshInterval: .milliseconds(200)),
                    dialPolicy: { rules.dialRefusal($0.endpoint) })
                let failures = Mutex<[String]>([])
                let events = cluster.events()
                let watcher = Task {
                    for await event in events {
                        if case .refreshFailed(_, let message) = event { failures.withLock { $0.append(message) } }
                    }
                }
                defer { watcher.cancel() }
                let runner = Task { await cluster.run() }
                #expect(
                    await eventually(within: .seconds(30)) { cluster.topology != nil },
                    "no topology; refreshes failed: \(failures.withLock { $0 })")
                try await Task.sleep(for: .seconds(1))
                let refused = cluster.notDialed[RedisEndpoint(host: "127.0.0.1", port: victim.port)]
                #expect(refused?.contains("address 127.0.0.1 is outside allowed_networks") == true, "\(refused ?? "dialed")")
                #expect(victim.acceptedConnections == 0, "the forged endpoint was dialed")
                let anomalies = TopologyWatch(rules: rules).check(try #require(cluster.topology), source: "test", at: 0)
                #expect(anomalies.contains { $0.endpoint == "127.0.0.1:\(victim.port)" && $0.rule == "allowed_networks" })
                await cluster.shutdown()
                await runner.value
            }
        }
    }
}
