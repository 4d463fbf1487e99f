#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix
import RedisClient
import ServiceLifecycle
import Synchronization

/// The daemon: one supervisor per target, the control socket, and a summary for the service manager.
///
/// It knows nothing of systemd: it reports through `notify` (sd_notify strings) and leaves signals to its caller.
public final class Daemon: ControlBackend {
    /// The configuration the daemon started with (control socket, metrics listener: those need a restart).
    public let configuration: DaemonConfiguration
    public let events = EventLog()
    public let metrics: DaemonMetrics
    /// Runs `hooks:` on the targets' events.
    public let hooks: HookRunner
    private let loader: ConfigurationLoader
    private let version: String
    private let logger: Logger
    private let notify: @Sendable (String) -> Void
    private let state = Mutex(State())
    /// Supervisors to start (at first and after reloads) and to stop (a reload removed or rebuilt their target):
    /// ``run()``'s task group does both.
    private let supervisorWork: AsyncStream<SupervisorWork>
    private let supervisorWorkContinuation: AsyncStream<SupervisorWork>.Continuation
    /// A target's state changed: the `STATUS=` line is due again. Changes that come while one is being sent are
    /// folded into the next (the stream keeps one element), so 1,000 targets starting make a few lines, not 2,000.
    private let statusChanges: AsyncStream<Void>
    private let statusChangesContinuation: AsyncStream<Void>.Continuation
    private let lastSupervisionTick = Mutex<ContinuousClock.Instant>(.now)
    private let exporting = Mutex(false)
    /// Spreads the targets' dials: 1,000 targets starting (or coming back to one server) dial one a millisecond,
    /// not all at once. One target, or a few, dial without waiting.
    private let dialLimiter = DialRateLimiter(interval: .milliseconds(1), horizon: .seconds(2))
    /// Whether stop() was called, and run()'s waiter for it.
    private let stopState = Mutex<(stopped: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    private enum SupervisorWork: Sendable {
        case start(TargetSupervisor)
        case stop(TargetSupervisor)
    }

    private struct State {
        /// In configuration order.
        var supervisors: [TargetSupervisor] = []
        /// A hash of the password each target was built with (its settings are in its supervisor), to see what a
        /// reload changes.
        var passwordHashes: [String: Int] = [:]
        var latest: [String: TargetStatus] = [:]
    }

    /// What a reload did.
    public struct ReloadOutcome: Sendable, Hashable, CustomStringConvertible {
        public var added: [String] = []
        public var removed: [String] = []
        public var restarted: [String] = []
        public var unchanged: [String] = []
        public var needsRestart: [String] = []

        public var description: String {
            "added [\(added.joined(separator: ", "))], removed [\(removed.joined(separator: ", "))], restarted [\(restarted.joined(separator: ", "))], unchanged [\(unchanged.joined(separator: ", "))]"
                + (needsRestart.isEmpty ? "" : "; needs a restart to apply: \(needsRestart.joined(separator: ", "))")
        }
    }

    public init(
        configuration: DaemonConfiguration, loader: ConfigurationLoader = ConfigurationLoader(), logger: Logger,
        version: String = "dev", notify: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        self.metrics = DaemonMetrics(version: version)
        self.configuration = configuration
        self.loader = loader
        self.version = version
        self.logger = logger
        self.notify = notify
        self.hooks = HookRunner(hooks: configuration.hooks, logger: logger)
        (self.supervisorWork, self.supervisorWorkContinuation) = AsyncStream.makeStream(of: SupervisorWork.self)
        (self.statusChanges, self.statusChangesContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        var supervisors: [TargetSupervisor] = []
        var passwordHashes: [String: Int] = [:]
        for target in configuration.targets {
            let password = try self.loader.password(for: target)
            supervisors.append(try self.makeSupervisor(target, password: password))
            passwordHashes[target.name] = Self.passwordHash(password)
        }
        self.state.withLock {
            $0.supervisors = supervisors
            $0.passwordHashes = passwordHashes
        }
    }

    private var supervisors: [TargetSupervisor] { self.state.withLock { $0.supervisors } }

    /// A new supervisor for `target`. It registers the target's metrics afresh (state `starting`): build one only for
    /// a target that starts, never to compare configurations.
    private func makeSupervisor(_ target: DaemonConfiguration.Target, password: RedisSecret?) throws -> TargetSupervisor {
        try TargetSupervisor(
            target: target, password: password, credentialsDirectory: self.loader.credentialsDirectory, events: self.events,
            metrics: self.metrics, dialLimiter: self.dialLimiter, logger: self.logger, onStateChange: { [weak self] status in self?.stateChanged(status) },
            onHookEvent: { [weak self] firing in self?.hooks.fire(firing) })
    }

    /// The password a target is built with, as a hash (what stays in memory to see whether a reload changes it).
    private static func passwordHash(_ password: RedisSecret?) -> Int {
        var hasher = Hasher()
        hasher.combine(password?.value)
        return hasher.finalize()
    }

    /// Whether `target` (with `passwordHash`) is built differently from `supervisor`'s. The settings are compared
    /// by their full description: computed here, at a reload, never at start (1,000 of them take about 100 ms).
    private static func differs(
        _ target: DaemonConfiguration.Target, passwordHash: Int, from supervisor: TargetSupervisor?, builtWith oldHash: Int?
    ) -> Bool {
        guard let supervisor, let oldHash, oldHash == passwordHash else { return true }
        return "\(supervisor.target)" != "\(target)"
    }

    private func stateChanged(_ status: TargetStatus) {
        self.state.withLock { state in
            // Two notices of one target may cross: keep the newest.
            if (state.latest[status.name]?.version ?? -1) < status.version { state.latest[status.name] = status }
        }
        self.statusChangesContinuation.yield()
    }

    /// The `STATUS=` line now, from the newest state each target reported.
    private var currentStatusLine: String {
        let (supervisors, latest) = self.state.withLock { ($0.supervisors, $0.latest) }
        return statusLine(supervisors.map { latest[$0.target.name] ?? $0.snapshot })
    }

    /// Sends `STATUS=` after state changes, at most ten times a second: each line is computed over every target
    /// once, however many changed meanwhile.
    private func sendStatusLines() async {
        for await _ in self.statusChanges {
            // Once stopping, `STATUS=stopping` (sent with STOPPING=1) stays the last word.
            if self.isStopped { return }
            self.notify("STATUS=\(self.currentStatusLine)")
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Applies a new configuration: new targets start, removed ones stop, changed ones are rebuilt, unchanged
    /// ones keep running untouched. Control socket and metrics listener changes need a restart (reported).
    public func reload(_ configuration: DaemonConfiguration) throws -> ReloadOutcome {
        var outcome = ReloadOutcome()
        if configuration.control != self.configuration.control { outcome.needsRestart.append("control") }
        if configuration.metricsListen != self.configuration.metricsListen { outcome.needsRestart.append("metrics.listen") }
        if configuration.metricsLimits != self.configuration.metricsLimits { outcome.needsRestart.append("metrics") }
        if configuration.logLevel != self.configuration.logLevel { outcome.needsRestart.append("log.level") }
        // Build every new supervisor first: a password that cannot be read rejects the whole reload.
        // Unchanged targets are only compared, never rebuilt: a supervisor built and thrown away would reset their
        // metrics (target_up 0, state starting) until their next state change.
        var built: [String: (TargetSupervisor, Int)] = [:]
        let current = self.state.withLock { ($0.passwordHashes, Dictionary(uniqueKeysWithValues: $0.supervisors.map { ($0.target.name, $0) })) }
        var changed: [(DaemonConfiguration.Target, RedisSecret?, Int)] = []
        for target in configuration.targets {
            let password = try self.loader.password(for: target)
            let hash = Self.passwordHash(password)
            if Self.differs(target, passwordHash: hash, from: current.1[target.name], builtWith: current.0[target.name]) {
                changed.append((target, password, hash))
            }
        }
        for (target, password, hash) in changed {
            let supervisor = try self.makeSupervisor(target, password: password)
            // A target rebuilt under the same name keeps its topology history.
            if let old = current.1[target.name] { supervisor.carryTopologyHistory(from: old) }
            built[target.name] = (supervisor, hash)
        }
        var toStop: [TargetSupervisor] = []
        var toStart: [TargetSupervisor] = []
        self.state.withLock { state in
            var supervisors: [TargetSupervisor] = []
            for target in configuration.targets {
                if let (supervisor, hash) = built[target.name] {
                    if let old = current.1[target.name] {
                        toStop.append(old)
                        outcome.restarted.append(target.name)
                    } else {
                        outcome.added.append(target.name)
                    }
                    supervisors.append(supervisor)
                    toStart.append(supervisor)
                    state.passwordHashes[target.name] = hash
                    state.latest[target.name] = nil
                } else if let existing = current.1[target.name] {
                    supervisors.append(existing)
                    outcome.unchanged.append(target.name)
                }
            }
            let kept = Set(configuration.targets.map(\.name))
            for (name, old) in current.1 where !kept.contains(name) {
                toStop.append(old)
                outcome.removed.append(name)
                state.passwordHashes[name] = nil
                state.latest[name] = nil
            }
            state.supervisors = supervisors
        }
        self.hooks.update(configuration.hooks)
        for supervisor in toStop {
            // Its certificate series go now (a rebuilt target's new supervisor records its own at its handshakes).
            supervisor.retireCertificates()
            // Stopped by run()'s task group; once that has stopped taking work, its end cancels the supervisor's run().
            self.supervisorWorkContinuation.yield(.stop(supervisor))
        }
        for supervisor in toStart { self.supervisorWorkContinuation.yield(.start(supervisor)) }
        self.statusChangesContinuation.yield()
        return outcome
    }

    public func statusDocument() -> StatusDocument {
        let now = Date().timeIntervalSince1970
        return StatusDocument(targets: self.supervisors.map { StatusDocument.Target($0.snapshot, now: now) })
    }

    public var statuses: [TargetStatus] { self.supervisors.map(\.snapshot) }

    public func events(since: Int, target: String?) -> EventsDocument {
        EventsDocument(events: self.events.entries(since: since, target: target), latest: self.events.latest, started: self.events.started)
    }

    public func metricsText() -> String { self.metrics.exposition() }

    public func reconnect(target: String) async -> String? {
        guard let supervisor = self.supervisors.first(where: { $0.target.name == target }) else { return nil }
        switch await supervisor.client.forceReconnect() {
        case .replaced: return "replaced"
        case .failed(let message): return "failed: \(message)"
        case .suppressed(let reason): return "suppressed: \(reason.rawValue)"
        }
    }

    public func topology(target: String) -> TopologyDocument? {
        self.supervisors.first { $0.target.name == target }?.topologyDocument()
    }

    /// The support bundle as JSON, secrets redacted. One export runs at a time (each opens a connection per node):
    /// a second request meanwhile is told so (`busy`).
    public func export(target: String?) async -> ExportOutcome {
        let chosen = self.supervisors.filter { target == nil || $0.target.name == target }
        if target != nil && chosen.isEmpty { return .noSuchTarget }
        guard self.exporting.withLock({ busy in defer { busy = true }; return !busy }) else { return .busy }
        defer { self.exporting.withLock { $0 = false } }
        let events = self.events.entries(since: 0)
        var targets: [DiagnosticsBundle.Target] = []
        for supervisor in chosen { targets.append(await supervisor.exportBundle(events: events)) }
        // /proc/sys and uname: file reads, on a thread of NIO's pool rather than the cooperative pool.
        let configured = chosen.map(\.target)
        let host =
            (try? await NIOThreadPool.singleton.runIfActive { DiagnosticsExporter.host(targets: configured) })
            ?? DiagnosticsBundle.Host(hostname: "?", kernel: "?", tcp: [:], warnings: [])
        let bundle = DiagnosticsBundle(
            generatedAt: rfc3339(Date().timeIntervalSince1970), version: self.version,
            host: host, targets: targets,
            redaction: "passwords (wherever they appear, server replies and errors included) and CONFIG parameters holding secrets (*pass*, masterauth, *secret*, *token*) are replaced by <redacted>")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let encoded = try? encoder.encode(bundle) else { return .bundle("{}") }
        // Every string of the bundle, whatever its source, is scrubbed of every target's secrets.
        let scrubber = SecretScrubber(chosen.flatMap(\.secrets))
        let scrubbed = scrubber.scrubJSON(encoded, options: encoder.outputFormatting)
        return .bundle(String(decoding: scrubbed, as: UTF8.self))
    }

    /// Warns when the host would take minutes to notice a dead connection (tcp_retries2 > 5 without
    /// TCP_USER_TIMEOUT); returns the warning, if any.
    @discardableResult
    public func checkHost() -> String? {
        let (retries, warning) = HostCheck.check(self.supervisors.map(\.target))
        if let warning {
            self.logger.warning(
                "Host check: dead connections would be noticed late",
                metadata: ["redis.event": "host-check", "host.tcp_retries2": "\(retries ?? "unreadable")", "error.message": "\(warning)"])
        } else {
            self.logger.debug("Host check passed", metadata: ["host.tcp_retries2": "\(retries ?? "unreadable")"])
        }
        return warning
    }

    /// Starts the control socket and every target, sends READY=1 (without waiting for Redis), and runs until
    /// ``stop()``, the task's cancellation, or a `ServiceGroup`'s graceful shutdown (which calls ``stop()``).
    ///
    /// When stopped (or cancelled) it sends `STOPPING=1`, closes every target's connections, then the control socket
    /// and the metrics listener, and returns.
    public func run() async throws {
        self.checkHost()
        let control = try await ControlServer.start(
            path: self.configuration.control.socket, mode: self.configuration.control.mode,
            limits: self.configuration.control.limits, backend: self,
            logger: self.logger)
        self.logger.info(
            "Listening on the control socket",
            metadata: ["control.socket": "\(control.path)", "targets": "\(self.supervisors.count)"])
        var metricsListener: ControlServer?
        if let listen = self.configuration.metricsListen, let (host, port) = splitHostPort(listen) {
            do {
                metricsListener = try await ControlServer.startMetricsListener(
                    host: host, port: port, limits: self.configuration.metricsLimits, backend: self, logger: self.logger)
                self.logger.info("Serving metrics", metadata: ["metrics.listen": "\(metricsListener!.path)"])
            } catch {
                // The daemon's job is the health of Redis paths: a busy metrics port must not stop it.
                let reason: String
                if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                    reason = "port \(port) on \(host) is already in use by another program (ss -ltnp 'sport = :\(port)' shows which); choose another metrics.listen"
                } else if let io = error as? IOError, io.errnoCode == EADDRNOTAVAIL {
                    reason = "\(host) is not an address of this host; choose another metrics.listen"
                } else {
                    reason = "\(error)"
                }
                self.logger.error(
                    "Cannot listen for metrics; carrying on without", metadata: ["metrics.listen": "\(listen)", "error.message": "\(reason)"])
            }
        }
        let listeners = [control] + (metricsListener.map { [$0] } ?? [])
        self.notify("READY=1\nSTATUS=\(statusLine(self.statuses))")
        for supervisor in self.supervisors { self.supervisorWorkContinuation.yield(.start(supervisor)) }
        await withGracefulShutdownHandler {
            await self.runTargets(listeners: listeners)
        } onGracefulShutdown: {
            self.stop()
        }
        for listener in listeners { await listener.stop() }
    }

    /// The daemon's tasks: the listeners' request work, the supervisors (started and stopped as reloads say), the
    /// liveness ticks and the `STATUS=` lines, until ``stop()`` or cancellation.
    private func runTargets(listeners: [ControlServer]) async {
        await withDiscardingTaskGroup { group in
            for listener in listeners { group.addTask { await listener.run() } }
            group.addTask {
                await self.waitForStop()
                self.supervisorWorkContinuation.finish()
                self.statusChangesContinuation.finish()
            }
            group.addTask { await self.supervisionLoop() }
            group.addTask { await self.sendStatusLines() }
            group.addTask { await self.hooks.run() }
            // Supervisors start here, at first and after reloads; those a reload replaced stop here.
            for await work in self.supervisorWork {
                switch work {
                case .start(let supervisor): group.addTask { await supervisor.run() }
                case .stop(let supervisor): group.addTask { await supervisor.shutdown() }
                }
            }
            // Stopped, or cancelled: stopping all the same (STOPPING=1 goes out once).
            self.stop()
            for supervisor in self.supervisors { await supervisor.shutdown() }
            // What is still running ends now: the listeners' work, the hooks, a supervisor a reload replaced while
            // the daemon stopped (its stop came too late to be taken), and everything when cancelled.
            group.cancelAll()
        }
    }

    /// Ticks while the daemon works: it takes every target's status lock (the lock the event handling takes), without
    /// copying the statuses. The watchdog pings only while these ticks keep coming.
    private func supervisionLoop() async {
        while !self.isStopped && !Task.isCancelled {
            for supervisor in self.supervisors { supervisor.checkResponsive() }
            self.lastSupervisionTick.withLock { $0 = .now }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Whether the supervision loop ticked within `interval`: what WATCHDOG=1 vouches for.
    public func isAlive(within interval: Duration) -> Bool {
        self.lastSupervisionTick.withLock { $0.duration(to: .now) <= interval }
    }

    /// Ends ``run()``: `STOPPING=1` goes out at once, then connections are closed and the control socket removed.
    public func stop() {
        let (first, waiter) = self.stopState.withLock { state in
            let first = !state.stopped
            state.stopped = true
            defer { state.waiter = nil }
            return (first, state.waiter)
        }
        if first {
            self.notify("STOPPING=1\nSTATUS=stopping")
            self.logger.info("Stopping: closing connections")
        }
        waiter?.resume()
    }

    private var isStopped: Bool { self.stopState.withLock { $0.stopped } }

    private func waitForStop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = self.stopState.withLock { state in
                if !state.stopped { state.waiter = continuation }
                return state.stopped
            }
            if alreadyStopped { continuation.resume() }
        }
    }
}

/// Runs in a `ServiceGroup`: its graceful shutdown stops the daemon (see ``Daemon/run()``).
extension Daemon: Service {}

/// `127.0.0.1:9121` / `[::1]:9121` → (host, port).
func splitHostPort(_ text: String) -> (String, Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return host.isEmpty ? nil : (host, port)
}
