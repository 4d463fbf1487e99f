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

    /// Reads a target's password from its file or systemd credential. Never logged.
    public func password(for target: DaemonConfiguration.Target) throws(ConfigurationError) -> RedisSecret? {
        try self.password(file: target.passwordFile, credential: target.passwordCredential, path: "targets.\(target.name)")
    }

    /// The password from `file` or the systemd credential `credential` (nil when neither is set); problems are
    /// reported under `path`.
    func password(file: String?, credential: String?, path: String) throws(ConfigurationError) -> RedisSecret? {
        let source: String
        if let file {
            source = file
        } else if let credential {
            guard let directory = self.credentialsDirectory else {
                throw ConfigurationError(
                    file: "", problems: [.init(path: "\(path).password_credential",
                        message: "$CREDENTIALS_DIRECTORY is not set: use LoadCredential=\(credential):… in the unit")])
            }
            source = "\(directory)/\(credential)"
        } else {
            return nil
        }
        let what = file != nil ? "password_file" : "password_credential"
        switch passwordFileContents(source) {
        case .success(let password):
            return RedisSecret(password)
        case .failure(.unreadable(let reason)):
            throw ConfigurationError(
                file: "", problems: [.init(path: "\(path).\(what)", message: "cannot read the password: \(reason)")])
        case .failure(.empty):
            throw ConfigurationError(
                file: "",
                problems: [.init(path: "\(path).\(what)", message: "\(source) is empty: put the password in it, or remove \(what) for a server without one")])
        }
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

    /// The least value accepted for each duration key (below it a setting only loads the server or the host, or the
    /// kernel cannot apply it), and why.
    public static let minimums: [String: Duration] = [
        "probe_interval": .milliseconds(100),
        "probe_timeout": .milliseconds(10),
        "command_timeout": .milliseconds(10),
        "connect_timeout": .milliseconds(10),
        "keepalive_interval": .seconds(1),
        "canary_interval": .milliseconds(100),
        "timeout": .milliseconds(100),
        "min_interval": .zero,
        "reconnect.backoff_base": .milliseconds(1),
        "reconnect.connect_timeout": .milliseconds(10),
        "reconnect.backoff_cap": .milliseconds(1),
        "topology.refresh_interval": .seconds(1),
        "topology.min_refresh_interval": .milliseconds(100),
        "tcp.keepalive_idle": .seconds(1),
        "tcp.keepalive_interval": .seconds(1),
        "tcp.user_timeout": .seconds(1),
        "control.request_timeout": .milliseconds(100),
        "control.idle_timeout": .milliseconds(100),
        "metrics.request_timeout": .milliseconds(100),
        "metrics.idle_timeout": .milliseconds(100),
    ]

    static let minimumReasons: [String: String] = [
        "probe_interval": "probes more often only load the server",
        "probe_timeout": "no round trip is that fast; every probe would fail",
        "command_timeout": "no round trip is that fast; every command would fail",
        "connect_timeout": "no connection is made that fast",
        "keepalive_interval": "a keepalive PING more often than once a second only loads the server",
        "canary_interval": "a canary PUBLISHed more often only loads the server",
        "reconnect.backoff_base": "reconnecting in a tight loop loads the server",
        "reconnect.connect_timeout": "no connection is made that fast",
        "reconnect.backoff_cap": "reconnecting in a tight loop loads the server",
        "topology.refresh_interval": "reading the topology more often only loads the cluster",
        "topology.min_refresh_interval": "refreshes triggered more often only load the cluster",
        "tcp.keepalive_idle": "the kernel counts it in whole seconds",
        "tcp.keepalive_interval": "the kernel counts it in whole seconds",
        "tcp.user_timeout": "a shorter TCP_USER_TIMEOUT drops healthy connections on any hiccup",
        "control.request_timeout": "no client sends a request that fast",
        "control.idle_timeout": "clients could not reuse a connection",
        "metrics.request_timeout": "no client sends a request that fast",
        "metrics.idle_timeout": "clients could not reuse a connection",
    ]
}

/// Walks the YAML tree, collecting problems instead of stopping at the first.
private struct Reader {
    var problems: [ConfigurationError.Problem] = []
    /// Every target's password file or credential, to check its readability.
    var passwordSources: [(path: String, file: String?, credential: String?)] = []

    mutating func problem(_ path: String, _ message: String) {
        self.problems.append(.init(path: path, message: message))
    }

    /// The mapping at `path`, with unknown keys reported.
    mutating func mapping(_ node: YAMLNode?, _ path: String, allowed: Set<String>) -> [String: YAMLNode]? {
        guard let node else { return nil }
        if node.isNull { return nil }
        guard let mapping = node.mapping else {
            self.problem(path, "expected a mapping of keys, got \(describe(node))")
            return nil
        }
        var result: [String: YAMLNode] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { continue }
            if !allowed.contains(name) {
                let suggestion = closestMatch(to: name, in: allowed).map { "; did you mean \($0)?" } ?? ""
                self.problem(join(path, name), "unknown key\(suggestion) (known: \(allowed.sorted().joined(separator: ", ")))")
            } else {
                result[name] = value
            }
        }
        return result
    }

    mutating func string(_ node: YAMLNode?, _ path: String) -> String? {
        guard let node, !node.isNull else { return nil }
        guard let scalar = node.scalar else {
            self.problem(path, "expected a string, got \(describe(node))")
            return nil
        }
        return scalar.string
    }

    mutating func int(_ node: YAMLNode?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let node, !node.isNull else { return nil }
        guard let value = node.int else {
            self.problem(path, "expected a whole number, got \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            self.problem(path, "\(value) is out of range \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func bool(_ node: YAMLNode?, _ path: String) -> Bool? {
        guard let node, !node.isNull else { return nil }
        guard let value = node.bool else {
            self.problem(path, "expected true or false, got \(describe(node))")
            return nil
        }
        return value
    }

    /// A duration of at least `minimum` (``ConfigurationLoader/minimums``); `zeroIsOff` also accepts `0s`.
    mutating func duration(_ node: YAMLNode?, _ path: String, zeroIsOff: Bool = false) -> Duration? {
        guard let text = self.string(node, path) else { return nil }
        guard let duration = DurationParsing.parse(text) else {
            self.problem(path, "\"\(text)\" is not a duration; write a number and a unit: 250ms, 5s, 10m, 14d")
            return nil
        }
        let key = path.split(separator: "]", maxSplits: 1).last.map { $0.drop { $0 == "." } }.map(String.init) ?? path
        if let minimum = ConfigurationLoader.minimums[key], duration < minimum, !(zeroIsOff && duration == .zero) {
            self.problem(
                path,
                "\(text) is below the least accepted \(minimum.humanReadable)\(zeroIsOff ? " (or 0s: off)" : "")"
                    + (ConfigurationLoader.minimumReasons[key].map { ": \($0)" } ?? ""))
            return nil
        }
        return duration
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: YAMLNode?, _ path: String, as: T.Type) -> T?
    where T.RawValue == String {
        guard let text = self.string(node, path) else { return nil }
        guard let value = T(rawValue: text) else {
            self.problem(path, "\"\(text)\" is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }

    mutating func daemon(_ text: String) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        let root: YAMLNode?
        do {
            root = try YAMLReader.read(text)
        } catch {
            self.problem("", "not valid YAML: \(error)")
            return configuration
        }
        guard let top = self.mapping(root, "", allowed: ["control", "metrics", "log", "targets", "hooks"]) else {
            self.problem("", "the file is empty; it needs at least `targets:`")
            return configuration
        }
        if let control = self.mapping(
            top["control"], "control", allowed: ["socket", "mode", "max_connections", "request_timeout", "idle_timeout"])
        {
            configuration.control.limits = self.limits(control, "control", defaults: .control)
            if let socket = self.string(control["socket"], "control.socket") {
                if socket.hasPrefix("/") { configuration.control.socket = socket } else {
                    self.problem("control.socket", "\"\(socket)\" must be an absolute path")
                }
            }
            if let mode = self.string(control["mode"], "control.mode") {
                if let value = UInt32(mode, radix: 8), value <= 0o777 {
                    if value & 0o002 != 0 {
                        self.problem("control.mode", "\(mode) makes the socket world-writable; use 0660 or stricter")
                    } else {
                        configuration.control.mode = value
                    }
                } else {
                    self.problem("control.mode", "\"\(mode)\" is not an octal mode such as \"0660\"")
                }
            }
        }
        if let metrics = self.mapping(
            top["metrics"], "metrics", allowed: ["listen", "max_connections", "request_timeout", "idle_timeout"])
        {
            configuration.metricsLimits = self.limits(metrics, "metrics", defaults: .metrics)
            if let listen = self.string(metrics["listen"], "metrics.listen") {
                if splitHostPort(listen) == nil {
                    self.problem("metrics.listen", "\"\(listen)\" is not host:port such as 127.0.0.1:9121")
                } else {
                    configuration.metricsListen = listen
                }
            }
        }
        if let log = self.mapping(top["log"], "log", allowed: ["level"]) {
            if let level = self.string(log["level"], "log.level") {
                let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
                if levels.contains(level) { configuration.logLevel = level } else {
                    self.problem("log.level", "\"\(level)\" is not one of \(levels.joined(separator: ", "))")
                }
            }
        }
        guard let targetsNode = top["targets"], !targetsNode.isNull else {
            self.problem("targets", "missing: list at least one Redis target")
            return configuration
        }
        guard let targets = targetsNode.sequence else {
            self.problem("targets", "expected a list of targets, got \(describe(targetsNode))")
            return configuration
        }
        if targets.isEmpty { self.problem("targets", "empty: list at least one Redis target") }
        var names = Set<String>()
        for (index, node) in targets.enumerated() {
            if let target = self.target(node, "targets[\(index)]") {
                if !names.insert(target.name).inserted {
                    self.problem("targets[\(index)].name", "\"\(target.name)\" is used by another target")
                }
                configuration.targets.append(target)
            }
        }
        if let hooksNode = top["hooks"], !hooksNode.isNull {
            if let hooks = hooksNode.sequence {
                for (index, node) in hooks.enumerated() {
                    if let hook = self.hook(node, "hooks[\(index)]", targets: names) { configuration.hooks.append(hook) }
                }
            } else {
                self.problem("hooks", "expected a list of hooks, got \(describe(hooksNode))")
            }
        }
        return configuration
    }

    /// One `hooks:` entry: `on` (events), `targets` (names; empty: all), `run` (argv, an absolute path first),
    /// `timeout` [10s], `min_interval` [60s].
    mutating func hook(_ node: YAMLNode, _ path: String, targets: Set<String>) -> HookConfiguration? {
        guard let map = self.mapping(node, path, allowed: ["on", "targets", "run", "timeout", "min_interval"]) else { return nil }
        let events = self.strings(map["on"], "\(path).on")
        var parsed = Set<HookEvent>()
        for event in events {
            if let value = HookEvent(rawValue: event) {
                parsed.insert(value)
            } else {
                self.problem("\(path).on", "\"\(event)\" is not one of \(HookEvent.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if map["on"] == nil || (events.isEmpty && map["on"]?.sequence != nil) {
            self.problem("\(path).on", "missing: list the events that run the hook (\(HookEvent.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let hookTargets = self.strings(map["targets"], "\(path).targets")
        for name in hookTargets where !targets.contains(name) {
            self.problem("\(path).targets", "\"\(name)\" is not a configured target")
        }
        let run = self.strings(map["run"], "\(path).run")
        if run.isEmpty {
            self.problem("\(path).run", "missing: the command and its arguments as a list, e.g. [\"/usr/local/bin/notify\", \"--flag\"] (no shell)")
        } else if !run[0].hasPrefix("/") {
            self.problem("\(path).run", "\"\(run[0])\" is not an absolute path: hooks run without a shell and without a PATH search")
        }
        var hook = HookConfiguration(
            events: parsed, targets: hookTargets, run: run,
            label: "\(path) (\(run.first.map(FilePath.lastComponent) ?? "?"))")
        if let value = self.duration(map["timeout"], "\(path).timeout") { hook.timeout = value }
        if let value = self.duration(map["min_interval"], "\(path).min_interval") { hook.minInterval = value }
        return parsed.isEmpty || run.isEmpty ? nil : hook
    }

    /// A list of strings (a single string is taken as a list of one).
    mutating func strings(_ node: YAMLNode?, _ path: String) -> [String] {
        guard let node, !node.isNull else { return [] }
        if node.scalar != nil { return self.string(node, path).map { [$0] } ?? [] }
        guard let items = node.sequence else {
            self.problem(path, "expected a list, got \(describe(node))")
            return []
        }
        return items.enumerated().compactMap { self.string($0.element, "\(path)[\($0.offset)]") }
    }

    /// `max_connections`, `request_timeout`, `idle_timeout` of the control socket or the metrics listener.
    mutating func limits(_ map: [String: YAMLNode], _ path: String, defaults: ConnectionLimits) -> ConnectionLimits {
        var limits = defaults
        if let value = self.int(map["max_connections"], "\(path).max_connections", range: 1...4096) { limits.maxConnections = value }
        if let value = self.duration(map["request_timeout"], "\(path).request_timeout") { limits.requestTimeout = value }
        if let value = self.duration(map["idle_timeout"], "\(path).idle_timeout") { limits.idleTimeout = value }
        return limits
    }

    static let targetKeys: Set<String> = [
        "name", "host", "port", "tls", "username", "password_file", "password_credential", "credential_command",
        "credential_timeout", "credential_refresh_margin", "cluster",
        "probe_interval", "probe_timeout", "probe_failures", "keepalive_interval", "connect_timeout",
        "command_timeout", "tcp", "reconnect", "allowed_ports", "allowed_networks", "dial_disallowed",
        "maintenance_events", "maintenance_notifications", "moving_endpoint_type", "relaxed_timeout", "canary_interval",
        "client_name", "topology",
    ]

    mutating func target(_ node: YAMLNode, _ path: String) -> DaemonConfiguration.Target? {
        guard let map = self.mapping(node, path, allowed: Self.targetKeys) else { return nil }
        let problemsBefore = self.problems.count
        let name = self.string(map["name"], "\(path).name")
        if name == nil { self.problem("\(path).name", "missing: every target needs a name") }
        if let name, name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
            self.problem("\(path).name", "\"\(name)\" must be letters, digits, '-', '_' or '.'")
        }
        let host = self.string(map["host"], "\(path).host")
        if host == nil { self.problem("\(path).host", "missing: the Redis server's host name or address") }
        let port = self.int(map["port"], "\(path).port", range: 1...65535) ?? 6379

        var connection = RedisConnectionConfiguration(endpoint: RedisEndpoint(host: host ?? "", port: port))
        connection.clientName = self.string(map["client_name"], "\(path).client_name") ?? "redis-healthd"
        connection.username = self.string(map["username"], "\(path).username")
        if let value = self.duration(map["connect_timeout"], "\(path).connect_timeout") { connection.connectTimeout = value }
        if let value = self.duration(map["command_timeout"], "\(path).command_timeout") { connection.commandTimeout = value }

        var tlsExpiryWarning: Duration?
        if let tls = self.mapping(
            map["tls"], "\(path).tls", allowed: ["enabled", "ca_file", "server_name", "cert_file", "key_file", "expiry_warning"])
        {
            tlsExpiryWarning = self.duration(tls["expiry_warning"], "\(path).tls.expiry_warning")
            if self.bool(tls["enabled"], "\(path).tls.enabled") == true {
                let settings = RedisConnectionConfiguration.TLS(
                    caFile: self.string(tls["ca_file"], "\(path).tls.ca_file"),
                    serverName: self.string(tls["server_name"], "\(path).tls.server_name"),
                    certificateFile: self.string(tls["cert_file"], "\(path).tls.cert_file"),
                    keyFile: self.string(tls["key_file"], "\(path).tls.key_file"))
                if (settings.certificateFile == nil) != (settings.keyFile == nil) {
                    self.problem("\(path).tls", "cert_file and key_file go together: set both or neither")
                }
                connection.tls = settings
            }
        }
        if let tcp = self.mapping(map["tcp"], "\(path).tcp", allowed: ["keepalive_idle", "keepalive_interval", "keepalive_count", "user_timeout"]) {
            if let value = self.duration(tcp["keepalive_idle"], "\(path).tcp.keepalive_idle") { connection.tcp.keepaliveIdle = value }
            if let value = self.duration(tcp["keepalive_interval"], "\(path).tcp.keepalive_interval") { connection.tcp.keepaliveProbeInterval = value }
            if let value = self.int(tcp["keepalive_count"], "\(path).tcp.keepalive_count", range: 1...127) { connection.tcp.keepaliveCount = value }
            if let value = self.duration(tcp["user_timeout"], "\(path).tcp.user_timeout", zeroIsOff: true) { connection.tcp.userTimeout = value }
        }

        var multiplexer = RedisMultiplexerConfiguration(connection: connection)
        if let value = self.duration(map["probe_interval"], "\(path).probe_interval") { multiplexer.probeInterval = value }
        if let value = self.duration(map["probe_timeout"], "\(path).probe_timeout") { multiplexer.probeTimeout = value }
        if let value = self.int(map["probe_failures"], "\(path).probe_failures", range: 1...1000) { multiplexer.probeFailures = value }
        if let value = self.duration(map["keepalive_interval"], "\(path).keepalive_interval") { multiplexer.idlePingInterval = value }
        if let reconnect = self.mapping(
            map["reconnect"], "\(path).reconnect",
            allowed: ["backoff_base", "backoff_cap", "connect_timeout", "min_interval", "error_threshold", "count_timeouts"])
        {
            if let value = self.duration(reconnect["backoff_base"], "\(path).reconnect.backoff_base") { multiplexer.backoff.base = value }
            if let value = self.duration(reconnect["backoff_cap"], "\(path).reconnect.backoff_cap") { multiplexer.backoff.cap = value }
            if let value = self.duration(reconnect["connect_timeout"], "\(path).reconnect.connect_timeout") {
                multiplexer.reconnectConnectTimeout = value
            }
            if let value = self.duration(reconnect["min_interval"], "\(path).reconnect.min_interval") { multiplexer.forceReconnect.minimumInterval = value }
            if let value = self.duration(reconnect["error_threshold"], "\(path).reconnect.error_threshold") { multiplexer.forceReconnect.errorThreshold = value }
            if let value = self.bool(reconnect["count_timeouts"], "\(path).reconnect.count_timeouts") { multiplexer.forceReconnect.countTimeouts = value }
        }
        if let value = self.choice(
            map["maintenance_notifications"], "\(path).maintenance_notifications", as: MaintenanceNotificationSettings.Mode.self)
        {
            multiplexer.maintenanceNotifications.mode = value
        }
        if let value = self.choice(
            map["moving_endpoint_type"], "\(path).moving_endpoint_type", as: MaintenanceNotificationSettings.EndpointType.self)
        {
            multiplexer.maintenanceNotifications.endpointType = value
        }
        if let value = self.duration(map["relaxed_timeout"], "\(path).relaxed_timeout") {
            multiplexer.maintenanceNotifications.relaxedTimeout = value
        }
        // The multiplexer's own rules (keepalive below 10 minutes, positive timeouts, …), with this target's path.
        for message in multiplexer.validate() { self.problem(path, message) }

        var target = DaemonConfiguration.Target(name: name ?? "", multiplexer: multiplexer)
        if let tlsExpiryWarning { target.tlsExpiryWarning = tlsExpiryWarning }
        target.passwordFile = self.string(map["password_file"], "\(path).password_file")
        target.passwordCredential = self.string(map["password_credential"], "\(path).password_credential")
        if let command = map["credential_command"], !command.isNull {
            let argv = self.strings(command, "\(path).credential_command")
            if argv.isEmpty {
                self.problem("\(path).credential_command", "expected a command as a list such as [\"/usr/local/bin/redis-token\", \"--json\"]")
            } else if !argv[0].hasPrefix("/") {
                self.problem("\(path).credential_command", "\(argv[0]) is not an absolute path: the command runs without a shell or PATH search")
            } else {
                target.credentialCommand = argv
            }
        }
        if let value = self.duration(map["credential_timeout"], "\(path).credential_timeout") { target.credentialTimeout = value }
        if let value = self.duration(map["credential_refresh_margin"], "\(path).credential_refresh_margin") {
            target.credentialRefreshMargin = value
        }
        if target.credentialCommand != nil && (target.passwordFile != nil || target.passwordCredential != nil) {
            self.problem(path, "credential_command excludes password_file and password_credential: choose one source")
        } else if target.passwordFile != nil && target.passwordCredential != nil {
            self.problem(path, "password_file and password_credential exclude each other: choose one")
        } else if target.passwordFile != nil || target.passwordCredential != nil {
            self.passwordSources.append((path, target.passwordFile, target.passwordCredential))
        }
        if let value = self.choice(map["cluster"], "\(path).cluster", as: DaemonConfiguration.Target.ClusterMode.self) { target.cluster = value }
        if let value = self.choice(map["maintenance_events"], "\(path).maintenance_events", as: DaemonConfiguration.Target.MaintenanceEvents.self) {
            target.maintenanceEvents = value
        }
        if let value = self.duration(map["canary_interval"], "\(path).canary_interval", zeroIsOff: true) { target.canaryInterval = value }
        if let value = self.bool(map["dial_disallowed"], "\(path).dial_disallowed") { target.dialDisallowed = value }
        if let topology = self.mapping(map["topology"], "\(path).topology", allowed: ["refresh_interval", "min_refresh_interval", "history", "max_nodes"]) {
            if let value = self.duration(topology["refresh_interval"], "\(path).topology.refresh_interval") {
                target.topologyRefreshInterval = value
            }
            if let value = self.duration(topology["min_refresh_interval"], "\(path).topology.min_refresh_interval") {
                target.topologyMinimumRefreshInterval = value
            }
            if let value = self.int(topology["history"], "\(path).topology.history", range: 1...10_000) { target.topologyHistory = value }
            if let value = self.int(topology["max_nodes"], "\(path).topology.max_nodes", range: 1...100_000) { target.topologyMaxNodes = value }
        }
        if let ports = map["allowed_ports"], !ports.isNull {
            if let list = ports.sequence {
                target.allowedPorts = list.enumerated().flatMap { self.portRanges($1, "\(path).allowed_ports[\($0)]") }
            } else {
                self.problem(
                    "\(path).allowed_ports",
                    "expected a list of ports, ranges and presets such as [azure-managed, 6379, \"13000-13999\"]")
            }
        }
        if let networks = map["allowed_networks"], !networks.isNull {
            if let list = networks.sequence {
                target.allowedNetworks = list.enumerated().compactMap { index, node in
                    let itemPath = "\(path).allowed_networks[\(index)]"
                    guard let text = self.string(node, itemPath) else { return nil }
                    guard isCIDR(text) else {
                        self.problem(itemPath, "\"\(text)\" is not a CIDR such as 10.0.0.0/8")
                        return nil
                    }
                    return text
                }
            } else {
                self.problem("\(path).allowed_networks", "expected a list of CIDRs")
            }
        }
        return self.problems.count == problemsBefore ? target : nil
    }

    /// Named sets of ports for `allowed_ports`, usable alone or mixed with ports and ranges.
    static let portPresets: [String: [ClosedRange<Int>]] = [
        // Azure Cache for Redis: 6379 (plain), 6380 (TLS), 13000–13999 and 15000–15999 (cluster shards).
        "azure-cache": [6379...6379, 6380...6380, 13000...13999, 15000...15999],
        // Azure Managed Redis: 10000 (the endpoint), 8500–8599 (shards under the OSS cluster policy).
        "azure-managed": [10000...10000, 8500...8599],
    ]

    /// One entry of `allowed_ports`: a port, a range, or a preset's ranges.
    mutating func portRanges(_ node: YAMLNode, _ path: String) -> [ClosedRange<Int>] {
        if let name = node.string, name.first?.isLetter == true {
            if let preset = Self.portPresets[name] { return preset }
            let known = Self.portPresets.keys.sorted()
            let suggestion = closestMatch(to: name, in: known).map { "; did you mean \($0)?" } ?? ""
            self.problem(path, "\"\(name)\" is not a port, a range or a preset (\(known.joined(separator: ", ")))\(suggestion)")
            return []
        }
        return self.portRange(node, path).map { [$0] } ?? []
    }

    mutating func portRange(_ node: YAMLNode, _ path: String) -> ClosedRange<Int>? {
        if let port = node.int {
            guard (1...65535).contains(port) else {
                self.problem(path, "\(port) is not a port (1…65535)")
                return nil
            }
            return port...port
        }
        guard let text = node.string else {
            self.problem(path, "expected a port or a range such as \"13000-13999\"")
            return nil
        }
        let parts = text.split(separator: "-").map { Int($0.trimmingWhitespace()) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], 1 <= low, low <= high, high <= 65535 else {
            self.problem(path, "\"\(text)\" is not a port range such as \"13000-13999\"")
            return nil
        }
        return low...high
    }
}

private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

private func describe(_ node: YAMLNode) -> String {
    switch node {
    case .scalar(let scalar): "\"\(scalar.string)\""
    case .mapping: "a mapping"
    case .sequence: "a list"
    }
}

/// IPv4 or IPv6 CIDR, syntactically.
func isCIDR(_ text: String) -> Bool {
    EndpointRules.Network(cidr: text) != nil
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

extension ConfigurationLoader {
    /// The control socket a configuration file names (`control.socket`), read without validating the rest: a
    /// client finding the daemon needs neither the password files nor a valid target list. `nil` when the file
    /// does not set it.
    /// - Throws: ``ControlClientError`` when the file cannot be read or is not YAML.
    public static func controlSocket(inFile path: String) throws(ControlClientError) -> String? {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ControlClientError("cannot read \(unreadableFileReason(path))")
        }
        let root: YAMLNode?
        do {
            root = try YAMLReader.read(text)
        } catch {
            throw ControlClientError("\(path) is not valid YAML: \(error)")
        }
        guard let control = root?.mapping?["control"]?.mapping, let socket = control["socket"]?.string else { return nil }
        return socket
    }
}
