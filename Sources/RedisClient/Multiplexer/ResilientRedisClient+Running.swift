import ServiceLifecycle

/// Running the client: ``ResilientRedisClient/run()`` runs the current multiplexer and the requests (swaps,
/// handoffs) until shut down.
extension ResilientRedisClient {
    /// Runs the current multiplexer (and its replacements) until the task is cancelled, ``shutdown()`` is called, or
    /// a `ServiceGroup`'s graceful shutdown reaches it (the same as ``shutdown()``). Returns with every connection
    /// closed.
    public func run() async {
        await withGracefulShutdownHandler {
            await self.runMultiplexers()
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        // Shut down (rather than cancelled): the event streams end, as after shutdown().
        if self.isShutdown { self.broadcaster.finish() }
    }

    private func runMultiplexers() async {
        self.requestsContinuation.yield(.run(self.current))
        await withDiscardingTaskGroup { group in
            for await request in self.requests {
                switch request {
                case .run(let multiplexer):
                    group.addTask { await multiplexer.run() }
                case .swap(let reason, let done):
                    group.addTask {
                        let outcome = await self.replaceMultiplexer(reason: reason)
                        done?.resume(returning: outcome)
                    }
                case .handoff(let notification, let generation):
                    group.addTask { await self.handOff(notification, generation: generation) }
                }
            }
            await self.current.shutdown()
            group.cancelAll()
        }
    }

    /// Closes everything (a replacement being brought up included) and ends ``run()``.
    public func shutdown() async {
        let (current, replacement) = self.beginShutdown()
        await replacement?.shutdown()
        await current.shutdown()
        self.broadcaster.finish()
    }

    private var isShutdown: Bool { self.state.withLock { $0.isShutdown } }

    /// Marks the client shut down and ends ``run()``'s request loop (which then closes the current multiplexer and
    /// cancels the rest); returns at once, with the multiplexers for ``shutdown()`` to close.
    @discardableResult
    private func beginShutdown() -> (current: RedisMultiplexer, replacement: RedisMultiplexer?) {
        let (current, replacement) = self.state.withLock { state in
            state.isShutdown = true
            return (state.current!, state.replacement)
        }
        self.requestsContinuation.finish()
        replacement?.ready.cancel()
        return (current, replacement?.multiplexer)
    }
}
