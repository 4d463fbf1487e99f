#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOPosix
import RedisClient

/// A cluster target's cluster client: started once the target is known to be a cluster, its events handed to the
/// folding loop, its replicas' host names checked beside it.
extension TargetSupervisor {
    /// standalone, cluster, detecting or off: kept in the status (folded in order), where `status` and `topology`
    /// read it.
    func setMode(_ mode: String) {
        self.submit(.topologyMode(mode))
    }

    /// `cluster: auto` asks the server (`INFO cluster`) once connected; `on` starts the cluster client at once.
    func runTopology() async {
        switch self.target.cluster {
        case .off:
            return
        case .on:
            break
        case .auto:
            guard await self.detectCluster() else { return }
        }
        var nodeConfiguration = self.target.multiplexer
        nodeConfiguration.connection.password = self.password
        if let credentials = self.credentials {
            nodeConfiguration.connection.credentials = credentials.provider
            nodeConfiguration.credentialRefresh.margin = self.target.credentialRefreshMargin
        }
        let rules = self.target.endpointRules
        let dialDisallowed = self.target.dialDisallowed
        let policy: @Sendable (DialCandidate) -> String? = { candidate in
            dialDisallowed ? nil : rules.dialRefusal(candidate.endpoint)
        }
        let cluster: RedisClusterClient
        do {
            var clusterConfiguration = RedisClusterConfiguration(
                node: nodeConfiguration, seeds: [nodeConfiguration.connection.endpoint],
                refreshInterval: self.target.topologyRefreshInterval,
                minimumRefreshInterval: self.target.topologyMinimumRefreshInterval)
            clusterConfiguration.maxNodes = self.target.topologyMaxNodes
            cluster = try RedisClusterClient(configuration: clusterConfiguration, logger: self.logger, dialPolicy: policy)
        } catch {
            self.logger.error("Cannot start the cluster client", metadata: ["error.message": "\(error)"])
            return
        }
        let started = self.topology.withLock { state -> Bool in
            guard !state.isShutdown else { return false }
            state.cluster = cluster
            return true
        }
        guard started else { return }
        self.submit(.topologyMode("cluster"))
        self.logger.info("Cluster target: watching the topology", metadata: ["redis.event": "topology-mode"])
        let stream = cluster.events()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await cluster.run() }
            // Replica names are resolved beside the event loop, never in it (a slow resolver must not hold up node
            // events): the newest topology only.
            let (topologies, newTopology) = AsyncStream.makeStream(of: ClusterTopology.self, bufferingPolicy: .bufferingNewest(1))
            group.addTask {
                for await event in stream {
                    self.submit(.cluster(event))
                    if case .topologyRefreshed(let topology, _, _, _) = event { newTopology.yield(topology) }
                }
                newTopology.finish()
            }
            group.addTask {
                for await topology in topologies { await self.checkReplicaNames(topology) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Replicas are not dialed, but a failover to one sends clients to its announced endpoint: a host name there
    /// that does not resolve is reported like a primary's (target degraded, a warning, an event). Names are
    /// resolved on NIO's thread pool (getaddrinfo blocks), only when the replicas' names changed or last failed.
    func checkReplicaNames(_ topology: ClusterTopology) async {
        let tls = self.target.multiplexer.connection.tls != nil
        let named = topology.nodes.compactMap { node -> RedisEndpoint? in
            guard node.role == .replica, let endpoint = node.endpoint(tls: tls), ipAddressBytes(endpoint.host) == nil else { return nil }
            return endpoint
        }
        let (known, problems, lastCheck) = self.topology.withLock { ($0.replicaNamesChecked, $0.replicaProblems, $0.replicaNamesCheckedAt) }
        let names = Set(named.map(\.description))
        let started = Date().timeIntervalSince1970
        // Again when the names change; failing ones again a minute later, not at every refresh.
        guard names != known || (!problems.isEmpty && started - lastCheck >= 60) else { return }
        // Concurrently, each within 3 s (getaddrinfo cannot be cancelled: a name still resolving then counts as
        // not resolving), at most 16 names a round.
        let found = await withTaskGroup(of: (String, String?).self) { group -> [String: String] in
            for endpoint in named.prefix(16) {
                let host = endpoint.host
                group.addTask {
                    await withTaskGroup(of: String??.self) { race -> (String, String?) in
                        race.addTask { (try? await NIOThreadPool.singleton.runIfActive { DiagnosticsExporter.resolve(host) }).map { $0.1 } }
                        race.addTask {
                            try? await Task.sleep(for: .seconds(3))
                            return .some("no answer within 3 s")
                        }
                        let first = await race.next() ?? nil
                        race.cancelAll()
                        return (endpoint.description, first ?? nil)
                    }
                }
            }
            var found: [String: String] = [:]
            for await (endpoint, error) in group {
                guard let error else { continue }
                let host = endpoint.split(separator: ":").dropLast().joined(separator: ":")
                found[endpoint] = "host name \(host) does not resolve (\(error)); a failover to it would send clients nowhere"
            }
            return found
        }
        let now = Date().timeIntervalSince1970
        let newlyFailing = found.filter { problems[$0.key] == nil }
        self.topology.withLock {
            $0.replicaNamesChecked = names
            $0.replicaProblems = found
            $0.replicaNamesCheckedAt = now
        }
        for (endpoint, problem) in newlyFailing.sorted(by: { $0.key < $1.key }) {
            self.events.append(target: self.target.name, text: "replica \(endpoint): \(problem)", at: now, importance: .significant, kind: "replica-unresolvable")
            self.logger.warning(
                "Cluster replica announces a host name that does not resolve",
                metadata: ["redis.event": "replica-unresolvable", "redis.announced_endpoint": "\(endpoint)", "error.message": "\(problem)"])
        }
        self.submit(.replicaProblems(found))
    }
}
