/// Replacing the multiplexer (level 2): a force-reconnect (the guard's or an operator's) or a MOVING handoff
/// builds and connects the new one first, swaps it in, and only then closes the old one.
extension ResilientRedisClient {
    /// Asks for a force-reconnect now (an operator's request): bypasses the error threshold, not the
    /// minimum interval; joins one already under way. Returns once it has finished.
    public func forceReconnect() async -> ForceReconnectOutcome {
        let shutDown = ForceReconnectOutcome.failed("the client was shut down; nothing to reconnect")
        guard let decision = self.state.withLock({ state in
            state.isShutdown ? nil : state.guardState.manualRequest(now: .now)
        }) else { return shutDown }
        self.publish(.forceReconnect(acted: decision.acted, reason: decision.reason.rawValue))
        guard decision.acted else { return .suppressed(decision.reason) }
        return await withCheckedContinuation { continuation in
            // A request nobody will run (the client shut down meanwhile) is answered at once, never dropped.
            if case .terminated = self.requestsContinuation.yield(.swap(reason: decision.reason, done: continuation)) {
                self.state.withLock { $0.guardState.reconnectFailed(now: .now) }
                continuation.resume(returning: shutDown)
            }
        }
    }

    /// A MOVING handoff: the announced endpoint is judged at once (a refused one is reported and never dialed); after
    /// the announced time, a connection to it is built, swapped in like a force-reconnect's, and the old one closed
    /// once its callers have their replies. Nothing happens if the multiplexer was replaced meanwhile.
    func handOff(_ notification: MaintenanceNotification, generation: Int) async {
        let from = self.current.configuration.connection.endpoint
        let to = notification.endpoint ?? from
        // `null`: the same (configured) endpoint again, which is always dialed; an announced one is judged.
        if notification.endpoint != nil, let refusal = self.movingPolicy(to) {
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .notDialed(refusal)))
            return
        }
        let token = self.state.withLock { state in
            state.handoffToken += 1
            return state.handoffToken
        }
        try? await Task.sleep(for: MaintenanceWindow<ContinuousClock.Instant>.handoffDelay(notification))
        let go = self.state.withLock { state -> Bool in
            guard !state.isShutdown, state.current.generation == generation, state.handoffToken == token else { return false }
            if let last = state.lastHandoff, last.duration(to: .now) < .seconds(5) { return false }
            state.lastHandoff = .now
            return true
        }
        guard !Task.isCancelled, go else {
            self.logger.debug("MOVING handoff dropped: a newer one, a swap or another handoff less than 5 s ago", metadata: ["redis.endpoint": "\(to)"])
            return
        }
        switch await self.replaceMultiplexer(reason: nil, endpoint: to) {
        case .replaced:
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .completed))
        case .failed(let message):
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .failed(message)))
        case .suppressed(let reason):
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .failed(reason.rawValue)))
        }
    }

    /// New multiplexer first, connected and (with probes on) answering; then swap; then close the old one. `reason`
    /// nil: a MOVING handoff to `endpoint` (the force-reconnect guard is not involved, and the old multiplexer's
    /// callers get their replies before it closes).
    func replaceMultiplexer(
        reason: ForceReconnectGuard<ContinuousClock.Instant>.Reason?, endpoint: RedisEndpoint? = nil
    ) async -> ForceReconnectOutcome {
        let isHandoff = reason == nil
        let replacement = self.makeMultiplexer(endpoint: endpoint)
        let target = replacement.configuration.connection.endpoint
        let ready = OneShot<ReplacementReady>()
        let registered = self.state.withLock { state -> Bool in
            guard !state.isShutdown, !(isHandoff && state.replacement != nil) else { return false }
            state.replacement = (replacement, ready)
            return true
        }
        guard registered else {
            guard isHandoff else {
                return await self.replacementFailed(replacement, message: "the client was shut down; nothing was replaced")
            }
            await replacement.shutdown()
            return .failed("the client was shut down or a force-reconnect is under way; no handoff")
        }
        guard case .enqueued = self.requestsContinuation.yield(.run(replacement)) else {
            return await self.replacementFailed(replacement, message: "the client was shut down; nothing was replaced", isHandoff: isHandoff)
        }
        let budget = self.configuration.connection.connectTimeout + self.configuration.connection.commandTimeout
            + (self.configuration.probeInterval ?? .zero) + self.configuration.probeTimeout
        guard let shown = await ready.wait(timeout: budget) else {
            let message =
                "the new connection to \(target) did not come up and answer within \(budget.humanReadable); the old one was kept"
            return await self.replacementFailed(replacement, message: message, isHandoff: isHandoff)
        }
        let old = self.publishOrder.withLock { _ -> RedisMultiplexer? in
            let old = self.state.withLock { state -> RedisMultiplexer? in
                if state.replacement?.multiplexer === replacement { state.replacement = nil }
                guard !state.isShutdown else { return nil }
                let old = state.current
                state.current = replacement
                if !isHandoff {
                    state.forceReconnects += 1
                    state.guardState.reconnectSucceeded(now: .now)
                }
                return old
            }
            if old != nil {
                // The replacement's own events before the swap were not published: say what it showed, so that
                // the status follows the connection now in use (in order: nothing of the old one comes after).
                self.publish(
                    .connected(role: .interactive, endpoint: shown.endpoint, protocolVersion: shown.protocolVersion, restored: true))
                if let latency = shown.probeLatency { self.publish(.probe(latency: latency)) }
            }
            return old
        }
        guard let old else {
            await replacement.shutdown()
            return .failed("the client was shut down; nothing was replaced")
        }
        if isHandoff {
            // Commands already on the old connection get their replies before it closes.
            await old.drain(within: self.configuration.connection.commandTimeout)
            await old.shutdown()
            self.logger.debug("Maintenance handoff done", metadata: ["redis.endpoint": "\(target)"])
            return .replaced
        }
        await old.shutdown()
        self.publish(.forceReconnectCompleted(succeeded: true, error: nil))
        self.logger.debug("Force-reconnect done", metadata: ["redis.endpoint": "\(self.configuration.connection.endpoint)"])
        return .replaced
    }

    private func replacementFailed(_ replacement: RedisMultiplexer, message: String, isHandoff: Bool = false) async -> ForceReconnectOutcome {
        self.state.withLock { state in
            if state.replacement?.multiplexer === replacement { state.replacement = nil }
            if !isHandoff { state.guardState.reconnectFailed(now: .now) }
        }
        await replacement.shutdown()
        if isHandoff { return .failed(message) }
        self.publish(.forceReconnectCompleted(succeeded: false, error: message))
        return .failed(message)
    }
}
