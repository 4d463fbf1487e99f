import Foundation
import Synchronization

/// A real Redis Cluster of local redis-server processes (`cluster-enabled yes`), formed with
/// `redis-cli --cluster create`, primaries only. Always destroy it:
/// ``withRedisCluster(nodes:nodeTimeout:tls:extraConfig:_:)`` does.
///
/// Every method that waits suspends the calling task; none blocks a thread.
public final class RedisCluster: Sendable {
    private let _servers: Mutex<[RedisServer]>

    /// The servers in the order they were started (nodes added later at the end).
    public var servers: [RedisServer] { self._servers.withLock { $0 } }

    private init(servers: [RedisServer], nodeTimeout: Int) {
        self._servers = Mutex(servers)
        self.nodeTimeout = nodeTimeout
    }

    private let nodeTimeout: Int

    static func clusterConfig(nodeTimeout: Int) -> [String] {
        ["cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout \(nodeTimeout)"]
    }

    /// Starts `nodes` servers, joins them into a cluster with the slots split evenly, and waits until every node
    /// reports `cluster_state:ok` and knows every other. `nodeTimeout` (ms): how long until a silent node is
    /// marked failed (`cluster-node-timeout`). `tls`: TLS only (clients and cluster bus), certificates from
    /// ``TestCertificates`` (the nodes present the client certificate to each other).
    /// `replicas`: replicas per primary (`--cluster-replicas`); the first `nodes / (replicas + 1)` servers are the
    /// primaries.
    public static func start(
        nodes: Int = 3, replicas: Int = 0, nodeTimeout: Int = 5000, tls: Bool = false, extraConfig: [String] = []
    ) async throws -> RedisCluster {
        var servers: [RedisServer] = []
        do {
            var extra = clusterConfig(nodeTimeout: nodeTimeout) + extraConfig
            var cliTLS: [String] = []
            if tls {
                let certificates = try await TestCertificates.shared()
                extra += [
                    "tls-cluster yes", "tls-client-cert-file \(certificates.clientCertificate)",
                    "tls-client-key-file \(certificates.clientKey)",
                ]
                cliTLS = ["--tls", "--cacert", certificates.caCertificate]
            }
            for _ in 0..<nodes {
                servers.append(try await RedisServer.start(.init(tls: tls, extraConfig: extra)))
            }
            try await run(
                try which("redis-cli"),
                cliTLS + ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" } + [
                    "--cluster-replicas", "\(replicas)", "--cluster-yes",
                ])
            let cluster = RedisCluster(servers: servers, nodeTimeout: nodeTimeout)
            try await cluster.waitUntilConsistent()
            return cluster
        } catch {
            for server in servers { await server.destroy() }
            throw error
        }
    }

    /// Waits (up to 30 s) until every node says `cluster_state:ok` and lists exactly the cluster's nodes.
    public func waitUntilConsistent() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        let servers = self.servers
        while ContinuousClock.now < deadline {
            var consistent = true
            for server in servers {
                guard let info = try? await server.cli("CLUSTER", "INFO"), info.contains("cluster_state:ok"),
                    let nodes = try? await server.cli("CLUSTER", "NODES")
                else {
                    consistent = false
                    break
                }
                let lines = nodes.split(separator: "\n").filter { !$0.contains("handshake") && !$0.contains("noaddr") }
                if lines.count != servers.count {
                    consistent = false
                    break
                }
            }
            if consistent { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFixtureError("the cluster did not become consistent within 30 s")
    }

    /// A node's id (`CLUSTER MYID`).
    public func nodeID(_ server: RedisServer) async throws -> String {
        try await server.cli("CLUSTER", "MYID").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts a new empty primary and joins it (`redis-cli --cluster add-node`); plain (not TLS) clusters.
    public func addNode() async throws -> RedisServer {
        let server = try await RedisServer.start(.init(extraConfig: Self.clusterConfig(nodeTimeout: self.nodeTimeout)))
        do {
            let existing = self.servers[0]
            try await run(
                try which("redis-cli"),
                ["--cluster", "add-node", "127.0.0.1:\(server.port)", "127.0.0.1:\(existing.port)"])
            self._servers.withLock { $0.append(server) }
            try await self.waitUntilConsistent()
            return server
        } catch {
            await server.destroy()
            throw error
        }
    }

    /// Removes a node that serves no slots (`redis-cli --cluster del-node`, which also shuts it down) and
    /// destroys its server.
    public func removeNode(_ server: RedisServer) async throws {
        let id = try await self.nodeID(server)
        let other = self.servers.first { $0 !== server }!
        try await run(try which("redis-cli"), ["--cluster", "del-node", "127.0.0.1:\(other.port)", id])
        self._servers.withLock { $0.removeAll { $0 === server } }
        await server.destroy()
        try await self.waitUntilConsistent()
    }

    /// Gives `slot` (which must hold no keys) to `owner` on every node (`CLUSTER SETSLOT slot NODE id`).
    public func assign(slot: Int, to owner: RedisServer) async throws {
        let id = try await self.nodeID(owner)
        // The new owner first, then the others, as the cluster specification recommends.
        for server in [owner] + self.servers.filter({ $0 !== owner }) {
            try await server.cli("CLUSTER", "SETSLOT", "\(slot)", "NODE", id)
        }
    }

    /// The server whose node serves `slot`, each node asked about itself (`myself` in CLUSTER NODES).
    public func owner(of slot: Int) async throws -> RedisServer {
        for server in self.servers {
            let nodes = try await server.cli("CLUSTER", "NODES")
            guard let line = nodes.split(separator: "\n").first(where: { $0.contains("myself") }) else { continue }
            for field in line.split(separator: " ").dropFirst(8) {
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2, (bounds[0]...bounds[1]).contains(slot) { return server }
                if bounds.count == 1, !field.contains("-"), bounds[0] == slot { return server }
            }
        }
        throw TestFixtureError("no node serves slot \(slot)")
    }

    /// Stops every server and removes its directory.
    public func destroy() async {
        await withTaskGroup(of: Void.self) { group in
            for server in self.servers { group.addTask { await server.destroy() } }
        }
    }
}

/// Starts a cluster, runs `body`, and always destroys the cluster.
public func withRedisCluster<T>(
    nodes: Int = 3, replicas: Int = 0, nodeTimeout: Int = 5000, tls: Bool = false, extraConfig: [String] = [],
    _ body: (RedisCluster) async throws -> T
) async throws -> T {
    let cluster = try await RedisCluster.start(
        nodes: nodes, replicas: replicas, nodeTimeout: nodeTimeout, tls: tls, extraConfig: extraConfig)
    do {
        let result = try await body(cluster)
        await cluster.destroy()
        return result
    } catch {
        await cluster.destroy()
        throw error
    }
}
