#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import RedisClient
import ServiceLifecycle
import Synchronization

/// Wiring of one target: its resilient client, the tasks that run beside it (topology, maintenance channel, canary,
/// credentials, the folding loop), the readers' snapshot, run() and shutdown().
///
/// Every change to the target's ``TargetStatus`` is a ``TargetEvent`` submitted to the ``EventFolder`` and folded in, in
/// the order submitted, by its one loop (TargetSupervisor+Folding.swift): the state has one writer; readers take a
/// copy under its lock. The exception changes no state: a probe's answer on an up target with nothing of it waiting
/// is recorded where it arrives (``recordProbeInPlace(_:)``).
public final class TargetSupervisor: Sendable {
    public let target: DaemonConfiguration.Target
    public let client: ResilientRedisClient
    let password: RedisSecret?
    /// Set up by `init`, then written only by the folding loop (``fold(_:now:)``), and by a probe's answer that
    /// changes nothing but the probe figures (``recordProbeInPlace(_:)``); read by anyone under its lock.
    let status: Mutex<TargetStatus>
    /// Where everything that changes the status goes, in the order each source emitted it: the daemon's folder (one
    /// loop for all its targets) or this supervisor's own. Unbounded: no state-changing event is ever dropped. Each
    /// source only submits, never waits.
    let folder: EventFolder
    /// Whether ``folder`` is this supervisor's own: its ``run()`` then runs the folding loop too.
    let ownsFolder: Bool
    /// Set when the events end (the client ended, or ``run()`` did): later ones are not submitted.
    let eventsEnded = Atomic<Bool>(false)
    /// Items submitted to ``folder`` and not folded yet.
    let unfolded = Atomic<Int>(0)
    /// What the folding loop tells ``run()``'s task: the first subscription came, the events have ended.
    let foldSignals = Mutex(FoldSignals())
    /// What of a run of failures reaches the log (per connection role, per cluster node, force-reconnect
    /// suppressions).
    let throttles = Mutex(Throttles())

    struct Throttles {
        var failures: [String: LogThrottle] = [:]
        var nodes: [String: LogThrottle] = [:]
        var suppressions = LogThrottle()
    }
    let topology: Mutex<TopologyState>
    /// The TLS certificates of the target's connections and the schedule of expiry warnings.
    let certificateWatch: Mutex<CertificateExpiryWatch>
    let maintenanceLimit = Mutex(MaintenanceRateLimit())
    /// Scrubs the password (every one a rotating source gave) from every text a server sends before it is stored
    /// (status, events) or logged.
    var scrubber: SecretScrubber { self.scrubbing.value.withLock { $0 } }
    private let scrubbing: SharedScrubber
    /// Where rotating credentials come from (password file read again, credential command); nil: none or fixed.
    let credentials: CredentialSource?
    /// The pub/sub canary's rule and its driver's wake-up (TargetSupervisor+Canary.swift).
    let canaryState = Mutex(CanaryState())
    /// Maintenance push notifications: whether a refusal was noted, and the log's rate limit.
    let pushMaintenance = Mutex(PushMaintenanceLog())
    let events: EventLog
    let metrics: DaemonMetrics?
    let logger: Logger
    let onStateChange: @Sendable (TargetStatus) -> Void
    /// Receives the events hooks can run on (state changes, unresponsive, anomalies, force-reconnects, maintenance).
    private let onHookEvent: @Sendable (HookFiring) -> Void

    struct TopologyState {
        var cluster: RedisClusterClient?
        var watch: TopologyWatch
        var isShutdown = false
        /// Whether the last refresh failed (a failure is a warning once, then debug until one succeeds).
        var refreshFailing = false
        /// The replicas' host-name endpoints last resolved, and those that did not resolve (endpoint → why).
        var replicaNamesChecked: Set<String> = []
        var replicaProblems: [String: String] = [:]
        var replicaNamesCheckedAt = 0.0
    }

    public init(
        target: DaemonConfiguration.Target, password: RedisSecret?, credentialsDirectory: String? = nil, events: EventLog,
        metrics: DaemonMetrics? = nil, dialLimiter: DialRateLimiter? = nil,
        logger: Logger, onStateChange: @escaping @Sendable (TargetStatus) -> Void,
        onHookEvent: @escaping @Sendable (HookFiring) -> Void = { _ in }, carryingOver earlier: TargetSupervisor? = nil,
        folder: EventFolder? = nil
    ) throws(RedisClientError) {
        var configuration = target.multiplexer
        configuration.connection.password = password
        self.target = target
        self.password = password
        let scrubbing = SharedScrubber(SecretScrubber(password: password))
        self.scrubbing = scrubbing
        var logger = logger
        logger[metadataKey: "redis.target"] = "\(target.name)"
        logger[metadataKey: "redis.endpoint"] = "\(configuration.connection.endpoint)"
        let credentials = Self.credentialSource(
            target, password: password, credentialsDirectory: credentialsDirectory, scrubbing: scrubbing, events: events,
            metrics: metrics, logger: logger)
        self.credentials = credentials
        if let credentials {
            configuration.connection.credentials = credentials.provider
            configuration.credentialRefresh.margin = target.credentialRefreshMargin
        }
        let rules = target.endpointRules
        let dialDisallowed = target.dialDisallowed
        // An endpoint announced by MOVING is judged like a cluster node's: one outside the allow-lists is not dialed.
        self.client = try ResilientRedisClient(
            configuration: configuration, logger: logger, dialLimiter: dialLimiter,
            movingPolicy: { endpoint in dialDisallowed ? nil : rules.dialRefusal(endpoint) })
        var status = TargetStatus(name: target.name, endpoint: configuration.connection.endpoint.description, now: Date().timeIntervalSince1970)
        status.topologyMode = target.cluster == .off ? "off" : target.cluster == .on ? "cluster" : "detecting"
        status.probesEnabled = configuration.probeInterval != nil
        status.configuredEndpointNote = target.configuredEndpointNote
        var watch = TopologyWatch(rules: target.endpointRules, capacity: target.topologyHistory)
        if let earlier {
            // A rebuild of a target (a reload changed its settings) keeps its topology history and, until this build
            // has detected the mode again, shows what the earlier one knew.
            watch.carryOver(from: earlier.topology.withLock { $0.watch })
            if earlier.status.withLock({ $0.topologyMode }) == "cluster", target.cluster != .off { status.topologyMode = "cluster" }
        }
        self.status = Mutex(status)
        self.folder = folder ?? EventFolder()
        self.ownsFolder = folder == nil
        self.certificateWatch = Mutex(CertificateExpiryWatch(threshold: target.tlsExpiryWarning))
        self.topology = Mutex(TopologyState(watch: watch))
        self.events = events
        self.metrics = metrics
        metrics?.register(target: target.name)
        self.logger = logger
        self.onStateChange = onStateChange
        self.onHookEvent = onHookEvent
    }

    /// Hands `event` to the folding loop: never blocks, never drops (any thread, any task) until the events end.
    func submit(_ event: TargetEvent) {
        guard !self.eventsEnded.load(ordering: .acquiring) else { return }
        self.unfolded.add(1, ordering: .releasing)
        self.folder.submit(.event(event), for: self)
    }

    /// The events end: what was submitted before is still folded, what comes later is not. The first call counts.
    func finishEvents() {
        guard !self.eventsEnded.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.unfolded.add(1, ordering: .releasing)
        self.folder.submit(.end, for: self)
    }

    /// Tells the hooks about `event`, with the target's status now (its reason already scrubbed of the password).
    func hookEvent(_ event: HookEvent, previousState: TargetStatus.State? = nil, reason: String? = nil) {
        let status = self.status.withLock { $0 }
        self.onHookEvent(
            HookFiring(
                target: self.target.name, event: event, state: status.state.rawValue,
                previousState: (previousState ?? status.state).rawValue, reason: reason ?? status.reason ?? "",
                endpoint: status.endpoint, since: status.since))
    }

    /// Takes and releases the status lock (the one the folding loop takes to write): the daemon's liveness tick, which
    /// must not get through while a target's folding is wedged inside it.
    func checkResponsive() {
        self.status.withLock { _ in }
    }

    /// The status now, with the force-reconnect guard's state and the cluster's connections.
    public var snapshot: TargetStatus {
        var status = self.status.withLock { $0 }
        status.credential = self.credentials?.summary
        let guardState = self.client.forceReconnectGuardState
        status.forceReconnectInProgress = guardState.inProgress
        status.forceReconnectBlockedFor = guardState.blockedFor
        if let cluster = self.clusterClient {
            // A primary the cluster marked failed serves nothing and is not dialed: it does not count.
            let primaries = cluster.topology?.primaries.filter { !$0.isFailed }.count ?? 0
            status.clusterPrimaries = primaries
            status.clusterPrimariesConnected = cluster.nodeEndpoints.filter { cluster.multiplexer(at: $0)?.isConnected == true }.count
        }
        return status
    }

    /// Whether ``shutdown()`` was called.
    var isShuttingDown: Bool { self.topology.withLock { $0.isShutdown } }

    /// The cluster client, once the target is known to be a cluster.
    public var clusterClient: RedisClusterClient? { self.topology.withLock { $0.cluster } }

    /// `GET /topology/{target}`.
    public func topologyDocument() -> TopologyDocument {
        let mode = self.status.withLock { $0.topologyMode }
        let (cluster, watch) = self.topology.withLock { ($0.cluster, $0.watch) }
        var dialed: [RedisEndpoint: Bool] = [:]
        for endpoint in cluster?.nodeEndpoints ?? [] { dialed[endpoint] = cluster?.multiplexer(at: endpoint)?.isConnected ?? false }
        return TopologyDocument(
            target: self.target, mode: mode, watch: mode == "cluster" ? watch : nil, dialed: dialed,
            notDialed: cluster?.notDialed ?? [:])
    }

    /// Asks the cluster client (if any) to read the topology again soon; false for a standalone target.
    @discardableResult
    public func requestTopologyRefresh(trigger: String) -> Bool {
        guard let cluster = self.clusterClient else { return false }
        cluster.requestRefresh(trigger: trigger)
        return true
    }

    /// Runs until cancelled, ``shutdown()``, or a `ServiceGroup`'s graceful shutdown (the same as ``shutdown()``: the
    /// connections are closed). Graceful shutdown reaches the client and the cluster client too (they run in this
    /// task's group): this supervisor only makes sure no cluster client starts afterwards.
    public func run() async {
        await withGracefulShutdownHandler {
            await self.runTarget()
        } onGracefulShutdown: {
            self.topology.withLock { $0.isShutdown = true }
        }
    }

    private func runTarget() async {
        self.observeClient()
        // The end of the events ends the target: when the client has ended (once what came before is folded) or on
        // cancellation. The topology and maintenance tasks may end early (a standalone server, maintenance events
        // off) without ending the rest.
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.client.run()
                self.finishEvents()
            }
            group.addTask { await self.runTopology() }
            group.addTask { await self.watchMaintenanceEvents() }
            group.addTask {
                // A credential command's fetches while the credential in hand serves.
                await self.credentials?.run()
            }
            // The canary runs only while something is subscribed: the folding loop starts it at the first
            // subscription (no task waits for one meanwhile).
            let subscribed = self.target.canaryInterval > .zero
                ? self.client.subscriptions.whenNotEmpty { [weak self] in self?.submit(.subscribed) } : nil
            defer { if let subscribed { self.client.subscriptions.removeNotEmptyCallback(subscribed) } }
            // Until the events have ended (folded up to their end), or cancellation: with a folder of its own, this
            // task runs its loop; with the daemon's, it only waits for the loop's word.
            let onSubscribed = { group.addTask { await self.runCanary() } }
            if self.ownsFolder {
                await self.foldEvents(onSubscribed: onSubscribed)
            } else {
                await self.waitForEventsEnd(onSubscribed: onSubscribed)
            }
            group.cancelAll()
        }
        // Nothing is folded any more: what comes later is dropped, not kept.
        self.finishEvents()
    }

    /// Before the target's tasks start: out of line, so that what it builds stays off the frame the target's task
    /// keeps for its whole life (with 1,000 targets, 1,000 of them).
    @inline(never)
    private func observeClient() {
        if let note = self.target.configuredEndpointNote {
            self.logger.warning(
                "The configured endpoint is outside the allowed endpoints; dialing it anyway (it is the configured one)",
                metadata: ["redis.event": "configured-endpoint-outside-allow-list", "error.message": "\(note)"])
        }
        // The target's own connection's events go straight into the one stream, in the order the client published
        // them (no task between: a probe's event is one hop from the event loop to the folding loop). Their end (the
        // client shut down) ends the stream once the loop has folded what came before.
        self.client.observeEvents { [weak self] event in
            guard let self else { return }
            if case .probe(let latency) = event, self.recordProbeInPlace(latency) { return }
            if let event { self.submit(.multiplexer(event)) } else { self.finishEvents() }
        }
    }

    public func shutdown() async {
        let cluster = self.topology.withLock { state in
            state.isShutdown = true
            return state.cluster
        }
        await cluster?.shutdown()
        await self.client.shutdown()
    }
}

/// Runs in a `ServiceGroup`: its graceful shutdown closes the target's connections (see ``TargetSupervisor/run()``).
extension TargetSupervisor: Service {}
