import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HealthDaemon
import RedisClient

/// `redis-healthd doctor`: a one-shot diagnosis of a target, without a running daemon.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Diagnose a target (DNS, TCP, TLS, AUTH and ACL, server settings, cluster endpoints, host, latency).",
        discussion: """
            Diagnoses TARGET from the configuration file, every target of the file when none is named, or the \
            server given with --host. Exits 0 when every check is ok, 1 with warnings, 2 with failures.
            """)

    @Argument(help: "A target of the configuration file (default: all of them).")
    var target: String?

    @Option(name: .long, help: "Diagnose this server instead of a configured target.")
    var host: String?

    @Option(name: .long, help: "The server's port (with --host).")
    var port: Int = 6379

    @Flag(name: .long, help: "Connect with TLS (with --host).")
    var tls = false

    @Option(name: .customLong("ca-file"), help: "PEM file of the CA to trust (with --host; implies --tls).")
    var caFile: String?

    @Option(name: .customLong("server-name"), help: "The name to verify the certificate against (with --host; implies --tls).")
    var serverName: String?

    @Option(name: .long, help: "ACL user name (with --host).")
    var user: String?

    @Option(name: .customLong("password-file"), help: "File holding the password (with --host); never shown.")
    var passwordFile: String?

    @Option(name: .long, help: "The configuration file.")
    var config: String = defaultConfigurationPath

    @Flag(name: .long, help: "Print JSON for scripts instead of the table.")
    var json = false

    func run() async throws {
        var standardError = StandardError()
        let loader = ConfigurationLoader()
        let targets: [DaemonConfiguration.Target]
        do {
            targets = try self.targets(loader: loader)
        } catch let error as ConfigurationError {
            print(error.description, to: &standardError)
            throw ExitCode(2)
        }
        var reports: [DoctorReport] = []
        for target in targets {
            let password: RedisSecret?
            do {
                password = try loader.password(for: target)
            } catch {
                print("\(target.name): \(error.problems.map(\.message).joined(separator: "; "))", to: &standardError)
                throw ExitCode(2)
            }
            reports.append(await Doctor(target: target, password: password).run())
        }
        let worst = reports.map(\.status).max() ?? .ok
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            let document = DoctorDocument(status: worst, exitCode: DoctorReport.exitCode(worst), reports: reports)
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        } else {
            print(reports.map(\.table).joined(separator: "\n\n"))
        }
        let code = DoctorReport.exitCode(worst)
        if code != 0 { throw ExitCode(code) }
    }

    /// The targets to diagnose: `--host` as a target of its own (the file's defaults), else the file's.
    private func targets(loader: ConfigurationLoader) throws -> [DaemonConfiguration.Target] {
        if let host = self.host {
            // Built through the configuration reader so that the defaults are exactly the daemon's.
            func quoted(_ text: String) -> String {
                String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
            }
            var lines = ["targets:", "  - name: doctor", "    host: \(quoted(host))", "    port: \(self.port)"]
            if let user = self.user { lines.append("    username: \(quoted(user))") }
            if let file = self.passwordFile { lines.append("    password_file: \(quoted(file))") }
            if self.tls || self.caFile != nil || self.serverName != nil {
                lines.append("    tls:")
                lines.append("      enabled: true")
                if let caFile = self.caFile { lines.append("      ca_file: \(quoted(caFile))") }
                if let name = self.serverName { lines.append("      server_name: \(quoted(name))") }
            }
            var target = try loader.parse(lines.joined(separator: "\n"), file: "--host").targets[0]
            target.name = host.contains(":") ? "[\(host)]:\(self.port)" : "\(host):\(self.port)"
            return [target]
        }
        let text: String
        do {
            text = try String(contentsOfFile: self.config, encoding: .utf8)
        } catch {
            throw ConfigurationError(
                file: self.config,
                problems: [.init(path: "", message: "cannot read the file: \(unreadableFileReason(self.config)); name a file with --config or a server with --host")])
        }
        let configuration = try loader.parse(text, file: self.config)
        guard let name = self.target else { return configuration.targets }
        guard let target = configuration.targets.first(where: { $0.name == name }) else {
            throw ConfigurationError(
                file: self.config,
                problems: [.init(path: "targets", message: "no target named \(name); the file has \(configuration.targets.map(\.name).joined(separator: ", "))")])
        }
        return [target]
    }
}

/// `doctor --json`: the worst status, the exit code it gives, and each target's report.
struct DoctorDocument: Encodable {
    var status: DoctorCheck.Status
    var exitCode: Int32
    var reports: [DoctorReport]

    enum CodingKeys: String, CodingKey {
        case status, reports
        case exitCode = "exit_code"
    }
}
