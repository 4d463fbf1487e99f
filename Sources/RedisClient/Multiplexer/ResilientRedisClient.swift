import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP
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

    private enum Request: Sendable {
        case run(RedisMultiplexer)
        case swap(reason: ForceReconnectGuard<ContinuousClock.Instant>.Reason, done: CheckedContinuation<ForceReconnectOutcome, Never>?)
        /// A MOVING notification of the multiplexer of `generation`: hand off after its time.
        case handoff(MaintenanceNotification, generation: Int)
    }

    private struct State: ~Copyable {
        var current: RedisMultiplexer
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
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let sslContext: NIOSSLContext?
    public let subscriptions: SubscriptionRegistry
    private let state: Mutex<State>
    private let broadcaster = EventBroadcaster<MultiplexerEvent>()
    private let requests: AsyncStream<Request>
    private let requestsContinuation: AsyncStream<Request>.Continuation
    /// Why an endpoint announced by MOVING must not be dialed (nil: it may be).
    private let movingPolicy: @Sendable (RedisEndpoint) -> String?
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

    /// Held while an event is routed and published, and while a swap publishes the replacement's state: an event
    /// of the old multiplexer routed as current can never be published after the swap's events.
    private let publishOrder = Mutex(())

    /// A new multiplexer, to the configured endpoint or to `endpoint` (a MOVING handoff).
    private func makeMultiplexer(endpoint: RedisEndpoint? = nil) -> RedisMultiplexer {
        let generation = self.state.withLock { state in
            state.generation += 1
            return state.generation
        }
        var configuration = self.configuration
        if let endpoint { configuration.connection.endpoint = endpoint }
        return RedisMultiplexer(
            configuration: configuration, generation: generation, eventLoopGroup: self.eventLoopGroup,
            sslContext: self.sslContext, subscriptions: self.subscriptions, logger: self.logger, dialLimiter: self.dialLimiter,
            emit: { [weak self] event in self?.multiplexerEvent(event, generation: generation) })
    }

    /// Events of the current multiplexer are published and fed to the guard; a replacement's tell when it is
    /// ready to be swapped in; others are dropped.
    private func multiplexerEvent(_ event: MultiplexerEvent, generation: Int) {
        self.publishOrder.withLock { _ in self.routeAndPublish(event, generation: generation) }
    }

    private func routeAndPublish(_ event: MultiplexerEvent, generation: Int) {
        enum Route {
            case current
            case replacement(OneShot<ReplacementReady>)
            case drop
        }
        let route = self.state.withLock { state -> Route in
            if state.current.generation == generation { return .current }
            if let replacement = state.replacement, replacement.multiplexer.generation == generation {
                return .replacement(replacement.ready)
            }
            return .drop
        }
        switch route {
        case .current: break
        case .drop: return
        case .replacement(let ready):
            self.replacementEvent(event, ready: ready)
            return
        }
        self.publish(event)
        if case .maintenanceNotification(_, let notification, false) = event, notification.kind == .moving {
            self.requestsContinuation.yield(.handoff(notification, generation: generation))
        }
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

    /// Whether errors now are expected: the current multiplexer is in a maintenance window.
    private var inMaintenanceWindow: Bool { self.current.isInMaintenanceWindow }

    /// A replacement is ready once connected and, with probes on, once a probe answered on that connection.
    private func replacementEvent(_ event: MultiplexerEvent, ready: OneShot<ReplacementReady>) {
        let probesOn = self.configuration.probeInterval != nil
        switch event {
        case .connected(.interactive, let endpoint, let version, _):
            let connected = ReplacementReady(endpoint: endpoint, protocolVersion: version, probeLatency: nil)
            if probesOn {
                ready.stage(connected)
            } else {
                ready.fulfil(connected)
            }
        case .probe(let latency):
            ready.fulfilStaged { staged in
                var staged = staged
                staged.probeLatency = latency
                return staged
            }
        case .connectionFailed(.interactive, _, _, _):
            ready.unstage()
        default:
            break
        }
    }

    private func observeError(_ kind: ForceReconnectGuard<ContinuousClock.Instant>.ErrorKind) {
        // During a maintenance window the server said errors would come: they do not count.
        if self.inMaintenanceWindow { return }
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

    /// Runs the current multiplexer (and its replacements) until the task is cancelled, ``shutdown()`` is called, or
    /// a `ServiceGroup`'s graceful shutdown reaches it (the same as ``shutdown()``). Returns with every connection
    /// closed.
    public func run() async {
        await withGracefulShutdownHandler {
            await self.runMultiplexers()
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        // Shut down (rather than cancelled): the event streams end, as after shutdown().
        if self.isShutdown { self.broadcaster.finish() }
    }

    private func runMultiplexers() async {
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
                case .handoff(let notification, let generation):
                    group.addTask { await self.handOff(notification, generation: generation) }
                }
            }
            await self.current.shutdown()
            group.cancelAll()
        }
    }

    /// Closes everything (a replacement being brought up included) and ends ``run()``.
    public func shutdown() async {
        let (current, replacement) = self.beginShutdown()
        await replacement?.shutdown()
        await current.shutdown()
        self.broadcaster.finish()
    }

    private var isShutdown: Bool { self.state.withLock { $0.isShutdown } }

    /// Marks the client shut down and ends ``run()``'s request loop (which then closes the current multiplexer and
    /// cancels the rest); returns at once, with the multiplexers for ``shutdown()`` to close.
    @discardableResult
    private func beginShutdown() -> (current: RedisMultiplexer, replacement: RedisMultiplexer?) {
        let (current, replacement) = self.state.withLock { state in
            state.isShutdown = true
            return (state.current, state.replacement)
        }
        self.requestsContinuation.finish()
        replacement?.ready.cancel()
        return (current, replacement?.multiplexer)
    }

    /// Asks for a force-reconnect now (an operator's request): bypasses the error threshold, not the
    /// minimum interval; joins one already under way. Returns once it has finished.
    public func forceReconnect() async -> ForceReconnectOutcome {
        let shutDown = ForceReconnectOutcome.failed("the client was shut down; nothing to reconnect")
        guard let decision = self.state.withLock({ state in
            state.isShutdown ? nil : state.guardState.manualRequest(now: .now)
        }) else { return shutDown }
        self.publish(.forceReconnect(acted: decision.acted, reason: decision.reason.rawValue))
        guard decision.acted else { return .suppressed(decision.reason) }
        return await withCheckedContinuation { continuation in
            // A request nobody will run (the client shut down meanwhile) is answered at once, never dropped.
            if case .terminated = self.requestsContinuation.yield(.swap(reason: decision.reason, done: continuation)) {
                self.state.withLock { $0.guardState.reconnectFailed(now: .now) }
                continuation.resume(returning: shutDown)
            }
        }
    }

    /// A MOVING handoff: the announced endpoint is judged at once (a refused one is reported and never dialed); after
    /// the announced time, a connection to it is built, swapped in like a force-reconnect's, and the old one closed
    /// once its callers have their replies. Nothing happens if the multiplexer was replaced meanwhile.
    private func handOff(_ notification: MaintenanceNotification, generation: Int) async {
        let from = self.current.configuration.connection.endpoint
        let to = notification.endpoint ?? from
        // `null`: the same (configured) endpoint again, which is always dialed; an announced one is judged.
        if notification.endpoint != nil, let refusal = self.movingPolicy(to) {
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .notDialed(refusal)))
            return
        }
        let token = self.state.withLock { state in
            state.handoffToken += 1
            return state.handoffToken
        }
        try? await Task.sleep(for: MaintenanceWindow<ContinuousClock.Instant>.handoffDelay(notification))
        let go = self.state.withLock { state -> Bool in
            guard !state.isShutdown, state.current.generation == generation, state.handoffToken == token else { return false }
            if let last = state.lastHandoff, last.duration(to: .now) < .seconds(5) { return false }
            state.lastHandoff = .now
            return true
        }
        guard !Task.isCancelled, go else {
            self.logger.debug("MOVING handoff dropped: a newer one, a swap or another handoff less than 5 s ago", metadata: ["redis.endpoint": "\(to)"])
            return
        }
        switch await self.replaceMultiplexer(reason: nil, endpoint: to) {
        case .replaced:
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .completed))
        case .failed(let message):
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .failed(message)))
        case .suppressed(let reason):
            self.publish(.maintenanceHandoff(from: from, to: to, outcome: .failed(reason.rawValue)))
        }
    }

    /// New multiplexer first, connected and (with probes on) answering; then swap; then close the old one. `reason`
    /// nil: a MOVING handoff to `endpoint` (the force-reconnect guard is not involved, and the old multiplexer's
    /// callers get their replies before it closes).
    private func replaceMultiplexer(
        reason: ForceReconnectGuard<ContinuousClock.Instant>.Reason?, endpoint: RedisEndpoint? = nil
    ) async -> ForceReconnectOutcome {
        let isHandoff = reason == nil
        let replacement = self.makeMultiplexer(endpoint: endpoint)
        let target = replacement.configuration.connection.endpoint
        let ready = OneShot<ReplacementReady>()
        let registered = self.state.withLock { state -> Bool in
            guard !state.isShutdown, !(isHandoff && state.replacement != nil) else { return false }
            state.replacement = (replacement, ready)
            return true
        }
        guard registered else {
            guard isHandoff else {
                return await self.replacementFailed(replacement, message: "the client was shut down; nothing was replaced")
            }
            await replacement.shutdown()
            return .failed("the client was shut down or a force-reconnect is under way; no handoff")
        }
        guard case .enqueued = self.requestsContinuation.yield(.run(replacement)) else {
            return await self.replacementFailed(replacement, message: "the client was shut down; nothing was replaced", isHandoff: isHandoff)
        }
        let budget = self.configuration.connection.connectTimeout + self.configuration.connection.commandTimeout
            + (self.configuration.probeInterval ?? .zero) + self.configuration.probeTimeout
        guard let shown = await ready.wait(timeout: budget) else {
            let message =
                "the new connection to \(target) did not come up and answer within \(budget.humanReadable); the old one was kept"
            return await self.replacementFailed(replacement, message: message, isHandoff: isHandoff)
        }
        let old = self.publishOrder.withLock { _ -> RedisMultiplexer? in
            let old = self.state.withLock { state -> RedisMultiplexer? in
                if state.replacement?.multiplexer === replacement { state.replacement = nil }
                guard !state.isShutdown else { return nil }
                let old = state.current
                state.current = replacement
                if !isHandoff {
                    state.forceReconnects += 1
                    state.guardState.reconnectSucceeded(now: .now)
                }
                return old
            }
            if old != nil {
                // The replacement's own events before the swap were not published: say what it showed, so that
                // the status follows the connection now in use (in order: nothing of the old one comes after).
                self.publish(
                    .connected(role: .interactive, endpoint: shown.endpoint, protocolVersion: shown.protocolVersion, restored: true))
                if let latency = shown.probeLatency { self.publish(.probe(latency: latency)) }
            }
            return old
        }
        guard let old else {
            await replacement.shutdown()
            return .failed("the client was shut down; nothing was replaced")
        }
        if isHandoff {
            // Commands already on the old connection get their replies before it closes.
            await old.drain(within: self.configuration.connection.commandTimeout)
            await old.shutdown()
            self.logger.debug("Maintenance handoff done", metadata: ["redis.endpoint": "\(target)"])
            return .replaced
        }
        await old.shutdown()
        self.publish(.forceReconnectCompleted(succeeded: true, error: nil))
        self.logger.debug("Force-reconnect done", metadata: ["redis.endpoint": "\(self.configuration.connection.endpoint)"])
        return .replaced
    }

    private func replacementFailed(_ replacement: RedisMultiplexer, message: String, isHandoff: Bool = false) async -> ForceReconnectOutcome {
        self.state.withLock { state in
            if state.replacement?.multiplexer === replacement { state.replacement = nil }
            if !isHandoff { state.guardState.reconnectFailed(now: .now) }
        }
        await replacement.shutdown()
        if isHandoff { return .failed(message) }
        self.publish(.forceReconnectCompleted(succeeded: false, error: message))
        return .failed(message)
    }

    // MARK: commands

    /// Sends `command` through the current multiplexer.
    ///
    /// A command that never reached the server because its multiplexer was shut down by a swap (a handoff or
    /// force-reconnect while it waited for a connection) is sent once on the new one, within what is left of its
    /// timeout. A command already written is never sent again (it may have run: INCR, PUBLISH): its error stands.
    public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        let started = ContinuousClock.now
        let multiplexer = self.current
        do {
            return try await multiplexer.send(command, timeout: timeout)
        } catch {
            let replacement = self.current
            if error.code == .connectionClosed, error.message == RedisMultiplexer.shutDownMessage, replacement !== multiplexer {
                let budget = (timeout ?? self.configuration.connection.commandTimeout) - started.duration(to: .now)
                if budget > .zero {
                    do {
                        return try await replacement.send(command, timeout: budget)
                    } catch {
                        if error.code == .commandTimeout { self.observeError(.timeout) }
                        throw error
                    }
                }
            }
            if error.code == .commandTimeout { self.observeError(.timeout) }
            throw error
        }
    }

    /// Closes the current multiplexer's subscriber connection (silently dead: a message published did not arrive);
    /// it is reconnected and re-subscribed at once. Returns whether there was one to close.
    @discardableResult
    public func reconnectSubscriber(reason: String) -> Bool {
        self.current.reconnectSubscriber(reason: reason)
    }

    /// Whether the current multiplexer's subscriber connection is up.
    public var isSubscriberConnected: Bool { self.current.isSubscriberConnected }

    /// Subscribes to `channel`; the subscription survives reconnects and force-reconnects.
    public func subscribe(_ channel: String) async -> AsyncStream<PubSubMessage> {
        await self.current.subscribe(Subscription(kind: .channel, name: channel))
    }

    /// Subscribes to channels matching `pattern` (PSUBSCRIBE); survives reconnects and force-reconnects.
    public func psubscribe(_ pattern: String) async -> AsyncStream<PubSubMessage> {
        await self.current.subscribe(Subscription(kind: .pattern, name: pattern))
    }
}

/// Runs in a `ServiceGroup`: its graceful shutdown shuts the client down (see ``ResilientRedisClient/run()``).
extension ResilientRedisClient: Service {}
