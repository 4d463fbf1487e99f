#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix
import RESP
import RedisClient
import ServiceLifecycle
import Synchronization

/// Runs one target: its resilient client (probes, reconnects), and for a cluster the cluster client with the
/// topology watch; the maintenance-event subscription; and the status built from all their events.
public final class TargetSupervisor: Sendable {
    public let target: DaemonConfiguration.Target
    public let client: ResilientRedisClient
    private let password: RedisSecret?
    let status: Mutex<TargetStatus>
    /// What of a run of failures reaches the log (per connection role, per cluster node, force-reconnect
    /// suppressions).
    private let throttles = Mutex(Throttles())

    private struct Throttles {
        var failures: [String: LogThrottle] = [:]
        var nodes: [String: LogThrottle] = [:]
        var suppressions = LogThrottle()
    }
    private let topology: Mutex<TopologyState>
    /// The TLS certificates of the target's connections and the schedule of expiry warnings.
    let certificateWatch: Mutex<CertificateExpiryWatch>
    private let maintenanceLimit = Mutex(MaintenanceRateLimit())
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
    private let onStateChange: @Sendable (TargetStatus) -> Void
    /// Receives the events hooks can run on (state changes, unresponsive, anomalies, force-reconnects, maintenance).
    private let onHookEvent: @Sendable (HookFiring) -> Void

    private struct TopologyState {
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
        onHookEvent: @escaping @Sendable (HookFiring) -> Void = { _ in }
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
        self.status = Mutex(status)
        self.certificateWatch = Mutex(CertificateExpiryWatch(threshold: target.tlsExpiryWarning))
        self.topology = Mutex(
            TopologyState(watch: TopologyWatch(rules: target.endpointRules, capacity: target.topologyHistory)))
        self.events = events
        self.metrics = metrics
        metrics?.register(target: target.name)
        self.logger = logger
        self.onStateChange = onStateChange
        self.onHookEvent = onHookEvent
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

    /// Takes and releases the status lock (the one event handling takes): the daemon's liveness tick, which must not
    /// get through while a target's event handling is wedged.
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

    /// Replicas are not dialed, but a failover to one sends clients to its announced endpoint: a host name there
    /// that does not resolve is reported like a primary's (target degraded, a warning, an event). Names are
    /// resolved on NIO's thread pool (getaddrinfo blocks), only when the replicas' names changed or last failed.
    func checkReplicaNames(_ topology: ClusterTopology) async {
        let tls = self.target.multiplexer.connection.tls != nil
        let named = topology.nodes.compactMap { node -> RedisEndpoint? in
            guard node.role == .replica, let endpoint = node.endpoint(tls: tls), ipAddressBytes(endpoint.host) == nil else { return nil }
            return endpoint
        }
        let (known, problems, lastCheck) = self.topology.withLock { ($0.replicaNamesChecked, $0.replicaProblems, $0.replicaNamesCheckedAt) }
        let names = Set(named.map(\.description))
        let started = Date().timeIntervalSince1970
        // Again when the names change; failing ones again a minute later, not at every refresh.
        guard names != known || (!problems.isEmpty && started - lastCheck >= 60) else { return }
        // Concurrently, each within 3 s (getaddrinfo cannot be cancelled: a name still resolving then counts as
        // not resolving), at most 16 names a round.
        let found = await withTaskGroup(of: (String, String?).self) { group -> [String: String] in
            for endpoint in named.prefix(16) {
                let host = endpoint.host
                group.addTask {
                    await withTaskGroup(of: String??.self) { race -> (String, String?) in
                        race.addTask { (try? await NIOThreadPool.singleton.runIfActive { DiagnosticsExporter.resolve(host) }).map { $0.1 } }
                        race.addTask {
                            try? await Task.sleep(for: .seconds(3))
                            return .some("no answer within 3 s")
                        }
                        let first = await race.next() ?? nil
                        race.cancelAll()
                        return (endpoint.description, first ?? nil)
                    }
                }
            }
            var found: [String: String] = [:]
            for await (endpoint, error) in group {
                guard let error else { continue }
                let host = endpoint.split(separator: ":").dropLast().joined(separator: ":")
                found[endpoint] = "host name \(host) does not resolve (\(error)); a failover to it would send clients nowhere"
            }
            return found
        }
        let now = Date().timeIntervalSince1970
        let newlyFailing = found.filter { problems[$0.key] == nil }
        self.topology.withLock {
            $0.replicaNamesChecked = names
            $0.replicaProblems = found
            $0.replicaNamesCheckedAt = now
        }
        for (endpoint, problem) in newlyFailing.sorted(by: { $0.key < $1.key }) {
            self.events.append(target: self.target.name, text: "replica \(endpoint): \(problem)", at: now, importance: .significant, kind: "replica-unresolvable")
            self.logger.warning(
                "Cluster replica announces a host name that does not resolve",
                metadata: ["redis.event": "replica-unresolvable", "redis.announced_endpoint": "\(endpoint)", "error.message": "\(problem)"])
        }
        self.updateStatus(now: now) { $0.setReplicaProblems(found, now: now) }
    }

    /// Takes over the topology history of an earlier build of this target (a reload changed its settings).
    func carryTopologyHistory(from earlier: TargetSupervisor) {
        let watch = earlier.topology.withLock { $0.watch }
        self.topology.withLock { $0.watch.carryOver(from: watch) }
        // Until the new build has detected the mode again, show what the earlier one knew.
        let mode = earlier.status.withLock { $0.topologyMode }
        if mode == "cluster", self.target.cluster != .off { self.status.withLock { $0.topologyMode = mode } }
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
        if let note = self.target.configuredEndpointNote {
            self.logger.warning(
                "The configured endpoint is outside the allowed endpoints; dialing it anyway (it is the configured one)",
                metadata: ["redis.event": "configured-endpoint-outside-allow-list", "error.message": "\(note)"])
        }
        let stream = self.client.events()
        // The client and its event loop end the target; the topology and maintenance tasks may end early
        // (a standalone server, maintenance events off) without ending the rest.
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.client.run()
                return true
            }
            group.addTask {
                for await event in stream { self.handle(event) }
                return true
            }
            group.addTask {
                await self.runTopology()
                return false
            }
            group.addTask {
                await self.watchMaintenanceEvents()
                return false
            }
            group.addTask {
                await self.runCanary()
                return false
            }
            group.addTask {
                // A credential command's fetches while the credential in hand serves.
                await self.credentials?.run()
                return false
            }
            while let ends = await group.next(), !ends {}
            group.cancelAll()
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

    // MARK: events of the target's own connection

    private func handle(_ event: MultiplexerEvent) {
        self.handle(event, now: Date().timeIntervalSince1970)
    }

    /// Folds one event of the target's own connection into metrics, events, the log and the status; its texts are
    /// scrubbed of the password first. `now`: seconds since 1970.
    func handle(_ event: MultiplexerEvent, now: Double) {
        let event = self.scrubber.scrub(event)
        self.metrics?.record(event, target: self.target.name)
        // The canary first: a handoff's new multiplexer brings a new subscriber connection.
        self.canarySubscriberEvent(event)
        if self.handleMaintenancePush(event, now: now) { return }
        if case .probe = event {
            // The run of suppressed force-reconnects ends once the target answers again.
            _ = self.throttles.withLock { $0.suppressions.recovered(now: now) }
            // Certificates entering the warning window, and the daily repeat, are noticed at the probes' pace.
            self.checkCertificates(now: now)
        } else if case .peerCertificates(let endpoint, let certificates) = event {
            self.events.append(target: self.target.name, event: event, at: now)
            self.recordCertificates(node: endpoint, certificates, now: now)
        } else {
            self.events.append(target: self.target.name, event: event, at: now)
            self.log(event, now: now)
        }
        self.updateStatus(now: now) { status in status.apply(event, now: now) }
        switch event {
        case .unresponsive(_, let error): self.hookEvent(.unresponsive, reason: "\(error)")
        case .forceReconnect(true, let reason): self.hookEvent(.forceReconnect, reason: "force-reconnect: \(reason)")
        default: break
        }
    }

    /// Changes the status; when its state or its short reason changed, logs it and tells the daemon (STATUS=).
    /// The target's own events and the cluster's arrive on two tasks: each status carries a version, so the
    /// daemon keeps the newest whatever order the notices arrive in.
    private func updateStatus(now: Double, _ change: (inout TargetStatus) -> Bool) {
        let changed: (TargetStatus, TargetStatus.State)? = self.status.withLock { status in
            let before = (status.state, status.shortReason)
            _ = change(&status)
            guard before != (status.state, status.shortReason) else { return nil }
            status.version += 1
            // Recorded under the status lock (the event log's is a leaf): two tasks changing the state can never
            // leave their transitions in the log in the wrong order.
            self.events.append(
                target: self.target.name,
                text: "state \(before.0.rawValue) → \(status.state.rawValue)" + (status.reason.map { ": \($0)" } ?? ""), at: now,
                importance: .significant, kind: "state-changed")
            return (status, before.0)
        }
        guard let (status, previous) = changed else { return }
        // The metric reads the state now, not the copy: two notices crossing cannot leave it stale.
        self.metrics?.recordState(target: self.target.name, state: self.status.withLock { $0.state })
        self.logger.notice(
            "Target state changed",
            metadata: ["redis.event": "state-changed", "redis.state": "\(status.state.rawValue)", "redis.reason": "\(status.reason ?? "-")"])
        self.onStateChange(status)
        switch status.state {
        case .down: self.hookEvent(.down, previousState: previous)
        case .degraded: self.hookEvent(.degraded, previousState: previous)
        case .healthy: self.hookEvent(.healthy, previousState: previous)
        case .starting, .connecting, .reconnecting, .misconfigured: break
        }
    }

    /// Logs what an operator needs: the first failure of a run, a new kind of failure, a summary a minute while it
    /// goes on, the recovery with the run's count; every attempt goes to the events and the metrics only.
    private func log(_ event: MultiplexerEvent, now: Double) {
        switch event {
        case .connectionFailed(let role, _, let kind, let message):
            let decision = self.throttles.withLock { $0.failures[role.rawValue, default: LogThrottle()].failure(kind: "\(kind)", now: now) }
            switch decision {
            case .log:
                self.logger.warning(
                    "Connection failed",
                    metadata: [
                        "redis.event": "connection-failed", "redis.role": "\(role.rawValue)", "error.kind": "\(kind)",
                        "error.message": "\(message)",
                    ])
            case .summary(let count, let seconds):
                self.logger.warning(
                    "Connection still failing",
                    metadata: [
                        "redis.event": "connection-still-failing", "redis.role": "\(role.rawValue)", "error.kind": "\(kind)",
                        "redis.attempts": "\(count)", "redis.window_seconds": "\(Int(seconds.rounded()))",
                        "error.message": "\(message)",
                    ])
            case .quiet:
                self.logger.debug(
                    "Connection failed", metadata: ["redis.event": "connection-failed", "error.kind": "\(kind)", "error.message": "\(message)"])
            }
        case .connected(let role, _, let version, let restored):
            let run = self.throttles.withLock { $0.failures[role.rawValue]?.recovered(now: now) } ?? nil
            var metadata: Logger.Metadata = [
                "redis.event": restored ? "connection-restored" : "connected", "redis.role": "\(role.rawValue)",
                "redis.protocol": "\(version)",
            ]
            if let run {
                metadata["redis.failed_attempts"] = "\(run.failures)"
                metadata["redis.outage_seconds"] = "\(Int(run.seconds.rounded()))"
            }
            self.logger.info(restored ? "Connection restored" : "Connected", metadata: metadata)
        case .reauthenticated(let role, let outcome, let message):
            var metadata: Logger.Metadata = ["redis.event": "reauthenticated", "redis.role": "\(role.rawValue)", "redis.outcome": "\(outcome)"]
            if let message { metadata["error.message"] = "\(message)" }
            switch outcome {
            case "ok": self.logger.info("Connection authenticated again with new credentials", metadata: metadata)
            case "reconnect": self.logger.info("Subscriber connection reconnects for new credentials (RESP2 cannot AUTH while subscribed)", metadata: metadata)
            case "expired": self.logger.warning("Connection closed: its credentials expired and no new ones could be had", metadata: metadata)
            default: self.logger.warning("Connection could not authenticate again with new credentials", metadata: metadata)
            }
        case .unresponsive(let failures, let error):
            self.logger.warning(
                "Target unresponsive",
                metadata: ["redis.event": "unresponsive", "redis.probe_failures": "\(failures)", "error.message": "\(error)"])
        case .forceReconnect(true, let reason):
            self.logger.notice("Force-reconnect acted", metadata: ["redis.event": "force-reconnect-acted", "redis.reason": "\(reason)"])
        case .forceReconnect(false, let reason):
            // Suppressions repeat while errors go on: the first of a run and a summary a minute.
            let decision = self.throttles.withLock { $0.suppressions.failure(kind: reason, now: now) }
            switch decision {
            case .log:
                self.logger.notice(
                    "Force-reconnect suppressed", metadata: ["redis.event": "force-reconnect-suppressed", "redis.reason": "\(reason)"])
            case .summary(let count, let seconds):
                self.logger.notice(
                    "Force-reconnects still suppressed",
                    metadata: [
                        "redis.event": "force-reconnect-suppressed", "redis.reason": "\(reason)", "redis.suppressed": "\(count)",
                        "redis.window_seconds": "\(Int(seconds.rounded()))",
                    ])
            case .quiet:
                break
            }
        default:
            self.logger.debug("Multiplexer event", metadata: ["redis.event": "multiplexer-event", "redis.detail": "\(describe(event))"])
        }
    }

    // MARK: topology

    /// standalone, cluster, detecting or off: kept in the status, where `status` and `topology` read it.
    func setMode(_ mode: String) {
        self.status.withLock { $0.topologyMode = mode }
    }

    /// `cluster: auto` asks the server (`INFO cluster`) once connected; `on` starts the cluster client at once.
    private func runTopology() async {
        switch self.target.cluster {
        case .off:
            return
        case .on:
            break
        case .auto:
            guard await self.detectCluster() else { return }
        }
        var nodeConfiguration = self.target.multiplexer
        nodeConfiguration.connection.password = self.password
        if let credentials = self.credentials {
            nodeConfiguration.connection.credentials = credentials.provider
            nodeConfiguration.credentialRefresh.margin = self.target.credentialRefreshMargin
        }
        let rules = self.target.endpointRules
        let dialDisallowed = self.target.dialDisallowed
        let policy: @Sendable (DialCandidate) -> String? = { candidate in
            dialDisallowed ? nil : rules.dialRefusal(candidate.endpoint)
        }
        let cluster: RedisClusterClient
        do {
            var clusterConfiguration = RedisClusterConfiguration(
                node: nodeConfiguration, seeds: [nodeConfiguration.connection.endpoint],
                refreshInterval: self.target.topologyRefreshInterval,
                minimumRefreshInterval: self.target.topologyMinimumRefreshInterval)
            clusterConfiguration.maxNodes = self.target.topologyMaxNodes
            cluster = try RedisClusterClient(configuration: clusterConfiguration, logger: self.logger, dialPolicy: policy)
        } catch {
            self.logger.error("Cannot start the cluster client", metadata: ["error.message": "\(error)"])
            return
        }
        let started = self.topology.withLock { state -> Bool in
            guard !state.isShutdown else { return false }
            state.cluster = cluster
            return true
        }
        guard started else { return }
        self.setMode("cluster")
        self.logger.info("Cluster target: watching the topology", metadata: ["redis.event": "topology-mode"])
        let stream = cluster.events()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await cluster.run() }
            // Replica names are resolved beside the event loop, never in it (a slow resolver must not hold up node
            // events): the newest topology only.
            let (topologies, newTopology) = AsyncStream.makeStream(of: ClusterTopology.self, bufferingPolicy: .bufferingNewest(1))
            group.addTask {
                for await event in stream {
                    self.handle(event)
                    if case .topologyRefreshed(let topology, _, _, _) = event { newTopology.yield(topology) }
                }
                newTopology.finish()
            }
            group.addTask {
                for await topology in topologies { await self.checkReplicaNames(topology) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func handle(_ event: ClusterEvent) {
        let event = self.scrubber.scrub(event)
        let now = Date().timeIntervalSince1970
        let name = self.target.name
        switch event {
        case .topologyRefreshed(let topology, let source, let command, let trigger):
            self.metrics?.recordTopologyRefresh(target: name, ok: true)
            if self.topology.withLock({ state in defer { state.refreshFailing = false }; return state.refreshFailing }) {
                self.logger.notice("Cluster topology refresh works again", metadata: ["redis.event": "topology-refreshed", "redis.trigger": "\(trigger)"])
            }
            let sourceText = "\(command) from \(source)"
            // The cluster client has applied this topology already: its dial decisions are this snapshot's.
            let dialed = self.clusterClient.map { $0.nodeEndpoints.map(\.description) }
            let notDialed = self.clusterClient.map { Dictionary(uniqueKeysWithValues: $0.notDialed.map { ($0.key.description, $0.value) }) }
            let observation = self.topology.withLock {
                $0.watch.observe(topology, source: sourceText, trigger: trigger, at: now, dialed: dialed, notDialed: notDialed)
            }
            self.topologyObserved(observation, topology: topology, source: sourceText, trigger: trigger, now: now)
        case .refreshFailed(let trigger, let message):
            self.metrics?.recordTopologyRefresh(target: name, ok: false)
            let first = self.topology.withLock { state in defer { state.refreshFailing = true }; return !state.refreshFailing }
            if first { self.events.append(target: name, text: "topology refresh failed (\(trigger)): \(message)", at: now, kind: "topology-refresh-failed") }
            if message.lowercased().contains("cluster support disabled") {
                // `cluster: on` against a server that is no cluster: say so in the status, not "0 primaries" forever.
                let problem =
                    "cluster: on, but \(self.target.multiplexer.connection.endpoint) has cluster support disabled; set cluster: off (or auto) for this target"
                self.updateStatus(now: now) { $0.setClusterProblem(problem, now: now) }
            }
            self.logger.log(
                level: first ? .warning : .debug,
                "Cluster topology refresh failed",
                metadata: ["redis.event": "topology-refresh-failed", "redis.trigger": "\(trigger)", "error.message": "\(message)"])
        case .nodeNotDialed(let id, let endpoint, let reason):
            self.events.append(target: name, text: "not dialing node \(id?.prefix(8) ?? "?") at \(endpoint): \(reason)", at: now, kind: "node-not-dialed")
            self.logger.notice(
                "Not dialing a cluster node outside the allowed endpoints",
                metadata: [
                    "redis.event": "node-not-dialed", "redis.node_id": "\(id ?? "-")", "redis.announced_endpoint": "\(endpoint)",
                    "redis.reason": "\(reason)",
                ])
        case .nodeOpened(let endpoint):
            self.events.append(target: name, text: "node connection opened to \(endpoint)", at: now, kind: "node-opened")
            self.logger.info("Cluster node connection opened", metadata: ["redis.event": "node-opened", "redis.node_endpoint": "\(endpoint)"])
        case .nodeClosed(let endpoint, let why):
            self.updateStatus(now: now) { $0.setNodeProblem(endpoint.description, nil, now: now) }
            // The target's own connection may be to the same endpoint: its certificate stays.
            if endpoint != self.target.multiplexer.connection.endpoint { self.forgetCertificates(node: endpoint, now: now) }
            // What became of the node: it moved (to an endpoint the allow-lists refuse?), failed, left, …
            self.events.append(target: name, text: "node connection closed to \(endpoint) (\(why))", at: now, kind: "node-closed")
            self.logger.info(
                "Cluster node connection closed", metadata: ["redis.event": "node-closed", "redis.node_endpoint": "\(endpoint)", "redis.reason": "\(why)"])
        case .tooManyNodes(let count, let limit):
            self.events.append(target: name, text: "the topology lists \(count) nodes, more than the limit of \(limit)", at: now, importance: .significant, kind: "too-many-nodes")
            self.logger.warning(
                "Cluster topology lists more nodes than the limit",
                metadata: ["redis.event": "too-many-nodes", "redis.node_count": "\(count)", "redis.node_limit": "\(limit)"])
        case .redirected(let redirection):
            self.logger.debug(
                "Command redirected", metadata: ["redis.event": "redirected", "redis.redirect": "\(redirection.kind.rawValue) \(redirection.slot) \(redirection.endpoint)"])
        case .node(let endpoint, let nodeEvent):
            if self.handleMaintenancePush(nodeEvent, now: now) { return }
            switch nodeEvent {
            case .connectionFailed(let role, _, let kind, let message):
                self.metrics?.recordNodeFailure(target: name, kind: kind.description)
                // A node being closed may still report its last failure: only a node still dialed counts.
                if role == .interactive, self.clusterClient?.multiplexer(at: endpoint) != nil {
                    self.updateStatus(now: now) { $0.setNodeProblem(endpoint.description, message, now: now) }
                }
                self.events.append(target: name, text: "node \(endpoint) \(role.rawValue) connection failed [\(kind)]: \(message)", at: now, kind: "node-connection-failed")
                let key = "\(endpoint) \(role.rawValue)"
                let decision = self.throttles.withLock { $0.nodes[key, default: LogThrottle()].failure(kind: "\(kind)", now: now) }
                var metadata: Logger.Metadata = [
                    "redis.event": "connection-failed", "redis.node_endpoint": "\(endpoint)", "redis.role": "\(role.rawValue)",
                    "error.kind": "\(kind)", "error.message": "\(message)",
                ]
                switch decision {
                case .log:
                    self.logger.warning("Cluster node connection failed", metadata: metadata)
                case .summary(let count, let seconds):
                    metadata["redis.event"] = "connection-still-failing"
                    metadata["redis.attempts"] = "\(count)"
                    metadata["redis.window_seconds"] = "\(Int(seconds.rounded()))"
                    self.logger.warning("Cluster node connection still failing", metadata: metadata)
                case .quiet:
                    self.logger.debug("Cluster node connection failed", metadata: metadata)
                }
            case .connected(let role, _, _, let restored):
                _ = self.throttles.withLock { $0.nodes["\(endpoint) \(role.rawValue)"]?.recovered(now: now) }
                if role == .interactive { self.updateStatus(now: now) { $0.setNodeProblem(endpoint.description, nil, now: now) } }
                self.events.append(target: name, text: "node \(endpoint) \(role.rawValue) connection \(restored ? "restored" : "up")", at: now, kind: "node-connected")
                self.logger.info(
                    restored ? "Cluster node connection restored" : "Cluster node connected",
                    metadata: ["redis.event": restored ? "connection-restored" : "connected", "redis.node_endpoint": "\(endpoint)"])
            case .peerCertificates(_, let certificates):
                // A node being closed may still report its handshake: only a node still dialed counts.
                guard self.clusterClient?.multiplexer(at: endpoint) != nil else { break }
                self.events.append(target: name, text: "node \(endpoint): \(describe(nodeEvent))", at: now, kind: "node-tls-certificate")
                self.recordCertificates(node: endpoint, certificates, now: now)
            case .probe:
                // Certificates entering the warning window are noticed at the nodes' probes too (the seed may be
                // down while the cluster serves).
                self.checkCertificates(now: now)
            case .reauthenticated(let role, let outcome, let message):
                // Counted with the target's own connections' (one series per target).
                self.metrics?.record(nodeEvent, target: name)
                self.events.append(target: name, text: "node \(endpoint): \(describe(nodeEvent))", at: now,
                    importance: outcome == "ok" ? .routine : .significant, kind: "node-\(kind(of: nodeEvent))")
                var metadata: Logger.Metadata = [
                    "redis.event": "reauthenticated", "redis.node_endpoint": "\(endpoint)", "redis.role": "\(role.rawValue)",
                    "redis.outcome": "\(outcome)",
                ]
                if let message { metadata["error.message"] = "\(message)" }
                if outcome == "ok" || outcome == "reconnect" {
                    self.logger.info("Cluster node connection authenticated again with new credentials", metadata: metadata)
                } else {
                    self.logger.warning("Cluster node connection could not authenticate again", metadata: metadata)
                }
            case .unresponsive(let failures, let error):
                self.events.append(target: name, text: "node \(endpoint) unresponsive after \(failures) probes: \(error)", at: now, importance: .significant, kind: "node-unresponsive")
                self.logger.warning(
                    "Cluster node unresponsive",
                    metadata: ["redis.event": "unresponsive", "redis.node_endpoint": "\(endpoint)", "error.message": "\(error)"])
            default:
                break
            }
        }
    }

    private func topologyObserved(
        _ observation: TopologyWatch.Observation, topology: ClusterTopology, source: String, trigger: String, now: Double
    ) {
        let name = self.target.name
        if observation.isFirst {
            self.events.append(
                target: name, text: "topology discovered: \(topology.primaries.count) primaries, \(topology.nodes.count - topology.primaries.count) replicas (\(source))",
                at: now, importance: .significant, kind: "topology-discovered")
            self.logger.info(
                "Cluster topology discovered",
                metadata: [
                    "redis.event": "topology-changed", "redis.topology_source": "\(source)", "redis.trigger": "\(trigger)",
                    "redis.nodes": "\(topology.nodes.count)",
                ])
        } else {
            for change in observation.changes {
                self.metrics?.recordTopologyChange(target: name, kind: change.kind.rawValue)
                self.events.append(target: name, text: "topology: \(change.description) (\(source), \(trigger))", at: now, importance: .significant, kind: "topology-changed")
                self.logger.notice(
                    "Cluster topology changed",
                    metadata: [
                        "redis.event": "topology-changed", "redis.change": "\(change.kind.rawValue)", "redis.node_id": "\(change.nodeID)",
                        "redis.change_detail": "\(change.description)", "redis.topology_source": "\(source)", "redis.trigger": "\(trigger)",
                    ])
            }
        }
        for anomaly in observation.newAnomalies {
            self.events.append(target: name, text: "ANOMALY \(anomaly.message) (\(source))", at: now, importance: .significant, kind: "topology-anomaly")
            self.logger.warning(
                "Topology anomaly: a node announces an endpoint outside the allowed list",
                metadata: [
                    "redis.event": "topology-anomaly", "redis.node_id": "\(anomaly.nodeID)",
                    "redis.announced_endpoint": "\(anomaly.endpoint)", "redis.rule": "\(anomaly.rule)",
                    "redis.topology_source": "\(source)", "redis.trigger": "\(trigger)",
                    "redis.dialed": "\(self.target.dialDisallowed ? "yes (dial_disallowed: true)" : "no")",
                    "error.message": "\(anomaly.message)",
                ])
            self.hookEvent(.anomaly, reason: anomaly.message)
        }
        for anomaly in observation.clearedAnomalies {
            self.events.append(target: name, text: "anomaly cleared: \(anomaly.message)", at: now, importance: .significant, kind: "topology-anomaly-cleared")
            self.logger.notice(
                "Topology anomaly cleared",
                metadata: [
                    "redis.event": "topology-anomaly-cleared", "redis.node_id": "\(anomaly.nodeID)",
                    "redis.announced_endpoint": "\(anomaly.endpoint)", "redis.rule": "\(anomaly.rule)",
                ])
            self.hookEvent(.anomalyCleared, reason: "cleared: \(anomaly.message)")
        }
        let anomalies = observation.anomalies
        self.metrics?.recordAnomalies(target: name, count: anomalies.count)
        // Node problems of endpoints no longer dialed (closed, or refused by the rules) no longer count.
        let dialed = Set((self.clusterClient?.nodeEndpoints ?? []).map(\.description))
        self.updateStatus(now: now) { status in
            status.clusterProblem = nil
            return status.setClusterState(
                anomalies: anomalies, uncoveredSlots: topology.uncoveredSlots,
                nodeProblems: status.nodeProblems.filter { dialed.contains($0.key) },
                servingPrimaries: topology.primaries.filter { !$0.isFailed }.count, now: now)
        }
    }

    // MARK: maintenance events

    private func watchMaintenanceEvents() async {
        guard self.target.subscribesToMaintenanceEvents else { return }
        let messages = await self.client.subscribe(MaintenanceEvent.channel)
        self.logger.info("Subscribed to maintenance events", metadata: ["redis.event": "maintenance-subscribed", "redis.channel": "\(MaintenanceEvent.channel)"])
        for await message in messages {
            self.handleMaintenance(String(buffer: message.payload))
        }
    }

    /// Logs a maintenance notification and refreshes the topology after Ended, FailoverComplete, ScaleComplete.
    /// Malformed messages and unknown types are logged, never fatal. At most 10 a minute are recorded (events,
    /// journal); the rest are counted (`redis_healthd_maintenance_events_suppressed_total`) and summed up in one
    /// event when recording resumes. `now`: seconds since 1970 (tests pass their own).
    func handleMaintenance(_ text: String, now: Double = Date().timeIntervalSince1970) {
        let text = self.scrubber.scrub(text)
        let name = self.target.name
        let decision = self.maintenanceLimit.withLock { $0.arrived(now: now) }
        switch decision {
        case .suppress(let first):
            self.metrics?.recordMaintenanceSuppressed(target: name)
            if first {
                self.logger.warning(
                    "Maintenance notifications arrive faster than 10 a minute: recording the rest only as a count",
                    metadata: ["redis.event": "maintenance-rate-limited", "redis.channel": "\(MaintenanceEvent.channel)"])
            }
            // Not recorded, but a notification that may mean a changed topology still asks for a (rate-limited)
            // refresh.
            if let event = try? MaintenanceEvent.parse(text), event.refreshesTopology {
                self.requestTopologyRefresh(trigger: "maintenance:\(event.type)")
            }
            return
        case .record(let suppressedBefore) where suppressedBefore > 0:
            self.events.append(
                target: name,
                text: "\(suppressedBefore) maintenance event\(suppressedBefore == 1 ? "" : "s") suppressed (more than 10 a minute on \(MaintenanceEvent.channel))",
                at: now, kind: "maintenance-rate-limited")
            self.logger.notice(
                "Maintenance notifications were rate-limited",
                metadata: ["redis.event": "maintenance-rate-limited", "redis.suppressed": "\(suppressedBefore)"])
        case .record:
            break
        }
        let event: MaintenanceEvent
        do {
            event = try MaintenanceEvent.parse(text)
        } catch {
            self.metrics?.recordMaintenance(target: name, type: "malformed")
            let excerpt = String(text.prefix(200))
            self.events.append(target: name, text: "malformed maintenance message: \(error)", at: now, kind: "maintenance-malformed")
            self.logger.warning(
                "Malformed maintenance message ignored",
                metadata: ["redis.event": "maintenance-malformed", "error.message": "\(error)", "redis.maintenance_message": "\(excerpt)"])
            return
        }
        self.metrics?.recordMaintenance(target: name, type: event.kind?.rawValue ?? "unknown")
        self.status.withLock { $0.lastMaintenanceEvent = "\(rfc3339(now)) \(event.summary)" }
        var refreshed = false
        if event.refreshesTopology { refreshed = self.requestTopologyRefresh(trigger: "maintenance:\(event.type)") }
        self.events.append(
            target: name,
            text: "maintenance \(event.summary)" + (event.kind == nil ? " (unknown type)" : "") + (refreshed ? "; topology refresh requested" : ""),
            at: now, kind: "maintenance-event")
        var metadata: Logger.Metadata = [
            "redis.event": "maintenance-event", "redis.maintenance_type": "\(event.type)",
            "redis.maintenance_summary": "\(event.summary)", "redis.topology_refresh": "\(refreshed)",
        ]
        if let ip = event.ipAddress { metadata["redis.maintenance_ip"] = "\(ip)" }
        if let start = event.startTimeInUTC { metadata["redis.maintenance_start"] = "\(start)" }
        if event.kind == nil {
            self.logger.warning("Unknown maintenance notification type", metadata: metadata)
        } else {
            self.logger.notice("Maintenance event", metadata: metadata)
        }
        self.hookEvent(.maintenance, reason: "maintenance \(event.summary)")
    }
}

// MARK: diagnostics export

extension TargetSupervisor {
    /// Secrets to scrub from anything exported.
    var secrets: [String] { self.scrubber.secrets }

    /// This target's part of a support bundle: its settings, status, topology and history, recent events, the
    /// host name resolved now, and what every node answers (nodes outside the allowed endpoints are not contacted
    /// unless `dial_disallowed: true`).
    func exportBundle(events: [EventLog.Entry]) async -> DiagnosticsBundle.Target {
        let now = Date().timeIntervalSince1970
        let topology = self.topologyDocument()
        let mode = self.status.withLock { $0.topologyMode }
        let clusterTopology = self.topology.withLock { $0.watch.current?.topology }
        var connection = self.target.multiplexer.connection
        connection.password = self.password
        connection.credentials = self.credentials?.provider
        let tls = connection.tls != nil
        let rules = self.target.endpointRules
        var nodes: [(RedisEndpoint, String, String?, String?)] = [(connection.endpoint, "configured", nil, nil)]
        for node in clusterTopology?.nodes ?? [] {
            guard let endpoint = node.endpoint(tls: tls) else { continue }
            if endpoint == nodes[0].0 {
                nodes[0].1 = "configured \(node.role.rawValue)"
                nodes[0].2 = node.id
                continue
            }
            guard !nodes.contains(where: { $0.0 == endpoint }) else { continue }
            // The same judgement as the cluster client's dial policy: the address that would be dialed.
            let refusal = self.target.dialDisallowed ? nil : rules.dialRefusal(endpoint)
            let skipped = refusal.map { "not contacted: \($0) (dial_disallowed: false)" }
            nodes.append((endpoint, node.role.rawValue, node.id, skipped))
        }
        let isCluster = mode == "cluster"
        let logger = self.logger
        let configuration = connection
        let candidates = nodes
        let secrets = self.secrets
        let results = await withTaskGroup(of: (Int, DiagnosticsBundle.Node).self) { group in
            for (index, node) in candidates.enumerated() {
                group.addTask {
                    (index, await DiagnosticsExporter.node(secrets: secrets,
                        endpoint: node.0, role: node.1, nodeID: node.2, skipped: node.3, configuration: configuration,
                        cluster: isCluster, logger: logger))
                }
            }
            var results: [(Int, DiagnosticsBundle.Node)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        // getaddrinfo blocks: a thread of NIO's pool, not one of the cooperative pool.
        let host = connection.endpoint.host
        let (addresses, resolveError) =
            (try? await NIOThreadPool.singleton.runIfActive { DiagnosticsExporter.resolve(host) }) ?? ([], "not resolved: shutting down")
        return DiagnosticsBundle.Target(
            name: self.target.name, configuration: self.target.effectiveSettings,
            status: StatusDocument.Target(self.snapshot, now: now), topology: topology, resolvedAddresses: addresses,
            resolveError: resolveError, nodes: results, events: events.filter { $0.target == self.target.name })
    }
}

/// Runs in a `ServiceGroup`: its graceful shutdown closes the target's connections (see ``TargetSupervisor/run()``).
extension TargetSupervisor: Service {}
