#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOPosix
import RedisClient

/// This target's part of a support bundle (diagnostics export).
extension TargetSupervisor {
    /// Secrets to scrub from anything exported.
    var secrets: [String] { self.scrubber.secrets }

    /// This target's part of a support bundle: its settings, status, topology and history, recent events, the
    /// host name resolved now, and what every node answers (nodes outside the allowed endpoints are not contacted
    /// unless `dial_disallowed: true`).
    func exportBundle(events: [EventLog.Entry]) async -> DiagnosticsBundle.Target {
        let now = Date().timeIntervalSince1970
        let topology = self.topologyDocument()
        let mode = self.status.withLock { $0.topologyMode }
        let clusterTopology = self.topology.withLock { $0.watch.current?.topology }
        var connection = self.target.multiplexer.connection
        connection.password = self.password
        connection.credentials = self.credentials?.provider
        let tls = connection.tls != nil
        let rules = self.target.endpointRules
        var nodes: [(RedisEndpoint, String, String?, String?)] = [(connection.endpoint, "configured", nil, nil)]
        for node in clusterTopology?.nodes ?? [] {
            guard let endpoint = node.endpoint(tls: tls) else { continue }
            if endpoint == nodes[0].0 {
                nodes[0].1 = "configured \(node.role.rawValue)"
                nodes[0].2 = node.id
                continue
            }
            guard !nodes.contains(where: { $0.0 == endpoint }) else { continue }
            // The same judgement as the cluster client's dial policy: the address that would be dialed.
            let refusal = self.target.dialDisallowed ? nil : rules.dialRefusal(endpoint)
            let skipped = refusal.map { "not contacted: \($0) (dial_disallowed: false)" }
            nodes.append((endpoint, node.role.rawValue, node.id, skipped))
        }
        let isCluster = mode == "cluster"
        let logger = self.logger
        let configuration = connection
        let candidates = nodes
        let secrets = self.secrets
        let results = await withTaskGroup(of: (Int, DiagnosticsBundle.Node).self) { group in
            for (index, node) in candidates.enumerated() {
                group.addTask {
                    (index, await DiagnosticsExporter.node(secrets: secrets,
                        endpoint: node.0, role: node.1, nodeID: node.2, skipped: node.3, configuration: configuration,
                        cluster: isCluster, logger: logger))
                }
            }
            var results: [(Int, DiagnosticsBundle.Node)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        // getaddrinfo blocks: a thread of NIO's pool, not one of the cooperative pool.
        let host = connection.endpoint.host
        let (addresses, resolveError) =
            (try? await NIOThreadPool.singleton.runIfActive { DiagnosticsExporter.resolve(host) }) ?? ([], "not resolved: shutting down")
        return DiagnosticsBundle.Target(
            name: self.target.name, configuration: self.target.effectiveSettings,
            status: StatusDocument.Target(self.snapshot, now: now), topology: topology, resolvedAddresses: addresses,
            resolveError: resolveError, nodes: results, events: events.filter { $0.target == self.target.name })
    }
}
