import RESP

/// The connection loop of one role (interactive or subscriber): dial, install, hold until the connection ends,
/// back off and dial again, as the role's ``ConnectionLifecycleStateMachine`` says.
extension RedisMultiplexer {
    /// Runs the role's ``ConnectionLifecycleStateMachine``: connects, holds the connection until it ends, backs off,
    /// connects again, until shut down.
    func maintain(role: MultiplexerEvent.ConnectionRole) async {
        var generator = SystemRandomNumberGenerator()
        var action = self.startLifecycle(role)
        while true {
            switch action {
            case .stop, .ignored:
                return
            case .connect(let attempt):
                action = await self.attempt(role: role, attempt: attempt, using: &generator)
            case .sleep(let until, let announced):
                if let announced { self.announceReconnect(role: role, delay: announced.delay, attempt: announced.attempt) }
                try? await Task.sleep(until: until, clock: .continuous)
                action = self.backoffElapsed(role)
            }
        }
    }

    // The role's state machine, changed under the lock (out of line: see ``attempt(role:attempt:using:)``).

    @inline(never)
    private func startLifecycle(_ role: MultiplexerEvent.ConnectionRole) -> Lifecycle.Action {
        self.state.withLock { $0.withLifecycle(role) { $0.start(now: .now) } }
    }

    @inline(never)
    private func backoffElapsed(_ role: MultiplexerEvent.ConnectionRole) -> Lifecycle.Action {
        self.state.withLock { $0.withLifecycle(role) { $0.backoffElapsed(now: .now) } }
    }

    @inline(never)
    private func announceReconnect(role: MultiplexerEvent.ConnectionRole, delay: Duration, attempt: Int) {
        self.emit(.reconnectScheduled(role: role, delay: delay, attempt: attempt))
    }

    /// One attempt: dials, installs and holds the connection until it ends; answers what the loop does next.
    ///
    /// This frame stays in the task's memory for the connection's life (1,000 targets: 1,000 of them), so what is
    /// done between the waits is in functions of its own, kept out of line: their temporaries (events, the state
    /// machine's actions) live on the thread's stack while they run, not here.
    private func attempt(
        role: MultiplexerEvent.ConnectionRole, attempt: Int, using generator: inout SystemRandomNumberGenerator
    ) async -> Lifecycle.Action {
        // The subscriber connection exists only while somebody subscribes.
        if role == .subscriber, !(await self.subscriptions.waitUntilNotEmpty()) { return .stop }
        // Dials of many multiplexers sharing a limiter (one cluster's nodes) are spread out; when too many are
        // booked, this attempt is deferred by a backoff step.
        if let dialLimiter {
            switch await dialLimiter.acquire() {
            case .granted: break
            case .cancelled: return .stop
            case .deferred: return self.dialDeferred(role: role, using: &generator)
            }
        }
        self.announceConnecting(role: role, attempt: attempt)
        let connection: RedisConnection
        do {
            connection = try await self.dial(role: role, attempt: attempt)
        } catch {
            return self.ended(role: role, error: error, using: &generator)
        }
        switch self.arrived(connection, role: role) {
        case .close:
            await connection.close()
            return .stop
        case .install(let restored, let waiters):
            for waiter in waiters { waiter.resume(returning: connection) }
            if role == .subscriber {
                // Installed first, then subscribed: a subscription added meanwhile is sent by subscribe() on this
                // connection, or is in the list sent here; none falls between the two.
                do {
                    try await self.subscriptions.subscribeAll(on: connection)
                } catch {
                    // Never leave it open: a failing SUBSCRIBE (NOPERM, a timeout) would otherwise leak one
                    // connection per attempt.
                    await connection.close()
                    return self.ended(role: role, error: error, of: connection, using: &generator)
                }
            }
            self.installed(connection, role: role, restored: restored)
            let reason = await self.hold(connection, role: role)
            return self.ended(role: role, error: reason, of: connection, using: &generator)
        }
    }

    @inline(never)
    private func dialDeferred(role: MultiplexerEvent.ConnectionRole, using generator: inout SystemRandomNumberGenerator) -> Lifecycle.Action {
        self.state.withLock { $0.withLifecycle(role) { $0.dialDeferred(now: .now, using: &generator) } }
    }

    @inline(never)
    private func announceConnecting(role: MultiplexerEvent.ConnectionRole, attempt: Int) {
        self.emit(.connecting(role: role, endpoint: self.configuration.connection.endpoint, attempt: attempt))
    }

    /// Tells the role's state machine that `connection` is up: install it (and hand it to the waiters) or close it.
    @inline(never)
    private func arrived(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) -> Lifecycle.Arrival {
        self.state.withLock { state in
            let arrival = state.withLifecycle(role) { $0.connectSucceeded(connection, now: .now) }
            if case .install = arrival {
                if role == .interactive { self.liveness.lastUse.record(.now) }
                if role == .subscriber { self.subscriptions.setConnection(connection) }
            }
            return arrival
        }
    }

    /// `connection` is installed (and subscribed): reported, and probed at once (it is not healthy until a probe
    /// answered on it), kept alive when idle.
    @inline(never)
    private func installed(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole, restored: Bool) {
        let endpoint = self.configuration.connection.endpoint
        self.emit(
            .connected(role: role, endpoint: endpoint, protocolVersion: connection.protocolVersion.rawValue, restored: restored),
            ifCurrent: connection, role: role)
        if role == .subscriber { self.emit(.subscribed(channels: self.subscriptions.count)) }
        switch role {
        case .interactive: self.liveness.interactiveConnected(connection, owner: self)
        case .subscriber: self.liveness.subscriberConnected(connection, owner: self)
        }
        if role == .interactive, let refusal = connection.maintenanceNotificationsRefusal {
            self.emit(.maintenanceNotificationsRefused(endpoint: endpoint, message: refusal), ifCurrent: connection, role: role)
        }
    }

    /// ``ended(role:error:of:using:)`` for an error of any kind (classified first).
    @inline(never)
    private func ended(
        role: MultiplexerEvent.ConnectionRole, error: any Error, of connection: RedisConnection? = nil,
        using generator: inout SystemRandomNumberGenerator
    ) -> Lifecycle.Action {
        let error = RedisClientError.classify(error, endpoint: self.configuration.connection.endpoint.description)
        return self.ended(role: role, error: error, of: connection, using: &generator)
    }

    /// Tells the role's state machine that its attempt failed (`connection` nil) or its connection ended with
    /// `error`, and reports the failure unless the multiplexer is shutting down. A connection's end is told and
    /// reported under the event order: nothing about it is handed on after its failure.
    @inline(never)
    private func ended(
        role: MultiplexerEvent.ConnectionRole, error: RedisClientError, of connection: RedisConnection? = nil,
        using generator: inout SystemRandomNumberGenerator
    ) -> Lifecycle.Action {
        if let connection {
            switch role {
            case .interactive: self.liveness.interactiveDisconnected(connection)
            case .subscriber: self.liveness.subscriberDisconnected(connection)
            }
        }
        return self.emitOrder.withLock { _ in
            let action = self.state.withLock { state in
                if role == .subscriber, let connection { self.subscriptions.setConnection(nil, replacing: connection) }
                return state.withLifecycle(role) { lifecycle in
                    if let connection { return lifecycle.connectionEnded(connection, now: .now, using: &generator) }
                    return lifecycle.connectFailed(now: .now, using: &generator)
                }
            }
            if case .stop = action { return action }
            if Task.isCancelled { return .stop }
            self.emitter(
                .connectionFailed(role: role, endpoint: self.configuration.connection.endpoint, kind: error.code, message: error.description))
            return action
        }
    }

    /// Opens one connection of `role` in a child task. Connecting (TCP, TLS, HELLO, AUTH) takes deep async frames:
    /// in a child task their memory goes back when it ends, instead of staying with this task for the connection's
    /// life (1,000 targets: 6 MB); and in a function of its own, so does the task group's.
    private func dial(role: MultiplexerEvent.ConnectionRole, attempt: Int) async throws -> RedisConnection {
        try await withThrowingTaskGroup(of: RedisConnection.self) { group in
            group.addTask { try await self.connect(role: role, attempt: attempt) }
            return try await group.next()!
        }
    }

    /// Waits for `connection`'s end, reporting its certificates and keeping its credentials fresh meanwhile (never
    /// delaying the end); returns why it ended.
    private func hold(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) async -> RedisClientError {
        let reportsCertificates = role == .interactive && self.configuration.connection.tls != nil
        guard reportsCertificates || connection.credentials != nil else { return await connection.closed() }
        return await self.hold(connection, role: role, reportsCertificates: reportsCertificates)
    }

    /// ``hold(_:role:)`` with tasks beside the wait (in a function of its own: the task group's memory is taken
    /// only by connections that need it, for their lifetime).
    private func hold(
        _ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole, reportsCertificates: Bool
    ) async -> RedisClientError {
        await withTaskGroup(of: RedisClientError?.self) { group in
            if reportsCertificates {
                group.addTask {
                    await self.reportPeerCertificates(of: connection)
                    return nil
                }
            }
            if connection.credentials != nil {
                group.addTask {
                    await self.keepAuthenticated(connection, role: role)
                    return nil
                }
            }
            group.addTask { await connection.closed() }
            var reason: RedisClientError?
            while reason == nil, let next = await group.next() { reason = next }
            group.cancelAll()
            return reason ?? RedisClientError(.connectionClosed, message: "closed")
        }
    }

    /// Opens one connection of `role`.
    private func connect(role: MultiplexerEvent.ConnectionRole, attempt: Int) async throws -> RedisConnection {
        var configuration = self.configuration.connection
        configuration.clientName = self.clientName
        if attempt > 0 {
            configuration.connectTimeout = min(configuration.connectTimeout, self.configuration.reconnectConnectTimeout)
        }
        let subscriptions = self.subscriptions
        let onPush: (@Sendable (RESPValue) -> Void)?
        var maintenanceType: MaintenanceNotificationSettings.EndpointType?
        if role == .subscriber {
            onPush = { value in subscriptions.deliver(value) }
        } else {
            let maintenance = self.configuration.maintenanceNotifications
            if maintenance.mode != .off {
                maintenanceType = maintenance.resolvedEndpointType(
                    for: configuration.endpoint, tls: configuration.tls != nil)
            }
            // Other pushes on the interactive connection are not replies and are dropped, as before.
            onPush = { [weak self] value in self?.pushReceived(value) }
        }
        // On the liveness monitor's loop: probe replies are read where the monitor runs, with no hop between.
        return try await RedisConnection.connect(
            configuration: configuration, eventLoopGroup: self.liveness.eventLoop, sslContext: self.sslContext,
            logger: self.logger, subscriber: role == .subscriber, deadAfterSilence: self.silenceLimit, onPush: onPush,
            maintenanceEndpointType: maintenanceType)
    }
}
