import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HealthDaemon

#if canImport(Glibc)
import Glibc
#endif

/// `redis-healthd topology TARGET [--history] [--json]`
struct Topology: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a cluster target's topology: nodes, announced endpoints, anomalies; --history adds the changes.")

    @Argument(help: "The target.")
    var target: String

    @Flag(name: .long, help: "Also print the history of topology snapshots and their changes.")
    var history = false

    @Flag(name: .long, help: "Print JSON (current topology, anomalies and history).")
    var json = false

    @OptionGroup var socket: SocketOption

    func run() throws {
        let response = try self.socket.request("GET", "/topology/\(percentEncoded(self.target))")
        guard response.status == 200 else { throw failure(errorMessage(response)) }
        if self.json {
            print(String(decoding: response.body, as: UTF8.self), terminator: "")
            return
        }
        let document = try JSONDecoder().decode(TopologyDocument.self, from: response.body)
        print(renderTopology(document, history: self.history), terminator: "")
    }
}

/// `redis-healthd export [TARGET] [--output FILE]`
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a diagnostics bundle for a support case (JSON, secrets redacted): per node INFO, CLUSTER "
            + "SHARDS/NODES/SLOTS, CLIENT INFO, CONFIG GET, our status, topology history, recent events, host TCP settings.")

    @Argument(help: "Only this target (default: all).")
    var target: String?

    @Option(name: .shortAndLong, help: "Write the bundle to this new file (mode 0600; an existing file is refused) instead of standard output.")
    var output: String?

    @Option(name: .long, help: "Seconds to wait for the daemon to gather the bundle.")
    var timeout: Int = 60

    @OptionGroup var socket: SocketOption

    func run() throws {
        // Fail before the (slow) export when the file is already there; writeNewFile checks again, atomically.
        var existing = stat()
        if let output = self.output, lstat(output, &existing) == 0 {
            throw failure("\(output) exists; choose another name or remove it")
        }
        let path = self.target.map { "/export/\(percentEncoded($0))" } ?? "/export"
        let (client, source) = try self.socket.client(timeout: self.timeout)
        let response: ControlClient.Response
        do {
            response = try client.request("GET", path)
        } catch let error where error.isTimeout {
            throw failure(
                "the daemon did not finish the export within \(self.timeout) s; it carries on in the daemon (one export at a time, bounded by its own per-node timeouts): wait a minute and try again, or give a larger --timeout")
        } catch {
            throw failure(
                "\(error.description) (socket from \(source); point elsewhere with --socket PATH, REDIS_HEALTHD_SOCKET or --config FILE)")
        }
        guard response.status == 200 else { throw failure(errorMessage(response)) }
        guard let output = self.output else {
            writeToStandardOutput(response.body)
            return
        }
        // A new file, created 0600 (the bundle describes the servers and the host, for the operator and support only);
        // an existing file or a symbolic link at that path is refused, never followed or overwritten.
        do {
            try writeNewFile(output, contents: response.body)
        } catch {
            throw failure(error.description)
        }
        var standardError = StandardError()
        print("redis-healthd: wrote the diagnostics bundle (\(response.body.count) bytes) to \(output)", to: &standardError)
    }
}
