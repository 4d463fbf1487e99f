import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
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

    enum Request: Sendable {
        case run(RedisMultiplexer)
        case swap(reason: ForceReconnectGuard<ContinuousClock.Instant>.Reason, done: CheckedContinuation<ForceReconnectOutcome, Never>?)
        /// A MOVING notification of the multiplexer of `generation`: hand off after its time.
        case handoff(MaintenanceNotification, generation: Int)
    }

    struct State: ~Copyable {
        /// Nil only inside `init`, until the first multiplexer (whose events name the client) is made.
        var current: RedisMultiplexer!
        var generation: Int
        var guardState: ForceReconnectGuard<ContinuousClock.Instant>
        var forceReconnects = 0
        var isShutdown = false
        /// A replacement being brought up by a force-reconnect, and the signal its first answered probe gives.
        var replacement: (multiplexer: RedisMultiplexer, ready: OneShot<ReplacementReady>)?
        /// The newest MOVING: a handoff scheduled by an older one is dropped when its time comes (the latest wins).
        var handoffToken = 0
        /// When the last handoff started: handoffs are at least 5 s apart, whatever a server announces.
        var lastHandoff: ContinuousClock.Instant?
    }

    /// What the replacement showed before it is swapped in: it connected, and (with probes on) answered one.
    struct ReplacementReady: Sendable {
        var endpoint: RedisEndpoint
        var protocolVersion: Int
        var probeLatency: Duration?
    }

    public let configuration: RedisMultiplexerConfiguration
    /// The one event loop of every multiplexer of this client (a replacement's callers stay where they were).
    private let eventLoop: any EventLoop
    let logger: Logger
    private let sslContext: NIOSSLContext?
    public let subscriptions: SubscriptionRegistry
    let state: Mutex<State>
    let broadcaster = EventBroadcaster<MultiplexerEvent>()
    let requests: AsyncStream<Request>
    let requestsContinuation: AsyncStream<Request>.Continuation
    /// Why an endpoint announced by MOVING must not be dialed (nil: it may be).
    let movingPolicy: @Sendable (RedisEndpoint) -> String?
    private let dialLimiter: DialRateLimiter?

    /// - Parameters:
    ///   - movingPolicy: judges the endpoint a MOVING notification announces before it is dialed (the daemon's
    ///     allow-lists); a refused one is reported and not dialed.
    ///   - dialLimiter: spreads the dials of many clients (a daemon's targets) over time; nil: dial at once.
    /// - Throws: ``RedisClientError`` with code `.configuration` listing every problem of `configuration`.
    public init(
        configuration: RedisMultiplexerConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis-healthd.multiplexer"),
        dialLimiter: DialRateLimiter? = nil,
        movingPolicy: @escaping @Sendable (RedisEndpoint) -> String? = { _ in nil }
    ) throws(RedisClientError) {
        let problems = configuration.validate()
        guard problems.isEmpty else {
            throw RedisClientError(.configuration, message: problems.joined(separator: "; "))
        }
        self.configuration = configuration
        self.movingPolicy = movingPolicy
        self.dialLimiter = dialLimiter
        self.eventLoop = eventLoopGroup.next()
        self.logger = logger
        self.sslContext = try configuration.connection.tls.map { tls throws(RedisClientError) in
            try RedisConnection.makeSSLContext(tls)
        }
        self.subscriptions = SubscriptionRegistry()
        (self.requests, self.requestsContinuation) = AsyncStream.makeStream(of: Request.self)
        self.state = Mutex(State(current: nil, generation: 0, guardState: .init(configuration: configuration.forceReconnect)))
        let first = self.makeMultiplexer()
        self.state.withLock { $0.current = first }
    }

    /// The multiplexer in use now.
    public var current: RedisMultiplexer { self.state.withLock { $0.current } }

    /// The event loop of the client's connections as a `TaskExecutor` (every multiplexer of the client uses the
    /// same loop): callers that run there are resumed by their replies with no other thread involved.
    ///
    ///     try await withTaskExecutorPreference(client.taskExecutor) { try await client.send(command) }
    public var taskExecutor: EventLoopTaskExecutor { self.current.taskExecutor }

    /// The force-reconnect guard's state: whether one is under way, and how long until the minimum interval
    /// allows the next.
    public var forceReconnectGuardState: (inProgress: Bool, blockedFor: Duration) {
        self.state.withLock { ($0.guardState.isReconnecting, $0.guardState.minimumIntervalRemaining(now: .now)) }
    }

    /// Force-reconnects done so far.
    public var forceReconnectCount: Int { self.state.withLock { $0.forceReconnects } }

    /// A new stream of every event from now on (events of replaced multiplexers are not included).
    public func events() -> AsyncStream<MultiplexerEvent> { self.broadcaster.stream() }

    /// Calls `observer` with every event from now on, where the event is published (often an event loop) and in its
    /// order, with no task between: it must only hand the event on (yield it into a stream of its own), never block.
    /// Called with nil once the client is shut down.
    public func observeEvents(_ observer: @escaping @Sendable (MultiplexerEvent?) -> Void) {
        self.broadcaster.observe(observer)
    }

    func publish(_ event: MultiplexerEvent) { self.broadcaster.publish(event) }

    /// Held while an event is routed and published, and while a swap publishes the replacement's state: an event
    /// of the old multiplexer routed as current can never be published after the swap's events.
    let publishOrder = Mutex(())

    /// A new multiplexer, to the configured endpoint or to `endpoint` (a MOVING handoff).
    func makeMultiplexer(endpoint: RedisEndpoint? = nil) -> RedisMultiplexer {
        let generation = self.state.withLock { state in
            state.generation += 1
            return state.generation
        }
        var configuration = self.configuration
        if let endpoint { configuration.connection.endpoint = endpoint }
        return RedisMultiplexer(
            configuration: configuration, generation: generation, eventLoopGroup: self.eventLoop,
            sslContext: self.sslContext, subscriptions: self.subscriptions, logger: self.logger, dialLimiter: self.dialLimiter,
            emit: { [weak self] event in self?.multiplexerEvent(event, generation: generation) })
    }
}

/// Runs in a `ServiceGroup`: its graceful shutdown shuts the client down (see ``ResilientRedisClient/run()``).
extension ResilientRedisClient: Service {}
