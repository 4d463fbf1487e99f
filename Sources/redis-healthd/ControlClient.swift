import ArgumentParser
import Foundation
import HealthDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Options every command that talks to the daemon takes.
struct SocketOption: ParsableArguments {
    @Option(name: .long, help: "The control socket (default: the configured one).")
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
            throw ValidationError(error.description)
        }
        guard response.status == 200 else {
            throw ValidationError(errorMessage(response))
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
            throw ValidationError(error.description)
        }
        guard response.status == 200 else { throw ValidationError(errorMessage(response)) }
        let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        print("\(self.target): \(object?["outcome"] as? String ?? "done")")
    }
}

private func errorMessage(_ response: ControlClient.Response) -> String {
    let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]
    return (object?["error"] as? String) ?? "the daemon answered HTTP \(response.status)"
}

/// The readable table of `redis-healthd status`.
func renderTable(_ targets: [StatusDocument.Target]) -> String {
    var rows = [["TARGET", "STATE", "SINCE", "PROBE p50/p99", "FAILURES", "RECONNECTS", "LAST ERROR"]]
    for target in targets {
        let probe: String
        if let p50 = target.probeP50Seconds, let p99 = target.probeP99Seconds {
            probe = String(format: "%.1f/%.1f ms", p50 * 1000, p99 * 1000)
        } else {
            probe = "-"
        }
        rows.append([
            target.name, target.state, humanDuration(target.sinceSeconds), probe, "\(target.connectionFailures)",
            "\(target.reconnects) / \(target.forceReconnects)", target.lastError ?? "-",
        ])
    }
    let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
        }.joined()
    }.joined(separator: "\n") + "\n"
}

func humanDuration(_ seconds: Double) -> String {
    let total = Int(seconds)
    if total < 60 { return "\(total)s" }
    if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
    if total < 86400 { return "\(total / 3600)h\(String(format: "%02d", (total % 3600) / 60))m" }
    return "\(total / 86400)d\(String(format: "%02d", (total % 86400) / 3600))h"
}
