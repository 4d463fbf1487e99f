import ArgumentParser
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HealthDaemon
import Logging
import Systemd

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

        // Signals: SIGTERM/SIGINT stop; SIGHUP re-reads and validates the file (an invalid file is rejected).
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        let queue = DispatchQueue(label: "redis-healthd.signals")
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { daemon.stop() }
            source.resume()
            sources.append(source)
        }
        let configPath = self.config
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        hangup.setEventHandler {
            notifier.send("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds())")
            do {
                let outcome = try daemon.reload(try loader.load(file: configPath))
                logger.notice(
                    "Configuration reloaded", metadata: ["redis.event": "config-reloaded", "reload.outcome": "\(outcome)"])
            } catch {
                logger.error(
                    "Configuration reload rejected; the running configuration stays",
                    metadata: ["redis.event": "config-rejected", "error.message": "\(error)"])
            }
            notifier.send("READY=1")
        }
        hangup.resume()
        sources.append(hangup)

        let watchdog = Task {
            // WATCHDOG=1 at half of WATCHDOG_USEC, only while this loop (and so the daemon's tasks) runs.
            guard let interval = notifier.watchdogInterval else { return }
            while !Task.isCancelled {
                // Only while the daemon's own supervision loop is alive: a wedged daemon gets restarted.
                if daemon.isAlive(within: interval / 2) { notifier.send("WATCHDOG=1") }
                try? await Task.sleep(for: interval / 2)
            }
        }
        defer { watchdog.cancel() }
        try await daemon.run()
        _ = sources
        // STOPPING=1 and the last STATUS= go out before the process ends (each send is bounded).
        await notifier.flush()
        logger.info("Stopped")
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
