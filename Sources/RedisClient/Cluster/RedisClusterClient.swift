import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A Redis Cluster client: one multiplexer per primary node, a slot map from `CLUSTER SHARDS` (or `CLUSTER SLOTS`
/// on servers before 7), commands routed by key with MOVED and ASK followed (bounded), and the topology refreshed
/// periodically and after triggers (MOVED, ASK, connection failures, ``requestRefresh(trigger:)``), rate-limited.
/// Nodes that leave have their connections closed; endpoints the dial policy forbids are never dialed.
public final class RedisClusterClient: Sendable {
    public let configuration: RedisClusterConfiguration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    let sslContext: NIOSSLContext?
    let dialPolicy: @Sendable (DialCandidate) -> String?
    let state: Mutex<State>
    let broadcaster = EventBroadcaster<ClusterEvent>()
    let dialLimiter: DialRateLimiter
    /// Node multiplexers to run, and departed ones to close: ``run()``'s task group does both.
    let nodeWork: AsyncStream<NodeWork>
    let nodeWorkContinuation: AsyncStream<NodeWork>.Continuation

    enum NodeWork: Sendable {
        case run(RedisMultiplexer)
        case close(RedisMultiplexer)
    }

    struct State {
        var topology: ClusterTopology?
        /// Owner endpoint of every slot.
        var slots = [RedisEndpoint?](repeating: nil, count: HashSlot.count)
        var nodes: [RedisEndpoint: RedisMultiplexer] = [:]
        var notDialed: [RedisEndpoint: String] = [:]
        var schedule: TopologyRefreshSchedule<ContinuousClock.Instant>
        var wake: CheckedContinuation<Void, Never>?
        /// A trigger came while the refresh loop was not waiting: its next wait returns at once.
        var wakeRequested = false
        var isShutdown = false
        /// Whether the last topology had more nodes than allowed (reported once per crossing).
        var overNodeLimit = false
    }

    /// - Parameter dialPolicy: why an endpoint must not be dialed, or nil when it may be. Asked before every new
    ///   node connection (from the topology or a redirection).
    /// - Throws: ``RedisClientError`` `.configuration` when the node template is invalid or there is no seed.
    public init(
        configuration: RedisClusterConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis-healthd.cluster"),
        dialPolicy: @escaping @Sendable (DialCandidate) -> String? = { _ in nil }
    ) throws(RedisClientError) {
        var problems = configuration.node.validate()
        if configuration.seeds.isEmpty { problems.append("a cluster needs at least one seed endpoint") }
        if configuration.maxRedirects < 0 { problems.append("max_redirects must not be negative") }
        guard problems.isEmpty else { throw RedisClientError(.configuration, message: problems.joined(separator: "; ")) }
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.dialPolicy = dialPolicy
        self.dialLimiter = DialRateLimiter(interval: configuration.dialInterval)
        self.sslContext = try configuration.node.connection.tls.map { tls throws(RedisClientError) in
            try RedisConnection.makeSSLContext(tls)
        }
        self.state = Mutex(
            State(
                schedule: TopologyRefreshSchedule(
                    interval: configuration.refreshInterval, minimumInterval: configuration.minimumRefreshInterval)))
        (self.nodeWork, self.nodeWorkContinuation) = AsyncStream.makeStream(of: NodeWork.self)
    }

    // MARK: observing

    /// The latest topology read, if any.
    public var topology: ClusterTopology? { self.state.withLock { $0.topology } }

    /// Endpoints with a node multiplexer, sorted.
    public var nodeEndpoints: [RedisEndpoint] {
        self.state.withLock { Array($0.nodes.keys) }.sorted { $0.description < $1.description }
    }

    /// Endpoints the dial policy refused, with the reason.
    public var notDialed: [RedisEndpoint: String] { self.state.withLock { $0.notDialed } }

    /// The multiplexer of one node, if the client holds one.
    public func multiplexer(at endpoint: RedisEndpoint) -> RedisMultiplexer? {
        self.state.withLock { $0.nodes[endpoint] }
    }

    /// A new stream of every event from now on.
    public func events() -> AsyncStream<ClusterEvent> { self.broadcaster.stream() }

    func publish(_ event: ClusterEvent) { self.broadcaster.publish(event) }
}

/// Runs in a `ServiceGroup`: its graceful shutdown shuts the client down (see ``RedisClusterClient/run()``).
extension RedisClusterClient: Service {}
