import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP
import ServiceLifecycle
import Synchronization

/// Settings of a cluster client. Every default is documented on its property.
public struct RedisClusterConfiguration: Sendable {
    /// The template of every node's multiplexer (probes, timeouts, TLS, credentials); its endpoint is ignored.
    public var node: RedisMultiplexerConfiguration
    /// Where discovery starts when no node connection is up.
    public var seeds: [RedisEndpoint]
    /// Time between periodic topology refreshes. [60 s]
    public var refreshInterval: Duration
    /// Least time between two refreshes, however many triggers (MOVED, ASK, failures) come. [5 s]
    public var minimumRefreshInterval: Duration
    /// MOVED/ASK redirections one command may follow. [5]
    public var maxRedirects: Int
    /// A topology with more nodes than this is reported (``ClusterEvent/tooManyNodes(count:limit:)``): a real
    /// cluster rarely has that many, a broken or hostile one may announce thousands. [500]
    public var maxNodes: Int = 500
    /// Largest wait between attempts to a node that never answered. [30 s]
    public var unreachableNodeBackoffCap: Duration = .seconds(30)
    /// Least time between two connection attempts across all of the cluster's nodes. [50 ms]
    public var dialInterval: Duration = .milliseconds(50)

    public init(
        node: RedisMultiplexerConfiguration, seeds: [RedisEndpoint], refreshInterval: Duration = .seconds(60),
        minimumRefreshInterval: Duration = .seconds(5), maxRedirects: Int = 5
    ) {
        self.node = node
        self.seeds = seeds
        self.refreshInterval = refreshInterval
        self.minimumRefreshInterval = minimumRefreshInterval
        self.maxRedirects = maxRedirects
    }
}

/// An endpoint the cluster client is about to dial, for the dial policy to judge.
public struct DialCandidate: Sendable, Hashable {
    public var endpoint: RedisEndpoint
    /// The node's id, when the topology names it (not for a redirection to an unknown node).
    public var nodeID: String?
    /// The IP address the node announces, when known: the endpoint's host may be a name.
    public var announcedIP: String?

    public init(endpoint: RedisEndpoint, nodeID: String? = nil, announcedIP: String? = nil) {
        self.endpoint = endpoint
        self.nodeID = nodeID
        self.announcedIP = announcedIP
    }
}

/// What a cluster client saw or did.
public enum ClusterEvent: Sendable {
    /// A topology was read (`command`: CLUSTER SHARDS or CLUSTER SLOTS) from `source`.
    case topologyRefreshed(ClusterTopology, source: RedisEndpoint, command: String, trigger: String)
    /// No candidate answered with a topology.
    case refreshFailed(trigger: String, message: String)
    /// A node's multiplexer was created (the node joined, or a redirection pointed to it).
    case nodeOpened(RedisEndpoint)
    /// A node's multiplexer was closed (the node left the topology or stopped serving as a primary).
    case nodeClosed(RedisEndpoint, reason: String)
    /// The dial policy forbids this endpoint: no connection is made to it.
    case nodeNotDialed(nodeID: String?, endpoint: RedisEndpoint, reason: String)
    /// A command was redirected.
    case redirected(ClusterRedirection)
    /// The topology lists more nodes than ``RedisClusterConfiguration/maxNodes`` (said once until it drops back).
    case tooManyNodes(count: Int, limit: Int)
    /// An event of one node's multiplexer.
    case node(RedisEndpoint, MultiplexerEvent)
}

/// A Redis Cluster client: one multiplexer per primary node, a slot map from `CLUSTER SHARDS` (or `CLUSTER SLOTS`
/// on servers before 7), commands routed by key with MOVED and ASK followed (bounded), and the topology refreshed
/// periodically and after triggers (MOVED, ASK, connection failures, ``requestRefresh(trigger:)``), rate-limited.
/// Nodes that leave have their connections closed; endpoints the dial policy forbids are never dialed.
public final class RedisClusterClient: Sendable {
    public let configuration: RedisClusterConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let sslContext: NIOSSLContext?
    private let dialPolicy: @Sendable (DialCandidate) -> String?
    private let state: Mutex<State>
    private let broadcaster = EventBroadcaster<ClusterEvent>()
    private let dialLimiter: DialRateLimiter
    /// Node multiplexers to run, and departed ones to close: ``run()``'s task group does both.
    private let nodeWork: AsyncStream<NodeWork>
    private let nodeWorkContinuation: AsyncStream<NodeWork>.Continuation

    private enum NodeWork: Sendable {
        case run(RedisMultiplexer)
        case close(RedisMultiplexer)
    }

    private struct State {
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

    private func publish(_ event: ClusterEvent) { self.broadcaster.publish(event) }

    // MARK: running

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

    private var isShutdown: Bool { self.state.withLock { $0.isShutdown } }

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

    // MARK: topology

    /// Reads the topology now (from a connected node, else from each seed in turn) and applies it. Only the
    /// refresh loop calls it; others ask with ``requestRefresh(trigger:)``.
    /// - Returns: the topology, or nil when no candidate answered (a `refreshFailed` event says why).
    @discardableResult
    private func refresh(trigger: String) async -> ClusterTopology? {
        let (connected, seeds) = self.state.withLock { state in
            (state.nodes.filter { $0.value.isConnected }.map(\.key).sorted { $0.description < $1.description },
             self.configuration.seeds)
        }
        var candidates: [RedisEndpoint] = []
        for endpoint in connected + seeds where !candidates.contains(endpoint) { candidates.append(endpoint) }
        var failures: [String] = []
        for endpoint in candidates {
            if self.isShutdown { return nil }
            do {
                let (topology, command) = try await self.readTopology(from: endpoint)
                self.apply(topology, source: endpoint, command: command, trigger: trigger)
                return topology
            } catch {
                failures.append(error.description)
            }
        }
        let message = failures.isEmpty ? "no node to ask" : failures.joined(separator: "; ")
        self.logger.debug("Cluster topology refresh failed", metadata: ["error.message": "\(message)"])
        // Try again after the minimum interval rather than a whole period (the first refresh above all).
        _ = self.state.withLock { $0.schedule.triggered("retry", now: .now) }
        self.publish(.refreshFailed(trigger: trigger, message: message))
        return nil
    }

    /// CLUSTER SHARDS, or CLUSTER SLOTS when the server does not know SHARDS (before 7.0) or the ACL forbids it,
    /// or CLUSTER NODES when SLOTS fails too.
    private func readTopology(from endpoint: RedisEndpoint) async throws(RedisClientError) -> (ClusterTopology, String) {
        let tls = self.configuration.node.connection.tls != nil
        if let node = self.multiplexer(at: endpoint), node.isConnected {
            return try await Self.query(replyHost: endpoint.host, tls: tls) { command throws(RedisClientError) in
                try await node.pipeline([command])[0]
            }
        }
        var configuration = self.configuration.node.connection
        configuration.endpoint = endpoint
        configuration.clientName = configuration.clientName.map { "\($0)#topology" }
        let connection = try await RedisConnection.connect(
            configuration: configuration, eventLoopGroup: self.eventLoopGroup, sslContext: self.sslContext,
            logger: self.logger)
        // The one-off connection is closed before the refresh goes on (TLS waits at most 100 ms for close_notify).
        do throws(RedisClientError) {
            let found = try await Self.query(replyHost: endpoint.host, tls: tls) { command throws(RedisClientError) in
                try await connection.sendRaw(command, timeout: configuration.commandTimeout)
            }
            await connection.close()
            return found
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Reads a topology with `send`: CLUSTER SHARDS, else SLOTS, else NODES; returns it with the command that answered.
    public static func query(
        replyHost: String, tls: Bool, _ send: (RESPCommand) async throws(RedisClientError) -> RESPValue
    ) async throws(RedisClientError) -> (ClusterTopology, String) {
        let shards = try await send(RESPCommand("CLUSTER", "SHARDS"))
        if !shards.isError {
            return (try ClusterTopology.parseShards(shards, replyHost: replyHost), "CLUSTER SHARDS")
        }
        // Redis before 7.0 does not know SHARDS; an ACL may forbid it (NOPERM): CLUSTER SLOTS says enough.
        let message = shards.string ?? ""
        guard message.lowercased().contains("unknown subcommand") || message.hasPrefix("NOPERM") else {
            throw RedisClientError(.clusterTopology, endpoint: nil, command: "CLUSTER SHARDS", message: message)
        }
        let slots = try await send(RESPCommand("CLUSTER", "SLOTS"))
        if !slots.isError {
            return (try ClusterTopology.parseSlots(slots, replyHost: replyHost, tls: tls), "CLUSTER SLOTS")
        }
        // SLOTS is deprecated since 7.0 and may be forbidden too: CLUSTER NODES is the last resort.
        let nodes = try await send(RESPCommand("CLUSTER", "NODES"))
        if nodes.isError {
            throw RedisClientError(
                .clusterTopology, command: "CLUSTER NODES",
                message: "SHARDS: \(message); SLOTS: \(slots.string ?? "error"); NODES: \(nodes.string ?? "error")")
        }
        return (try ClusterTopology.parseNodes(nodes, replyHost: replyHost, tls: tls), "CLUSTER NODES")
    }

    /// Installs a topology: the slot map, a multiplexer per allowed primary, departed nodes closed.
    private func apply(_ topology: ClusterTopology, source: RedisEndpoint, command: String, trigger: String) {
        let tls = self.configuration.node.connection.tls != nil
        var desired: [RedisEndpoint] = []
        var desiredSet: Set<RedisEndpoint> = []
        var refused: [RedisEndpoint: (String, String)] = [:]
        var slots = [RedisEndpoint?](repeating: nil, count: HashSlot.count)
        for node in topology.primaries {
            guard let endpoint = node.endpoint(tls: tls) else { continue }
            for range in node.slots {
                for slot in range { slots[slot] = endpoint }
            }
            // A primary the cluster marked failed serves nothing (its slots went to its replacement): not dialed.
            guard !node.isFailed else { continue }
            if let reason = self.dialPolicy(DialCandidate(endpoint: endpoint, nodeID: node.id, announcedIP: node.ip)) {
                refused[endpoint] = (node.id, reason)
            } else if desiredSet.insert(endpoint).inserted {
                desired.append(endpoint)
            }
        }
        let overLimit = topology.nodes.count > self.configuration.maxNodes
        let (opened, closed, newlyRefused, crossedLimit, previous) = self.state.withLock { state in
            let previous = state.topology
            state.topology = topology
            state.slots = slots
            let crossedLimit = overLimit && !state.overNodeLimit
            state.overNodeLimit = overLimit
            var closed: [RedisMultiplexer] = []
            for (endpoint, node) in state.nodes where !desiredSet.contains(endpoint) {
                closed.append(node)
                state.nodes[endpoint] = nil
            }
            var opened: [RedisMultiplexer] = []
            if !state.isShutdown {
                for endpoint in desired where state.nodes[endpoint] == nil {
                    let node = self.makeNode(endpoint)
                    state.nodes[endpoint] = node
                    opened.append(node)
                }
            }
            let newlyRefused = refused.filter { state.notDialed[$0.key] == nil }
            state.notDialed = refused.mapValues(\.1)
            return (opened, closed, newlyRefused, crossedLimit, previous)
        }
        self.publish(.topologyRefreshed(topology, source: source, command: command, trigger: trigger))
        if crossedLimit { self.publish(.tooManyNodes(count: topology.nodes.count, limit: self.configuration.maxNodes)) }
        for (endpoint, (id, reason)) in newlyRefused.sorted(by: { $0.key.description < $1.key.description }) {
            self.publish(.nodeNotDialed(nodeID: id, endpoint: endpoint, reason: reason))
        }
        for node in closed {
            let endpoint = node.configuration.connection.endpoint
            self.publish(.nodeClosed(endpoint, reason: Self.whyClosed(endpoint, previous: previous, now: topology, tls: tls, refused: refused)))
            // Closed by run()'s task group; once that has stopped taking work, its end cancels the node's run().
            self.nodeWorkContinuation.yield(.close(node))
        }
        for node in opened {
            self.publish(.nodeOpened(node.configuration.connection.endpoint))
            self.nodeWorkContinuation.yield(.run(node))
        }
    }

    /// Why the connection to `endpoint` is closed: what became of the node that was there.
    static func whyClosed(
        _ endpoint: RedisEndpoint, previous: ClusterTopology?, now: ClusterTopology, tls: Bool,
        refused: [RedisEndpoint: (String, String)]
    ) -> String {
        guard let id = previous?.nodes.first(where: { $0.endpoint(tls: tls) == endpoint })?.id else {
            return "no primary there any more"
        }
        let short = String(id.prefix(8))
        guard let node = now.node(id: id) else { return "node \(short) left the cluster" }
        if node.isFailed { return "the cluster marked node \(short) failed" }
        if node.role == .replica { return "node \(short) is a replica now" }
        if let moved = node.endpoint(tls: tls), moved != endpoint {
            if let (_, reason) = refused[moved] { return "node \(short) now announces \(moved), which is not dialed: \(reason)" }
            return "node \(short) now announces \(moved)"
        }
        if let (_, reason) = refused[endpoint] { return "not dialed any more: \(reason)" }
        return "no primary there any more"
    }

    private func makeNode(_ endpoint: RedisEndpoint) -> RedisMultiplexer {
        var configuration = self.configuration.node
        configuration.connection.endpoint = endpoint
        configuration.neverConnectedBackoffCap = self.configuration.unreachableNodeBackoffCap
        return RedisMultiplexer(
            configuration: configuration, generation: 1, eventLoopGroup: self.eventLoopGroup, sslContext: self.sslContext,
            logger: self.logger, dialLimiter: self.dialLimiter,
            emit: { [weak self] event in
                guard let self else { return }
                self.publish(.node(endpoint, event))
                if case .connectionFailed(.interactive, _, _, _) = event { self.requestRefresh(trigger: "connection-failed") }
            })
    }

    /// The multiplexer for `endpoint`, made (and started) on demand when a redirection names a node the
    /// topology did not list yet.
    private func node(for endpoint: RedisEndpoint, command: String) throws(RedisClientError) -> RedisMultiplexer {
        if let node = self.multiplexer(at: endpoint) { return node }
        // A redirection may name a node the last topology listed (with its announced IP) or one it did not.
        let tls = self.configuration.node.connection.tls != nil
        let known = self.topology?.nodes.first { $0.endpoint(tls: tls) == endpoint }
        if let reason = self.dialPolicy(DialCandidate(endpoint: endpoint, nodeID: known?.id, announcedIP: known?.ip)) {
            throw RedisClientError(
                .disallowedEndpoint, endpoint: endpoint.description, command: command,
                message: "not dialed: \(reason)")
        }
        let (node, isNew) = try self.state.withLock { state throws(RedisClientError) -> (RedisMultiplexer, Bool) in
            if let node = state.nodes[endpoint] { return (node, false) }
            guard !state.isShutdown else {
                throw RedisClientError(.connectionClosed, endpoint: endpoint.description, command: command, message: "the cluster client was shut down")
            }
            let node = self.makeNode(endpoint)
            state.nodes[endpoint] = node
            return (node, true)
        }
        if isNew {
            self.publish(.nodeOpened(endpoint))
            self.nodeWorkContinuation.yield(.run(node))
        }
        return node
    }

    // MARK: commands

    /// Sends `command` to the primary serving `key`'s slot, following MOVED (the slot map is updated and a
    /// refresh requested) and ASK (`ASKING` first, map unchanged) at most `maxRedirects` times, all within
    /// `timeout` [command timeout].
    public func send(_ command: RESPCommand, key: String, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        try await self.send(command, slot: HashSlot.slot(for: key), timeout: timeout)
    }

    /// Sends `command` to the primary serving `slot` (see ``send(_:key:timeout:)``).
    public func send(_ command: RESPCommand, slot: Int, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        guard (0..<HashSlot.count).contains(slot) else {
            throw RedisClientError(.configuration, command: command.name, message: "slot \(slot) is outside 0…16383")
        }
        let timeout = timeout ?? self.configuration.node.connection.commandTimeout
        let started = ContinuousClock.now
        var target = self.state.withLock { $0.slots[slot] }
        var asking = false
        for _ in 0...self.configuration.maxRedirects {
            guard let endpoint = target else {
                self.requestRefresh(trigger: "uncovered-slot")
                throw RedisClientError(
                    .clusterTopology, command: command.name,
                    message: "slot \(slot) is not served by any known node (topology \(self.topology == nil ? "not read yet" : "incomplete"))")
            }
            let node = try self.node(for: endpoint, command: command.name)
            let remaining = timeout - started.duration(to: .now)
            guard remaining > .zero else {
                throw RedisClientError(
                    .commandTimeout, endpoint: endpoint.description, command: command.name,
                    message: "no reply within \(timeout.humanReadable) (redirected)")
            }
            let reply = asking
                ? try await node.pipeline([RESPCommand("ASKING"), command], timeout: remaining)[1]
                : try await node.pipeline([command], timeout: remaining)[0]
            guard reply.isError else { return reply }
            let message = reply.withoutAttributes.string ?? "error"
            guard let redirection = ClusterRedirection(errorMessage: message, replyHost: endpoint.host) else {
                throw RedisClientError(.errorReply, endpoint: endpoint.description, command: command.name, message: message)
            }
            self.publish(.redirected(redirection))
            switch redirection.kind {
            case .moved:
                self.state.withLock { $0.slots[redirection.slot] = redirection.endpoint }
                asking = false
                self.requestRefresh(trigger: "moved")
            case .ask:
                asking = true
                self.requestRefresh(trigger: "ask")
            }
            target = redirection.endpoint
        }
        throw RedisClientError(
            .tooManyRedirects, endpoint: target?.description, command: command.name,
            message: "more than \(self.configuration.maxRedirects) redirections for slot \(slot); the cluster is resharding or misconfigured")
    }
}

/// Runs in a `ServiceGroup`: its graceful shutdown shuts the client down (see ``RedisClusterClient/run()``).
extension RedisClusterClient: Service {}

extension RedisClusterClient {
    /// Whether an `INFO cluster` reply says cluster mode is on (`cluster_enabled:1`).
    public static func isClusterEnabled(info: String) -> Bool {
        info.split(whereSeparator: \.isNewline).contains { $0.trimmingPrefixAndSuffixSpaces == "cluster_enabled:1" }
    }
}

extension Substring {
    fileprivate var trimmingPrefixAndSuffixSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " || text.last == "\r" { text = text.dropLast() }
        return text
    }
}
