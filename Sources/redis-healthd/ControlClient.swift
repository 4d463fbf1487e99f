import ArgumentParser
import Foundation
import HealthDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Options every command that talks to the daemon takes.
struct SocketOption: ParsableArguments {
    @Option(name: .long, help: "The daemon's control socket (control.socket in its configuration).")
    var socket: String = "/run/redis-healthd/control.sock"
}

/// `redis-healthd status [TARGET] [--json]`
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the targets' health (a table, or JSON with --json).")

    @Argument(help: "Show only this target.")
    var target: String?

    @Flag(name: .long, help: "Print JSON: timestamps in RFC 3339, durations in seconds.")
    var json = false

    @OptionGroup var socket: SocketOption

    func run() throws {
        let client = ControlClient(socketPath: self.socket.socket)
        let path = self.target.map { "/status/\($0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? $0)" } ?? "/status"
        let response: ControlClient.Response
        do {
            response = try client.request("GET", path)
        } catch {
            throw failure(error.description)
        }
        guard response.status == 200 else {
            throw failure(errorMessage(response))
        }
        if self.json {
            print(String(decoding: response.body, as: UTF8.self), terminator: "")
            return
        }
        let decoder = JSONDecoder()
        let targets: [StatusDocument.Target]
        if self.target != nil {
            targets = [try decoder.decode(StatusDocument.Target.self, from: response.body)]
        } else {
            targets = try decoder.decode(StatusDocument.self, from: response.body).targets
        }
        print(renderTable(targets), terminator: "")
    }
}

/// `redis-healthd reconnect TARGET`
struct Reconnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Force-reconnect a target now (bypasses the error threshold, not the minimum interval).")

    @Argument(help: "The target.")
    var target: String

    @OptionGroup var socket: SocketOption

    func run() throws {
        let response: ControlClient.Response
        do {
            response = try ControlClient(socketPath: self.socket.socket).request(
                "POST", "/reconnect/\(self.target.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? self.target)")
        } catch {
            throw failure(error.description)
        }
        guard response.status == 200 else { throw failure(errorMessage(response)) }
        let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        print("\(self.target): \((object?["outcome"] as? String ?? "done").escapingControlCharacters)")
    }
}

/// Prints `message` to stderr and exits 1 (not ArgumentParser's usage error, which would print the usage too).
func failure(_ message: String) -> ExitCode {
    var standardError = StandardError()
    print("redis-healthd: \(message)", to: &standardError)
    return ExitCode(1)
}

func errorMessage(_ response: ControlClient.Response) -> String {
    let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]
    return (object?["error"] as? String)?.escapingControlCharacters ?? "the daemon answered HTTP \(response.status)"
}


/// `redis-healthd events [--follow]`
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show recent events; with --follow, keep printing new ones.")

    @Flag(name: .long, help: "Keep printing new events until interrupted.")
    var follow = false

    @Option(name: .long, help: "Only events after this number.")
    var since: Int = 0

    @OptionGroup var socket: SocketOption

    func run() throws {
        let client = ControlClient(socketPath: self.socket.socket)
        var since = self.since
        repeat {
            let response: ControlClient.Response
            do {
                response = try client.request("GET", "/events?since=\(since)")
            } catch {
                throw failure(error.description)
            }
            guard response.status == 200 else { throw failure(errorMessage(response)) }
            let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
            for entry in object?["events"] as? [[String: Any]] ?? [] {
                let sequence = entry["sequence"] as? Int ?? since
                let time = entry["time"] as? String ?? "-"
                // One event per line, whatever a server put in it.
                let target = (entry["target"] as? String ?? "-").escapingControlCharacters
                print("\(sequence)\t\(time.escapingControlCharacters)\t\(target)\t\((entry["event"] as? String ?? "").escapingControlCharacters)")
                since = max(since, sequence)
            }
            fflush(nil)
            if self.follow { Thread.sleep(forTimeInterval: 1) }
        } while self.follow
    }
}
