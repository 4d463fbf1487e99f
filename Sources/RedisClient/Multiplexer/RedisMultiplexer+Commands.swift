import RESP

/// Commands on the interactive connection: sending one or a pipeline, waiting for a connection per the backlog
/// policy, and draining the connection before a handoff.
extension RedisMultiplexer {
    /// Sends `command` on the interactive connection.
    ///
    /// While no connection is up, the command waits for one (policy `queue`, at most `maxBacklog` waiting)
    /// or fails at once (policy `failFast`). Either way it never waits longer than `timeout` in all.
    nonisolated(nonsending) public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        try await self.withConnection(for: command, timeout: timeout) { connection, remaining throws(RedisClientError) in
            try await connection.send(command, timeout: remaining)
        }
    }

    /// Sends `commands` in one write on the interactive connection (nothing else comes between them) and returns
    /// their replies in order, error replies included: what `ASKING` + a command needs. Waits for a connection
    /// like ``send(_:timeout:)``.
    public func pipeline(_ commands: [RESPCommand], timeout: Duration? = nil) async throws(RedisClientError) -> [RESPValue] {
        guard let first = commands.first else { return [] }
        return try await self.withConnection(for: first, timeout: timeout) { connection, remaining throws(RedisClientError) in
            try await connection.pipeline(commands, timeout: remaining)
        }
    }

    /// The common case, once per command: the interactive connection when it is up, with the command's timeout
    /// (relaxed in a maintenance window), the keepalive's bookkeeping done (its last use), at `now` (a caller
    /// that has read the clock already passes its reading). Nil: no live connection now (the caller waits for one
    /// per the backlog policy).
    func readyConnection(timeout: Duration?, now: ContinuousClock.Instant = .now) -> (RedisConnection, Duration)? {
        let base = timeout ?? self.configuration.connection.commandTimeout
        let ready = self.state.withLock { state -> (RedisConnection, Duration)? in
            guard let connection = state.interactive.connection, connection.isActive else { return nil }
            return (connection, state.maintenance.timeout(base, now: now))
        }
        if ready != nil { self.liveness.lastUse.record(now) }
        return ready
    }

    /// Gets the interactive connection (waiting per the backlog policy) and runs `body` on it with what is left of
    /// `timeout`; a command timeout there closes the connection if nothing was read from it for a while.
    private func withConnection<T>(
        for command: RESPCommand, timeout: Duration?,
        _ body: (RedisConnection, Duration) async throws(RedisClientError) -> T
    ) async throws(RedisClientError) -> T {
        if let (connection, timeout) = self.readyConnection(timeout: timeout) { return try await body(connection, timeout) }
        let started = ContinuousClock.now
        let timeout = self.relaxed(timeout ?? self.configuration.connection.commandTimeout)
        let connection = try await self.waitForConnection(command: command, timeout: timeout)
        let remaining = timeout - started.duration(to: .now)
        self.liveness.lastUse.record(.now)
        return try await body(connection, max(remaining, .milliseconds(1)))
    }

    /// Waits for the interactive connection per the backlog policy (see ``ConnectionLifecycleStateMachine``), at most
    /// `timeout`: one continuation and one timer on an event loop, no task.
    private func waitForConnection(command: RESPCommand, timeout: Duration) async throws(RedisClientError) -> RedisConnection {
        let endpoint = self.configuration.connection.endpoint.description
        let id = self.state.withLock { $0.interactive.reserveWaiterID() }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisConnection, any Error>) in
                    let admission = self.state.withLock { state -> Lifecycle.Admission? in
                        // A cancellation that came before this point found no waiter to fail: honoured here (checked
                        // under the lock the cancellation handler takes too).
                        if Task.isCancelled { return nil }
                        return state.interactive.admit(continuation, id: id, usable: { $0.isActive })
                    }
                    switch admission {
                    case nil:
                        continuation.resume(throwing: CancellationError())
                    case .ready(let connection):
                        continuation.resume(returning: connection)
                    case .wait:
                        self.liveness.eventLoop.scheduleTask(in: timeout.timeAmount) {
                            self.state.withLock { $0.interactive.removeWaiter(id) }?.resume(
                                throwing: RedisClientError(
                                    .commandTimeout, endpoint: endpoint, command: command.name,
                                    message: "no connection within \(timeout.humanReadable)"))
                        }
                    case .refused(.shutDown):
                        continuation.resume(
                            throwing: RedisClientError(.connectionClosed, endpoint: endpoint, message: Self.shutDownMessage))
                    case .refused(.failFast):
                        continuation.resume(
                            throwing: RedisClientError(.notConnected, endpoint: endpoint, message: "not connected (backlog policy fail-fast)"))
                    case .refused(.backlogFull(let maxBacklog)):
                        continuation.resume(
                            throwing: RedisClientError(
                                .backlogFull, endpoint: endpoint, message: "\(maxBacklog) commands already wait for a connection"))
                    }
                }
            } onCancel: {
                self.state.withLock { $0.interactive.removeWaiter(id) }?.resume(throwing: CancellationError())
            }
        } catch {
            throw RedisClientError.classify(error, endpoint: endpoint).forCommand(command.name)
        }
    }

    /// Waits (up to `timeout`) until no command awaits a reply on the interactive connection: a connection handed
    /// off is closed only once its callers have their replies.
    public func drain(within timeout: Duration) async {
        guard let connection = self.state.withLock({ $0.interactive.connection }), connection.isActive else { return }
        await connection.waitUntilIdle(within: timeout)
    }
}
