import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HealthDaemon

#if canImport(Glibc)
import Glibc
import LogText
#endif

/// Where the commands that talk to the daemon find its control socket.
struct SocketOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The daemon's control socket. Default: $REDIS_HEALTHD_SOCKET, else control.socket of --config, else /run/redis-healthd/control.sock.",
            valueName: "path"))
    var socket: String?

    @Option(name: .long, help: ArgumentHelp("Read control.socket from this configuration file.", valueName: "path"))
    var config: String?

    static let defaultSocket = DaemonConfiguration().control.socket

    /// The socket to use and where that choice came from (said when the daemon cannot be reached).
    func resolve() throws(ControlClientError) -> (path: String, source: String) {
        if let socket = self.socket { return (socket, "--socket") }
        if let socket = ProcessInfo.processInfo.environment["REDIS_HEALTHD_SOCKET"], !socket.isEmpty {
            return (socket, "REDIS_HEALTHD_SOCKET")
        }
        if let config = self.config {
            let socket = try ConfigurationLoader.controlSocket(inFile: config) ?? Self.defaultSocket
            return (socket, "control.socket of \(config)")
        }
        // The default configuration file, when this user can read it; otherwise the default socket.
        if FileManager.default.isReadableFile(atPath: defaultConfigurationPath),
            let socket = try? ConfigurationLoader.controlSocket(inFile: defaultConfigurationPath)
        {
            return (socket, "control.socket of \(defaultConfigurationPath)")
        }
        return (Self.defaultSocket, "the default")
    }

    /// A client for the resolved socket.
    func client(timeout: Int = 10) throws -> (ControlClient, String) {
        do {
            let (path, source) = try self.resolve()
            return (ControlClient(socketPath: path, timeout: timeout), source)
        } catch {
            throw failure(error.description)
        }
    }

    /// Sends one request; a daemon that cannot be reached is a failure that says which socket was tried and how to
    /// point elsewhere.
    func request(_ method: String, _ path: String, timeout: Int = 10, exitCode: Int32 = 1) throws -> ControlClient.Response {
        let (client, source) = try self.client(timeout: timeout)
        do {
            return try client.request(method, path)
        } catch {
            throw failure(
                "\(error.description) (socket from \(source); point elsewhere with --socket PATH, REDIS_HEALTHD_SOCKET or --config FILE)",
                code: exitCode)
        }
    }
}

/// `redis-healthd status [TARGET] [--json]`
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the targets' health (a table, or JSON with --json).",
        discussion: """
            Exit status, for monitoring and scripts (as a Nagios-style check): 0 every target shown is healthy; \
            1 some are degraded, starting or connecting; 2 some are reconnecting, down or misconfigured; \
            3 the daemon could not be asked (not running, no permission).
            """)

    @Argument(help: "Show only this target.")
    var target: String?

    @Flag(name: .long, help: "Print JSON: timestamps in RFC 3339, durations in seconds.")
    var json = false

    @OptionGroup var socket: SocketOption

    func run() throws {
        let path = self.target.map { "/status/\(percentEncoded($0))" } ?? "/status"
        let response = try self.socket.request("GET", path, exitCode: 3)
        guard response.status == 200 else {
            throw failure(errorMessage(response), code: response.status == 404 ? 3 : 3)
        }
        let decoder = JSONDecoder()
        let targets: [StatusDocument.Target]
        if self.target != nil {
            targets = [try decoder.decode(StatusDocument.Target.self, from: response.body)]
        } else {
            targets = try decoder.decode(StatusDocument.self, from: response.body).targets
        }
        if self.json {
            print(String(decoding: response.body, as: UTF8.self), terminator: "")
        } else {
            print(renderTable(targets), terminator: "")
        }
        let code = statusExitCode(targets.map { TargetStatus.State(rawValue: $0.state) ?? .down })
        if code != 0 { throw ExitCode(code) }
    }
}

/// 0 all healthy; 1 some degraded or not up yet; 2 some reconnecting, down or misconfigured.
func statusExitCode(_ states: [TargetStatus.State]) -> Int32 {
    states.map { state -> Int32 in
        switch state {
        case .healthy: 0
        case .degraded, .starting, .connecting: 1
        case .reconnecting, .down, .misconfigured: 2
        }
    }.max() ?? 0
}

/// `redis-healthd reconnect TARGET`
struct Reconnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Force-reconnect a target now (bypasses the error threshold, not the minimum interval).")

    @Argument(help: "The target.")
    var target: String

    @OptionGroup var socket: SocketOption

    func run() throws {
        let response = try self.socket.request("POST", "/reconnect/\(percentEncoded(self.target))", timeout: 60)
        guard response.status == 200 else { throw failure(errorMessage(response)) }
        let object = try JSONDecoder().decode(JSONValue.self, from: response.body)
        print("\(self.target): \((object["outcome"]?.string ?? "done").escapingControlCharacters)")
    }
}

func percentEncoded(_ text: String) -> String {
    text.percentEncodedPathSegment
}

/// Prints `message` to stderr and exits with `code` (not ArgumentParser's usage error, which would print the usage
/// too).
func failure(_ message: String, code: Int32 = 1) -> ExitCode {
    var standardError = StandardError()
    print("redis-healthd: \(message)", to: &standardError)
    return ExitCode(code)
}

/// A note on stderr that does not end the command.
func note(_ message: String) {
    var standardError = StandardError()
    print("redis-healthd: \(message)", to: &standardError)
}

func errorMessage(_ response: ControlClient.Response) -> String {
    let object = JSONValue.decode(response.body)
    return object?["error"]?.string?.escapingControlCharacters ?? "the daemon answered HTTP \(response.status)"
}

/// `redis-healthd events [--follow] [--since N] [--target NAME] [--json]`
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show recent events; with --follow, keep printing new ones.",
        discussion: """
            Events are numbered from 1 each time the daemon starts: --since N shows those after N. With --follow, \
            a daemon that stops or restarts is waited for and followed again (a restart is said on stderr).
            """)

    @Flag(name: .long, help: "Keep printing new events until interrupted; survives daemon restarts.")
    var follow = false

    @Option(name: .long, help: "Only events after this number.")
    var since: Int = 0

    @Option(name: .long, help: ArgumentHelp("Only this target's events.", valueName: "name"))
    var target: String?

    @Flag(name: .long, help: "One JSON object a line: sequence, time (RFC 3339), target, kind, event.")
    var json = false

    @OptionGroup var socket: SocketOption

    func run() throws {
        let (client, source) = try self.socket.client()
        var since = self.since
        var started: String?
        var unreachableSaid = false
        var first = true
        let query = self.target.map { "&target=\(percentEncoded($0))" } ?? ""
        while true {
            let response: ControlClient.Response
            do {
                response = try client.request("GET", "/events?since=\(since)\(query)")
                if unreachableSaid {
                    note("the daemon answers again on \(client.socketPath)")
                    unreachableSaid = false
                }
            } catch {
                guard self.follow else {
                    throw failure(
                        "\(error.description) (socket from \(source); point elsewhere with --socket PATH, REDIS_HEALTHD_SOCKET or --config FILE)")
                }
                if !unreachableSaid {
                    note("\(error.description); waiting for it (Ctrl-C to stop)")
                    unreachableSaid = true
                }
                sleep(1)
                continue
            }
            guard response.status == 200 else { throw failure(errorMessage(response)) }
            let document = try JSONDecoder().decode(EventsDocument.self, from: response.body)
            let startedNow = rfc3339(document.started)
            var events = document.events
            if let started, started != startedNow {
                // A new daemon: its numbers start again at 1. Show everything it has.
                note("the daemon restarted at \(startedNow); event numbers start again at 1")
                events = try self.refetch(client, query: query)
                since = 0
            } else if first && since > document.latest {
                note(
                    "no events after \(since): this daemon (started \(startedNow)) has numbered its events up to \(document.latest); numbers start again at 1 with every start"
                )
            }
            self.printEvents(events)
            if let last = events.last { since = last.sequence }
            started = startedNow
            first = false
            fflush(nil)
            guard self.follow else { return }
            sleep(1)
        }
    }

    private func refetch(_ client: ControlClient, query: String) throws -> [EventLog.Entry] {
        let response = try client.request("GET", "/events?since=0\(query)")
        return try JSONDecoder().decode(EventsDocument.self, from: response.body).events
    }

    private func printEvents(_ events: [EventLog.Entry]) {
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for entry in events {
                // JSON escapes control characters itself: one object a line whatever a server put in it.
                if let line = try? encoder.encode(entry) { print(String(decoding: line, as: UTF8.self)) }
            }
            return
        }
        for entry in events {
            // One event per line, whatever a server put in it.
            print(
                "\(entry.sequence)\t\(rfc3339(entry.time))\t\(entry.target.escapingControlCharacters)\t\(entry.event.escapingControlCharacters)")
        }
    }
}
