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

@main
struct RedisHealthd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-healthd",
        abstract: "A Redis connection-health daemon for systemd hosts.",
        version: RedisHealthdVersion.current,
        subcommands: [
            Run.self, Status.self, Topology.self, Events.self, Reconnect.self, Export.self, CheckConfig.self, DoctorCommand.self,
            UnitDropInCommand.self,
        ]
    )
}

extension RedisHealthd {
    /// Before the usual parsing: a mistyped command gets a suggestion ("statuss" → "did you mean status?").
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, !first.hasPrefix("-") {
            let names = Self.configuration.subcommands.compactMap { $0.configuration.commandName ?? String(describing: $0).lowercased() }
                + ["help"]
            if !names.contains(first) {
                let suggestion = closestMatch(to: first, in: names).map { "; did you mean \($0)?" } ?? ""
                writeToStandardError(
                    "redis-healthd: unknown command '\(first.escapingControlCharacters)'\(suggestion) (commands: \(names.dropLast().joined(separator: ", ")); see redis-healthd --help)\n")
                terminate(64)
            }
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

enum RedisHealthdVersion {
    static let number = "0.1.0"
    /// `0.1.0 (commit 1c43b3d2a0f1, built 2026-12-01T01:30:00Z)`
    static let current = "\(number) (commit \(BuildInfo.commit), built \(BuildInfo.date))"
}

/// Ends the process with `code` (C's exit: inside a command, `exit` names ArgumentParser's).
private func terminate(_ code: Int32) -> Never {
    exit(code)
}
