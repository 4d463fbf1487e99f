import ServiceLifecycle

/// Running a cluster client: ``RedisClusterClient/run()`` runs the node multiplexers and the refresh loop
/// (periodic and triggered refreshes, rate-limited) until shut down.
extension RedisClusterClient {
    /// Reads the topology, keeps one multiplexer per primary and refreshes, until cancelled, ``shutdown()``, or a
    /// `ServiceGroup`'s graceful shutdown (the same as ``shutdown()``). Returns with every node connection closed.
    public func run() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await self.refreshLoop()
                    self.nodeWorkContinuation.finish()
                }
                for await work in self.nodeWork {
                    switch work {
                    case .run(let node): group.addTask { await node.run() }
                    case .close(let node): group.addTask { await node.shutdown() }
                    }
                }
                // Shut down or cancelled: the refresh and the nodes still running end now (each closes its
                // connections), a node closed after this point included.
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        await self.closeNodes()
        if self.isShutdown { self.broadcaster.finish() }
    }

    /// Closes every node connection and ends ``run()``.
    public func shutdown() async {
        self.beginShutdown()
        await self.closeNodes()
        self.broadcaster.finish()
    }

    /// Marks the client shut down and ends ``run()``'s loops; returns at once.
    private func beginShutdown() {
        let wake = self.state.withLock { state in
            state.isShutdown = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
        self.nodeWorkContinuation.finish()
    }

    var isShutdown: Bool { self.state.withLock { $0.isShutdown } }

    private func closeNodes() async {
        let nodes = self.state.withLock { state in
            defer { state.nodes = [:] }
            return Array(state.nodes.values)
        }
        for node in nodes { await node.shutdown() }
    }

    /// Asks for a refresh soon: at once, or when the minimum interval since the last one has passed. Triggers
    /// arriving while one is scheduled join it.
    public func requestRefresh(trigger: String) {
        let wake = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard case .scheduled = state.schedule.triggered(trigger, now: .now) else { return nil }
            guard let wake = state.wake else {
                state.wakeRequested = true
                return nil
            }
            state.wake = nil
            return wake
        }
        wake?.resume()
    }

    private func refreshLoop() async {
        while !Task.isCancelled && !self.isShutdown {
            let (trigger, next) = self.state.withLock { state in
                (state.schedule.startIfDue(now: .now), state.schedule.nextRefresh(now: .now))
            }
            if let trigger {
                await self.refresh(trigger: trigger)
                continue
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(until: next, clock: .continuous) }
                group.addTask { await self.waitForWake() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.isShutdown || Task.isCancelled { return true }
                    if state.wakeRequested {
                        state.wakeRequested = false
                        return true
                    }
                    state.wake?.resume()
                    state.wake = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let wake = self.state.withLock { state in
                defer { state.wake = nil }
                return state.wake
            }
            wake?.resume()
        }
    }
}
