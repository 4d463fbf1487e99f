import Logging
import NIOCore
import NIOPosix
import NIOSSL
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
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    let sslContext: NIOSSLContext?
    let subscriptions: SubscriptionRegistry
    let emitter: @Sendable (MultiplexerEvent) -> Void
    let dialLimiter: DialRateLimiter?
    let state: Mutex<State>
    /// Probes and keepalives, on the event loop of this endpoint's connections.
    let liveness: LivenessMonitor
    /// The event loop of this endpoint's connections as a `TaskExecutor`: callers that prefer it are resumed by
    /// their replies on the thread that reads them (see ``EventLoopTaskExecutor``).
    public let taskExecutor: EventLoopTaskExecutor
    /// Held while an event about a connection is checked against the current connection and handed on, so that
    /// observers see one connection's events in order (a late probe never follows its connection's failure).
    let emitOrder = Mutex(())

    /// A role's connection life; its waiters are callers suspended until a connection comes (only interactive
    /// callers wait: subscriptions are sent when the subscriber connection comes).
    typealias Lifecycle = ConnectionLifecycleStateMachine<
        RedisConnection, CheckedContinuation<RedisConnection, any Error>, ContinuousClock.Instant
    >

    struct State: ~Copyable {
        var interactive: Lifecycle
        var subscriber: Lifecycle
        /// ``run()``'s own task, waiting for the shutdown or the first subscription.
        var runWaiter: CheckedContinuation<RunWakeup, Never>?
        /// The first subscription came while ``run()``'s task was not waiting.
        var subscriptionArrived = false
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
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: self.liveness.eventLoop)
    }

    func emit(_ event: MultiplexerEvent) {
        self.emitOrder.withLock { _ in self.emitter(event) }
    }

    /// Emits `event` only while `connection` is still the current one of `role`.
    func emit(_ event: MultiplexerEvent, ifCurrent connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) {
        self.emitOrder.withLock { _ in
            if self.state.withLock({ $0.connection(role) }) === connection { self.emitter(event) }
        }
    }

    var clientName: String? {
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

    /// The open connections (interactive and subscriber), e.g. to find them in `CLIENT LIST`.
    public var connectionNames: [String] {
        guard let name = self.clientName else { return [] }
        return self.state.withLock { state in
            [state.interactive.connection, state.subscriber.connection].compactMap { $0 }.filter(\.isActive).map { _ in name }
        }
    }
}
