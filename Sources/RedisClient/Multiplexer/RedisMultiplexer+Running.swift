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
            // This task itself waits for the shutdown, and for the first subscription: the subscriber connection
            // exists only once somebody subscribes, and its loop starts then. No task waits for either (with 1,000
            // targets, each task's memory counts).
            let callback = self.subscriptions.whenNotEmpty { [weak self] in self?.wake(.subscribed) }
            defer { if let callback { self.subscriptions.removeNotEmptyCallback(callback) } }
            if await self.waitForWakeup() == .subscribed {
                group.addTask {
                    await self.maintain(role: .subscriber)
                    self.beginShutdown()
                }
                _ = await self.waitForWakeup()
            }
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
            defer { state.runWaiter = nil }
            return (state.runWaiter, connections, interactive.waiters)
        }
        waiter?.resume(returning: .shutdown)
        self.liveness.stop()
        let error = RedisClientError(
            .connectionClosed, endpoint: self.configuration.connection.endpoint.description,
            message: Self.shutDownMessage)
        for waiter in waiters { waiter.resume(throwing: error) }
        for connection in connections { connection.close(failingWith: error) }
    }

    /// Why ``run()``'s own task wakes up.
    enum RunWakeup {
        case shutdown, subscribed
    }

    /// Waits for the shutdown (or cancellation) or, the first time, for the first subscription.
    private func waitForWakeup() async -> RunWakeup {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RunWakeup, Never>) in
                let now = self.state.withLock { state -> RunWakeup? in
                    if state.interactive.isShutDown || Task.isCancelled { return .shutdown }
                    if state.subscriptionArrived {
                        state.subscriptionArrived = false
                        return .subscribed
                    }
                    state.runWaiter = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            self.wake(.shutdown)
        }
    }

    /// Wakes ``run()``'s task; a subscription that comes while it does not wait is kept for its next wait.
    private func wake(_ reason: RunWakeup) {
        let waiter = self.state.withLock { state in
            if let waiter = state.runWaiter {
                state.runWaiter = nil
                return Optional(waiter)
            }
            if reason == .subscribed { state.subscriptionArrived = true }
            return nil
        }
        waiter?.resume(returning: reason)
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
