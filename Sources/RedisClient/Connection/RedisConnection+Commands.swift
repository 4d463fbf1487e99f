import RESP

/// Commands on one connection: sending one (awaited, with a completion, or detached) or a pipeline, and the
/// error an error reply stands for.
extension RedisConnection {
    /// Sends `command` and returns its reply.
    /// - Throws: ``RedisClientError``: `.errorReply` with the server's message when Redis answered with an
    ///   error; `.commandTimeout` when no reply came within `timeout` (default: the configured command
    ///   timeout); `.connectionClosed`, `.socket`, `.tls`, `.protocolError` when the connection failed.
    nonisolated(nonsending) public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        let reply = try await self.sendRaw(command, timeout: timeout ?? self.configuration.commandTimeout)
        if let error = self.errorReply(reply, to: command) { throw error }
        return reply
    }

    /// The error `reply` stands for when the server answered `command` with an error (secrets scrubbed). The
    /// endpoint and the configuration are read only then.
    private func errorReply(_ reply: RESPValue, to command: RESPCommand) -> RedisClientError? {
        guard reply.isError else { return nil }
        return RedisClientError(
            .errorReply, endpoint: self.endpointDescription, command: command.name,
            message: self.configuration.scrubbingSecrets(reply.withoutAttributes.string ?? "error"))
    }

    /// Sends `command` and returns its reply, error replies included (not thrown).
    ///
    /// The command joins the batch that the event loop writes at its next turn, with the commands of every other
    /// caller that came meanwhile; the reply resumes this task straight from the event loop.
    @inline(__always)
    nonisolated(nonsending) public func sendRaw(_ command: RESPCommand, timeout: Duration) async throws(RedisClientError) -> RESPValue {
        let submitter = self.submitter
        let timeAmount = timeout.timeAmount
        do {
            return try await withUnsafeThrowingContinuation { continuation in
                submitter.submit(command, sink: .continuation(continuation), timeout: timeAmount)
            }
        } catch {
            throw RedisClientError.classify(error, endpoint: self.endpointDescription).forCommand(command.name)
        }
    }

    /// Sends all `commands` in one write and returns their replies in order; error replies are returned, not
    /// thrown, so one failing command does not hide the others' results.
    public func pipeline(_ commands: [RESPCommand], timeout: Duration? = nil) async throws(RedisClientError) -> [RESPValue] {
        let timeout = timeout ?? self.configuration.commandTimeout
        // The cluster client sends most commands as a pipeline of one: no futures for those.
        if commands.count == 1 { return [try await self.sendRaw(commands[0], timeout: timeout)] }
        let timeAmount = timeout.timeAmount
        let promises = commands.map { _ in self.channel.eventLoop.makePromise(of: RESPValue.self) }
        // Submitted together: nothing another caller sends can come between these commands.
        self.submitter.submit(together: zip(commands, promises).map { ($0, .promise($1)) }, timeout: timeAmount)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for (command, promise) in zip(commands, promises) {
            do {
                replies.append(try await promise.futureResult.get())
            } catch {
                throw RedisClientError.classify(error, endpoint: self.endpointDescription).forCommand(command.name)
            }
        }
        return replies
    }

    /// Sends `command` and calls `completion` with its reply (an error reply as a failure, as ``send(_:timeout:)``
    /// throws it) on the connection's event loop, where it is read: no task waits for it.
    func send(
        _ command: RESPCommand, timeout: Duration,
        completion: @escaping @Sendable (Result<RESPValue, RedisClientError>) -> Void
    ) {
        // The callback holds the connection, not copies of what an error reply needs: a copy of the configuration
        // is a retain of each of its strings at every probe, for a reply that is almost never an error.
        self.submitter.submit(
            command,
            sink: .callback { [self] result in
                if case .success(let reply) = result, let error = self.errorReply(reply, to: command) {
                    completion(.failure(error))
                } else {
                    completion(result)
                }
            },
            timeout: timeout.timeAmount)
    }

    /// Sends `command` without waiting for its reply, which is read and dropped (an UNSUBSCRIBE nobody awaits).
    func sendDetached(_ command: RESPCommand) {
        self.submitter.submit(command, sink: .discard, timeout: self.configuration.commandTimeout.timeAmount)
    }
}
