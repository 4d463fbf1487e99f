import Foundation

/// A real Redis Cluster of local redis-server processes (`cluster-enabled yes`), formed with
/// `redis-cli --cluster create`, primaries only. Always destroy it (``withRedisCluster(nodes:_:)``).
public final class RedisCluster: @unchecked Sendable {
    private let lock = NSLock()
    private var _servers: [RedisServer]

    /// The servers in the order they were started (nodes added later at the end).
    public var servers: [RedisServer] { self.lock.withLock { self._servers } }

    private init(servers: [RedisServer], nodeTimeout: Int) {
        self._servers = servers
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
    public static func start(
        nodes: Int = 3, nodeTimeout: Int = 5000, tls: Bool = false, extraConfig: [String] = []
    ) throws -> RedisCluster {
        var servers: [RedisServer] = []
        do {
            var extra = clusterConfig(nodeTimeout: nodeTimeout) + extraConfig
            var cliTLS: [String] = []
            if tls {
                let certificates = try TestCertificates.shared()
                extra += [
                    "tls-cluster yes", "tls-client-cert-file \(certificates.clientCertificate)",
                    "tls-client-key-file \(certificates.clientKey)",
                ]
                cliTLS = ["--tls", "--cacert", certificates.caCertificate]
            }
            for _ in 0..<nodes {
                servers.append(try RedisServer.start(.init(tls: tls, extraConfig: extra)))
            }
            try run(
                try which("redis-cli"),
                cliTLS + ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "0", "--cluster-yes"])
            let cluster = RedisCluster(servers: servers, nodeTimeout: nodeTimeout)
            try cluster.waitUntilConsistent()
            return cluster
        } catch {
            for server in servers { server.destroy() }
            throw error
        }
    }

    /// Waits (up to 30 s) until every node says `cluster_state:ok` and lists exactly the cluster's nodes.
    public func waitUntilConsistent() throws {
        let deadline = Date().addingTimeInterval(30)
        let servers = self.servers
        while Date() < deadline {
            let consistent = servers.allSatisfy { server in
                guard let info = try? server.cli("CLUSTER", "INFO"), info.contains("cluster_state:ok"),
                    let nodes = try? server.cli("CLUSTER", "NODES")
                else { return false }
                let lines = nodes.split(separator: "\n").filter { !$0.contains("handshake") && !$0.contains("noaddr") }
                return lines.count == servers.count
            }
            if consistent { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw TestFixtureError("the cluster did not become consistent within 30 s")
    }

    /// A node's id (`CLUSTER MYID`).
    public func nodeID(_ server: RedisServer) throws -> String {
        try server.cli("CLUSTER", "MYID").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts a new empty primary and joins it (`redis-cli --cluster add-node`); plain (not TLS) clusters.
    public func addNode() throws -> RedisServer {
        let server = try RedisServer.start(.init(extraConfig: Self.clusterConfig(nodeTimeout: self.nodeTimeout)))
        do {
            let existing = self.servers[0]
            try run(try which("redis-cli"), ["--cluster", "add-node", "127.0.0.1:\(server.port)", "127.0.0.1:\(existing.port)"])
            self.lock.withLock { self._servers.append(server) }
            try self.waitUntilConsistent()
            return server
        } catch {
            server.destroy()
            throw error
        }
    }

    /// Removes a node that serves no slots (`redis-cli --cluster del-node`, which also shuts it down) and
    /// destroys its server.
    public func removeNode(_ server: RedisServer) throws {
        let id = try self.nodeID(server)
        let other = self.servers.first { $0 !== server }!
        try run(try which("redis-cli"), ["--cluster", "del-node", "127.0.0.1:\(other.port)", id])
        self.lock.withLock { self._servers.removeAll { $0 === server } }
        server.destroy()
        try self.waitUntilConsistent()
    }

    /// Gives `slot` (which must hold no keys) to `owner` on every node (`CLUSTER SETSLOT slot NODE id`).
    public func assign(slot: Int, to owner: RedisServer) throws {
        let id = try self.nodeID(owner)
        // The new owner first, then the others, as the cluster specification recommends.
        for server in [owner] + self.servers.filter({ $0 !== owner }) {
            try server.cli("CLUSTER", "SETSLOT", "\(slot)", "NODE", id)
        }
    }

    /// The server whose node serves `slot`, each node asked about itself (`myself` in CLUSTER NODES).
    public func owner(of slot: Int) throws -> RedisServer {
        for server in self.servers {
            let nodes = try server.cli("CLUSTER", "NODES")
            guard let line = nodes.split(separator: "\n").first(where: { $0.contains("myself") }) else { continue }
            for field in line.split(separator: " ").dropFirst(8) {
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2, (bounds[0]...bounds[1]).contains(slot) { return server }
                if bounds.count == 1, !field.contains("-"), bounds[0] == slot { return server }
            }
        }
        throw TestFixtureError("no node serves slot \(slot)")
    }

    public func destroy() {
        for server in self.servers { server.destroy() }
    }
}

/// Starts a cluster, runs `body`, and always destroys the cluster.
public func withRedisCluster<T>(
    nodes: Int = 3, nodeTimeout: Int = 5000, tls: Bool = false, extraConfig: [String] = [],
    _ body: (RedisCluster) async throws -> T
) async throws -> T {
    let cluster = try RedisCluster.start(nodes: nodes, nodeTimeout: nodeTimeout, tls: tls, extraConfig: extraConfig)
    do {
        let result = try await body(cluster)
        cluster.destroy()
        return result
    } catch {
        cluster.destroy()
        throw error
    }
}
