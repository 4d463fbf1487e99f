/// Node lifecycle: installing a topology (the slot map, a multiplexer per allowed primary, departed nodes
/// closed with the reason), and node multiplexers made on demand for redirections.
extension RedisClusterClient {
    /// Installs a topology: the slot map, a multiplexer per allowed primary, departed nodes closed.
    func apply(_ topology: ClusterTopology, source: RedisEndpoint, command: String, trigger: String) {
        let tls = self.configuration.node.connection.tls != nil
        var desired: [RedisEndpoint] = []
        var desiredSet: Set<RedisEndpoint> = []
        var refused: [RedisEndpoint: (String, String)] = [:]
        var slots = [RedisEndpoint?](repeating: nil, count: HashSlot.count)
        for node in topology.primaries {
            guard let endpoint = node.endpoint(tls: tls) else { continue }
            for range in node.slots {
                for slot in range { slots[slot] = endpoint }
            }
            // A primary the cluster marked failed serves nothing (its slots went to its replacement): not dialed.
            guard !node.isFailed else { continue }
            if let reason = self.dialPolicy(DialCandidate(endpoint: endpoint, nodeID: node.id, announcedIP: node.ip)) {
                refused[endpoint] = (node.id, reason)
            } else if desiredSet.insert(endpoint).inserted {
                desired.append(endpoint)
            }
        }
        let overLimit = topology.nodes.count > self.configuration.maxNodes
        let (opened, closed, newlyRefused, crossedLimit, previous) = self.state.withLock { state in
            let previous = state.topology
            state.topology = topology
            state.slots = slots
            let crossedLimit = overLimit && !state.overNodeLimit
            state.overNodeLimit = overLimit
            var closed: [RedisMultiplexer] = []
            for (endpoint, node) in state.nodes where !desiredSet.contains(endpoint) {
                closed.append(node)
                state.nodes[endpoint] = nil
            }
            var opened: [RedisMultiplexer] = []
            if !state.isShutdown {
                for endpoint in desired where state.nodes[endpoint] == nil {
                    let node = self.makeNode(endpoint)
                    state.nodes[endpoint] = node
                    opened.append(node)
                }
            }
            let newlyRefused = refused.filter { state.notDialed[$0.key] == nil }
            state.notDialed = refused.mapValues(\.1)
            return (opened, closed, newlyRefused, crossedLimit, previous)
        }
        self.publish(.topologyRefreshed(topology, source: source, command: command, trigger: trigger))
        if crossedLimit { self.publish(.tooManyNodes(count: topology.nodes.count, limit: self.configuration.maxNodes)) }
        for (endpoint, (id, reason)) in newlyRefused.sorted(by: { $0.key.description < $1.key.description }) {
            self.publish(.nodeNotDialed(nodeID: id, endpoint: endpoint, reason: reason))
        }
        for node in closed {
            let endpoint = node.configuration.connection.endpoint
            self.publish(.nodeClosed(endpoint, reason: Self.whyClosed(endpoint, previous: previous, now: topology, tls: tls, refused: refused)))
            // Closed by run()'s task group; once that has stopped taking work, its end cancels the node's run().
            self.nodeWorkContinuation.yield(.close(node))
        }
        for node in opened {
            self.publish(.nodeOpened(node.configuration.connection.endpoint))
            self.nodeWorkContinuation.yield(.run(node))
        }
    }

    /// Why the connection to `endpoint` is closed: what became of the node that was there.
    static func whyClosed(
        _ endpoint: RedisEndpoint, previous: ClusterTopology?, now: ClusterTopology, tls: Bool,
        refused: [RedisEndpoint: (String, String)]
    ) -> String {
        guard let id = previous?.nodes.first(where: { $0.endpoint(tls: tls) == endpoint })?.id else {
            return "no primary there any more"
        }
        let short = String(id.prefix(8))
        guard let node = now.node(id: id) else { return "node \(short) left the cluster" }
        if node.isFailed { return "the cluster marked node \(short) failed" }
        if node.role == .replica { return "node \(short) is a replica now" }
        if let moved = node.endpoint(tls: tls), moved != endpoint {
            if let (_, reason) = refused[moved] { return "node \(short) now announces \(moved), which is not dialed: \(reason)" }
            return "node \(short) now announces \(moved)"
        }
        if let (_, reason) = refused[endpoint] { return "not dialed any more: \(reason)" }
        return "no primary there any more"
    }

    private func makeNode(_ endpoint: RedisEndpoint) -> RedisMultiplexer {
        var configuration = self.configuration.node
        configuration.connection.endpoint = endpoint
        configuration.neverConnectedBackoffCap = self.configuration.unreachableNodeBackoffCap
        return RedisMultiplexer(
            configuration: configuration, generation: 1, eventLoopGroup: self.eventLoopGroup, sslContext: self.sslContext,
            logger: self.logger, dialLimiter: self.dialLimiter,
            emit: { [weak self] event in
                guard let self else { return }
                self.publish(.node(endpoint, event))
                if case .connectionFailed(.interactive, _, _, _) = event { self.requestRefresh(trigger: "connection-failed") }
            })
    }

    /// The multiplexer for `endpoint`, made (and started) on demand when a redirection names a node the
    /// topology did not list yet.
    func node(for endpoint: RedisEndpoint, command: String) throws(RedisClientError) -> RedisMultiplexer {
        if let node = self.multiplexer(at: endpoint) { return node }
        // A redirection may name a node the last topology listed (with its announced IP) or one it did not.
        let tls = self.configuration.node.connection.tls != nil
        let known = self.topology?.nodes.first { $0.endpoint(tls: tls) == endpoint }
        if let reason = self.dialPolicy(DialCandidate(endpoint: endpoint, nodeID: known?.id, announcedIP: known?.ip)) {
            throw RedisClientError(
                .disallowedEndpoint, endpoint: endpoint.description, command: command,
                message: "not dialed: \(reason)")
        }
        let (node, isNew) = try self.state.withLock { state throws(RedisClientError) -> (RedisMultiplexer, Bool) in
            if let node = state.nodes[endpoint] { return (node, false) }
            guard !state.isShutdown else {
                throw RedisClientError(.connectionClosed, endpoint: endpoint.description, command: command, message: "the cluster client was shut down")
            }
            let node = self.makeNode(endpoint)
            state.nodes[endpoint] = node
            return (node, true)
        }
        if isNew {
            self.publish(.nodeOpened(endpoint))
            self.nodeWorkContinuation.yield(.run(node))
        }
        return node
    }
}
