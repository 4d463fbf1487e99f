import Foundation
import NIOCore
import RESP
import RedisTestSupport
import Synchronization
import Testing

@testable import RedisClient

/// Records a cluster client's events.
final class ClusterEventRecorder: Sendable {
    private final class Box: Sendable {
        let events = Mutex<[ClusterEvent]>([])
    }
    private let box = Box()
    private let task: Task<Void, Never>

    init(_ client: RedisClusterClient) {
        let stream = client.events()
        let box = self.box
        self.task = Task {
            for await event in stream { box.events.withLock { $0.append(event) } }
        }
    }

    deinit { self.task.cancel() }

    var all: [ClusterEvent] { self.box.events.withLock { $0 } }

    func contains(_ predicate: (ClusterEvent) -> Bool) -> Bool { self.all.contains(where: predicate) }

    /// Whether a matching event arrives within `timeout` (events reach the recorder through a stream, a moment
    /// after the client's own state changed).
    func eventuallyContains(within timeout: Duration = .seconds(5), _ predicate: (ClusterEvent) -> Bool) async -> Bool {
        await eventually(within: timeout) { self.contains(predicate) }
    }
}

func clusterConfiguration(_ cluster: RedisCluster, clientName: String = "healthd-cluster") -> RedisClusterConfiguration {
    RedisClusterConfiguration(
        node: RedisMultiplexerConfiguration(
            connection: RedisConnectionConfiguration(
                endpoint: RedisEndpoint(host: "127.0.0.1", port: cluster.servers[0].port), clientName: clientName,
                commandTimeout: .seconds(3))),
        seeds: [RedisEndpoint(host: "127.0.0.1", port: cluster.servers[0].port)],
        refreshInterval: .seconds(60), minimumRefreshInterval: .milliseconds(200))
}

/// Runs a cluster client for the duration of `body`, then shuts it down.
func withClusterClient<T>(
    _ configuration: RedisClusterConfiguration, dialPolicy: @escaping @Sendable (DialCandidate) -> String? = { _ in nil },
    _ body: (RedisClusterClient, ClusterEventRecorder) async throws -> T
) async throws -> T {
    let client = try RedisClusterClient(configuration: configuration, dialPolicy: dialPolicy)
    let recorder = ClusterEventRecorder(client)
    return try await whileRunning(client) { try await body(client, recorder) }
}

@Suite("Cluster client against a real 3-node cluster", .serialized)
struct ClusterClientTests {
    @Test("no seed answers: refreshes are retried at the minimum interval, not a whole period later; bad slots are errors")
    func refreshRetried() async throws {
        let hold = try PortHold()  // nothing listens there, and no other test's server is given the port
        defer { hold.release() }
        let closed = hold.port
        let configuration = RedisClusterConfiguration(
            node: RedisMultiplexerConfiguration(
                connection: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "127.0.0.1", port: closed))),
            seeds: [RedisEndpoint(host: "127.0.0.1", port: closed)], refreshInterval: .seconds(60),
            minimumRefreshInterval: .milliseconds(200))
        try await withClusterClient(configuration) { client, recorder in
            let failures = { recorder.all.filter { if case .refreshFailed = $0 { return true } else { return false } }.count }
            #expect(await eventually(within: .seconds(15)) { failures() >= 3 }, "\(failures()) failed refreshes")
            #expect(recorder.contains {
                if case .refreshFailed(_, let message) = $0 { return message.contains("connection refused") }
                return false
            })
            do throws(RedisClientError) {
                _ = try await client.send(RESPCommand("GET", "k"), slot: 16384)
                Issue.record("slot 16384 accepted")
            } catch {
                #expect(error.description.contains("outside 0…16383"))
            }
            do throws(RedisClientError) {
                _ = try await client.send(RESPCommand("GET", "k"), key: "k")
                Issue.record("a command without a topology succeeded")
            } catch {
                #expect(error.code == .clusterTopology)
            }
        }
    }

    @Test("discovery and routing: one multiplexer per primary, every key lands on the node that owns its slot")
    func discoveryAndRouting() async throws {
        try await withRedisCluster { cluster in
            try await withClusterClient(clusterConfiguration(cluster)) { client, recorder in
                #expect(await eventually(within: .seconds(10)) { client.nodeEndpoints.count == 3 })
                let topology = try #require(client.topology)
                #expect(topology.primaries.count == 3 && topology.uncoveredSlots == 0)
                #expect(Set(topology.primaries.compactMap(\.port)) == Set(cluster.servers.map(\.port)))
                #expect(await recorder.eventuallyContains {
                    if case .topologyRefreshed(_, _, "CLUSTER SHARDS", "initial") = $0 { return true }
                    return false
                })
                for index in 0..<60 {
                    let key = "key:\(index)"
                    let reply = try await client.send(RESPCommand("SET", key, "v\(index)"), key: key)
                    #expect(reply.string == "OK")
                }
                // Checked with redis-cli on the owning node, not with our client.
                for index in stride(from: 0, to: 60, by: 7) {
                    let key = "key:\(index)"
                    let owner = try await cluster.owner(of: HashSlot.slot(for: key))
                    #expect(try await owner.cli("GET", key).trimmingCharacters(in: .whitespacesAndNewlines) == "v\(index)")
                }
                #expect(!recorder.contains { if case .redirected = $0 { return true } else { return false } })
                // Every node sees our connection (interactive only: nothing subscribed).
                for server in cluster.servers {
                    #expect(try await clientNames(server).filter { $0 == "healthd-cluster#1" }.count == 1)
                }
            }
        }
    }

    @Test("MOVED after a slot migration: the command follows, the map updates, a refresh follows; ASK with ASKING")
    func movedAndAsk() async throws {
        try await withRedisCluster { cluster in
            try await withClusterClient(clusterConfiguration(cluster)) { client, recorder in
                #expect(await eventually(within: .seconds(10)) { client.nodeEndpoints.count == 3 })
                // MOVED: the slot of "foo" (empty) is given to another node behind the client's back.
                let slot = HashSlot.slot(for: "foo")
                let oldOwner = try await cluster.owner(of: slot)
                let newOwner = cluster.servers.first { $0 !== oldOwner }!
                try await cluster.assign(slot: slot, to: newOwner)
                let reply = try await client.send(RESPCommand("SET", "foo", "moved"), key: "foo")
                #expect(reply.string == "OK")
                #expect(try await newOwner.cli("GET", "foo").trimmingCharacters(in: .whitespacesAndNewlines) == "moved")
                #expect(await recorder.eventuallyContains {
                    if case .redirected(let r) = $0 { return r.kind == .moved && r.slot == slot && r.endpoint.port == newOwner.port }
                    return false
                })
                #expect(await eventually(within: .seconds(5)) {
                    recorder.contains { if case .topologyRefreshed(_, _, _, "moved") = $0 { return true } else { return false } }
                })
                // The second command goes straight to the new owner.
                let redirectsBefore = recorder.all.filter { if case .redirected = $0 { return true } else { return false } }.count
                _ = try await client.send(RESPCommand("GET", "foo"), key: "foo")
                #expect(recorder.all.filter { if case .redirected = $0 { return true } else { return false } }.count == redirectsBefore)

                // ASK: slot of "bar" migrating from its owner to another node; a missing key is asked for there.
                let askSlot = HashSlot.slot(for: "bar")
                let source = try await cluster.owner(of: askSlot)
                let destination = cluster.servers.first { $0 !== source }!
                try await destination.cli("CLUSTER", "SETSLOT", "\(askSlot)", "IMPORTING", try await cluster.nodeID(source))
                try await source.cli("CLUSTER", "SETSLOT", "\(askSlot)", "MIGRATING", try await cluster.nodeID(destination))
                let asked = try await client.send(RESPCommand("SET", "bar", "asked"), key: "bar")
                #expect(asked.string == "OK")
                // The key was written on the importing node (a plain GET there would be redirected back).
                #expect(try await destination.cli("CLUSTER", "COUNTKEYSINSLOT", "\(askSlot)").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
                #expect(try await source.cli("CLUSTER", "COUNTKEYSINSLOT", "\(askSlot)").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
                #expect(await recorder.eventuallyContains {
                    if case .redirected(let r) = $0 { return r.kind == .ask && r.endpoint.port == destination.port }
                    return false
                })
            }
        }
    }

    @Test("CLUSTER SLOTS when SHARDS is not allowed (as on Redis before 7.0), CLUSTER NODES when SLOTS is not either: same topology, routing works",
        arguments: [("-cluster|shards", "CLUSTER SLOTS"), ("-cluster|shards -cluster|slots", "CLUSTER NODES")])
    func slotsFallback(forbidden: String, expectedCommand: String) async throws {
        // An ACL user without CLUSTER SHARDS gets NOPERM for it, as a Redis 6 server answers "unknown subcommand".
        try await withRedisCluster(extraConfig: ["user limited on >limited-pw ~* &* +@all \(forbidden)"]) { cluster in
            var configuration = clusterConfiguration(cluster)
            configuration.node.connection.username = "limited"
            configuration.node.connection.password = RedisSecret("limited-pw")
            try await withClusterClient(configuration) { client, recorder in
                #expect(await eventually(within: .seconds(10)) { client.nodeEndpoints.count == 3 })
                #expect(await recorder.eventuallyContains {
                    if case .topologyRefreshed(_, _, let command, _) = $0 { return command == expectedCommand }
                    return false
                })
                let topology = try #require(client.topology)
                #expect(topology.primaries.count == 3 && topology.uncoveredSlots == 0)
                #expect(Set(topology.primaries.compactMap(\.port)) == Set(cluster.servers.map(\.port)))
                for index in 0..<20 {
                    let reply = try await client.send(RESPCommand("SET", "slots:\(index)", "v"), key: "slots:\(index)")
                    #expect(reply.string == "OK")
                }
            }
        }
    }

    @Test("node added and removed: a connection opens to the new primary and closes when it leaves")
    func nodesFollowTopology() async throws {
        try await withRedisCluster { cluster in
            try await withClusterClient(clusterConfiguration(cluster)) { client, recorder in
                #expect(await eventually(within: .seconds(10)) { client.nodeEndpoints.count == 3 })
                let added = try await cluster.addNode()
                client.requestRefresh(trigger: "test")
                #expect(await eventually(within: .seconds(10)) { client.nodeEndpoints.count == 4 })
                #expect(await eventually(within: .seconds(5)) { (try? await clientNames(added).contains("healthd-cluster#1")) == true })
                try await cluster.removeNode(added)
                client.requestRefresh(trigger: "test")
                #expect(await eventually(within: .seconds(10)) { client.nodeEndpoints.count == 3 })
                // The event reaches the recorder through its stream a moment after the node list changed.
                #expect(await eventually(within: .seconds(5)) {
                    recorder.contains { if case .nodeClosed(let e, _) = $0 { return e.port == added.port } else { return false } }
                })
                #expect(!client.nodeEndpoints.contains { $0.port == added.port })
            }
        }
    }

    @Test("a node announcing a forbidden port is not dialed; commands for its slots fail with disallowed-endpoint")
    func dialPolicy() async throws {
        try await withRedisCluster { cluster in
            let policy: @Sendable (DialCandidate) -> String? = { $0.endpoint.port == 10226 ? "port 10226 is outside allowed_ports" : nil }
            try await withClusterClient(clusterConfiguration(cluster), dialPolicy: policy) { client, recorder in
                #expect(await eventually(within: .seconds(10)) { client.nodeEndpoints.count == 3 })
                let moved = cluster.servers[2]
                try await moved.cli("CONFIG", "SET", "cluster-announce-port", "10226")
                #expect(await eventually(within: .seconds(15)) {
                    client.requestRefresh(trigger: "test")
                    try? await Task.sleep(for: .milliseconds(200))
                    return client.notDialed.keys.contains { $0.port == 10226 }
                })
                #expect(client.nodeEndpoints.count == 2)
                #expect(await recorder.eventuallyContains { if case .nodeNotDialed(_, let e, _) = $0 { return e.port == 10226 } else { return false } })
                // A key served by that node.
                let key = await (0..<1000).map { "k\($0)" }.asyncFirst { (try? await cluster.owner(of: HashSlot.slot(for: $0))) === moved }!
                do throws(RedisClientError) {
                    _ = try await client.send(RESPCommand("GET", key), key: key)
                    Issue.record("a command for a disallowed node succeeded")
                } catch {
                    #expect(error.code == .disallowedEndpoint)
                    #expect(error.description.contains("10226"))
                }
            }
        }
    }
}
