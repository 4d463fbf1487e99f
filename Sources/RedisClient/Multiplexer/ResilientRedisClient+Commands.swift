import RESP

/// Commands and subscriptions through the current multiplexer (a command shut out by a swap is sent once on
/// the new one).
extension ResilientRedisClient {
    /// Sends `command` through the current multiplexer.
    ///
    /// A command that never reached the server because its multiplexer was shut down by a swap (a handoff or
    /// force-reconnect while it waited for a connection) is sent once on the new one, within what is left of its
    /// timeout. A command already written is never sent again (it may have run: INCR, PUBLISH): its error stands.
    nonisolated(nonsending) public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        let started = ContinuousClock.now
        let multiplexer = self.current
        do {
            // The common case: a live connection, straight to it with no frame between (every command takes this path).
            if let (connection, remaining) = multiplexer.readyConnection(timeout: timeout, now: started) {
                return try await connection.send(command, timeout: remaining)
            }
            return try await multiplexer.send(command, timeout: timeout)
        } catch {
            let replacement = self.current
            if error.code == .connectionClosed, error.message == RedisMultiplexer.shutDownMessage, replacement !== multiplexer {
                let budget = (timeout ?? self.configuration.connection.commandTimeout) - started.duration(to: .now)
                if budget > .zero {
                    do {
                        return try await replacement.send(command, timeout: budget)
                    } catch {
                        if error.code == .commandTimeout { self.observeError(.timeout) }
                        throw error
                    }
                }
            }
            if error.code == .commandTimeout { self.observeError(.timeout) }
            throw error
        }
    }

    /// Closes the current multiplexer's subscriber connection (silently dead: a message published did not arrive);
    /// it is reconnected and re-subscribed at once. Returns whether there was one to close.
    @discardableResult
    public func reconnectSubscriber(reason: String) -> Bool {
        self.current.reconnectSubscriber(reason: reason)
    }

    /// Whether the current multiplexer's subscriber connection is up.
    public var isSubscriberConnected: Bool { self.current.isSubscriberConnected }

    /// Subscribes to `channel`; the subscription survives reconnects and force-reconnects.
    public func subscribe(_ channel: String) async -> AsyncStream<PubSubMessage> {
        await self.current.subscribe(Subscription(kind: .channel, name: channel))
    }

    /// Subscribes to channels matching `pattern` (PSUBSCRIBE); survives reconnects and force-reconnects.
    public func psubscribe(_ pattern: String) async -> AsyncStream<PubSubMessage> {
        await self.current.subscribe(Subscription(kind: .pattern, name: pattern))
    }
}
