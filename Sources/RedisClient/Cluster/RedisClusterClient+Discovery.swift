import RESP

/// Discovering the topology: reading it from a connected node or a seed (CLUSTER SHARDS, else SLOTS, else
/// NODES), and whether a server runs in cluster mode at all.
extension RedisClusterClient {
    /// Reads the topology now (from a connected node, else from each seed in turn) and applies it. Only the
    /// refresh loop calls it; others ask with ``requestRefresh(trigger:)``.
    /// - Returns: the topology, or nil when no candidate answered (a `refreshFailed` event says why).
    @discardableResult
    func refresh(trigger: String) async -> ClusterTopology? {
        let (connected, seeds) = self.state.withLock { state in
            (state.nodes.filter { $0.value.isConnected }.map(\.key).sorted { $0.description < $1.description },
             self.configuration.seeds)
        }
        var candidates: [RedisEndpoint] = []
        for endpoint in connected + seeds where !candidates.contains(endpoint) { candidates.append(endpoint) }
        var failures: [String] = []
        for endpoint in candidates {
            if self.isShutdown { return nil }
            do {
                let (topology, command) = try await self.readTopology(from: endpoint)
                self.apply(topology, source: endpoint, command: command, trigger: trigger)
                return topology
            } catch {
                failures.append(error.description)
            }
        }
        let message = failures.isEmpty ? "no node to ask" : failures.joined(separator: "; ")
        self.logger.debug("Cluster topology refresh failed", metadata: ["error.message": "\(message)"])
        // Try again after the minimum interval rather than a whole period (the first refresh above all).
        _ = self.state.withLock { $0.schedule.triggered("retry", now: .now) }
        self.publish(.refreshFailed(trigger: trigger, message: message))
        return nil
    }

    /// CLUSTER SHARDS, or CLUSTER SLOTS when the server does not know SHARDS (before 7.0) or the ACL forbids it,
    /// or CLUSTER NODES when SLOTS fails too.
    private func readTopology(from endpoint: RedisEndpoint) async throws(RedisClientError) -> (ClusterTopology, String) {
        let tls = self.configuration.node.connection.tls != nil
        if let node = self.multiplexer(at: endpoint), node.isConnected {
            return try await Self.query(replyHost: endpoint.host, tls: tls) { command throws(RedisClientError) in
                try await node.pipeline([command])[0]
            }
        }
        var configuration = self.configuration.node.connection
        configuration.endpoint = endpoint
        configuration.clientName = configuration.clientName.map { "\($0)#topology" }
        let connection = try await RedisConnection.connect(
            configuration: configuration, eventLoopGroup: self.eventLoopGroup, sslContext: self.sslContext,
            logger: self.logger)
        // The one-off connection is closed before the refresh goes on (TLS waits at most 100 ms for close_notify).
        do throws(RedisClientError) {
            let found = try await Self.query(replyHost: endpoint.host, tls: tls) { command throws(RedisClientError) in
                try await connection.sendRaw(command, timeout: configuration.commandTimeout)
            }
            await connection.close()
            return found
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Reads a topology with `send`: CLUSTER SHARDS, else SLOTS, else NODES; returns it with the command that answered.
    public static func query(
        replyHost: String, tls: Bool, _ send: (RESPCommand) async throws(RedisClientError) -> RESPValue
    ) async throws(RedisClientError) -> (ClusterTopology, String) {
        let shards = try await send(RESPCommand("CLUSTER", "SHARDS"))
        if !shards.isError {
            return (try ClusterTopology.parseShards(shards, replyHost: replyHost), "CLUSTER SHARDS")
        }
        // Redis before 7.0 does not know SHARDS; an ACL may forbid it (NOPERM): CLUSTER SLOTS says enough.
        let message = shards.string ?? ""
        guard message.lowercased().contains("unknown subcommand") || message.hasPrefix("NOPERM") else {
            throw RedisClientError(.clusterTopology, endpoint: nil, command: "CLUSTER SHARDS", message: message)
        }
        let slots = try await send(RESPCommand("CLUSTER", "SLOTS"))
        if !slots.isError {
            return (try ClusterTopology.parseSlots(slots, replyHost: replyHost, tls: tls), "CLUSTER SLOTS")
        }
        // SLOTS is deprecated since 7.0 and may be forbidden too: CLUSTER NODES is the last resort.
        let nodes = try await send(RESPCommand("CLUSTER", "NODES"))
        if nodes.isError {
            throw RedisClientError(
                .clusterTopology, command: "CLUSTER NODES",
                message: "SHARDS: \(message); SLOTS: \(slots.string ?? "error"); NODES: \(nodes.string ?? "error")")
        }
        return (try ClusterTopology.parseNodes(nodes, replyHost: replyHost, tls: tls), "CLUSTER NODES")
    }

    /// Whether an `INFO cluster` reply says cluster mode is on (`cluster_enabled:1`).
    public static func isClusterEnabled(info: String) -> Bool {
        info.split(whereSeparator: \.isNewline).contains { $0.trimmingPrefixAndSuffixSpaces == "cluster_enabled:1" }
    }
}

extension Substring {
    fileprivate var trimmingPrefixAndSuffixSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " || text.last == "\r" { text = text.dropLast() }
        return text
    }
}
