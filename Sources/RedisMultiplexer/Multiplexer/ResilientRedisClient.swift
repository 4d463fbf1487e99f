import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP
import Synchronization

/// A multiplexer that heals at two levels: each connection reconnects with backoff (level 1), and when
/// errors persist the whole multiplexer is replaced (level 2, guarded by ``ForceReconnectGuard``): the new
/// multiplexer is built and connected first, swapped in, and only then is the old one closed.
public final class ResilientRedisClient: Sendable {
    /// How a force-reconnect request ended.
    public enum ForceReconnectOutcome: Sendable, Hashable {
        /// The new multiplexer is in; the old one is closed.
        case replaced
        /// The new multiplexer could not connect; the old one was kept.
        case failed(String)
        /// The guard refused, for this reason.
        case suppressed(ForceReconnectGuard<ContinuousClock.Instant>.Reason)
    }

    private enum Request: Sendable {
        case run(RedisMultiplexer)
        case swap(reason: ForceReconnectGuard<ContinuousClock.Instant>.Reason, done: CheckedContinuation<ForceReconnectOutcome, Never>?)
    }

    private struct State: ~Copyable {
        var current: RedisMultiplexer
        var generation: Int
        var guardState: ForceReconnectGuard<ContinuousClock.Instant>
        var forceReconnects = 0
    }

    public let configuration: RedisMultiplexerConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let sslContext: NIOSSLContext?
    public let subscriptions: SubscriptionRegistry
    private let state: Mutex<State>
    private let broadcaster = EventBroadcaster<MultiplexerEvent>()
    private let requests: AsyncStream<Request>
    private let requestsContinuation: AsyncStream<Request>.Continuation

    /// - Throws: ``RedisClientError`` with code `.configuration` listing every problem of `configuration`.
    public init(
        configuration: RedisMultiplexerConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis-healthd.multiplexer")
    ) throws(RedisClientError) {
        let problems = configuration.validate()
        guard problems.isEmpty else {
            throw RedisClientError(.configuration, message: problems.joined(separator: "; "))
        }
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.sslContext = try configuration.connection.tls.map { tls throws(RedisClientError) in
            try RedisConnection.makeSSLContext(tls)
        }
        self.subscriptions = SubscriptionRegistry()
        (self.requests, self.requestsContinuation) = AsyncStream.makeStream(of: Request.self)
        let placeholder = RedisMultiplexer(configuration: configuration, generation: 0)
        self.state = Mutex(
            State(current: placeholder, generation: 0, guardState: .init(configuration: configuration.forceReconnect)))
        let first = self.makeMultiplexer()
        self.state.withLock { $0.current = first }
    }

    /// The multiplexer in use now.
    public var current: RedisMultiplexer { self.state.withLock { $0.current } }

    /// The force-reconnect guard's state: whether one is under way, and how long until the minimum interval
    /// allows the next.
    public var forceReconnectGuardState: (inProgress: Bool, blockedFor: Duration) {
        self.state.withLock { ($0.guardState.isReconnecting, $0.guardState.minimumIntervalRemaining(now: .now)) }
    }

    /// Force-reconnects done so far.
    public var forceReconnectCount: Int { self.state.withLock { $0.forceReconnects } }

    /// A new stream of every event from now on (events of replaced multiplexers are not included).
    public func events() -> AsyncStream<MultiplexerEvent> { self.broadcaster.stream() }

    private func publish(_ event: MultiplexerEvent) { self.broadcaster.publish(event) }

    private func makeMultiplexer() -> RedisMultiplexer {
        let generation = self.state.withLock { state in
            state.generation += 1
            return state.generation
        }
        return RedisMultiplexer(
            configuration: self.configuration, generation: generation, eventLoopGroup: self.eventLoopGroup,
            sslContext: self.sslContext, subscriptions: self.subscriptions, logger: self.logger,
            emit: { [weak self] event in self?.multiplexerEvent(event, generation: generation) })
    }

    /// Events of the current multiplexer are published and fed to the guard; others are dropped.
    private func multiplexerEvent(_ event: MultiplexerEvent, generation: Int) {
        guard self.state.withLock({ $0.current.generation == generation }) else { return }
        self.publish(event)
        let kind: ForceReconnectGuard<ContinuousClock.Instant>.ErrorKind
        switch event {
        case .connectionFailed(.interactive, _, let code, _):
            switch code {
            case .commandTimeout, .unresponsive, .connectTimeout: kind = .timeout
            case .socket: kind = .socket
            default: kind = .connection
            }
        case .unresponsive:
            kind = .timeout
        case .connected(.interactive, _, _, true), .responsive:
            self.state.withLock { $0.guardState.recovered(now: .now) }
            return
        default:
            return
        }
        self.observeError(kind)
    }

    private func observeError(_ kind: ForceReconnectGuard<ContinuousClock.Instant>.ErrorKind) {
        let decision = self.state.withLock { $0.guardState.errorObserved(kind, now: .now) }
        switch decision.reason {
        case .firstError, .belowThreshold, .errorNotCounted:
            // Routine while errors accumulate: not an operator-visible decision.
            return
        case .errorThresholdExceeded, .manual, .minimumInterval, .inProgress:
            break
        }
        self.publish(.forceReconnect(acted: decision.acted, reason: decision.reason.rawValue))
        if decision.acted { self.requestsContinuation.yield(.swap(reason: decision.reason, done: nil)) }
    }

    // MARK: running

    /// Runs the current multiplexer (and its replacements) until the task is cancelled or ``shutdown()``.
    public func run() async {
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
                }
            }
            await self.current.shutdown()
            group.cancelAll()
        }
    }

    /// Closes everything and ends ``run()``.
    public func shutdown() async {
        self.requestsContinuation.finish()
        await self.current.shutdown()
        self.broadcaster.finish()
    }

    /// Asks for a force-reconnect now (an operator's request): bypasses the error threshold, not the
    /// minimum interval; joins one already under way. Returns once it has finished.
    public func forceReconnect() async -> ForceReconnectOutcome {
        let decision = self.state.withLock { $0.guardState.manualRequest(now: .now) }
        self.publish(.forceReconnect(acted: decision.acted, reason: decision.reason.rawValue))
        guard decision.acted else { return .suppressed(decision.reason) }
        return await withCheckedContinuation { continuation in
            self.requestsContinuation.yield(.swap(reason: decision.reason, done: continuation))
        }
    }

    /// New multiplexer first, connected; then swap; then close the old one.
    private func replaceMultiplexer(reason: ForceReconnectGuard<ContinuousClock.Instant>.Reason) async -> ForceReconnectOutcome {
        let replacement = self.makeMultiplexer()
        self.requestsContinuation.yield(.run(replacement))
        let deadline = ContinuousClock.now.advanced(
            by: self.configuration.connection.connectTimeout + self.configuration.connection.commandTimeout)
        while !replacement.isConnected && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(5))
        }
        guard replacement.isConnected else {
            await replacement.shutdown()
            self.state.withLock { $0.guardState.reconnectFailed(now: .now) }
            let message = "the new connection to \(self.configuration.connection.endpoint) did not come up; the old one was kept"
            self.publish(.forceReconnectCompleted(succeeded: false, error: message))
            return .failed(message)
        }
        let old = self.state.withLock { state in
            let old = state.current
            state.current = replacement
            state.forceReconnects += 1
            state.guardState.reconnectSucceeded(now: .now)
            return old
        }
        await old.shutdown()
        self.publish(.forceReconnectCompleted(succeeded: true, error: nil))
        self.logger.debug("Force-reconnect done", metadata: ["redis.endpoint": "\(self.configuration.connection.endpoint)"])
        return .replaced
    }

    // MARK: commands

    /// Sends `command` through the current multiplexer.
    public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        do {
            return try await self.current.send(command, timeout: timeout)
        } catch {
            if error.code == .commandTimeout { self.observeError(.timeout) }
            throw error
        }
    }

    /// Subscribes to `channel`; the subscription survives reconnects and force-reconnects.
    public func subscribe(_ channel: String) async -> AsyncStream<PubSubMessage> {
        await self.current.subscribe(Subscription(kind: .channel, name: channel))
    }

    /// Subscribes to channels matching `pattern` (PSUBSCRIBE); survives reconnects and force-reconnects.
    public func psubscribe(_ pattern: String) async -> AsyncStream<PubSubMessage> {
        await self.current.subscribe(Subscription(kind: .pattern, name: pattern))
    }
}
