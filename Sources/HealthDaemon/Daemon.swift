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

/// The daemon's wiring: one supervisor per target, started and stopped in its task group, the control socket and the
/// metrics listener, stop(). Reloads, the control backend and what systemd is told live in Daemon+*.swift.
///
/// It knows nothing of systemd: it reports through `notify` (sd_notify strings) and leaves signals to its caller.
public final class Daemon: ControlBackend {
    /// The configuration the daemon started with (control socket, metrics listener: those need a restart).
    public let configuration: DaemonConfiguration
    public let events = EventLog()
    public let metrics: DaemonMetrics
    /// Runs `hooks:` on the targets' events.
    public let hooks: HookRunner
    let loader: ConfigurationLoader
    let version: String
    let logger: Logger
    let notify: @Sendable (String) -> Void
    let state = Mutex(State())
    /// Supervisors to start (at first and after reloads) and to stop (a reload removed or rebuilt their target):
    /// ``run()``'s task group does both.
    let supervisorWork: AsyncStream<SupervisorWork>
    /// Folds every target's events into its status: one loop for all the targets (see ``EventFolder``).
    let folder = EventFolder()
    let supervisorWorkContinuation: AsyncStream<SupervisorWork>.Continuation
    /// A target's state changed: the `STATUS=` line is due again. Changes that come while one is being sent are
    /// folded into the next (the stream keeps one element), so 1,000 targets starting make a few lines, not 2,000.
    let statusChanges: AsyncStream<Void>
    let statusChangesContinuation: AsyncStream<Void>.Continuation
    let lastSupervisionTick = Mutex<ContinuousClock.Instant>(.now)
    let exporting = Mutex(false)
    /// Spreads the targets' dials: 1,000 targets starting (or coming back to one server) dial one a millisecond,
    /// not all at once. One target, or a few, dial without waiting.
    private let dialLimiter = DialRateLimiter(interval: .milliseconds(1), horizon: .seconds(2))
    /// Whether stop() was called, and run()'s waiter for it.
    private let stopState = Mutex<(stopped: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    enum SupervisorWork: Sendable {
        case start(TargetSupervisor)
        case stop(TargetSupervisor)
    }

    struct State {
        /// In configuration order.
        var supervisors: [TargetSupervisor] = []
        /// The supervisor running each target now: only its state-change notices count (one a reload replaced
        /// may still report while it stops).
        var running: [String: ObjectIdentifier] = [:]
        /// A hash of the password each target was built with (its settings are in its supervisor), to see what a
        /// reload changes.
        var passwordHashes: [String: Int] = [:]
        /// The status each target's supervisor last reported with a state change (they come in order: one writer
        /// per target), without its probe window.
        var latest: [String: TargetStatus] = [:]
        /// Whether ``run()`` has started the targets: until then a reload only replaces supervisors (nobody started
        /// them, ``run()`` starts those it finds), after it a reload starts and stops its own.
        var targetsStarted = false

        /// Sets the supervisors (configuration order) and which one runs each target.
        mutating func setSupervisors(_ supervisors: [TargetSupervisor]) {
            self.supervisors = supervisors
            self.running = Dictionary(uniqueKeysWithValues: supervisors.map { ($0.target.name, ObjectIdentifier($0)) })
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
            $0.setSupervisors(supervisors)
            $0.passwordHashes = passwordHashes
        }
    }

    var supervisors: [TargetSupervisor] { self.state.withLock { $0.supervisors } }

    /// A new supervisor for `target`. It registers the target's metrics afresh (state `starting`): build one only for
    /// a target that starts, never to compare configurations.
    /// `earlier`: the supervisor of the same target this one replaces (a reload rebuilt it): its topology history is
    /// kept.
    func makeSupervisor(
        _ target: DaemonConfiguration.Target, password: RedisSecret?, earlier: TargetSupervisor? = nil
    ) throws -> TargetSupervisor {
        let sender = NoticeSender()
        let supervisor = try TargetSupervisor(
            target: target, password: password, credentialsDirectory: self.loader.credentialsDirectory, events: self.events,
            metrics: self.metrics, dialLimiter: self.dialLimiter, logger: self.logger,
            onStateChange: { [weak self] status in self?.stateChanged(status, from: sender.id) },
            onHookEvent: { [weak self] firing in self?.hooks.fire(firing) }, carryingOver: earlier, folder: self.folder)
        // Before it runs: its first notice comes from its folding loop.
        sender.id = ObjectIdentifier(supervisor)
        return supervisor
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
        // Under the lock a reload takes: a reload that came before (the control socket already listens, a SIGHUP is
        // already trapped) replaced supervisors nobody had started, and each is started once, here.
        self.state.withLock { state in
            state.targetsStarted = true
            for supervisor in state.supervisors { self.supervisorWorkContinuation.yield(.start(supervisor)) }
        }
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
            // The targets' events are folded until the end, after the supervisors: their last events are folded too.
            group.addTask { await self.folder.run(clock: { Date().timeIntervalSince1970 }) }
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

    var isStopped: Bool { self.stopState.withLock { $0.stopped } }

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

/// Which supervisor a state-change notice comes from: set right after the supervisor is built, before it runs.
private final class NoticeSender: Sendable {
    private let identity = Mutex<ObjectIdentifier?>(nil)

    var id: ObjectIdentifier? {
        get { self.identity.withLock { $0 } }
        set { self.identity.withLock { $0 = newValue } }
    }
}
