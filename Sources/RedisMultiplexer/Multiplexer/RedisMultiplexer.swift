import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP
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

    private struct State: ~Copyable {
        var interactive: RedisConnection?
        var subscriber: RedisConnection?
        var waiters: [Int: CheckedContinuation<RedisConnection, any Error>] = [:]
        var nextWaiterID = 0
        var isShutdown = false
        var lastUsedAt: ContinuousClock.Instant = .now
        var everFailed: Set<MultiplexerEvent.ConnectionRole> = []
        var shutdownWaiter: CheckedContinuation<Void, Never>?
        /// The last leaf certificate whose presented chain was read, and the chain's earliest expiry: the chain
        /// is read again only when the leaf changes.
        var inspectedLeaf: (summary: String, notValidAfter: Double, chainNotValidAfter: Double?)?
        /// The maintenance window the server announced with push notifications.
        var maintenance: MaintenanceWindow<ContinuousClock.Instant>
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
        self.state = Mutex(State(maintenance: MaintenanceWindow(relaxedTimeout: configuration.maintenanceNotifications.relaxedTimeout)))
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
                probeFailures: configuration.probeFailures, keepaliveInterval: configuration.keepaliveInterval),
            eventLoop: eventLoopGroup.next())
        self.liveness.setOwner(self)
    }

    private func emit(_ event: MultiplexerEvent) {
        self.emitOrder.withLock { _ in self.emitter(event) }
    }

    /// Emits `event` only while `connection` is still the current one of `role`.
    private func emit(_ event: MultiplexerEvent, ifCurrent connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) {
        self.emitOrder.withLock { _ in
            let current = self.state.withLock { state in
                switch role {
                case .interactive: state.interactive === connection
                case .subscriber: state.subscriber === connection
                }
            }
            if current { self.emitter(event) }
        }
    }

    private var clientName: String? {
        self.configuration.connection.clientName.map { "\($0)#\(self.generation)" }
    }

    /// Whether the interactive connection is up.
    public var isConnected: Bool {
        self.state.withLock { $0.interactive?.isActive ?? false }
    }

    /// Whether the subscriber connection is up (it exists only while something is subscribed).
    public var isSubscriberConnected: Bool {
        self.state.withLock { $0.subscriber?.isActive ?? false }
    }

    /// Closes the subscriber connection (one that is silently dead: it no longer delivers messages), failing it with
    /// `reason` (code `.unresponsive`); the subscriber's maintain loop reports the failure, connects again and
    /// re-subscribes to everything. Returns whether there was a connection to close.
    @discardableResult
    public func reconnectSubscriber(reason: String) -> Bool {
        guard let subscriber = self.state.withLock({ $0.isShutdown ? nil : $0.subscriber }) else { return false }
        subscriber.close(
            failingWith: RedisClientError(.unresponsive, endpoint: self.configuration.connection.endpoint.description, message: reason))
        return true
    }

    /// The open connections (interactive and subscriber), e.g. to find them in `CLIENT LIST`.
    public var connectionNames: [String] {
        guard let name = self.clientName else { return [] }
        return self.state.withLock { state in
            [state.interactive, state.subscriber].compactMap { $0 }.filter(\.isActive).map { _ in name }
        }
    }

    // MARK: running

    /// Keeps the connections up until the task is cancelled or ``shutdown()`` is called. Returns promptly in both
    /// cases, with the connections closed.
    public func run() async {
        await withTaskCancellationHandler {
            await self.runConnections()
        } onCancel: {
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
        let (waiter, interactive, subscriber, waiters) = self.state.withLock { state in
            state.isShutdown = true
            defer {
                state.shutdownWaiter = nil
                state.waiters = [:]
            }
            return (state.shutdownWaiter, state.interactive, state.subscriber, Array(state.waiters.values))
        }
        waiter?.resume()
        self.liveness.stop()
        let error = RedisClientError(
            .connectionClosed, endpoint: self.configuration.connection.endpoint.description,
            message: Self.shutDownMessage)
        for waiter in waiters { waiter.resume(throwing: error) }
        interactive?.close(failingWith: error)
        subscriber?.close(failingWith: error)
    }

    private func waitForShutdown() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = self.state.withLock { state -> Bool in
                    if state.isShutdown || Task.isCancelled { return true }
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

    private var isShutdown: Bool { self.state.withLock { $0.isShutdown } }

    /// The error text of a command that never reached the server because the multiplexer was shut down first.
    static let shutDownMessage = "the multiplexer was shut down"

    private func closeConnections() async {
        let (interactive, subscriber, waiters) = self.state.withLock { state in
            state.isShutdown = true
            defer {
                state.interactive = nil
                state.subscriber = nil
                state.waiters = [:]
            }
            return (state.interactive, state.subscriber, Array(state.waiters.values))
        }
        let error = RedisClientError(
            .connectionClosed, endpoint: self.configuration.connection.endpoint.description,
            message: Self.shutDownMessage)
        for waiter in waiters { waiter.resume(throwing: error) }
        await interactive?.close()
        await subscriber?.close()
    }

    /// Connects, waits for the connection to die, backs off, connects again.
    private func maintain(role: MultiplexerEvent.ConnectionRole) async {
        var attempt = 0
        var everConnected = false
        var generator = SystemRandomNumberGenerator()
        let endpoint = self.configuration.connection.endpoint
        while !Task.isCancelled && !self.isShutdown {
            if role == .subscriber {
                // The subscriber connection exists only while somebody subscribes.
                guard await self.subscriptions.waitUntilNotEmpty() else { return }
            }
            // Dials of many multiplexers sharing a limiter (one cluster's nodes) are spread out; when too many are
            // booked, this attempt is deferred by a backoff step.
            if let dialLimiter {
                switch await dialLimiter.acquire() {
                case .granted: break
                case .cancelled: return
                case .deferred:
                    let delay = self.configuration.reconnectBackoff(everConnected: everConnected).delay(attempt: attempt, using: &generator)
                    attempt += 1
                    try? await Task.sleep(for: max(delay, .milliseconds(50)))
                    continue
                }
            }
            let started = ContinuousClock.now
            self.emit(.connecting(role: role, endpoint: endpoint, attempt: attempt))
            do {
                // Connecting (TCP, TLS, HELLO, AUTH) takes deep async frames: in a child task their memory goes back
                // when it ends, instead of staying with this task for the connection's life (1,000 targets: 6 MB).
                let connection = try await withThrowingTaskGroup(of: RedisConnection.self) { group in
                    group.addTask { [attempt] in try await self.connect(role: role, attempt: attempt) }
                    return try await group.next()!
                }
                guard let restored = self.install(connection, role: role) else {
                    // Shut down meanwhile.
                    await connection.close()
                    return
                }
                if role == .subscriber {
                    // Installed first, then subscribed: a subscription added meanwhile is sent by subscribe()
                    // on this connection, or is in the list sent here; none falls between the two.
                    do {
                        try await self.subscriptions.subscribeAll(on: connection)
                    } catch {
                        // Never leave it open: a failing SUBSCRIBE (NOPERM, a timeout) would otherwise leak one
                        // connection per attempt.
                        self.uninstall(connection, role: role)
                        await connection.close()
                        throw error
                    }
                }
                self.emit(
                    .connected(
                        role: role, endpoint: endpoint, protocolVersion: connection.protocolVersion.rawValue,
                        restored: restored),
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
                everConnected = true
                let reason: RedisClientError
                let reportsCertificates = role == .interactive && self.configuration.connection.tls != nil
                if reportsCertificates || connection.credentials != nil {
                    // Certificates are reported and credentials kept fresh beside the wait for the connection's end,
                    // never delaying it.
                    reason = await withTaskGroup(of: RedisClientError?.self) { group in
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
                } else {
                    reason = await connection.closed()
                }
                self.emitOrder.withLock { _ in
                    self.uninstall(connection, role: role)
                    if !self.isShutdown && !Task.isCancelled {
                        self.emitter(.connectionFailed(role: role, endpoint: endpoint, kind: reason.code, message: reason.description))
                    }
                }
                if self.isShutdown || Task.isCancelled { return }
                if started.duration(to: .now) >= self.configuration.healthyPeriod { attempt = 0 }
            } catch {
                if self.isShutdown || Task.isCancelled { return }
                let error = RedisClientError.classify(error, endpoint: endpoint.description)
                self.state.withLock { _ = $0.everFailed.insert(role) }
                self.emit(.connectionFailed(role: role, endpoint: endpoint, kind: error.code, message: error.description))
            }
            // Attempts are spaced by their start time: a slow failure (a handshake timing out) is not followed
            // by a further wait, so an attempt is nearly always under way when the path comes back.
            let delay = self.configuration.reconnectBackoff(everConnected: everConnected).delay(attempt: attempt, using: &generator)
            self.emit(.reconnectScheduled(role: role, delay: delay, attempt: attempt))
            attempt += 1
            try? await Task.sleep(until: started.advanced(by: delay), clock: .continuous)
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

    /// Makes `connection` current; returns whether it restores an earlier failed one, or `nil` when the
    /// multiplexer was shut down meanwhile (the connection is not installed).
    private func install(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) -> Bool? {
        let (waiters, restored) = self.state.withLock { state -> ([CheckedContinuation<RedisConnection, any Error>], Bool?) in
            guard !state.isShutdown else { return ([], nil) }
            let restored = state.everFailed.contains(role)
            switch role {
            case .interactive:
                state.interactive = connection
                state.lastUsedAt = .now
                let waiters = Array(state.waiters.values)
                state.waiters = [:]
                return (waiters, restored)
            case .subscriber:
                state.subscriber = connection
                self.subscriptions.setConnection(connection)
                return ([], restored)
            }
        }
        for waiter in waiters { waiter.resume(returning: connection) }
        return restored
    }

    private func uninstall(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) {
        switch role {
        case .interactive: self.liveness.interactiveDisconnected(connection)
        case .subscriber: self.liveness.subscriberDisconnected(connection)
        }
        self.state.withLock { state in
            state.everFailed.insert(role)
            switch role {
            case .interactive where state.interactive === connection: state.interactive = nil
            case .subscriber where state.subscriber === connection:
                state.subscriber = nil
                self.subscriptions.setConnection(nil, replacing: connection)
            case .interactive, .subscriber: break
            }
        }
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
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline, !Task.isCancelled {
            guard let connection = self.state.withLock({ $0.interactive }), connection.isActive,
                await connection.commandsInFlight() > 0
            else { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
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
            guard let connection = state.interactive, connection.isActive else { return nil }
            state.lastUsedAt = started
            return (connection, state.maintenance.timeout(base, now: started))
        }
        if let (connection, timeout) = ready { return try await body(connection, timeout) }
        let timeout = self.relaxed(base)
        let connection = try await self.connectionForCommand(command, timeout: timeout)
        let remaining = timeout - started.duration(to: .now)
        self.state.withLock { $0.lastUsedAt = .now }
        return try await body(connection, max(remaining, .milliseconds(1)))
    }

    private func connectionForCommand(_ command: RESPCommand, timeout: Duration) async throws(RedisClientError) -> RedisConnection {
        if let connection = self.state.withLock({ $0.interactive }), connection.isActive { return connection }
        let endpoint = self.configuration.connection.endpoint.description
        if self.isShutdown {
            throw RedisClientError(.connectionClosed, endpoint: endpoint, command: command.name, message: Self.shutDownMessage)
        }
        switch self.configuration.backlogPolicy {
        case .failFast:
            throw RedisClientError(
                .notConnected, endpoint: endpoint, command: command.name,
                message: "not connected (backlog policy fail-fast)")
        case .queue:
            break
        }
        do {
            return try await withThrowingTaskGroup(of: RedisConnection.self) { group in
                group.addTask { try await self.waitForConnection(command: command) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw RedisClientError(
                        .commandTimeout, endpoint: endpoint, command: command.name,
                        message: "no connection within \(timeout.humanReadable)")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            throw RedisClientError.classify(error, endpoint: endpoint).forCommand(command.name)
        }
    }

    private func waitForConnection(command: RESPCommand) async throws -> RedisConnection {
        let id = self.state.withLock { state -> Int in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        let endpoint = self.configuration.connection.endpoint.description
        let maxBacklog = self.configuration.maxBacklog
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisConnection, any Error>) in
                enum Outcome {
                    case wait
                    case ready(RedisConnection)
                    case full
                    case shutdown
                    case cancelled
                }
                let outcome = self.state.withLock { state -> Outcome in
                    if let connection = state.interactive, connection.isActive { return .ready(connection) }
                    if state.isShutdown { return .shutdown }
                    // A cancellation that came before this point found no continuation to resume: honour it
                    // here (checked under the lock the cancellation handler takes too).
                    if Task.isCancelled { return .cancelled }
                    if state.waiters.count >= maxBacklog { return .full }
                    state.waiters[id] = continuation
                    return .wait
                }
                switch outcome {
                case .wait: break
                case .ready(let connection): continuation.resume(returning: connection)
                case .full:
                    continuation.resume(
                        throwing: RedisClientError(
                            .backlogFull, endpoint: endpoint, command: command.name,
                            message: "\(maxBacklog) commands already wait for a connection"))
                case .shutdown:
                    continuation.resume(
                        throwing: RedisClientError(
                            .connectionClosed, endpoint: endpoint, command: command.name,
                            message: Self.shutDownMessage))
                case .cancelled:
                    continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    // MARK: pub/sub

    /// Subscribes to a channel or pattern (re-subscribed after every reconnect) and returns its messages.
    public func subscribe(_ subscription: Subscription) async -> AsyncStream<PubSubMessage> {
        let (stream, isNew) = self.subscriptions.add(subscription)
        if isNew, let subscriber = self.state.withLock({ $0.subscriber }), subscriber.isActive {
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
