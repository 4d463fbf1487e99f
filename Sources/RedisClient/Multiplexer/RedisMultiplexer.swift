import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP
import ServiceLifecycle
import Synchronization

/// One endpoint's connections: an interactive connection that many callers share (their commands are
/// pipelined on one socket) and, when there are subscriptions, a subscriber connection.
///
/// ``run()`` keeps them up: exponential backoff with full jitter between attempts (DNS resolved again each
/// time), a probe PING every probe interval measuring latency and reporting the multiplexer unresponsive after
/// `probeFailures` misses, a keepalive PING on any idle connection, and dead-connection detection (nothing
/// read for `deadAfterSilence` while a probe or command went unanswered closes the connection).
/// Nothing a caller awaits outlives its timeout.
public final class RedisMultiplexer: Sendable {
    public let configuration: RedisMultiplexerConfiguration
    /// Distinguishes multiplexers of one target across force-reconnects (`redis-healthd#3`).
    public let generation: Int
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let sslContext: NIOSSLContext?
    private let subscriptions: SubscriptionRegistry
    private let emitter: @Sendable (MultiplexerEvent) -> Void
    private let dialLimiter: DialRateLimiter?
    private let state: Mutex<State>
    /// Probes and keepalives, on the event loop of this endpoint's connections.
    private let liveness: LivenessMonitor
    /// Held while an event about a connection is checked against the current connection and handed on, so that
    /// observers see one connection's events in order (a late probe never follows its connection's failure).
    private let emitOrder = Mutex(())

    /// A role's connection life; its waiters are callers suspended until a connection comes (only interactive
    /// callers wait: subscriptions are sent when the subscriber connection comes).
    typealias Lifecycle = ConnectionLifecycleStateMachine<
        RedisConnection, CheckedContinuation<RedisConnection, any Error>, ContinuousClock.Instant
    >

    private struct State: ~Copyable {
        var interactive: Lifecycle
        var subscriber: Lifecycle
        var lastUsedAt: ContinuousClock.Instant = .now
        var shutdownWaiter: CheckedContinuation<Void, Never>?
        /// Connections taken from the state machines at shutdown, closed by ``closeConnections()``.
        var closing: [RedisConnection] = []
        /// The last leaf certificate whose presented chain was read, and the chain's earliest expiry: the chain
        /// is read again only when the leaf changes.
        var inspectedLeaf: (summary: String, notValidAfter: Double, chainNotValidAfter: Double?)?
        /// The maintenance window the server announced with push notifications.
        var maintenance: MaintenanceWindow<ContinuousClock.Instant>

        mutating func withLifecycle<Result>(_ role: MultiplexerEvent.ConnectionRole, _ body: (inout Lifecycle) -> Result) -> Result {
            switch role {
            case .interactive: body(&self.interactive)
            case .subscriber: body(&self.subscriber)
            }
        }

        func connection(_ role: MultiplexerEvent.ConnectionRole) -> RedisConnection? {
            switch role {
            case .interactive: self.interactive.connection
            case .subscriber: self.subscriber.connection
            }
        }
    }

    /// - Parameters:
    ///   - subscriptions: shared by the multiplexers of one client, so a replacement re-subscribes to the same.
    ///   - emit: receives every event, from any task.
    public init(
        configuration: RedisMultiplexerConfiguration,
        generation: Int = 1,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        sslContext: NIOSSLContext? = nil,
        subscriptions: SubscriptionRegistry = SubscriptionRegistry(),
        logger: Logger = Logger(label: "redis-healthd.multiplexer"),
        dialLimiter: DialRateLimiter? = nil,
        emit: @escaping @Sendable (MultiplexerEvent) -> Void = { _ in }
    ) {
        self.dialLimiter = dialLimiter
        func lifecycle(waiting: Bool) -> Lifecycle {
            Lifecycle(
                configuration: Lifecycle.Configuration(
                    backoff: configuration.reconnectBackoff(everConnected: true),
                    firstBackoff: configuration.reconnectBackoff(everConnected: false), healthyPeriod: configuration.healthyPeriod,
                    maxBacklog: waiting && configuration.backlogPolicy == .queue ? configuration.maxBacklog : nil))
        }
        self.state = Mutex(
            State(
                interactive: lifecycle(waiting: true), subscriber: lifecycle(waiting: false),
                maintenance: MaintenanceWindow(relaxedTimeout: configuration.maintenanceNotifications.relaxedTimeout)))
        self.configuration = configuration
        self.generation = generation
        self.eventLoopGroup = eventLoopGroup
        self.sslContext = sslContext
        self.subscriptions = subscriptions
        self.logger = logger
        self.emitter = emit
        let schedule = configuration.probeInterval.map { ProbeSchedule(interval: $0) }
        self.liveness = LivenessMonitor(
            configuration: LivenessMonitor.Machine.Configuration(
                probes: schedule, slot: Int.random(in: 0..<(schedule?.slots ?? 1)), epoch: ProbeClock.epoch.clock,
                probeFailures: configuration.probeFailures, idlePingInterval: configuration.idlePingInterval),
            eventLoop: eventLoopGroup.next())
        self.liveness.setOwner(self)
    }

    private func emit(_ event: MultiplexerEvent) {
        self.emitOrder.withLock { _ in self.emitter(event) }
    }

    /// Emits `event` only while `connection` is still the current one of `role`.
    private func emit(_ event: MultiplexerEvent, ifCurrent connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) {
        self.emitOrder.withLock { _ in
            if self.state.withLock({ $0.connection(role) }) === connection { self.emitter(event) }
        }
    }

    private var clientName: String? {
        self.configuration.connection.clientName.map { "\($0)#\(self.generation)" }
    }

    /// Whether the interactive connection is up.
    public var isConnected: Bool {
        self.state.withLock { $0.interactive.connection?.isActive ?? false }
    }

    /// Whether the subscriber connection is up (it exists only while something is subscribed).
    public var isSubscriberConnected: Bool {
        self.state.withLock { $0.subscriber.connection?.isActive ?? false }
    }

    /// Closes the subscriber connection (one that is silently dead: it no longer delivers messages), failing it with
    /// `reason` (code `.unresponsive`); the subscriber's maintain loop reports the failure, connects again and
    /// re-subscribes to everything. Returns whether there was a connection to close.
    @discardableResult
    public func reconnectSubscriber(reason: String) -> Bool {
        guard let subscriber = self.state.withLock({ $0.subscriber.connection }) else { return false }
        subscriber.close(
            failingWith: RedisClientError(.unresponsive, endpoint: self.configuration.connection.endpoint.description, message: reason))
        return true
    }

    /// The open connections (interactive and subscriber), e.g. to find them in `CLIENT LIST`.
    public var connectionNames: [String] {
        guard let name = self.clientName else { return [] }
        return self.state.withLock { state in
            [state.interactive.connection, state.subscriber.connection].compactMap { $0 }.filter(\.isActive).map { _ in name }
        }
    }

    // MARK: running

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
            group.addTask { await self.maintain(role: .interactive) }
            group.addTask {
                // The subscriber connection exists only while somebody subscribes; until then this task holds only
                // its small frame, not the connection loop's.
                guard await self.subscriptions.waitUntilNotEmpty() else { return }
                await self.maintain(role: .subscriber)
            }
            group.addTask {
                // Ends the others when shutdown() is called.
                await self.waitForShutdown()
            }
            await group.next()
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

    // MARK: the connection loop

    /// Runs the role's ``ConnectionLifecycleStateMachine``: connects, holds the connection until it ends, backs off,
    /// connects again, until shut down.
    private func maintain(role: MultiplexerEvent.ConnectionRole) async {
        var generator = SystemRandomNumberGenerator()
        var action = self.state.withLock { $0.withLifecycle(role) { $0.start(now: .now) } }
        while true {
            switch action {
            case .stop, .hold:
                return
            case .connect(let attempt):
                action = await self.attempt(role: role, attempt: attempt, using: &generator)
            case .sleep(let until, let announced):
                if let announced {
                    self.emit(.reconnectScheduled(role: role, delay: announced.delay, attempt: announced.attempt))
                }
                try? await Task.sleep(until: until, clock: .continuous)
                action = self.state.withLock { $0.withLifecycle(role) { $0.backoffElapsed(now: .now) } }
            }
        }
    }

    /// One attempt: dials, installs and holds the connection until it ends; answers what the loop does next.
    private func attempt(
        role: MultiplexerEvent.ConnectionRole, attempt: Int, using generator: inout SystemRandomNumberGenerator
    ) async -> Lifecycle.Action {
        let endpoint = self.configuration.connection.endpoint
        // The subscriber connection exists only while somebody subscribes.
        if role == .subscriber, !(await self.subscriptions.waitUntilNotEmpty()) { return .stop }
        // Dials of many multiplexers sharing a limiter (one cluster's nodes) are spread out; when too many are
        // booked, this attempt is deferred by a backoff step.
        if let dialLimiter {
            switch await dialLimiter.acquire() {
            case .granted: break
            case .cancelled: return .stop
            case .deferred: return self.state.withLock { $0.withLifecycle(role) { $0.dialDeferred(now: .now, using: &generator) } }
            }
        }
        self.emit(.connecting(role: role, endpoint: endpoint, attempt: attempt))
        let connection: RedisConnection
        do {
            // Connecting (TCP, TLS, HELLO, AUTH) takes deep async frames: in a child task their memory goes back
            // when it ends, instead of staying with this task for the connection's life (1,000 targets: 6 MB).
            connection = try await withThrowingTaskGroup(of: RedisConnection.self) { group in
                group.addTask { try await self.connect(role: role, attempt: attempt) }
                return try await group.next()!
            }
        } catch {
            let error = RedisClientError.classify(error, endpoint: endpoint.description)
            return self.ended(role: role, error: error, using: &generator)
        }
        let arrival = self.state.withLock { state in
            let arrival = state.withLifecycle(role) { $0.connectSucceeded(connection, now: .now) }
            if case .install = arrival {
                if role == .interactive { state.lastUsedAt = .now }
                if role == .subscriber { self.subscriptions.setConnection(connection) }
            }
            return arrival
        }
        switch arrival {
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
                    let error = RedisClientError.classify(error, endpoint: endpoint.description)
                    return self.ended(role: role, error: error, of: connection, using: &generator)
                }
            }
            self.emit(
                .connected(role: role, endpoint: endpoint, protocolVersion: connection.protocolVersion.rawValue, restored: restored),
                ifCurrent: connection, role: role)
            if role == .subscriber { self.emit(.subscribed(channels: self.subscriptions.count)) }
            // Probed at once (it is not healthy until a probe answered on it), kept alive when idle.
            switch role {
            case .interactive: self.liveness.interactiveConnected(connection)
            case .subscriber: self.liveness.subscriberConnected(connection)
            }
            if role == .interactive, let refusal = connection.maintenanceNotificationsRefusal {
                self.emit(.maintenanceNotificationsRefused(endpoint: endpoint, message: refusal), ifCurrent: connection, role: role)
            }
            let reason = await self.hold(connection, role: role)
            return self.ended(role: role, error: reason, of: connection, using: &generator)
        }
    }

    /// Tells the role's state machine that its attempt failed (`connection` nil) or its connection ended with
    /// `error`, and reports the failure unless the multiplexer is shutting down. A connection's end is told and
    /// reported under the event order: nothing about it is handed on after its failure.
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

    /// Waits for `connection`'s end, reporting its certificates and keeping its credentials fresh meanwhile (never
    /// delaying the end); returns why it ended.
    private func hold(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) async -> RedisClientError {
        let reportsCertificates = role == .interactive && self.configuration.connection.tls != nil
        guard reportsCertificates || connection.credentials != nil else { return await connection.closed() }
        return await withTaskGroup(of: RedisClientError?.self) { group in
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

    /// Reports when the server's certificates expire: the verified leaf at each handshake, and the chain it
    /// presents, read by a separate inspection handshake (no Redis command) only when the leaf is new.
    private func reportPeerCertificates(of connection: RedisConnection) async {
        guard let tls = self.configuration.connection.tls, let leaf = await connection.peerCertificate() else { return }
        var chain = self.state.withLock { state -> Double?? in
            guard let inspected = state.inspectedLeaf, inspected.summary == leaf.summary,
                inspected.notValidAfter == leaf.notValidAfter
            else { return nil }
            return .some(inspected.chainNotValidAfter)
        }
        if chain == nil, let address = connection.remoteAddress {
            let endpoint = self.configuration.connection.endpoint
            let inspection = TLSInspection(
                address: address, tls: tls, serverName: tls.serverName ?? (endpoint.hostIsIPAddress ? nil : endpoint.host),
                timeout: self.configuration.connection.connectTimeout.timeAmount, eventLoopGroup: self.eventLoopGroup)
            let presented = try? await inspection.presented()
            if Task.isCancelled { return }
            // Only the chain of the verified leaf counts (another backend behind one address presents another).
            let sameLeaf = presented?.chain.first.map { $0.summary == leaf.summary && $0.notValidAfter == leaf.notValidAfter } == true
            let earliest = sameLeaf ? presented?.chain.map(\.notValidAfter).min() : nil
            chain = .some(earliest)
            // A chain that could not be read is tried again at the next handshake.
            if earliest != nil {
                self.state.withLock { $0.inspectedLeaf = (leaf.summary, leaf.notValidAfter, earliest) }
            }
        }
        let certificates = PeerCertificates(
            leafSummary: leaf.summary, leafNotValidAfter: leaf.notValidAfter,
            chainNotValidAfter: (chain ?? nil).map { min($0, leaf.notValidAfter) })
        self.emit(.peerCertificates(endpoint: self.configuration.connection.endpoint, certificates), ifCurrent: connection, role: .interactive)
    }

    /// Re-authenticates `connection` with new credentials before its own expire (or when a provider without expiry
    /// gives others, such as a rewritten password file), until the connection ends or is cancelled. A RESP2
    /// subscriber cannot AUTH while subscribed: it is closed and reconnects with the new credentials. A connection
    /// whose credentials expired without a refresh is closed: the next connect asks the provider, which never
    /// gives an expired credential.
    private func keepAuthenticated(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) async {
        guard let provider = self.configuration.connection.credentials, var current = connection.credentials else { return }
        let schedule = self.configuration.credentialRefresh
        let jitter = Double.random(in: 0...1)
        // Failed re-authentications in a row: the next try waits 2, 4, … 60 s (never a storm of AUTHs or warnings).
        var failures = 0
        while !Task.isCancelled && connection.isActive {
            let now = Self.wallClock()
            if let expiry = current.expiresAt, now >= expiry {
                // Never kept past its expiry; the reconnect asks the provider, which never gives an expired one.
                self.emit(
                    .reauthenticated(role: role, outcome: "expired", message: "no new credential could be had before it expired"),
                    ifCurrent: connection, role: role)
                await connection.close()
                return
            }
            var wait = schedule.wait(current, now: now, jitter: jitter)
            if failures > 0 { wait = max(wait, Duration.seconds(min(60, 1 << min(failures, 6)))) }
            if let expiry = current.expiresAt { wait = min(wait, .milliseconds(Int64(max(0, expiry - now) * 1000) + 10)) }
            try? await Task.sleep(for: wait)
            if Task.isCancelled || !connection.isActive { return }
            if let expiry = current.expiresAt, Self.wallClock() >= expiry { continue }
            // The provider answers at once while the credential in hand still works (a refresh runs beside it).
            guard let fresh = try? await provider() else {
                failures += 1
                continue
            }
            guard fresh.differs(from: current) else {
                current = fresh
                continue
            }
            if role == .subscriber && connection.protocolVersion == .resp2 {
                self.emit(
                    .reauthenticated(role: role, outcome: "reconnect", message: "a RESP2 subscriber cannot AUTH while subscribed"),
                    ifCurrent: connection, role: role)
                await connection.close()
                return
            }
            do {
                try await connection.reauthenticate(fresh)
                current = fresh
                failures = 0
                self.emit(.reauthenticated(role: role, outcome: "ok", message: nil), ifCurrent: connection, role: role)
            } catch {
                failures += 1
                self.emit(.reauthenticated(role: role, outcome: "failed", message: error.description), ifCurrent: connection, role: role)
            }
        }
    }

    /// Seconds since 1970 (credential expiry times are wall-clock times).
    static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
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

    // MARK: maintenance notifications

    /// Whether a maintenance window is open now: timeouts relaxed, errors not counted toward a force-reconnect.
    public var isInMaintenanceWindow: Bool { self.state.withLock { $0.maintenance.isRelaxed(now: .now) } }

    /// The maintenance window open now, if any.
    public var maintenanceWindow: MaintenanceWindow<ContinuousClock.Instant>.Active? {
        self.state.withLock { $0.maintenance.active(now: .now) }
    }

    /// `timeout`, or the relaxed timeout when longer and a maintenance window is open.
    private func relaxed(_ timeout: Duration) -> Duration {
        self.state.withLock { $0.maintenance.timeout(timeout, now: .now) }
    }

    /// A push on the interactive connection (on its event loop: only parsing and bookkeeping here).
    private func pushReceived(_ value: RESPValue) {
        let node = self.configuration.connection.endpoint
        switch MaintenancePush.classify(value) {
        case .other:
            return
        case .malformed(let type, let reason):
            self.emit(.maintenanceMalformed(node: node, type: type, reason: reason))
        case .notification(let notification):
            self.emitOrder.withLock { _ in
                let outcome = self.state.withLock { $0.maintenance.apply(notification, now: .now) }
                var stale = false
                if case .stale = outcome { stale = true }
                self.emitter(.maintenanceNotification(node: node, notification, stale: stale))
            }
        }
    }

    /// Waits (up to `timeout`) until no command awaits a reply on the interactive connection: a connection handed
    /// off is closed only once its callers have their replies.
    public func drain(within timeout: Duration) async {
        guard let connection = self.state.withLock({ $0.interactive.connection }), connection.isActive else { return }
        await connection.waitUntilIdle(within: timeout)
    }

    // MARK: liveness

    private var silenceLimit: Duration {
        self.configuration.deadAfterSilence ?? self.configuration.connection.commandTimeout
    }

    // MARK: commands

    /// Sends `command` on the interactive connection.
    ///
    /// While no connection is up, the command waits for one (policy `queue`, at most `maxBacklog` waiting)
    /// or fails at once (policy `failFast`). Either way it never waits longer than `timeout` in all.
    public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
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

    /// Gets the interactive connection (waiting per the backlog policy) and runs `body` on it with what is left of
    /// `timeout`; a command timeout there closes the connection if nothing was read from it for a while.
    private func withConnection<T>(
        for command: RESPCommand, timeout: Duration?,
        _ body: (RedisConnection, Duration) async throws(RedisClientError) -> T
    ) async throws(RedisClientError) -> T {
        let base = timeout ?? self.configuration.connection.commandTimeout
        let started = ContinuousClock.now
        // The common case, once per command: a live connection, the timeout (relaxed in a maintenance window) and
        // the keepalive's bookkeeping under one lock, with one reading of the clock.
        let ready = self.state.withLock { state -> (RedisConnection, Duration)? in
            guard let connection = state.interactive.connection, connection.isActive else { return nil }
            state.lastUsedAt = started
            return (connection, state.maintenance.timeout(base, now: started))
        }
        if let (connection, timeout) = ready { return try await body(connection, timeout) }
        let timeout = self.relaxed(base)
        let connection = try await self.waitForConnection(command: command, timeout: timeout)
        let remaining = timeout - started.duration(to: .now)
        self.state.withLock { $0.lastUsedAt = .now }
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

    // MARK: pub/sub

    /// Subscribes to a channel or pattern (re-subscribed after every reconnect) and returns its messages.
    public func subscribe(_ subscription: Subscription) async -> AsyncStream<PubSubMessage> {
        let (stream, isNew) = self.subscriptions.add(subscription)
        if isNew, let subscriber = self.state.withLock({ $0.subscriber.connection }), subscriber.isActive {
            // If this fails, the connection is failing: the reconnect subscribes to everything again.
            _ = try? await subscriber.send(subscription.command)
        }
        return stream
    }
}

extension RedisMultiplexer: LivenessMonitor.Owner {
    var lastUsedAt: ContinuousClock.Instant { self.state.withLock { $0.lastUsedAt } }

    var probeTimeout: Duration { self.relaxed(self.configuration.probeTimeout) }

    func liveness(_ report: LivenessMonitor.Machine.Report, on connection: RedisConnection) {
        let event: MultiplexerEvent
        switch report {
        case .probe(let latency): event = .probe(latency: latency)
        case .unresponsive(let failures, let lastError): event = .unresponsive(consecutiveFailures: failures, lastError: lastError)
        case .responsive: event = .responsive
        }
        self.emit(event, ifCurrent: connection, role: .interactive)
    }
}
