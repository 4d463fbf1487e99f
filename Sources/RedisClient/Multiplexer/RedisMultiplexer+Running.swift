import ServiceLifecycle

/// Running a multiplexer: ``RedisMultiplexer/run()`` starts the connection loops of both roles and
/// ends them on cancellation, a graceful shutdown or ``RedisMultiplexer/shutdown()``, which closes the connections.
extension RedisMultiplexer {
    /// Keeps the connections up until the task is cancelled, a service group shuts down gracefully or ``shutdown()``
    /// is called. Returns promptly in every case, with the connections closed.
    public func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await self.runConnections()
        } onCancelOrGracefulShutdown: {
            self.beginShutdown()
        }
        await self.closeConnections()
    }

    private func runConnections() async {
        await withTaskGroup(of: Void.self) { group in
            // A loop that ends (it does when shut down or cancelled) ends the multiplexer.
            group.addTask {
                await self.maintain(role: .interactive)
                self.beginShutdown()
            }
            group.addTask {
                // The subscriber connection exists only while somebody subscribes; until then this task holds only
                // its small frame, not the connection loop's.
                guard await self.subscriptions.waitUntilNotEmpty() else { return }
                await self.maintain(role: .subscriber)
                self.beginShutdown()
            }
            // This task itself waits for the shutdown and then ends the loops: one task less per multiplexer than a
            // child waiting for it (with 1,000 targets, memory counts). Cancellation reaches this wait too.
            await self.waitForShutdown()
            group.cancelAll()
        }
    }

    /// Closes the connections and ends ``run()``. Commands waiting for a connection fail.
    public func shutdown() async {
        self.beginShutdown()
        await self.closeConnections()
    }

    /// Marks the multiplexer shut down, ends ``run()``'s loops and starts closing the connections; returns at once.
    private func beginShutdown() {
        let (waiter, connections, waiters) = self.state.withLock { state in
            let interactive = state.interactive.shutdown()
            let subscriber = state.subscriber.shutdown()
            let connections = [interactive.connection, subscriber.connection].compactMap { $0 }
            state.closing += connections
            defer { state.shutdownWaiter = nil }
            return (state.shutdownWaiter, connections, interactive.waiters)
        }
        waiter?.resume()
        self.liveness.stop()
        let error = RedisClientError(
            .connectionClosed, endpoint: self.configuration.connection.endpoint.description,
            message: Self.shutDownMessage)
        for waiter in waiters { waiter.resume(throwing: error) }
        for connection in connections { connection.close(failingWith: error) }
    }

    private func waitForShutdown() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = self.state.withLock { state -> Bool in
                    if state.interactive.isShutDown || Task.isCancelled { return true }
                    state.shutdownWaiter = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                defer { state.shutdownWaiter = nil }
                return state.shutdownWaiter
            }
            waiter?.resume()
        }
    }

    /// The error text of a command that never reached the server because the multiplexer was shut down first.
    static let shutDownMessage = "the multiplexer was shut down"

    private func closeConnections() async {
        self.beginShutdown()
        let connections = self.state.withLock { state in
            defer { state.closing = [] }
            return state.closing
        }
        for connection in connections { await connection.close() }
    }
}
