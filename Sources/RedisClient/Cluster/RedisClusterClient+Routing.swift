import RESP

/// Routing commands: to the primary serving a key's or a slot's hash slot, following MOVED and ASK redirections
/// (bounded).
extension RedisClusterClient {
    /// Sends `command` to the primary serving `key`'s slot, following MOVED (the slot map is updated and a
    /// refresh requested) and ASK (`ASKING` first, map unchanged) at most `maxRedirects` times, all within
    /// `timeout` [command timeout].
    public func send(_ command: RESPCommand, key: String, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        try await self.send(command, slot: HashSlot.slot(for: key), timeout: timeout)
    }

    /// Sends `command` to the primary serving `slot` (see ``send(_:key:timeout:)``).
    public func send(_ command: RESPCommand, slot: Int, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        guard (0..<HashSlot.count).contains(slot) else {
            throw RedisClientError(.configuration, command: command.name, message: "slot \(slot) is outside 0…16383")
        }
        let timeout = timeout ?? self.configuration.node.connection.commandTimeout
        let started = ContinuousClock.now
        var target = self.state.withLock { $0.slots[slot] }
        var asking = false
        for _ in 0...self.configuration.maxRedirects {
            guard let endpoint = target else {
                self.requestRefresh(trigger: "uncovered-slot")
                throw RedisClientError(
                    .clusterTopology, command: command.name,
                    message: "slot \(slot) is not served by any known node (topology \(self.topology == nil ? "not read yet" : "incomplete"))")
            }
            let node = try self.node(for: endpoint, command: command.name)
            let remaining = timeout - started.duration(to: .now)
            guard remaining > .zero else {
                throw RedisClientError(
                    .commandTimeout, endpoint: endpoint.description, command: command.name,
                    message: "no reply within \(timeout.humanReadable) (redirected)")
            }
            let reply = asking
                ? try await node.pipeline([RESPCommand("ASKING"), command], timeout: remaining)[1]
                : try await node.pipeline([command], timeout: remaining)[0]
            guard reply.isError else { return reply }
            let message = reply.withoutAttributes.string ?? "error"
            guard let redirection = ClusterRedirection(errorMessage: message, replyHost: endpoint.host) else {
                throw RedisClientError(.errorReply, endpoint: endpoint.description, command: command.name, message: message)
            }
            self.publish(.redirected(redirection))
            switch redirection.kind {
            case .moved:
                self.state.withLock { $0.slots[redirection.slot] = redirection.endpoint }
                asking = false
                self.requestRefresh(trigger: "moved")
            case .ask:
                asking = true
                self.requestRefresh(trigger: "ask")
            }
            target = redirection.endpoint
        }
        throw RedisClientError(
            .tooManyRedirects, endpoint: target?.description, command: command.name,
            message: "more than \(self.configuration.maxRedirects) redirections for slot \(slot); the cluster is resharding or misconfigured")
    }
}
