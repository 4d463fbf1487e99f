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
    private let emit: @Sendable (MultiplexerEvent) -> Void
    private let state = Mutex(State())

    private struct State: ~Copyable {
        var interactive: RedisConnection?
        var subscriber: RedisConnection?
        var waiters: [Int: CheckedContinuation<RedisConnection, any Error>] = [:]
        var nextWaiterID = 0
        var isShutdown = false
        var lastUsedAt: ContinuousClock.Instant = .now
        var everFailed: Set<MultiplexerEvent.ConnectionRole> = []
        var shutdownWaiter: CheckedContinuation<Void, Never>?
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
        emit: @escaping @Sendable (MultiplexerEvent) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.generation = generation
        self.eventLoopGroup = eventLoopGroup
        self.sslContext = sslContext
        self.subscriptions = subscriptions
        self.logger = logger
        self.emit = emit
    }

    private var clientName: String? {
        self.configuration.connection.clientName.map { "\($0)#\(self.generation)" }
    }

    /// Whether the interactive connection is up.
    public var isConnected: Bool {
        self.state.withLock { $0.interactive?.isActive ?? false }
    }

    /// The open connections (interactive and subscriber), e.g. to find them in `CLIENT LIST`.
    public var connectionNames: [String] {
        guard let name = self.clientName else { return [] }
        return self.state.withLock { state in
            [state.interactive, state.subscriber].compactMap { $0 }.filter(\.isActive).map { _ in name }
        }
    }

    // MARK: running

    /// Keeps the connections up until the task is cancelled or ``shutdown()`` is called.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.maintain(role: .interactive) }
            group.addTask { await self.maintain(role: .subscriber) }
            if let interval = self.configuration.probeInterval {
                group.addTask { await self.probeLoop(interval: interval) }
            }
            group.addTask { await self.keepaliveLoop() }
            group.addTask {
                // Ends the others when shutdown() is called.
                await self.waitForShutdown()
            }
            await group.next()
            group.cancelAll()
        }
        await self.closeConnections()
    }

    /// Closes the connections and ends ``run()``. Commands waiting for a connection fail.
    public func shutdown() async {
        let waiter = self.state.withLock { state in
            state.isShutdown = true
            defer { state.shutdownWaiter = nil }
            return state.shutdownWaiter
        }
        waiter?.resume()
        await self.closeConnections()
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
            message: "the multiplexer was shut down")
        for waiter in waiters { waiter.resume(throwing: error) }
        await interactive?.close()
        await subscriber?.close()
    }

    /// Connects, waits for the connection to die, backs off, connects again.
    private func maintain(role: MultiplexerEvent.ConnectionRole) async {
        var attempt = 0
        var generator = SystemRandomNumberGenerator()
        let endpoint = self.configuration.connection.endpoint
        while !Task.isCancelled && !self.isShutdown {
            if role == .subscriber {
                // The subscriber connection exists only while somebody subscribes.
                guard await self.subscriptions.waitUntilNotEmpty() else { return }
            }
            let started = ContinuousClock.now
            self.emit(.connecting(role: role, endpoint: endpoint, attempt: attempt))
            do {
                let connection = try await self.connect(role: role, attempt: attempt)
                if role == .subscriber { try await self.subscriptions.subscribeAll(on: connection) }
                let restored = self.install(connection, role: role)
                if self.isShutdown {
                    await connection.close()
                    return
                }
                self.emit(
                    .connected(
                        role: role, endpoint: endpoint, protocolVersion: connection.protocolVersion.rawValue,
                        restored: restored))
                if role == .subscriber { self.emit(.subscribed(channels: self.subscriptions.count)) }
                let reason = await connection.closed()
                self.uninstall(connection, role: role)
                if self.isShutdown || Task.isCancelled { return }
                self.emit(.connectionFailed(role: role, endpoint: endpoint, kind: reason.code, message: reason.description))
                if started.duration(to: .now) >= self.configuration.healthyPeriod { attempt = 0 }
            } catch {
                if self.isShutdown || Task.isCancelled { return }
                let error = RedisClientError.classify(error, endpoint: endpoint.description)
                self.state.withLock { _ = $0.everFailed.insert(role) }
                self.emit(.connectionFailed(role: role, endpoint: endpoint, kind: error.code, message: error.description))
            }
            // Attempts are spaced by their start time: a slow failure (a handshake timing out) is not followed
            // by a further wait, so an attempt is nearly always under way when the path comes back.
            let delay = self.configuration.backoff.delay(attempt: attempt, using: &generator)
            self.emit(.reconnectScheduled(role: role, delay: delay, attempt: attempt))
            attempt += 1
            try? await Task.sleep(until: started.advanced(by: delay), clock: .continuous)
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
        if role == .subscriber {
            onPush = { value in subscriptions.deliver(value) }
        } else {
            onPush = nil
        }
        return try await RedisConnection.connect(
            configuration: configuration, eventLoopGroup: self.eventLoopGroup, sslContext: self.sslContext,
            logger: self.logger, subscriber: role == .subscriber, onPush: onPush)
    }

    /// Makes `connection` current; returns whether it restores an earlier failed one.
    private func install(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) -> Bool {
        let (waiters, restored) = self.state.withLock { state in
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
                return ([], restored)
            }
        }
        for waiter in waiters { waiter.resume(returning: connection) }
        return restored
    }

    private func uninstall(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) {
        self.state.withLock { state in
            state.everFailed.insert(role)
            switch role {
            case .interactive where state.interactive === connection: state.interactive = nil
            case .subscriber where state.subscriber === connection: state.subscriber = nil
            case .interactive, .subscriber: break
            }
        }
    }

    // MARK: liveness

    private var silenceLimit: Duration {
        self.configuration.deadAfterSilence ?? self.configuration.connection.commandTimeout
    }

    /// A PING every `interval` (spaced by start time) with its own deadline.
    private func probeLoop(interval: Duration) async {
        var failures = 0
        var unresponsive = false
        while !Task.isCancelled && !self.isShutdown {
            let started = ContinuousClock.now
            if let connection = self.state.withLock({ $0.interactive }), connection.isActive {
                do {
                    _ = try await connection.send(RESPCommand("PING"), timeout: self.configuration.probeTimeout)
                    self.emit(.probe(latency: started.duration(to: .now)))
                    failures = 0
                    if unresponsive {
                        unresponsive = false
                        self.emit(.responsive)
                    }
                } catch {
                    failures += 1
                    if failures >= self.configuration.probeFailures && !unresponsive {
                        unresponsive = true
                        self.emit(.unresponsive(consecutiveFailures: failures, lastError: error.description))
                    }
                    await self.closeIfSilent(connection)
                }
            }
            try? await Task.sleep(until: started.advanced(by: interval), clock: .continuous)
        }
    }

    /// Closes `connection` when nothing has been read from it for the silence limit.
    private func closeIfSilent(_ connection: RedisConnection) async {
        let lastRead = await connection.lastReadAt()
        let silence = Duration.nanoseconds((NIODeadline.now() - lastRead).nanoseconds)
        guard silence >= self.silenceLimit, connection.isActive else { return }
        self.logger.debug(
            "Closing silent connection",
            metadata: ["redis.endpoint": "\(connection.endpoint)", "redis.silence": "\(silence.humanReadable)"])
        connection.close(
            failingWith: RedisClientError(
                .unresponsive, endpoint: connection.endpoint.description,
                message: "nothing read for \(silence.humanReadable) while commands went unanswered; connection declared dead"))
    }

    /// A PING on any connection idle for the keepalive interval.
    private func keepaliveLoop() async {
        let interval = self.configuration.keepaliveInterval
        let tick = min(interval / 4, .seconds(1))
        while !Task.isCancelled && !self.isShutdown {
            try? await Task.sleep(for: tick)
            let (interactive, subscriber, lastUsedAt) = self.state.withLock {
                ($0.interactive, $0.subscriber, $0.lastUsedAt)
            }
            if let interactive, interactive.isActive, lastUsedAt.duration(to: .now) >= interval {
                self.state.withLock { $0.lastUsedAt = .now }
                _ = try? await interactive.send(RESPCommand("PING"))
            }
            if let subscriber, subscriber.isActive {
                let lastRead = await subscriber.lastReadAt()
                if Duration.nanoseconds((NIODeadline.now() - lastRead).nanoseconds) >= interval {
                    do {
                        _ = try await subscriber.send(RESPCommand("PING"))
                    } catch {
                        await self.closeIfSilent(subscriber)
                    }
                }
            }
        }
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
        let timeout = timeout ?? self.configuration.connection.commandTimeout
        let started = ContinuousClock.now
        let connection = try await self.connectionForCommand(command, timeout: timeout)
        let remaining = timeout - started.duration(to: .now)
        self.state.withLock { $0.lastUsedAt = .now }
        do {
            return try await body(connection, max(remaining, .milliseconds(1)))
        } catch {
            if error.code == .commandTimeout { await self.closeIfSilent(connection) }
            throw error
        }
    }

    private func connectionForCommand(_ command: RESPCommand, timeout: Duration) async throws(RedisClientError) -> RedisConnection {
        let endpoint = self.configuration.connection.endpoint.description
        if let connection = self.state.withLock({ $0.interactive }), connection.isActive { return connection }
        if self.isShutdown {
            throw RedisClientError(.connectionClosed, endpoint: endpoint, command: command.name, message: "the multiplexer was shut down")
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
                }
                let outcome = self.state.withLock { state -> Outcome in
                    if let connection = state.interactive, connection.isActive { return .ready(connection) }
                    if state.isShutdown { return .shutdown }
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
                            message: "the multiplexer was shut down"))
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
