import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HealthDaemon

/// `redis-healthd check-config`: validates a configuration file, printing every problem with its key path.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file; exits non-zero and lists every problem when it is invalid.")

    @Option(name: .long, help: "The configuration file.")
    var config: String = defaultConfigurationPath

    @Flag(name: .long, help: "Print the effective configuration (every default filled in) as YAML.")
    var print = false

    func run() throws {
        // Every problem at once: the YAML's, every password file or credential that cannot be read (the passwords
        // themselves are never printed), the control socket's folder. Warnings do not fail the check.
        let report = ConfigurationLoader().check(file: self.config)
        var standardError = StandardError()
        for warning in report.warnings {
            Swift.print("\(self.config): warning: \(warning)", to: &standardError)
        }
        if let error = report.error {
            Swift.print(error.description, to: &standardError)
            throw ExitCode(1)
        }
        if self.print, let configuration = report.configuration {
            Swift.print("# \(self.config), as in effect (every default filled in)")
            Swift.print(configuration.effectiveYAML, terminator: "")
            return
        }
        let targets = report.configuration?.targets ?? []
        Swift.print("\(self.config): OK, \(targets.count) target(s): \(targets.map(\.name).joined(separator: ", "))")
    }
}

let defaultConfigurationPath = "/etc/redis-healthd/redis-healthd.yaml"

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        writeToStandardError(string)
    }
}
