import Foundation
import Logging
import RedisMultiplexer
import Synchronization

/// The daemon: one supervisor per target, the control socket, and a summary for the service manager.
///
/// It knows nothing of systemd: it reports through `notify` (sd_notify strings) and leaves signals to its caller.
public final class Daemon: ControlBackend {
    public let configuration: DaemonConfiguration
    public let events = EventLog()
    public let metrics: DaemonMetrics
    private let supervisors: [TargetSupervisor]
    private let logger: Logger
    private let notify: @Sendable (String) -> Void
    private let stopSignal = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let stopped = Mutex(false)

    public init(
        configuration: DaemonConfiguration, loader: ConfigurationLoader = ConfigurationLoader(), logger: Logger,
        version: String = "dev", notify: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        self.metrics = DaemonMetrics(version: version)
        self.configuration = configuration
        self.logger = logger
        self.notify = notify
        var supervisors: [TargetSupervisor] = []
        let events = self.events
        let summary = Mutex<[String: TargetStatus]>([:])
        for target in configuration.targets {
            let password = try loader.password(for: target)
            let supervisor = try TargetSupervisor(
                target: target, password: password, events: events, metrics: self.metrics, logger: logger,
                onStateChange: { status in
                    let line = summary.withLock { statuses in
                        statuses[status.name] = status
                        return statusLine(configuration.targets.map { statuses[$0.name] ?? TargetStatus(name: $0.name, endpoint: "", now: 0) })
                    }
                    notify("STATUS=\(line)")
                })
            supervisors.append(supervisor)
        }
        self.supervisors = supervisors
    }

    public func statusDocument() -> StatusDocument {
        let now = Date().timeIntervalSince1970
        return StatusDocument(targets: self.supervisors.map { StatusDocument.Target($0.snapshot, now: now) })
    }

    public var statuses: [TargetStatus] { self.supervisors.map(\.snapshot) }

    public func events(since: Int) -> [EventLog.Entry] { self.events.entries(since: since) }

    public func metricsText() -> String { self.metrics.exposition() }

    public func reconnect(target: String) async -> String? {
        guard let supervisor = self.supervisors.first(where: { $0.target.name == target }) else { return nil }
        switch await supervisor.client.forceReconnect() {
        case .replaced: return "replaced"
        case .failed(let message): return "failed: \(message)"
        case .suppressed(let reason): return "suppressed: \(reason.rawValue)"
        }
    }

    /// Starts the control socket and every target, sends READY=1 (without waiting for Redis), and runs until
    /// ``stop()``.
    public func run() async throws {
        let control = try await ControlServer.start(
            path: self.configuration.control.socket, mode: self.configuration.control.mode, backend: self,
            logger: self.logger)
        self.logger.info(
            "Listening on the control socket",
            metadata: ["control.socket": "\(control.path)", "targets": "\(self.supervisors.count)"])
        var metricsListener: ControlServer?
        if let listen = self.configuration.metricsListen, let (host, port) = splitHostPort(listen) {
            do {
                metricsListener = try await ControlServer.startMetricsListener(
                    host: host, port: port, backend: self, logger: self.logger)
                self.logger.info("Serving metrics", metadata: ["metrics.listen": "\(metricsListener!.path)"])
            } catch {
                // The daemon's job is the health of Redis paths: a busy metrics port must not stop it.
                self.logger.error(
                    "Cannot listen for metrics; carrying on without", metadata: ["metrics.listen": "\(listen)", "error.message": "\(error)"])
            }
        }
        self.notify("READY=1\nSTATUS=\(statusLine(self.statuses))")
        await withTaskGroup(of: Void.self) { group in
            for supervisor in self.supervisors {
                group.addTask { await supervisor.run() }
            }
            await self.waitForStop()
            self.notify("STOPPING=1\nSTATUS=stopping")
            self.logger.info("Stopping: closing connections")
            for supervisor in self.supervisors { await supervisor.shutdown() }
            await group.waitForAll()
        }
        await control.stop()
        await metricsListener?.stop()
    }

    /// Ends ``run()``: connections are closed, the control socket removed.
    public func stop() {
        let waiter = self.stopSignal.withLock { waiter in
            defer { waiter = nil }
            return waiter
        }
        self.stopped.withLock { $0 = true }
        waiter?.resume()
    }

    private func waitForStop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = self.stopped.withLock { $0 }
            if alreadyStopped {
                continuation.resume()
                return
            }
            self.stopSignal.withLock { $0 = continuation }
            if self.stopped.withLock({ $0 }), let waiter = self.stopSignal.withLock({ w -> CheckedContinuation<Void, Never>? in
                defer { w = nil }
                return w
            }) {
                waiter.resume()
            }
        }
    }
}

/// `127.0.0.1:9121` / `[::1]:9121` → (host, port).
func splitHostPort(_ text: String) -> (String, Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return host.isEmpty ? nil : (host, port)
}
