import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HealthDaemon
import Logging
import NIOPosix
import ServiceLifecycle
import Systemd
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `redis-healthd run`: the daemon in the foreground, as systemd runs it.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon in the foreground (systemd Type=notify).")

    @Option(name: .long, help: "The configuration file.")
    var config: String = defaultConfigurationPath

    func run() async throws {
        // A reader of stdout/stderr that goes away (`redis-healthd run | head -1`) must not kill the daemon.
        signal(SIGPIPE, SIG_IGN)
        let loader = ConfigurationLoader()
        let configuration: DaemonConfiguration
        do {
            configuration = try loader.load(file: self.config)
        } catch {
            var standardError = StandardError()
            print("<3>\(error.description)", to: &standardError)
            throw ExitCode(1)
        }
        // Another daemon answering on the same control socket: taking its socket over would leave it unreachable.
        if let answer = liveDaemon(at: configuration.control.socket) {
            writeToStandardError(
                "<3>another redis-healthd is running on \(configuration.control.socket) (it answered: \(answer)); stop it first, or give this one another control.socket\n")
            throw ExitCode(1)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        // journald when stderr is its stream (or when asked with REDIS_HEALTHD_LOG=journal), else stderr lines.
        let useJournal =
            JournalLogHandler.stderrIsJournal || ProcessInfo.processInfo.environment["REDIS_HEALTHD_LOG"] == "journal"
        LoggingSystem.bootstrap { label in
            if useJournal {
                var handler = JournalLogHandler()
                handler.logLevel = level
                return handler
            }
            var handler = PriorityStderrLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "redis-healthd")
        let notifier = SystemdNotifier()
        let daemon = try Daemon(
            configuration: configuration, loader: loader, logger: logger, version: RedisHealthdVersion.number,
            notify: { notifier.send($0) })

        // Signals: SIGTERM/SIGINT shut the service group down gracefully; SIGHUP re-reads and validates the file (an
        // invalid file is rejected). Ignored by default: each is only ever seen through the signal sources below
        // (one arriving when none listens, before the group started or after it ended, does nothing).
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        // Trapped now, before READY=1: a reload asked for at once is never lost.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloader = ReloadOnHangup(
            hangups: hangups, daemon: daemon, loader: loader, configPath: self.config, notifier: notifier, logger: logger)
        let watchdog = Watchdog(daemon: daemon, notifier: notifier)
        // Graceful shutdown goes in reverse order: the footprint service and reloads end first, then the daemon
        // (STOPPING=1, connections closed, control socket removed), then the watchdog, which pings while the
        // daemon stops.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    // Without WatchdogSec= it has nothing to do and returns at once: that ends nothing else.
                    .init(service: watchdog, successTerminationBehavior: .ignore, serviceName: "watchdog"),
                    .init(service: daemon, serviceName: "daemon"),
                    .init(service: reloader, serviceName: "reload-on-sighup"),
                    .init(service: FootprintService(), serviceName: "footprint"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        // STOPPING=1 and the last STATUS= go out before the process ends (each send is bounded).
        await notifier.flush()
        logger.info("Stopped")
    }
}

/// `WATCHDOG=1` at half of `WATCHDOG_USEC`, only while the daemon's own supervision loop is alive: a wedged daemon
/// gets restarted. Without a watchdog interval it returns at once.
struct Watchdog: Service {
    let daemon: Daemon
    let notifier: SystemdNotifier

    func run() async {
        guard let interval = self.notifier.watchdogInterval else { return }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if self.daemon.isAlive(within: interval / 2) { self.notifier.send("WATCHDOG=1") }
            // The sleep ends early at the group's graceful shutdown (or cancellation).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval / 2) }
        }
    }
}

/// SIGHUP: `RELOADING=1`, the configuration file read again and applied (an invalid one is rejected and the running
/// configuration stays), `READY=1`. Until the group's graceful shutdown.
struct ReloadOnHangup: Service {
    let hangups: UnixSignalsSequence
    let daemon: Daemon
    let loader: ConfigurationLoader
    let configPath: String
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async {
        for await _ in self.hangups.cancelOnGracefulShutdown() {
            self.notifier.send("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds())")
            do {
                // Files are read (the configuration, password files): a thread of NIO's pool, not the cooperative pool.
                let (daemon, loader, path) = (self.daemon, self.loader, self.configPath)
                let outcome = try await NIOThreadPool.singleton.runIfActive { try daemon.reload(try loader.load(file: path)) }
                self.logger.notice(
                    "Configuration reloaded", metadata: ["redis.event": "config-reloaded", "reload.outcome": "\(outcome)"])
            } catch {
                self.logger.error(
                    "Configuration reload rejected; the running configuration stays",
                    metadata: ["redis.event": "config-rejected", "error.message": "\(error)"])
            }
            self.notifier.send("READY=1")
        }
    }
}

/// What a daemon already listening on `socket` answers to GET /status (its HTTP status line), or nil when none
/// does (no socket, or one left by a daemon that stopped).
func liveDaemon(at socket: String) -> String? {
    guard let response = try? ControlClient(socketPath: socket, timeout: 2).request("GET", "/status") else { return nil }
    return "HTTP \(response.status)"
}

func monotonicMicroseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1_000
}
