import ArgumentParser
import Foundation
import HealthDaemon

/// `redis-healthd check-config`: validates a configuration file, printing every problem with its key path.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file; exits non-zero and lists every problem when it is invalid.")

    @Option(name: .long, help: "The configuration file.")
    var config: String = defaultConfigurationPath

    func run() throws {
        let loader = ConfigurationLoader()
        do {
            let configuration = try loader.load(file: self.config)
            for target in configuration.targets {
                // Also proves the password file or credential is readable (the password itself is not printed).
                _ = try loader.password(for: target)
            }
            let names = configuration.targets.map(\.name).joined(separator: ", ")
            print("\(self.config): OK, \(configuration.targets.count) target(s): \(names)")
        } catch {
            var standardError = StandardError()
            print(error.description, to: &standardError)
            throw ExitCode(1)
        }
    }
}

let defaultConfigurationPath = "/etc/redis-healthd/redis-healthd.yaml"

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
