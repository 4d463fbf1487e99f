import LogText
import Logging
import NIOCore
import RESP
import RedisClient

extension DoctorSession {
    /// The topology, every announced endpoint against the allow-lists (judging the endpoint that would be dialed),
    /// and each allowed node's reachability (TCP, TLS and the Redis handshake). Disallowed endpoints are listed and
    /// never dialed, whatever `dial_disallowed` says.
    func clusterChecks(info: Result<[String: String], RedisClientError>) async -> [DoctorCheck] {
        let target = self.doctor.target
        let enabled = (try? info.get())?["cluster_enabled"] == "1"
        if target.cluster == .on && !enabled {
            return [
                .failure(
                    "cluster", "mode", "cluster: on, but the server says cluster_enabled:0",
                    advice: "set cluster: auto (or off) for this target")
            ]
        }
        guard target.cluster != .off && enabled else { return [] }
        let tls = self.doctor.connection.tls != nil
        let topology: ClusterTopology
        let command: String
        do {
            (topology, command) = try await RedisClusterClient.query(
                replyHost: self.doctor.connection.endpoint.host, tls: tls
            ) { command throws(RedisClientError) in
                try await self.connection.sendRaw(command, timeout: self.timeout)
            }
        } catch {
            return [
                .failure(
                    "cluster", "topology", self.doctor.shown(error.description),
                    advice: "the daemon reads the topology with CLUSTER SHARDS, SLOTS or NODES: grant one (ACL SETUSER … +cluster|shards)")
            ]
        }
        var checks: [DoctorCheck] = []
        let uncovered = topology.uncoveredSlots
        let summary = "\(topology.nodes.count) nodes, \(topology.primaries.count) primaries (\(command))"
        checks.append(
            uncovered > 0
                ? .warning(
                    "cluster", "topology", "\(summary); \(uncovered) of 16384 slots served by no primary",
                    advice: "commands for those slots fail: check CLUSTER NODES for failed primaries and the cluster's health")
                : .ok("cluster", "topology", "\(summary), all 16384 slots served"))

        let rules = target.endpointRules
        var toDial: [(node: ClusterNode, endpoint: RedisEndpoint)] = []
        for node in topology.nodes {
            let id = node.shortID.escapingControlCharacters
            let dialed = node.endpoint(tls: tls)
            var refused = false
            for endpoint in node.announcedEndpoints {
                guard let refusal = rules.dialRefusal(endpoint) else { continue }
                if endpoint == dialed { refused = true }
                checks.append(
                    .failure(
                        "cluster", "node \(id)",
                        "announces \(endpoint.description.escapingControlCharacters): \(refusal.escapingControlCharacters); not dialed",
                        advice: "clients sent there fail where the network blocks it: allow \(endpoint.description.escapingControlCharacters) in the network's allow-list and in allowed_ports / allowed_networks, or ask the provider why the node announces it"))
            }
            if node.isFailed {
                checks.append(
                    .warning(
                        "cluster", "node \(id)", "marked failed by the cluster (\(self.doctor.shown(node.health ?? "fail"))); not dialed",
                        advice: "its replica should take over; check the cluster's health (CLUSTER NODES)"))
            } else if let dialed, !refused {
                toDial.append((node, dialed))
            } else if dialed == nil {
                checks.append(
                    .warning(
                        "cluster", "node \(id)", "announces no endpoint for \(tls ? "TLS" : "plain TCP")",
                        advice: "the node cannot be reached by clients: check its cluster-announce-* settings"))
            }
        }
        let dialing = Array(toDial.prefix(self.doctor.maximumNodesDialed))
        if toDial.count > dialing.count {
            checks.append(
                .warning(
                    "cluster", "nodes", "\(toDial.count - dialing.count) more allowed nodes not dialed (doctor dials at most \(dialing.count))",
                    advice: "check the rest with the daemon's status and topology commands"))
        }
        let doctor = self.doctor
        let reachability = await withTaskGroup(of: (Int, DoctorCheck).self) { group in
            for (index, entry) in dialing.enumerated() {
                group.addTask {
                    (index, await Self.reachability(of: entry.node, at: entry.endpoint, doctor: doctor))
                }
            }
            var results: [(Int, DoctorCheck)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return checks + reachability
    }

    /// Connects to a node as the daemon would (TCP, TLS, HELLO/AUTH), answers a PING, closes.
    private static func reachability(of node: ClusterNode, at endpoint: RedisEndpoint, doctor: Doctor) async -> DoctorCheck {
        var configuration = doctor.connection
        configuration.endpoint = endpoint
        let id = node.shortID.escapingControlCharacters
        let shownEndpoint = endpoint.description.escapingControlCharacters
        let start = ContinuousClock.now
        do {
            let connection = try await RedisConnection.connect(
                configuration: configuration, eventLoopGroup: doctor.eventLoopGroup, logger: Logger(label: "redis-healthd.doctor"))
            let answered: Result<RESPValue, RedisClientError>
            do {
                answered = .success(try await connection.send(RESPCommand("PING"), timeout: configuration.commandTimeout))
            } catch {
                answered = .failure(error)
            }
            let elapsed = ContinuousClock.now - start
            await connection.close()
            _ = try answered.get()
            return .ok(
                "cluster", "node \(id)",
                "\(node.role.rawValue) at \(shownEndpoint) answers (\(configuration.tls == nil ? "TCP" : "TCP+TLS"), \(Doctor.milliseconds(elapsed)) ms)")
        } catch {
            return .failure(
                "cluster", "node \(id)", "\(node.role.rawValue) at \(shownEndpoint) unreachable: \(doctor.shown(error.description))",
                advice: "the daemon and clients cannot use this node: check the path to \(shownEndpoint) (firewall, security group) and the node itself")
        }
    }
}
