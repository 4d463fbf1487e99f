#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RedisClient

/// Reads `redis-healthd.yaml`, reporting every problem at once: unknown keys, wrong types, invalid values,
/// each with its key path.
public struct ConfigurationLoader: Sendable {
    /// Where `password_credential` files are found (systemd's `$CREDENTIALS_DIRECTORY`).
    public var credentialsDirectory: String?

    /// The addresses the unit lets the daemon reach (`REDIS_HEALTHD_IP_ADDRESS_ALLOW`, set by the drop-in of
    /// `redis-healthd unit-dropin`, comma-separated): named in connect-timeout errors, since systemd drops packets to
    /// other addresses silently. nil: no such restriction is known.
    public var addressAllowList: String?

    public init(
        credentialsDirectory: String? = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"],
        addressAllowList: String? = ProcessInfo.processInfo.environment[UnitDropIn.environmentVariable]
    ) {
        self.credentialsDirectory = credentialsDirectory
        self.addressAllowList = addressAllowList
    }

    public func load(file: String) throws(ConfigurationError) -> DaemonConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: file, problems: [.init(path: "", message: "cannot read the file: \(unreadableFileReason(file))")])
        }
        let configuration = try self.parse(text, file: file)
        // The daemon reads the file as the user it runs as: the socket's folder must be safe for that user.
        if let problem = SocketDirectory.problem(socketPath: configuration.control.socket) {
            throw ConfigurationError(file: file, problems: [.init(path: "control.socket", message: problem)])
        }
        return configuration
    }

    public func parse(_ text: String, file: String = "<string>") throws(ConfigurationError) -> DaemonConfiguration {
        var reader = Reader()
        var configuration = reader.daemon(text)
        guard reader.problems.isEmpty else { throw ConfigurationError(file: file, problems: reader.problems) }
        if let list = self.addressAllowList?.split(separator: ",").map(String.init), !list.isEmpty {
            for index in configuration.targets.indices {
                let host = configuration.targets[index].multiplexer.connection.endpoint.host
                configuration.targets[index].multiplexer.connection.addressRestriction =
                    "this service may reach only \(list.joined(separator: " ")) (IPAddressAllow= in its unit, from redis-healthd "
                    + "unit-dropin), and packets to any other address are dropped: if \(host) or a cluster node is outside it "
                    + "(a changed address, a node outside allowed_networks), generate the drop-in again"
            }
        }
        return configuration
    }

    /// What `check-config` reports: every problem of the file (the YAML's, every unreadable password, the control
    /// socket's folder) and warnings that do not make the file invalid.
    public struct Report: Sendable {
        public var file: String
        /// The configuration, when there is no problem.
        public var configuration: DaemonConfiguration?
        public var problems: [ConfigurationError.Problem]
        public var warnings: [ConfigurationError.Problem]

        /// The problems as an error (nil when there is none).
        public var error: ConfigurationError? {
            self.problems.isEmpty ? nil : ConfigurationError(file: self.file, problems: self.problems)
        }
    }

    /// Checks a file completely: keeps going after the first problem of any kind, passwords included.
    public func check(file: String) -> Report {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            return Report(
                file: file, configuration: nil,
                problems: [.init(path: "", message: "cannot read the file: \(unreadableFileReason(file))")], warnings: [])
        }
        return self.check(text, file: file)
    }

    /// ``check(file:)`` on the text of a file.
    public func check(_ text: String, file: String = "<string>") -> Report {
        var reader = Reader()
        let configuration = reader.daemon(text)
        var problems = reader.problems
        // Every password source named in the file, also of targets with other problems.
        for source in reader.passwordSources {
            do {
                _ = try self.password(file: source.file, credential: source.credential, path: source.path)
            } catch {
                problems.append(contentsOf: error.problems)
            }
        }
        // The control socket's folder as check-config's caller sees it (the daemon's dynamic user is not known here).
        if reader.problems.isEmpty,
            let problem = SocketDirectory.problem(socketPath: configuration.control.socket, acceptDynamicUsers: true)
        {
            problems.append(.init(path: "control.socket", message: problem))
        }
        let warnings = reader.problems.isEmpty ? configurationWarnings(configuration) : []
        return Report(file: file, configuration: problems.isEmpty ? configuration : nil, problems: problems, warnings: warnings)
    }
}

/// What is allowed but probably not meant (check-config prints it as a warning).
func configurationWarnings(_ configuration: DaemonConfiguration) -> [ConfigurationError.Problem] {
    configuration.targets.enumerated().compactMap { index, target in
        target.configuredEndpointNote.map {
            .init(
                path: "targets[\(index)]",
                message: "the configured endpoint \($0); it is dialed anyway (your choice), and status notes it "
                    + "(configured_endpoint_outside_allow_list)")
        }
    }
}
